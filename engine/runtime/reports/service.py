"""The reports service: run a report for a user, drill into one of its rows.

    reports = Reports(config, engine, tables, clock=clock)
    result = reports.run_report(actor, "pipeline_by_stage", {"period": "this_quarter"})
    for row in result.rows:
        row.groups[0].label, row.values["total"], row.formatted["total"]
    page = reports.drill_down(actor, "pipeline_by_stage", {"period": "this_quarter"}, row.key)

Who may open what: admins every report; other users the reports one of
their roles lists (`reports:` in roles.yaml), else 403. A report named in an
entity's `detail.charts`, run for a record of that entity (`record=`), is part
of the record page: whoever may read the record may see it (404 otherwise).
Parameters are checked first (422 naming the bad one). The SQL is one
statement (compiler.py); group labels are looked up afterwards for the few
distinct values of the result.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy import Engine

from ...metadata import model as m
from ..actor import Actor
from ..clock_watch import watched
from ..errors import Forbidden, NotFound, ValidationFailed
from ..permissions import Permissions
from ..query import row_to_dict
from ..records import MAX_PAGE, Page, Records
from ..tables import Tables
from .compiler import CompiledReport, compile_report, measure_key
from .formats import format_value
from .labels import GroupLabels
from .params import report_params

QUANTUM = Decimal("0.000001")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class Cell:
    value: Any
    label: str


@dataclass(frozen=True, slots=True)
class Column:
    key: str            # group path (`stage`, `close_date`) or measure name
    label: str
    kind: str           # "group" | "measure"
    format: str | None = None
    bucket: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    groups: tuple[Cell, ...]
    values: Mapping[str, Any]          # measure name -> value (None for a division by zero)
    formatted: Mapping[str, str]       # measure name -> text in the user's locale

    @property
    def key(self) -> tuple[Any, ...]:
        """The group values identifying the row (what `drill_down` takes)."""
        return tuple(c.value for c in self.groups)


@dataclass(frozen=True, slots=True)
class ReportResult:
    name: str
    label: str
    entity: str
    params: Mapping[str, Any]
    columns: tuple[Column, ...]
    rows: tuple[ReportRow, ...]
    chart: m.Chart | None
    locale: str
    record: tuple[str, int] | None = None

    @property
    def group_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind == "group")

    @property
    def measure_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kind == "measure")


class Reports:
    """Runs the reports, KPIs and quotas of one configuration against one database."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables, *,
                 permissions: Permissions | None = None, clock: Callable[[], dt.datetime] = utc_now,
                 records: Records | None = None):
        self.config, self.engine, self.tables, self.clock = config, engine, tables, watched(clock)
        self.permissions = permissions or Permissions(config, tables, engine)
        self.records = records

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- access -------------------------------------------------------------------------------------
    def may_open(self, actor: Actor, name: str) -> bool:
        """May the user open this report, KPI, quota or dashboard?

        Yes for admins; for others when one of their roles lists it (`reports:`),
        or when it is a widget of a dashboard they may open (one whose `roles`
        has one of theirs, or one a role of theirs lists).
        """
        if self.permissions.is_admin(actor):
            return True
        roles = self.permissions.roles_of(actor)
        if any(name in role.reports for role in roles):
            return True
        names = {role.name for role in roles}
        for dashboard in self.config.dashboards.values():
            if names & set(dashboard.roles) or any(dashboard.name in role.reports for role in roles):
                if any(w.name == name for w in dashboard.widgets):
                    return True
        return False

    def openable(self, actor: Actor) -> list[str]:
        """Names of the reports the user may open, for navigation."""
        return [name for name in self.config.reports if self.may_open(actor, name)]

    def report(self, actor: Actor, name: str, record: tuple[str, int] | None = None) -> m.Report:
        report = self.config.reports.get(name)
        if report is None:
            raise NotFound("report", name)
        if record is not None:
            entity, record_id = record
            ent = self.config.entities.get(entity)
            if ent is None:
                raise NotFound("entity", entity)
            if not str(record_id).isdigit() or not self.permissions.can(actor, "read", entity, int(record_id)):
                raise NotFound(entity, record_id)
            if name in ent.views.charts:
                return report
        if not self.may_open(actor, name):
            raise Forbidden(f"you may not open report {name}: none of your roles lists it")
        return report

    # -- running --------------------------------------------------------------------------------------
    def compile(self, actor: Actor, name: str, params: Mapping[str, Any] | None = None, *,
                record: tuple[str, int] | None = None) -> tuple[CompiledReport, dict[str, Any]]:
        """Access check, parameter check, then the report's SELECT for this user."""
        report = self.report(actor, name, record)
        values = report_params(report, params, actor)
        compiled = compile_report(self.config, self.tables, self.permissions, report, values, actor,
                                  dialect=self.dialect, now=self.clock(),
                                  record=(record[0], int(record[1])) if record is not None else None)
        return compiled, values

    def run_report(self, actor: Actor, name: str, params: Mapping[str, Any] | None = None, *,
                   record: tuple[str, int] | None = None, locale: str | None = None) -> ReportResult:
        """The report's rows for this user: group values with labels, measure values, formatted texts."""
        compiled, values = self.compile(actor, name, params, record=record)
        report = compiled.report
        locale = locale or actor.locale or self.config.company.default_locale
        labels = GroupLabels(self.config, self.tables, self.permissions, actor, locale)
        with self.engine.connect() as conn:
            raw = conn.execute(compiled.statement).mappings().all()
            raw = sorted(raw, key=lambda r: tuple(g.sort_key(_group_value(g, r[g.key])) for g in compiled.groups))
            group_labels = [labels.for_group(conn, g, (r[g.key] for r in raw)) for g in compiled.groups]
        currency = self.config.company.currency
        rows = []
        for r in raw:
            cells = tuple(Cell(_group_value(g, r[g.key]), group_labels[i].get(r[g.key], str(r[g.key])))
                          for i, g in enumerate(compiled.groups))
            measured = {ms.name: number(r[measure_key(ms)]) for ms in compiled.measures}
            formatted = {k: format_value(v, report.measures[k].format, locale, currency) for k, v in measured.items()}
            rows.append(ReportRow(cells, measured, formatted))
        return ReportResult(report.name, report.label.text(locale, self.config.company.default_locale),
                            report.entity, values, self._columns(report, locale), tuple(rows), report.chart,
                            locale, record)

    def _columns(self, report: m.Report, locale: str) -> tuple[Column, ...]:
        fallback = self.config.company.default_locale
        out = []
        for g in report.group_by:
            out.append(Column(g.field, _path_label(self.config, report.entity, g.field, locale, fallback),
                              "group", bucket=g.bucket))
        for ms in report.measures.values():
            label = ms.label.text(locale, fallback) if ms.label else m.label_from_name(ms.name).text()
            out.append(Column(ms.name, label, "measure", ms.format))
        return tuple(out)

    # -- drill-down -------------------------------------------------------------------------------------
    def drill_where(self, actor: Actor, name: str, params: Mapping[str, Any] | None, key: Sequence[Any], *,
                    record: tuple[str, int] | None = None) -> tuple[str, sa.ColumnElement[bool]]:
        """(entity, WHERE on the entity's table) keeping exactly the records behind one result row.

        `key` is the row's group values (`ReportRow.key`). The clause is
        `id IN (SELECT id ... WHERE <the report's WHERE> AND <group = value>...)`,
        so it can be added to any SELECT of the entity's table (a list page).
        """
        compiled, _ = self.compile(actor, name, params, record=record)
        if len(key) != len(compiled.groups):
            raise ValidationFailed({"row": [f"report {name} has {len(compiled.groups)} groupings, "
                                            f"{len(key)} values were given"]})
        tests = [compiled.where]
        for group, expr, value in zip(compiled.groups, compiled.group_values, key):
            tests.append(expr.is_(None) if value is None else expr == _literal(group, value))
        root = compiled.compiler.root
        # correlate(None): the outer SELECT is over the same table; the subquery must stand alone.
        ids = sa.select(root.c.id).select_from(compiled.from_clause).where(sa.and_(*tests)).correlate(None)
        return compiled.report.entity, self.tables.entity(compiled.report.entity).c.id.in_(ids)

    def drill_down(self, actor: Actor, name: str, params: Mapping[str, Any] | None, key: Sequence[Any], *,
                   record: tuple[str, int] | None = None, sort: str | None = None, limit: int = 50,
                   offset: int = 0) -> Page:
        """A page of the records behind one row, as the entity's list returns them (same mask, same filter)."""
        records = self.records or Records(self.config, self.engine, self.tables, clock=self.clock,
                                          permissions=self.permissions)
        entity, where = self.drill_where(actor, name, params, key, record=record)
        limit = max(1, min(int(limit), MAX_PAGE))
        query = records.query.select(actor, entity, sort=sort).where(where)
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit + 1).offset(max(0, int(offset)))).mappings().all()
        ent = self.config.entities[entity]
        return Page([row_to_dict(ent, r) for r in rows[:limit]], len(rows) > limit)


def number(value: Any) -> Any:
    """Aggregates as stable Python numbers: ints stay ints, others Decimal (at most 6 places)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        value = value.quantize(QUANTUM).normalize()     # no float noise, no trailing zeros
        return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]
    return value


def _group_value(group: Any, value: Any) -> Any:
    """Dates as dates on every database (a driver may hand back ISO text)."""
    if (group.bucket or group.kind == "date") and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _literal(group: Any, value: Any) -> sa.ColumnElement:
    if group.bucket:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        return sa.literal(day, sa.Date())
    if group.kind in ("user", "record", "int"):
        try:
            return sa.literal(int(value), sa.Integer())
        except (TypeError, ValueError):
            raise ValidationFailed({group.path: [f"'{value}' is not an id"]}) from None
    if isinstance(value, bool):
        return sa.true() if value else sa.false()
    return sa.literal(value)


def _path_label(config: m.Config, entity: str, path: str, locale: str, fallback: str) -> str:
    """`account.segment` -> 'Account / Segment' from the fields' labels."""
    parts, out, current = path.split("."), [], entity
    for part in parts:
        ent = config.entities.get(current)
        f = ent.fields.get(part) if ent else None
        out.append(f.label.text(locale, fallback) if f else m.label_from_name(part).text())
        current = f.entity if f is not None and f.type == "link" else ""
    return " / ".join(out)
