"""Forecasts: weighted pipeline, commit, best case and won against quota, by close month and by owner.

    result = forecast(reports, actor, "sales", period="this_quarter")
    result.total.won, result.total.weighted, result.total.best_case, result.total.quota
    [(line.label, line.expected) for line in result.by_month]      # won + weighted per close month
    [(line.label, line.attainment) for line in result.by_owner]    # won / quota per owner

A forecast belongs to a pipeline with `forecast:` (engine extension,
docs/reports.md "Forecasting") and is named after it. Each view (by month,
by owner) is ONE grouped SELECT over the pipeline's entity with the user's
read row filter in its WHERE, like a report's; a forecast reading a field
hidden from the user is refused (403). Measures, over the deals whose close
date is in the period:

- won:       amount of deals in a won stage;
- commit:    amount of open deals at a stage probability >= `commit`;
- weighted:  amount x stage probability / 100 of open deals;
- best case: amount of every open deal;
- expected:  won + weighted.

Quota: the target named by `forecast.quota` summed over the quota periods
that start inside the forecast period (a stored target overrides the
configured one for its user and period, as on quota widgets).

Drill-down: `forecast_drill(reports, actor, "sales", by="month", key=date(2025, 3, 1))`
is the page of deals behind one line (or, with `measure=`, behind one of its
measures: a chart bar), through the records service's list SELECT.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

import sqlalchemy as sa

from ...metadata import model as m
from ...metadata.expressions import BOOL, ExpressionError, Period, SqlCompiler, resolve_period, type_of_param
from ...metadata.expressions.values import local_date
from ...metadata.forecasts import ForecastFields, forecasts
from ..actor import Actor
from ..errors import Forbidden, NotFound, ValidationFailed
from ..exprs import user_row
from ..query import row_to_dict
from ..records import MAX_PAGE, Page, Records
from .buckets import bucket_group
from .compiler import hidden_reads
from .formats import bucket_label, format_value
from .kpis import periods
from .labels import GroupLabels
from .params import convert_period
from .service import Reports, number

DEFAULT_PERIOD = "this_quarter"
MEASURES = ("won", "commit", "weighted", "best_case", "open_deals")
MONEY = ("won", "commit", "weighted", "best_case", "expected", "quota")


@dataclass(frozen=True, slots=True)
class ForecastLine:
    key: Any                      # the close month (date), the owner's id, or None for the total
    label: str
    values: Mapping[str, Any]     # won commit weighted best_case open_deals expected quota attainment
    formatted: Mapping[str, str]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True, slots=True)
class ForecastResult:
    name: str
    label: str
    entity: str
    period_spec: Any
    period: Period
    by_month: tuple[ForecastLine, ...]
    by_owner: tuple[ForecastLine, ...]
    total: ForecastLine
    has_quota: bool
    locale: str


def forecast_spec(reports: Reports, actor: Actor, name: str) -> ForecastFields:
    """The forecast, if the user may open it: admins, roles listing it, dashboards showing it (403 else)."""
    spec = forecasts(reports.config).get(name)
    if spec is None:
        raise NotFound("forecast", name)
    if not reports.may_open(actor, name):
        raise Forbidden(f"you may not open forecast {name}: none of your roles lists it")
    hidden = hidden_reads(reports.config, reports.permissions, actor, spec.entity,
                          [("forecast", text) for text in measure_texts(spec).values()]
                          + [("forecast", spec.close_date), ("forecast", spec.owner)])
    if hidden:
        raise Forbidden(f"forecast {name} reads {', '.join(hidden)}, hidden from you")
    return spec


def measure_texts(spec: ForecastFields) -> dict[str, str]:
    """The measures in the expression language (names come from the checked configuration)."""
    a, s = spec.amount, spec.stage
    return {"won": f"sum({a} if {s}.won else 0)",
            "commit": f"sum({a} if {s}.open and {s}.probability >= {int(spec.commit)} else 0)",
            "weighted": f"sum({a} * {s}.probability / 100 if {s}.open else 0)",
            "best_case": f"sum({a} if {s}.open else 0)",
            "open_deals": f"count({s}.open)"}


def resolve(reports: Reports, period: Any, now: dt.datetime | None = None) -> tuple[Any, Period]:
    """(the period as given, its dates); a bad period is refused naming the `period` parameter."""
    spec = DEFAULT_PERIOD if period in (None, "") else period
    try:
        spec = convert_period(spec) or DEFAULT_PERIOD
        today = local_date(now or reports.clock(), reports.config.company.timezone)
        return spec, resolve_period(spec, today, reports.config.company)
    except ValueError as exc:
        raise ValidationFailed({"period": [str(exc)]}) from None


def forecast_statement(reports: Reports, actor: Actor, spec: ForecastFields, period: Period, by: str,
                       *, now: dt.datetime | None = None) -> sa.Select:
    """One SELECT: (g, won, commit, weighted, best_case, open_deals) grouped by close month or owner."""
    config = reports.config
    sc = SqlCompiler(config, spec.entity, reports.tables, params={"period": period},
                     param_types={"period": type_of_param("period", config)}, current_user=user_row(actor),
                     now=now or reports.clock(), drop_null_params=True,
                     visible=reports.permissions.visible_rows(actor))
    try:
        measures = [sc.compile(text).label(key) for key, text in measure_texts(spec).items()]
        where = sa.and_(reports.permissions.row_filter(actor, spec.entity, "read", sc.root),  # type: ignore[arg-type]
                        sc.compile(f"{spec.close_date} in $period", expected=BOOL))
        if by == "month":
            kind = config.entities[spec.entity].fields[spec.close_date].value_type
            key, value = bucket_group(sc.compile(spec.close_date), "month", column_kind=kind,
                                      dialect=reports.dialect, company=config.company)
        elif by == "owner":
            key = value = sc.compile(spec.owner)
        else:
            raise ValueError(f"'{by}' is not a forecast view (month, owner)")
    except ExpressionError as exc:
        raise ValidationFailed(messages=[f"forecast {spec.name}: {exc.message}"]) from exc
    return (sa.select(value.label("g"), *measures).select_from(sc.from_clause()).where(where)
            .group_by(key))


def drill_condition(spec: ForecastFields, measure: str | None) -> str:
    """The deals `measure` adds up, in the expression language (None: every deal of the line, open
    or won; lost deals add to no measure)."""
    s = spec.stage
    if measure is None:
        return f"{s}.open or {s}.won"
    if measure == "won":
        return f"{s}.won"
    if measure == "commit":
        return f"{s}.open and {s}.probability >= {int(spec.commit)}"
    if measure in MEASURES:
        return f"{s}.open"
    raise ValidationFailed({"measure": [f"'{measure}' is not a forecast measure ({', '.join(MEASURES)})"]})


def drill_key(by: str, key: Any) -> Any:
    """The line's key from its URL text: a close month (YYYY-MM-01), an owner's id, or '' for none."""
    if by not in ("month", "owner"):
        raise ValidationFailed({"by": [f"'{by}' is not a forecast view (month, owner)"]})
    if key in (None, ""):
        return None
    try:
        if by == "month":
            day = dt.date.fromisoformat(str(key))
            if day.day != 1:
                raise ValueError
            return day
        if by == "owner":
            return int(key)
    except (TypeError, ValueError):
        wanted = "close month (YYYY-MM-01)" if by == "month" else "user id"
        raise ValidationFailed({"key": [f"'{key}' is not a {wanted}"]}) from None


def forecast_drill_where(reports: Reports, actor: Actor, name: str, *, period: Any = None, by: str, key: Any,
                         measure: str | None = None, at: dt.datetime | None = None
                         ) -> tuple[str, sa.ColumnElement[bool]]:
    """(entity, WHERE on its table) keeping exactly the deals behind one forecast line (or measure).

    The same conditions as the forecast's statement: the user's read row filter,
    the close date in the period, the line's close month or owner, and what the
    measure counts; so the list shows the deals the line adds up, no more.
    """
    spec = forecast_spec(reports, actor, name)
    config = reports.config
    now = at or reports.clock()
    _, dates = resolve(reports, period, now)
    value = drill_key(by, key)
    params: dict[str, Any] = {"period": dates}
    texts = [f"{spec.close_date} in $period", f"({drill_condition(spec, measure)})"]
    if by == "month" and value is not None:
        end = dt.date(value.year + value.month // 12, value.month % 12 + 1, 1)
        params["month"] = Period(value, end)
        texts.append(f"{spec.close_date} in $month")
    elif by == "month":
        texts.append(f"{spec.close_date} == null")
    ptype = type_of_param("period", config)
    sc = SqlCompiler(config, spec.entity, reports.tables, params=params,
                     param_types={"period": ptype, "month": ptype}, current_user=user_row(actor), now=now,
                     drop_null_params=True, visible=reports.permissions.visible_rows(actor))
    try:
        tests = [reports.permissions.row_filter(actor, spec.entity, "read", sc.root),  # type: ignore[arg-type]
                 sc.compile(" and ".join(texts), expected=BOOL)]
        if by == "owner":
            owner = sc.compile(spec.owner)
            tests.append(owner.is_(None) if value is None else owner == value)
    except ExpressionError as exc:
        raise ValidationFailed(messages=[f"forecast {spec.name}: {exc.message}"]) from exc
    ids = sa.select(sc.root.c.id).select_from(sc.from_clause()).where(sa.and_(*tests)).correlate(None)
    return spec.entity, reports.tables.entity(spec.entity).c.id.in_(ids)


def forecast_drill(reports: Reports, actor: Actor, name: str, *, period: Any = None, by: str, key: Any,
                   measure: str | None = None, at: dt.datetime | None = None, limit: int = 50,
                   offset: int = 0) -> Page:
    """A page of the deals behind one forecast line, as the entity's list returns them (same mask)."""
    records = reports.records or Records(reports.config, reports.engine, reports.tables, clock=reports.clock,
                                         permissions=reports.permissions)
    entity, where = forecast_drill_where(reports, actor, name, period=period, by=by, key=key, measure=measure,
                                         at=at)
    limit = max(1, min(int(limit), MAX_PAGE))
    query = records.query.select(actor, entity).where(where)
    with reports.engine.connect() as conn:
        rows = conn.execute(query.limit(limit + 1).offset(max(0, int(offset)))).mappings().all()
    ent = reports.config.entities[entity]
    return Page([row_to_dict(ent, r) for r in rows[:limit]], len(rows) > limit)


def forecast(reports: Reports, actor: Actor, name: str, *, period: Any = None, at: dt.datetime | None = None,
             locale: str | None = None) -> ForecastResult:
    """The forecast for this user over `period` (default this quarter): by month, by owner, total."""
    spec = forecast_spec(reports, actor, name)
    config = reports.config
    now = at or reports.clock()
    given, dates = resolve(reports, period, now)
    locale = locale or actor.locale or config.company.default_locale
    with reports.engine.connect() as conn:
        months = conn.execute(forecast_statement(reports, actor, spec, dates, "month", now=now)).mappings().all()
        owners = conn.execute(forecast_statement(reports, actor, spec, dates, "owner", now=now)).mappings().all()
        targets = quota_targets(reports, actor, spec, dates, {r["g"] for r in owners if r["g"] is not None}, conn)
        labels = GroupLabels(config, reports.tables, reports.permissions, actor, locale).users(
            conn, {r["g"] for r in owners if r["g"] is not None} | set(targets or {}))
    currency = config.company.currency
    month_lines = sorted((_line(_as_date(r["g"]), bucket_label(_as_date(r["g"]), "month", locale, config.company)
                                if r["g"] is not None else "—", r, None, locale, currency) for r in months),
                         key=lambda line: (line.key is None, line.key or dt.date.min))
    by_owner = {r["g"]: r for r in owners}
    for user_id in targets or {}:
        by_owner.setdefault(user_id, {})
    owner_lines = sorted((_line(u, labels.get(u, "—") if u is not None else "—", r,
                                (targets or {}).get(u, Decimal(0)) if targets is not None and u is not None
                                else None, locale, currency)
                          for u, r in by_owner.items()), key=lambda line: (line.key is None, line.label))
    total = {k: _sum(line.values.get(k) for line in owner_lines) for k in MEASURES}
    total_line = _line(None, "", total, sum(targets.values(), Decimal(0)) if targets is not None else None,
                       locale, currency)
    pipeline = config.pipelines[spec.name]
    label = (pipeline.label.text(locale, config.company.default_locale) if pipeline.label
             else m.label_from_name(spec.name).text())
    return ForecastResult(spec.name, label, spec.entity, given, dates, tuple(month_lines), tuple(owner_lines),
                          total_line, targets is not None, locale)


def quota_targets(reports: Reports, actor: Actor, spec: ForecastFields, dates: Period, owners: set[int],
                  conn: sa.Connection) -> dict[int, Decimal] | None:
    """Each shown user's target over the forecast period, or None without a quota (or an open period).

    Users: the owners in the forecast, plus those with a stored target for
    these periods whom the user may see (own: themselves; team: their team).
    """
    if spec.quota is None or spec.target is None or dates.start is None or dates.end is None:
        return None
    quota = reports.config.quotas[spec.quota]
    configured = Decimal(str(quota.targets[spec.target].target))
    starts = quota_period_starts(reports, quota, dates)
    table = reports.tables("crm_quota_targets")
    rows = conn.execute(sa.select(table.c.user_id, table.c.period_start, table.c.value)
                        .where(table.c.quota == spec.quota, table.c.target == spec.target,
                               table.c.period_start.in_(starts))).all() if starts else []
    stored = {(u, _as_date(s)): Decimal(str(v)) for u, s, v in rows}
    users = set(owners) | _visible(reports, actor, spec, {u for u, _ in stored}, conn)
    return {u: sum((stored.get((u, s), configured) for s in starts), Decimal(0)) for u in users}


def quota_period_starts(reports: Reports, quota: m.Quota, dates: Period) -> list[dt.date]:
    """Starts of the quota's periods that begin inside the forecast period (at most 400)."""
    assert dates.start is not None and dates.end is not None
    out: list[dt.date] = []
    current, _ = periods(quota.period, dates.start, reports.config.company)
    assert current is not None and current.start is not None and current.end is not None
    start, end = current.start, current.end
    while start < dates.end and len(out) < 400:
        if start >= dates.start:
            out.append(start)
        nxt, _ = periods(quota.period, end, reports.config.company)
        assert nxt is not None and nxt.start is not None and nxt.end is not None
        start, end = nxt.start, nxt.end
    return out


def _visible(reports: Reports, actor: Actor, spec: ForecastFields, users: set[int], conn: sa.Connection) -> set[int]:
    scope = reports.permissions.scope(actor, spec.entity, "read")
    if not users or scope == "none":
        return set()
    if scope == "all":
        return users
    if scope == "own" or not actor.team:
        return users & {actor.id} if actor.id is not None else set()
    u = reports.tables.users
    return {i for (i,) in conn.execute(sa.select(u.c.id).where(u.c.id.in_(sorted(users)), u.c.team == actor.team))}


def _line(key: Any, label: str, row: Mapping[str, Any], quota: Decimal | None, locale: str,
          currency: str) -> ForecastLine:
    values: dict[str, Any] = {k: number(row.get(k)) for k in MEASURES}
    values["open_deals"] = values["open_deals"] or 0
    values["expected"] = _sum([values["won"], values["weighted"]])
    values["quota"] = quota
    values["attainment"] = (Decimal(str(values["won"] or 0)) / quota).quantize(Decimal("0.0001")) if quota else None
    values["expected_attainment"] = ((Decimal(str(values["expected"] or 0)) / quota).quantize(Decimal("0.0001"))
                                     if quota else None)
    formatted = {k: format_value(values[k], "money", locale, currency) for k in MONEY}
    formatted["open_deals"] = format_value(values["open_deals"], "int", locale, currency)
    formatted["attainment"] = format_value(values["attainment"], "percent", locale, currency)
    formatted["expected_attainment"] = format_value(values["expected_attainment"], "percent", locale, currency)
    return ForecastLine(key, label, values, formatted)


def _sum(values: Any) -> Any:
    present = [Decimal(str(v)) for v in values if v is not None]
    return number(sum(present, Decimal(0))) if present else None


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value
