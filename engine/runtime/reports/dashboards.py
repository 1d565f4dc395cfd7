"""Dashboards: the widgets of one dashboard, each run for the user (what a dashboard page renders).

    board = dashboard(reports, actor, "sales_manager")
    for widget in board.widgets:
        widget.kind, widget.name, widget.size, widget.result   # ReportResult | KpiResult | QuotaResult
        widget.error                                            # why a widget is missing, else None

Who may open a dashboard: admins, users with one of its `roles`, and users
whose role lists it in `reports:` (403 otherwise).

`period` (a period word: this_quarter, last_month, ...) is the dashboard's
period control: report widgets get it as their period parameter (the first
one of type period), forecast widgets as their period, and KPI and quota
widgets are read for that calendar period when it is a this_/last_ week,
month, quarter, year or fiscal year (their own period length otherwise).

A widget the user may not see in full (a report reading a field hidden from
them) is kept with its refusal as `error`, so the page can say why instead
of failing as a whole.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ...metadata.expressions import period_problem, resolve_period
from ...metadata.expressions.values import local_date, local_midnight
from ..actor import Actor
from ..errors import DomainError, Forbidden, NotFound, ValidationFailed
from .forecast import forecast
from .kpis import kpi_values
from .quotas import quota_attainment
from .service import Reports

# Period words that are one calendar period of a KPI/quota length: (this or last, length).
CALENDAR = {f"{which}_{unit}": (which, unit) for which in ("this", "last")
            for unit in ("week", "month", "quarter", "year", "fiscal_year")}


@dataclass(frozen=True, slots=True)
class WidgetResult:
    kind: str                 # "kpi" | "report" | "quota" | "forecast"
    name: str
    size: str | None
    result: Any
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DashboardResult:
    name: str
    label: str
    widgets: tuple[WidgetResult, ...]
    period: str | None = None


def may_open_dashboard(reports: Reports, actor: Actor, name: str) -> bool:
    board = reports.config.dashboards.get(name)
    if board is None:
        return False
    return reports.may_open(actor, name) or bool(set(actor.roles) & set(board.roles))


def dashboard(reports: Reports, actor: Actor, name: str, *, locale: str | None = None,
              period: str | None = None) -> DashboardResult:
    board = reports.config.dashboards.get(name)
    if board is None:
        raise NotFound("dashboard", name)
    if not may_open_dashboard(reports, actor, name):
        raise Forbidden(f"you may not open dashboard {name}: it is not for your roles")
    period = period or None
    if period is not None and (not isinstance(period, str) or period_problem(period)):
        raise ValidationFailed({"period": [period_problem(period) or "a dashboard period is a period word"]})
    locale = locale or actor.locale or reports.config.company.default_locale
    widgets = []
    for widget in board.widgets:
        try:
            widgets.append(WidgetResult(widget.kind, widget.name, widget.size,
                                        _run(reports, actor, widget, locale, period)))
        except DomainError as exc:
            widgets.append(WidgetResult(widget.kind, widget.name, widget.size, None, exc.message))
    return DashboardResult(board.name, board.label.text(locale, reports.config.company.default_locale),
                           tuple(widgets), period)


def _run(reports: Reports, actor: Actor, widget: Any, locale: str, period: str | None) -> Any:
    if widget.kind == "forecast":
        return forecast(reports, actor, widget.name, period=period, locale=locale)
    if widget.kind == "report":
        return reports.run_report(actor, widget.name, report_period(reports, widget.name, period), locale=locale)
    length, at = calendar_window(reports, period)
    if widget.kind == "kpi":
        kpi = reports.config.kpis.get(widget.name)
        same = kpi is not None and length is not None and kpi.period is not None
        return kpi_values(reports, actor, widget.name, locale=locale, period=length if same else None,
                          at=at if same else None)
    quota = reports.config.quotas.get(widget.name)
    same = quota is not None and length == quota.period
    return quota_attainment(reports, actor, widget.name, locale=locale, at=at if same else None)


def report_period(reports: Reports, name: str, period: str | None) -> dict[str, str]:
    """The parameters a report widget runs with under the dashboard period (also its links' query)."""
    report = reports.config.reports.get(name)
    if period is None or report is None:
        return {}
    param = next((p for p in report.params.values() if p.type == "period"), None)
    return {param.name: period} if param is not None else {}


def calendar_window(reports: Reports, period: str | None) -> tuple[str | None, dt.datetime | None]:
    """(KPI period length, a moment inside the period) for this_/last_ calendar periods, else (None, None)."""
    if period not in CALENDAR:
        return None, None
    which, length = CALENDAR[period]
    if which == "this":
        return length, None
    company = reports.config.company
    today = local_date(reports.clock(), company.timezone)
    start = resolve_period(period, today, company).start
    assert start is not None
    return length, local_midnight(start, company.timezone) + dt.timedelta(hours=12)
