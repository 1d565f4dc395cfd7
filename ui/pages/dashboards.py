"""Dashboards and quota targets.

    GET  /dashboards/{name}          the widgets, each run for the user (reports/dashboards.dashboard);
                                     ?period=this_quarter re-runs them for that period (htmx: the grid only)
    GET  /quotas/{name}/targets      this period's targets per user and target (admins)
    POST /quotas/{name}/targets      store one (quotas.set_target)

KPI widgets show the value, the previous period and a trend arrow with a text
(▲ up / ▼ down, not colour alone), per user when the KPI has `by`; report
widgets a chart and a link to the full report; quota widgets a row per user
and target with an attainment meter marked under/over target. A widget that
fails (a report reading a field hidden from the user) shows its reason in its
own box. Who edits targets: administrators only, as `set_target` enforces
(docs/reports-ui.md). The widgets (and the targets page's attainment) are report work: they
take their turn (ui/report_turns.py); saving a target does not wait.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.metadata.expressions.values import local_date
from engine.runtime.actor import Actor
from engine.runtime.errors import Forbidden, NotFound, ValidationFailed
from engine.runtime.reports.dashboards import dashboard, report_period
from engine.runtime.reports.formats import format_value
from engine.runtime.reports.quotas import quota_attainment, set_target

from .. import urls
from ..report_turns import run_report_work
from ..services import Services
from ..templating import render
from ..web import is_htmx, services, signed_in_actor
from .forecasts import forecast_chart, last_day, line_drills
from .record import display_for
from .reports import PERIOD_NAMES, chart_spec, drill_url, reports_for

SIZES = {"wide": "widget--wide", "full": "widget--full"}
# The dashboard's period control: "" keeps each widget's own period; the rest are calendar periods.
DASHBOARD_PERIODS = ("this_week", "last_week", "this_month", "last_month", "this_quarter", "last_quarter",
                     "this_year", "last_year", "this_fiscal_year", "last_fiscal_year")


def role_dashboard(svc: Services, actor: Actor) -> str | None:
    """The first dashboard (by name) whose `roles` include one of the user's: the home page shows it."""
    roles = set(actor.roles)
    for name in sorted(svc.config.dashboards):
        if roles & set(svc.config.dashboards[name].roles):
            return name
    return None


def board_context(request: Request, svc: Services, actor: Actor, name: str) -> dict[str, Any]:
    """Every widget run for the user, with what the template needs (chart specs, drill links)."""
    reports = reports_for(svc)
    locale = display_for(request, svc, actor).locale
    period = str(request.query_params.get("period") or "") or None
    board = dashboard(reports, actor, name, locale=locale, period=period)
    root = request.scope.get("root_path", "")
    gettext = svc.catalogs.get(locale).gettext
    widgets = []
    for w in board.widgets:
        item: dict[str, Any] = {"w": w, "css": SIZES.get(w.size or "", "")}
        if w.kind == "report" and w.result is not None:
            # the full report (and its drill-down) needs the report itself, not only the dashboard
            opens = reports.may_open(actor, w.name)
            params = report_period(reports, w.name, period)     # links show what the widget shows
            drills = [drill_url(root, w.name, params, r.key) for r in w.result.rows] if opens else []
            query = "?" + urlencode(params) if params else ""
            item.update(spec=chart_spec(w.result, drills or None), drills=drills,
                        url=root + urls.report(w.name) + query if opens else None)
        if w.kind == "forecast" and w.result is not None:
            query = "?" + urlencode({"period": period}) if period else ""
            item.update(spec=forecast_chart(w.result, gettext, line_drills(root, w.name, period)), url=root + urls.forecast(w.name) + query,
                        period_last=last_day(w.result))
        if w.kind == "kpi" and w.result is not None:
            k, currency = w.result, svc.config.company.currency
            item["users"] = [{"label": u.label, "trend": u.trend,
                              "now": format_value(u.current, k.format, locale, currency),
                              "before": format_value(u.previous, k.format, locale, currency)} for u in k.by_user]
        if w.kind == "quota" and w.result is not None:
            quota = svc.config.quotas[w.name]
            fallback = svc.config.company.default_locale
            item["target_labels"] = {t.name: svc.config.kpis[t.kpi].label.text(locale, fallback)
                                     for t in quota.targets.values()}
        if w.kind == "quota":
            item["edit_url"] = (root + urls.QUOTA_TARGETS.format(name=w.name)
                                if svc.permissions.is_admin(actor) else None)
        widgets.append(item)
    words = list(DASHBOARD_PERIODS) + ([period] if period and period not in DASHBOARD_PERIODS else [])
    return {"board": board, "widgets": widgets, "period": period or "",
            "periods": [(w, PERIOD_NAMES.get(w)) for w in words],
            "page_url": root + urls.dashboard(name)}


async def dashboard_page(request: Request) -> Response:
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    context = await run_report_work(board_context, request, svc, actor, name)
    if is_htmx(request) and request.headers.get("HX-History-Restore-Request") != "true":
        return render(request, "_dashboard_widgets.html", context)
    return render(request, "dashboard.html", context)


def _targets_context(request: Request, svc: Services, actor: Actor, name: str) -> dict[str, Any]:
    reports = reports_for(svc)
    if name not in svc.config.quotas:
        raise NotFound("quota", name)
    if not svc.permissions.is_admin(actor):
        raise Forbidden(f"only administrators set the targets of quota {name}")
    locale = display_for(request, svc, actor).locale
    result = quota_attainment(reports, actor, name, locale=locale)
    users = svc.tables.users
    with svc.engine.connect() as conn:
        people = conn.execute(sa.select(users.c.id, users.c.full_name, users.c.username)
                              .where(users.c.active.is_(True)).order_by(users.c.username)).all()
    return {"quota": result, "name": name, "people": [(p.id, p.full_name or p.username) for p in people],
            "targets": list(svc.config.quotas[name].targets),
            "action": request.scope.get("root_path", "") + urls.QUOTA_TARGETS.format(name=name)}


async def targets_page(request: Request) -> Response:
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    return render(request, "quota_targets.html", await run_report_work(_targets_context, request, svc, actor, name))


async def targets_save(request: Request) -> Response:
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    form = await request.form()
    reports = reports_for(svc)

    def save() -> None:
        if name not in svc.config.quotas:
            raise NotFound("quota", name)
        raw_user = str(form.get("user_id") or "")
        if not raw_user.isdigit():
            raise ValidationFailed({"user_id": ["choose a user"]})
        today = local_date(reports.clock(), svc.config.company.timezone)
        set_target(reports, actor, name, str(form.get("target") or ""), user_id=int(raw_user),
                   day=today, value=str(form.get("value") or "").strip().replace(",", "."))
    await run_in_threadpool(save)
    return RedirectResponse(request.scope.get("root_path", "") + urls.QUOTA_TARGETS.format(name=name),
                            status_code=303)


ROUTES = [
    Route(urls.DASHBOARD, dashboard_page, methods=["GET"], name="dashboard"),
    Route(urls.QUOTA_TARGETS, targets_page, methods=["GET"], name="quota_targets"),
    Route(urls.QUOTA_TARGETS, targets_save, methods=["POST"], name="quota_targets_save"),
]
