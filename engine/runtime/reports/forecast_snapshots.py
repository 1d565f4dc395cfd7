"""Daily forecast snapshots and forecast-vs-actual accuracy.

    take_snapshots(reports)                       # every forecast, today (company timezone); idempotent
    result = forecast_accuracy(reports, actor, "sales", months=6)
    for row in result.rows:                       # one per past close month
        row.label, row.actual, row.at_start.expected, row.month_before.expected, row.accuracy

A snapshot is one row per (forecast, day, owner, close month, read keys) in
`crm_forecast_snapshot_rows` (owner 0: deals without one), written by ONE
`INSERT ... SELECT ... GROUP BY` over the deals closing this month or later
that are open or won, as the system sees them. The read keys are the deals'
own `owner` and `team` columns (0 / '' when empty), so a snapshot row stands
for deals that every user reads or does not read alike. The key makes it
idempotent: a second run the same day inserts nothing (it also returns early
when the day's snapshot exists, so the periodic task costs one lookup).
`crm worker` runs it (queue.py, `crm.forecast_snapshots`).

Accuracy, for each past month M: what was expected (won + weighted) for M
in the first snapshot taken in M ("at month start") and in the first one
taken in the month before ("a month before"), against what was actually won
in M now (the live forecast statement, under the user's row filter).

Who sees which snapshot rows: the deals' own read rule, applied by
`Permissions.row_filter` to the snapshot table (its `owner` and `team`
columns are named like an owned entity's): `all` every row; `team` rows of
deals the user owned or whose team was theirs when the snapshot was taken;
`own` rows of deals they owned then; `none` nothing. A user therefore sees
in a snapshot exactly the deals they would have read that day. A forecast
over an entity without the `owned` trait (read through a link) has no such
keys: its snapshot rows are shown only to users who read all its records.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ...metadata.expressions import BOOL, Period, SqlCompiler, type_of_param
from ...metadata.expressions.values import local_date
from ...metadata.forecasts import ForecastFields, forecasts
from ..actor import SYSTEM, Actor
from ..alerts.firing import dialect_insert
from ..exprs import user_row
from ..tables import UtcDateTime
from .buckets import bucket_start
from .forecast import _as_date, _sum, forecast_spec, forecast_statement, measure_texts
from .formats import bucket_label, format_value
from .service import Reports, number

TABLE = "crm_forecast_snapshot_rows"


def take_snapshots(reports: Reports, *, now: dt.datetime | None = None) -> int:
    """Today's snapshot of every forecast (rows inserted; 0 when already taken today)."""
    now = now or reports.clock()
    return sum(take_snapshot(reports, spec, now=now) for spec in forecasts(reports.config).values())


def take_snapshot(reports: Reports, spec: ForecastFields, *, now: dt.datetime) -> int:
    config = reports.config
    today = local_date(now, config.company.timezone)
    table = reports.tables(TABLE)
    with reports.engine.begin() as conn:
        taken = conn.execute(sa.select(table.c.forecast).where(table.c.forecast == spec.name,
                                                               table.c.snapshot_date == today).limit(1)).first()
        if taken is not None:
            return 0
        conn.execute(dialect_insert(conn, table).from_select(
            ["forecast", "snapshot_date", "owner_id", "owner", "team", "close_month", "won", "commit_amount",
             "weighted", "best_case", "open_deals", "taken_at"], _snapshot_select(reports, spec, today, now)
        ).on_conflict_do_nothing(index_elements=["forecast", "snapshot_date", "owner_id", "owner", "team",
                                                 "close_month"]))
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(
            table.c.forecast == spec.name, table.c.snapshot_date == today)).scalar() or 0)


def _snapshot_select(reports: Reports, spec: ForecastFields, today: dt.date, now: dt.datetime) -> sa.Select:
    config = reports.config
    month_start = today.replace(day=1)
    sc = SqlCompiler(config, spec.entity, reports.tables, params={"period": Period(month_start, None)},
                     param_types={"period": type_of_param("period", config)}, current_user=user_row(SYSTEM),
                     now=now)
    texts = measure_texts(spec)
    measures = [sc.compile(texts[k]) for k in ("won", "commit", "weighted", "best_case", "open_deals")]
    kind = config.entities[spec.entity].fields[spec.close_date].value_type
    month = bucket_start(sc.compile(spec.close_date), "month", column_kind=kind, dialect=reports.dialect,
                         company=config.company)
    if reports.dialect == "postgresql":
        month = sa.cast(month, sa.Date())      # date_trunc gives a timestamp; SQLite's is already ISO text
    owner = sa.func.coalesce(sc.compile(spec.owner), 0)
    if _owned(reports, spec):       # the deals' read keys (see the module docstring)
        read_owner = sa.func.coalesce(sc.root.c.owner, 0)
        read_team = sa.func.coalesce(sc.root.c.team, "")
    else:
        read_owner, read_team = sa.literal(0, sa.Integer()), sa.literal("", sa.String())
    where = sa.and_(sc.compile(f"{spec.close_date} in $period", expected=BOOL),
                    sc.compile(f"{spec.stage}.open or {spec.stage}.won", expected=BOOL))
    keys = [owner, read_owner, read_team, month]
    return (sa.select(sa.literal(spec.name, sa.String()), sa.literal(today, sa.Date()), *keys,
                      *measures, sa.literal(now, UtcDateTime()))
            .select_from(sc.from_clause()).where(where).group_by(*keys))


def _owned(reports: Reports, spec: ForecastFields) -> bool:
    return "owned" in reports.config.entities[spec.entity].traits


@dataclass(frozen=True, slots=True)
class SnapshotFigure:
    snapshot_date: dt.date
    won: Any
    weighted: Any
    best_case: Any
    expected: Any             # won + weighted when the snapshot was taken
    formatted: dict[str, str]


@dataclass(frozen=True, slots=True)
class AccuracyRow:
    month: dt.date
    label: str
    actual: Any                          # won in the month, now
    formatted_actual: str
    at_start: SnapshotFigure | None      # the first snapshot taken in the month
    month_before: SnapshotFigure | None  # the first snapshot taken in the month before
    accuracy: Any                        # actual / expected at month start
    formatted_accuracy: str


@dataclass(frozen=True, slots=True)
class AccuracyResult:
    name: str
    rows: tuple[AccuracyRow, ...]


def forecast_accuracy(reports: Reports, actor: Actor, name: str, *, months: int = 6,
                      at: dt.datetime | None = None, locale: str | None = None) -> AccuracyResult:
    """Forecast vs actual for the last `months` complete months (newest first)."""
    spec = forecast_spec(reports, actor, name)
    config = reports.config
    now = at or reports.clock()
    locale = locale or actor.locale or config.company.default_locale
    currency = config.company.currency
    this_month = local_date(now, config.company.timezone).replace(day=1)
    starts = [_add_months(this_month, -i) for i in range(1, max(1, min(int(months), 36)) + 1)]
    table = reports.tables(TABLE)
    with reports.engine.connect() as conn:
        actual = {_as_date(r["g"]): number(r["won"]) for r in conn.execute(forecast_statement(
            reports, actor, spec, Period(starts[-1], this_month), "month", now=now)).mappings()}
        days = sorted(_as_date(d) for (d,) in conn.execute(
            sa.select(table.c.snapshot_date).distinct().where(
                table.c.forecast == name, table.c.snapshot_date >= _add_months(starts[-1], -1),
                table.c.snapshot_date < this_month)))
        chosen = {m: (_first(days, m, _add_months(m, 1)), _first(days, _add_months(m, -1), m)) for m in starts}
        pairs = [(m, d) for m, ds in chosen.items() for d in ds if d is not None]
        figures = _figures(conn, reports, actor, spec, pairs, locale, currency) if pairs else {}
    rows = []
    for m in starts:
        start_day, before_day = chosen[m]
        at_start = figures.get((m, start_day)) if start_day else None
        before = figures.get((m, before_day)) if before_day else None
        won = actual.get(m)
        expected = at_start.expected if at_start else None
        ratio = (Decimal(str(won or 0)) / Decimal(str(expected))).quantize(Decimal("0.0001")) if expected else None
        rows.append(AccuracyRow(m, bucket_label(m, "month", locale, config.company), won,
                                format_value(won, "money", locale, currency), at_start, before, ratio,
                                format_value(ratio, "percent", locale, currency)))
    return AccuracyResult(name, tuple(rows))


def _figures(conn: sa.Connection, reports: Reports, actor: Actor, spec: ForecastFields,
             pairs: list[tuple[dt.date, dt.date]], locale: str, currency: str
             ) -> dict[tuple[dt.date, dt.date], SnapshotFigure]:
    """The chosen (close month, snapshot day) sums in one statement, over the owners the user may see."""
    t = reports.tables(TABLE)
    query = (sa.select(t.c.close_month, t.c.snapshot_date, sa.func.sum(t.c.won).label("won"),
                       sa.func.sum(t.c.weighted).label("weighted"), sa.func.sum(t.c.best_case).label("best_case"))
             .where(t.c.forecast == spec.name, _owners(reports, actor, spec, t),
                    sa.or_(*[sa.and_(t.c.close_month == m, t.c.snapshot_date == d) for m, d in pairs]))
             .group_by(t.c.close_month, t.c.snapshot_date))
    out = {}
    for r in conn.execute(query).mappings():
        won, weighted, best = number(r["won"]), number(r["weighted"]), number(r["best_case"])
        expected = _sum([won, weighted])
        out[(_as_date(r["close_month"]), _as_date(r["snapshot_date"]))] = SnapshotFigure(
            _as_date(r["snapshot_date"]), won, weighted, best, expected,
            {k: format_value(v, "money", locale, currency)
             for k, v in (("won", won), ("weighted", weighted), ("best_case", best), ("expected", expected))})
    return out


def _owners(reports: Reports, actor: Actor, spec: ForecastFields, table: sa.Table) -> Any:
    """The snapshot rows of deals the user reads: the deals' own row filter on the snapshot's read keys."""
    permissions = reports.permissions
    scope = permissions.scope(actor, spec.entity, "read")
    if permissions.is_admin(actor) or scope == "all":
        return sa.true()
    if not _owned(reports, spec):
        return sa.false()           # read through a link: no keys to apply it to (module docstring)
    return permissions.row_filter(actor, spec.entity, "read", table)


def _first(days: list[dt.date], start: dt.date, end: dt.date) -> dt.date | None:
    return next((d for d in days if start <= d < end), None)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)
