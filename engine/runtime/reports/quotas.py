"""Quotas: per-user targets per period, actuals from their KPIs, attainment.

    set_target(reports, admin, "activity_norms", "calls", user_id=7, day=date(2025, 3, 10), value=50)
    result = quota_attainment(reports, actor, "activity_norms")
    for line in result.lines:       # one per (target, user)
        line.target_name, line.user_label, line.actual, line.target, line.attainment

Targets are data: a row of `crm_quota_targets` (quota, target, user, period
start, value) overrides the configured `target` for that user and that one
period; without a row the configured target applies. Only admins set them
(403 otherwise). Actuals are the target's KPI per user (`by`) over the
quota's period (not the KPI's own period), with the KPI's rules: the same
date rule, the user's row filter, hidden fields refused. A KPI without
`by` gives one company-wide line (user None).

Who is listed: the users whose numbers the actor may read on the KPI's
entity: `own` -> the actor, `team` -> active members of the actor's team,
`all` -> every active user with a role that may open the quota (every
active user when no role names it), so a rep with no calls shows 0, not
nothing. Attainment is actual / target (null when the target is 0; a
missing actual counts as 0).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ...metadata import model as m
from ...metadata.expressions.values import local_date
from ..actor import Actor
from ..errors import Forbidden, NotFound, ValidationFailed
from .formats import format_value
from .kpis import kpi_values, periods
from .service import Reports


@dataclass(frozen=True, slots=True)
class QuotaLine:
    target_name: str
    kpi: str
    user_id: int | None
    user_label: str
    actual: Any
    target: Decimal
    attainment: Decimal | None        # 0.8 = 80 %
    formatted_actual: str
    formatted_target: str
    formatted_attainment: str


@dataclass(frozen=True, slots=True)
class QuotaResult:
    name: str
    label: str
    period: str
    period_start: dt.date
    period_end: dt.date
    lines: tuple[QuotaLine, ...]


def period_start(reports: Reports, quota: m.Quota, day: dt.date) -> dt.date:
    current, _ = periods(quota.period, day, reports.config.company)
    assert current is not None and current.start is not None
    return current.start


def set_target(reports: Reports, actor: Actor, quota_name: str, target_name: str, *, user_id: int,
               day: dt.date, value: Any) -> dt.date:
    """Stores one user's target for the quota period containing `day`; returns that period's start."""
    quota = _quota(reports, quota_name)
    if not reports.permissions.is_admin(actor):
        raise Forbidden("only administrators set quota targets")
    if target_name not in quota.targets:
        raise ValidationFailed({"target": [f"'{target_name}' is not a target of quota {quota_name} "
                                           f"({', '.join(quota.targets)})"]})
    try:
        amount = Decimal(str(value))
    except Exception:
        raise ValidationFailed({"value": [f"'{value}' is not a number"]}) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed({"value": ["must be a number of at least 0"]})
    start = period_start(reports, quota, day)
    table = reports.tables("crm_quota_targets")
    key = {"quota": quota_name, "target": target_name, "user_id": int(user_id), "period_start": start}
    with reports.engine.begin() as conn:
        users = reports.tables.users
        if conn.execute(sa.select(users.c.id).where(users.c.id == int(user_id))).first() is None:
            raise ValidationFailed({"user_id": [f"user {user_id} does not exist"]})
        conn.execute(table.delete().where(*[table.c[k] == v for k, v in key.items()]))
        conn.execute(table.insert().values(**key, value=amount))
    return start


def quota_attainment(reports: Reports, actor: Actor, quota_name: str, *, at: dt.datetime | None = None,
                     locale: str | None = None) -> QuotaResult:
    quota = _quota(reports, quota_name)
    if not reports.may_open(actor, quota_name):
        raise Forbidden(f"you may not open quota {quota_name}: none of your roles lists it")
    config = reports.config
    now = at or reports.clock()
    today = local_date(now, config.company.timezone)
    current, _ = periods(quota.period, today, config.company)
    assert current is not None and current.start is not None and current.end is not None
    locale = locale or actor.locale or config.company.default_locale
    overrides = _overrides(reports, quota_name, current.start)
    lines: list[QuotaLine] = []
    for target in quota.targets.values():
        kpi = config.kpis[target.kpi]
        values = _kpi_for_quota(reports, actor, target.kpi, quota.period, now, locale)
        if kpi.by is None:
            actuals = {None: (values.current, "—")}
        else:
            actuals = {u.user_id: (u.current, u.label) for u in values.by_user}
            for user_id, label in _listed_users(reports, actor, quota_name, kpi.entity):
                actuals.setdefault(user_id, (None, label))
        for user_id, (actual, label) in sorted(actuals.items(), key=lambda kv: kv[1][1]):
            goal = overrides.get((target.name, user_id), Decimal(str(target.target)))
            reached = Decimal(str(actual)) if actual is not None else Decimal(0)
            ratio = (reached / goal).quantize(Decimal("0.0001")) if goal else None
            currency = config.company.currency
            lines.append(QuotaLine(target.name, target.kpi, user_id, label, actual, goal, ratio,
                                   format_value(actual if actual is not None else 0, kpi.format, locale, currency),
                                   format_value(goal, kpi.format, locale, currency),
                                   format_value(ratio, "percent", locale, currency)))
    return QuotaResult(quota.name, quota.label.text(locale, config.company.default_locale), quota.period,
                       current.start, current.end, tuple(lines))


def _kpi_for_quota(reports: Reports, actor: Actor, kpi: str, period: str, now: dt.datetime, locale: str) -> Any:
    """The KPI as part of a quota the actor may open: its own listing is not required."""
    return kpi_values(_QuotaView(reports), actor, kpi, period=period, at=now, locale=locale)


class _QuotaView:
    """The reports service as seen from inside a quota: every KPI of the quota may be opened."""

    def __init__(self, reports: Reports):
        self._reports = reports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reports, name)

    def may_open(self, actor: Actor, name: str) -> bool:
        return True


def _quota(reports: Reports, name: str) -> m.Quota:
    quota = reports.config.quotas.get(name)
    if quota is None:
        raise NotFound("quota", name)
    return quota


def _overrides(reports: Reports, quota: str, start: dt.date) -> dict[tuple[str, int | None], Decimal]:
    table = reports.tables("crm_quota_targets")
    with reports.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.target, table.c.user_id, table.c.value)
                            .where(table.c.quota == quota, table.c.period_start == start)).all()
    return {(t, u): Decimal(str(v)) for t, u, v in rows}


def _listed_users(reports: Reports, actor: Actor, quota: str, entity: str) -> list[tuple[int, str]]:
    scope = reports.permissions.scope(actor, entity, "read")
    users = reports.tables.users
    roles_table = reports.tables("crm_user_roles")
    query = sa.select(users.c.id, sa.func.coalesce(sa.func.nullif(users.c.full_name, ""), users.c.username))
    query = query.where(users.c.active.is_(True))
    if scope == "none" or (scope != "all" and actor.id is None):
        return []
    if scope == "own" or (scope == "team" and not actor.team):
        query = query.where(users.c.id == actor.id)
    elif scope == "team":
        query = query.where(users.c.team == actor.team)
    else:
        boards = {d.name for d in reports.config.dashboards.values() if any(w.name == quota for w in d.widgets)}
        listing = {r.name for r in reports.config.roles.values() if quota in r.reports or r.reports & boards}
        listing |= {r for d in boards for r in reports.config.dashboards[d].roles}
        if listing:
            query = query.where(users.c.id.in_(sa.select(roles_table.c.user_id)
                                               .where(roles_table.c.role.in_(sorted(listing)))))
    with reports.engine.connect() as conn:
        return [(i, label) for i, label in conn.execute(query).all()]
