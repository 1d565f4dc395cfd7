"""KPIs: one value for the current period against the previous one, overall and per user.

    result = kpi_values(reports, actor, "win_rate")
    result.current, result.previous, result.trend       # Decimal('0.5'), Decimal('0.25'), 'up'
    [(u.user_id, u.label, u.current) for u in result.by_user]

When a record counts (the spec names no date field, so the engine decides,
docs/reports.md): a record of an entity with a pipeline that is in a closed
stage counts at the moment it entered that stage (its latest
crm_stage_history row into the current stage; `updated_at` if the history
has none); every other record counts at its `created_at`. So `win_rate`
this month is over the deals closed this month, and `calls_made` this week
over the activities logged this week.

Periods come from `kpi.period` (day, week, month, quarter, year; also
fiscal_quarter and fiscal_year) in the company's timezone; a KPI without a
period is one value over all time (no previous value). Both periods, and
every user for `by`, come from one GROUP BY statement; the user's read row
filter of the KPI's entity is in its WHERE (and, through `visible_rows`, that
of every linked and rolled-up entity it reaches), and a KPI reading a hidden
field is refused (403), as reports are.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ...metadata import model as m
from ...metadata.expressions import BOOL, ExpressionError, Period, SqlCompiler, resolve_period
from ...metadata.expressions.values import local_date, local_midnight
from ..actor import Actor
from ..errors import Forbidden, NotFound, ValidationFailed
from ..exprs import user_row
from ..tables import UtcDateTime
from .compiler import hidden_reads
from .formats import format_value
from .labels import GroupLabels
from .service import Reports, number

PERIOD_WORDS = {"day": ("today", None), "week": ("this_week", "last_week"), "month": ("this_month", "last_month"),
                "quarter": ("this_quarter", "last_quarter"), "year": ("this_year", "last_year"),
                "fiscal_year": ("this_fiscal_year", "last_fiscal_year")}


@dataclass(frozen=True, slots=True)
class UserValue:
    user_id: int | None
    label: str
    current: Any
    previous: Any
    trend: str | None


@dataclass(frozen=True, slots=True)
class KpiResult:
    name: str
    label: str
    format: str | None
    period: str | None
    current_period: Period | None
    previous_period: Period | None
    current: Any
    previous: Any
    trend: str | None                 # "up" | "down" | "flat" | None (a value is missing)
    formatted: str
    formatted_previous: str
    by_user: tuple[UserValue, ...]


def periods(length: str | None, today: dt.date, company: m.Company) -> tuple[Period | None, Period | None]:
    """(current, previous) date ranges of a period length, for `today`."""
    if length is None:
        return None, None
    if length == "day":
        return Period(today, today + dt.timedelta(days=1)), Period(today - dt.timedelta(days=1), today)
    if length == "fiscal_quarter":
        year = resolve_period("this_fiscal_year", today, company)
        start = year.start
        assert start is not None
        while _add_months(start, 3) <= today:
            start = _add_months(start, 3)
        return Period(start, _add_months(start, 3)), Period(_add_months(start, -3), start)
    if length not in PERIOD_WORDS:
        raise ValueError(f"'{length}' is not a period length ({', '.join([*PERIOD_WORDS, 'fiscal_quarter'])})")
    this, last = PERIOD_WORDS[length]
    return resolve_period(this, today, company), resolve_period(last or this, today, company)


def trend(current: Any, previous: Any) -> str | None:
    if current is None or previous is None:
        return None
    return "up" if current > previous else "down" if current < previous else "flat"


def moment(config: m.Config, reports: Reports, entity: str, table: Any) -> ColumnElement:
    """When a record counts for a KPI (see the module's docstring)."""
    stage_field = config.stage_field(entity)
    pipeline = config.pipeline_for(entity)
    if stage_field is None or pipeline is None:
        return table.c.created_at
    closed = [s.key for s in pipeline.stages if s.closed is not None]
    if not closed:
        return table.c.created_at
    history = reports.tables("crm_stage_history")
    entered = (sa.select(sa.func.max(history.c.at))
               .where(history.c.entity == entity, history.c.record_id == table.c.id,
                      history.c.to_stage == table.c[stage_field.name])
               .scalar_subquery())
    return sa.type_coerce(sa.case((table.c[stage_field.name].in_(closed),
                                   sa.func.coalesce(entered, table.c.updated_at)),
                                  else_=table.c.created_at), UtcDateTime())


def kpi_values(reports: Reports, actor: Actor, name: str, *, period: str | None = None,
               at: dt.datetime | None = None, locale: str | None = None,
               users: bool = True) -> KpiResult:
    """The KPI for this user: current vs previous period (`period` overrides `kpi.period`)."""
    config = reports.config
    kpi = config.kpis.get(name)
    if kpi is None:
        raise NotFound("KPI", name)
    if not reports.may_open(actor, name):
        raise Forbidden(f"you may not open KPI {name}: none of your roles lists it")
    texts = [("value", kpi.value)] + ([("filter", kpi.filter)] if kpi.filter else [])
    texts += [("by", kpi.by)] if kpi.by else []
    hidden = hidden_reads(config, reports.permissions, actor, kpi.entity, texts)
    if hidden:
        raise Forbidden(f"KPI {name} reads {', '.join(hidden)}, hidden from you")
    now = at or reports.clock()
    length = period or kpi.period
    today = local_date(now, config.company.timezone)
    current, previous = periods(length, today, config.company)
    by = kpi.by if users else None
    rows = _query(reports, actor, kpi, now, current, previous, by)
    locale = locale or actor.locale or config.company.default_locale
    totals = rows.pop("total", {})
    by_user: list[UserValue] = []
    if by:
        with reports.engine.connect() as conn:
            labels = _user_labels(reports, actor, locale, conn, rows)
        for user_id, values in sorted(rows.items(), key=lambda kv: labels.get(kv[0], "")):
            by_user.append(UserValue(user_id, labels.get(user_id, str(user_id)), values.get(1), values.get(0),
                                     trend(values.get(1), values.get(0))))
    cur, prev = totals.get(1), (totals.get(0) if length else None)
    currency = config.company.currency
    return KpiResult(name, kpi.label.text(locale, config.company.default_locale), kpi.format, length,
                     current, previous, cur, prev, trend(cur, prev),
                     format_value(cur, kpi.format, locale, currency), format_value(prev, kpi.format, locale, currency),
                     tuple(by_user))


def _query(reports: Reports, actor: Actor, kpi: m.Kpi, now: dt.datetime, current: Period | None,
           previous: Period | None, by: str | None) -> dict[Any, dict[int, Any]]:
    """{"total": {1: current, 0: previous}, user_id: {...}}: one grouped statement, one more per user for `by`."""
    config = reports.config
    sc = SqlCompiler(config, kpi.entity, reports.tables, current_user=user_row(actor), now=now,
                     visible=reports.permissions.visible_rows(actor))
    table = sc.root
    conditions = [reports.permissions.row_filter(actor, kpi.entity, "read", table)]
    try:
        value = sc.compile(kpi.value)
        if kpi.filter:
            conditions.append(sc.compile(kpi.filter, expected=BOOL))
        owner = sc.compile(by) if by else None
    except ExpressionError as exc:
        raise ValidationFailed(messages=[f"KPI {kpi.name}: {exc.message}"]) from exc
    tz = config.company.timezone
    if current is not None and previous is not None:
        when = moment(config, reports, kpi.entity, table)
        bound = lambda day: sa.literal(local_midnight(day, tz), UtcDateTime())  # noqa: E731
        slot: ColumnElement | None = sa.case((when >= bound(current.start), 1), else_=0)
        conditions += [when >= bound(previous.start), when < bound(current.end)]
    else:
        slot = None                      # all time: one value, no previous period
    where = sa.and_(*conditions)
    base = sc.from_clause()
    out: dict[Any, dict[int, Any]] = {"total": {}}
    slots = [slot.label("slot")] if slot is not None else []
    total = sa.select(*slots, value.label("v")).select_from(base).where(where)
    statements = [("total", total.group_by(slot) if slot is not None else total)]
    if owner is not None:
        statements.append(("user", sa.select(owner.label("u"), *slots, value.label("v")).select_from(base)
                           .where(where).group_by(owner, *([slot] if slot is not None else []))))
    with reports.engine.connect() as conn:
        for kind, statement in statements:
            for row in conn.execute(statement).mappings():
                key = "total" if kind == "total" else row["u"]
                out.setdefault(key, {})[int(row["slot"]) if slot is not None else 1] = number(row["v"])
    # An empty period has no group: its value is that of no rows (count 0, sum null), asked only when needed.
    wanted = (0, 1) if current is not None else (1,)
    if any(slot_ not in values for values in out.values() for slot_ in wanted):
        empty = _empty_value(reports, actor, kpi, now)
        for values in out.values():
            for slot_ in wanted:
                values.setdefault(slot_, empty)
    return out


def _empty_value(reports: Reports, actor: Actor, kpi: m.Kpi, now: dt.datetime) -> Any:
    """The KPI over no rows (count() -> 0, sum() -> null), asked of the database itself."""
    inner = SqlCompiler(reports.config, kpi.entity, reports.tables, current_user=user_row(actor), now=now,
                        visible=reports.permissions.visible_rows(actor))
    value = inner.compile(kpi.value)
    with reports.engine.connect() as conn:
        return number(conn.execute(sa.select(value).select_from(inner.from_clause()).where(sa.false())).scalar())


def _user_labels(reports: Reports, actor: Actor, locale: str, conn: Any,
                 rows: Mapping[Any, Any]) -> dict[Any, str]:
    labels = GroupLabels(reports.config, reports.tables, reports.permissions, actor, locale)
    out: dict[Any, str] = dict(labels.users(conn, {k for k in rows if k is not None}))
    out[None] = "—"
    return out


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1, day=min(day.day, 28))
