"""Dashboards: the widgets of one dashboard, each run for the user (what a dashboard page renders).

    board = dashboard(reports, actor, "sales_manager")
    for widget in board.widgets:
        widget.kind, widget.name, widget.size, widget.result   # ReportResult | KpiResult | QuotaResult
        widget.error                                            # why a widget is missing, else None

Who may open a dashboard: admins, users with one of its `roles`, and users
whose role lists it in `reports:` (403 otherwise). A widget the user may not
see in full (a report reading a field hidden from them) is kept with its
refusal as `error`, so the page can say why instead of failing as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..actor import Actor
from ..errors import DomainError, Forbidden, NotFound
from .kpis import kpi_values
from .quotas import quota_attainment
from .service import Reports


@dataclass(frozen=True, slots=True)
class WidgetResult:
    kind: str                 # "kpi" | "report" | "quota"
    name: str
    size: str | None
    result: Any
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DashboardResult:
    name: str
    label: str
    widgets: tuple[WidgetResult, ...]


def may_open_dashboard(reports: Reports, actor: Actor, name: str) -> bool:
    board = reports.config.dashboards.get(name)
    if board is None:
        return False
    return reports.may_open(actor, name) or bool(set(actor.roles) & set(board.roles))


def dashboard(reports: Reports, actor: Actor, name: str, *, locale: str | None = None) -> DashboardResult:
    board = reports.config.dashboards.get(name)
    if board is None:
        raise NotFound("dashboard", name)
    if not may_open_dashboard(reports, actor, name):
        raise Forbidden(f"you may not open dashboard {name}: it is not for your roles")
    locale = locale or actor.locale or reports.config.company.default_locale
    widgets = []
    for widget in board.widgets:
        try:
            if widget.kind == "kpi":
                result: Any = kpi_values(reports, actor, widget.name, locale=locale)
            elif widget.kind == "quota":
                result = quota_attainment(reports, actor, widget.name, locale=locale)
            else:
                result = reports.run_report(actor, widget.name, locale=locale)
            widgets.append(WidgetResult(widget.kind, widget.name, widget.size, result))
        except DomainError as exc:
            widgets.append(WidgetResult(widget.kind, widget.name, widget.size, None, exc.message))
    return DashboardResult(board.name, board.label.text(locale, reports.config.company.default_locale),
                           tuple(widgets))
