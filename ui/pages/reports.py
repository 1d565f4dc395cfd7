"""The report pages: a report with its parameter form, chart and table; exports; drill-down; record charts.

    GET /reports/{name}?period=this_year    the page (htmx: only the result part, URL kept in sync)
    GET /reports/{name}.csv|.xlsx?...       the same result as a file (formula guard in export_result)
    GET /reports/{name}/drill?row=[...]     the records behind one result row (Reports.drill_down)
    GET /reports/{name}/chart?record=deal:7 htmx fragment filling a record page's chart slot

Access, parameter checks and the row filter are the reports service's
(engine/runtime/reports): 403 when no role lists the report, 422 naming a
bad parameter. Charts are drawn by ui/static/charts.js from JSON in a
`data-chart-spec` attribute (no inline script). The report work takes its turn
(ui/report_turns.py: at most one report per CPU at once). See docs/reports-ui.md.
"""
from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlencode

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.metadata.expressions.periods import NAMED
from engine.runtime.errors import DomainError, NotFound, ValidationFailed
from engine.runtime.reports import ReportResult, Reports
from engine.runtime.reports.export import export_result

from .. import urls
from ..services import Services
from ..report_turns import run_report_work
from ..templating import render
from ..web import is_htmx, services, signed_in_actor
from .record import display_for

PERIODS = NAMED + ("last_12_months", "last_24_months", "last_30_days", "last_90_days")
CUSTOM = "custom"
# English names of the period words; the template translates them (messages.po has each).
PERIOD_NAMES = {"today": "Today", "this_week": "This week", "last_week": "Last week", "this_month": "This month",
                "last_month": "Last month", "this_quarter": "This quarter", "last_quarter": "Last quarter",
                "this_year": "This year", "last_year": "Last year", "this_fiscal_year": "This fiscal year",
                "last_fiscal_year": "Last fiscal year", "last_12_months": "Last 12 months",
                "last_24_months": "Last 24 months", "last_30_days": "Last 30 days", "last_90_days": "Last 90 days"}
RESERVED = ("row",)
MIME = {"csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def reports_for(svc: Services) -> Reports:
    """The reports service over the UI's own permissions and records (cheap: no I/O)."""
    return Reports(svc.config, svc.engine, svc.tables, permissions=svc.permissions, records=svc.records)


def given_params(report: m.Report, query: Mapping[str, str]) -> dict[str, str]:
    """The parameters as the service takes them; a custom period is `from..to`.

    Unknown names are passed on so the service refuses them (422) instead of
    silently ignoring a mistyped URL.
    """
    out: dict[str, str] = {}
    for key, value in query.items():
        if key in RESERVED or "__" in key and key.split("__")[0] in report.params:
            continue
        out[key] = value
    for name, param in report.params.items():
        if param.type == "period" and out.get(name) == CUSTOM:
            out[name] = f"{query.get(name + '__from', '')}..{query.get(name + '__to', '')}"
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    return value


def row_key_text(key: tuple[Any, ...]) -> str:
    return json.dumps([_json_value(v) for v in key], separators=(",", ":"))


def drill_url(root: str, name: str, query: Mapping[str, str], key: tuple[Any, ...]) -> str:
    args = [(k, v) for k, v in query.items() if k not in RESERVED] + [("row", row_key_text(key))]
    return root + urls.REPORT_DRILL.format(name=name) + "?" + urlencode(args)


def chart_spec(result: ReportResult, drill: list[str] | None) -> dict[str, Any] | None:
    """What charts.js draws: labels along x, one dataset per series, a drill URL per point."""
    chart = result.chart
    if chart is None or chart.type == "table" or not result.rows:
        return None
    keys = [c.key for c in result.group_columns]
    y = chart.y or result.measure_columns[0].key
    xi = keys.index(chart.x) if chart.x in keys else 0
    si = keys.index(chart.series) if chart.series in keys else None
    labels: list[str] = []
    series: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(result.rows):
        x = row.groups[xi].label if row.groups else result.label
        if x not in labels:
            labels.append(x)
        name = row.groups[si].label if si is not None else next(c.label for c in result.columns if c.key == y)
        ds = series.setdefault(name, {"label": name, "points": {}})
        value = row.values.get(y)
        ds["points"][x] = (float(value) if value is not None else None, drill[n] if drill else None)
    datasets = [{"label": ds["label"],
                 "data": [ds["points"].get(x, (None, None))[0] for x in labels],
                 "drill": [ds["points"].get(x, (None, None))[1] for x in labels]} for ds in series.values()]
    # a funnel is drawn as a horizontal bar: stages already come in their configured order
    return {"type": chart.type, "labels": labels, "datasets": datasets}


def _user_options(svc: Services) -> list[tuple[int, str]]:
    users = svc.tables.users
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.id, users.c.full_name, users.c.username)
                            .where(users.c.active.is_(True)).order_by(users.c.username)).all()
    return [(r.id, r.full_name or r.username) for r in rows]


def param_fields(svc: Services, report: m.Report, query: Mapping[str, str], locale: str) -> list[dict[str, Any]]:
    """One form field per parameter: its kind, current text and choices."""
    fallback = svc.config.company.default_locale
    fields = []
    users: list[tuple[int, str]] | None = None
    for name, param in report.params.items():
        default = param.default if param.default is not None else ""
        current = query.get(name, str(default))
        label = param.label.text(locale, fallback) if param.label else m.label_from_name(name).text()
        field: dict[str, Any] = {"name": name, "type": param.type, "label": label, "value": current}
        if param.type == "user":
            users = users if users is not None else _user_options(svc)
            field["options"] = [("current_user", None)] + [(str(i), t) for i, t in users]
        elif param.type == "period":
            words = list(PERIODS) + ([current] if current and current not in PERIODS and current != CUSTOM
                                     and ".." not in current else [])
            field["options"] = [(w, None) for w in words]
            field["names"] = {w: PERIOD_NAMES[w] for w in words if w in PERIOD_NAMES}
            field["from"] = query.get(name + "__from", "")
            field["to"] = query.get(name + "__to", "")
        elif param.type == "choice":
            field["options"] = [(str(o), None) for o in report.source.get(("params", name, "options")) or ()]
        fields.append(field)
    return fields


def result_context(request: Request, svc: Services, name: str, query: Mapping[str, str],
                   result: ReportResult) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    drills = [drill_url(root, name, query, row.key) for row in result.rows] if result.group_columns else []
    spec = chart_spec(result, drills or None)
    qs = urlencode([(k, v) for k, v in query.items()])
    return {"result": result, "spec": spec, "drills": drills,
            "csv_url": f"{root}/reports/{name}.csv" + (f"?{qs}" if qs else ""),
            "xlsx_url": f"{root}/reports/{name}.xlsx" + (f"?{qs}" if qs else "")}


async def report_page(request: Request) -> Response:
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    query = dict(request.query_params)
    locale = display_for(request, svc, actor).locale
    reports = reports_for(svc)

    def load() -> dict[str, Any]:
        report = reports.report(actor, name)            # 404 / 403 before anything else
        result = reports.run_report(actor, name, given_params(report, query), locale=locale)
        context = result_context(request, svc, name, query, result)
        context.update({"report": report, "label": result.label,
                        "fields": param_fields(svc, report, query, locale),
                        "page_url": request.scope.get("root_path", "") + urls.report(name)})
        return context
    context = await run_report_work(load)
    if is_htmx(request) and request.headers.get("HX-History-Restore-Request") != "true":
        return render(request, "_report_result.html", context)
    return render(request, "report.html", context)


async def report_export(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    name, fmt = request.path_params["name"], request.path_params["fmt"]
    if fmt not in MIME:
        raise NotFound("export format", fmt)
    reports = reports_for(svc)
    locale = display_for(request, svc, actor).locale

    def load() -> bytes:
        report = reports.report(actor, name)
        result = reports.run_report(actor, name, given_params(report, dict(request.query_params)), locale=locale)
        if fmt == "csv":
            text = io.StringIO(newline="")
            export_result(result, text, fmt="csv")
            return text.getvalue().encode("utf-8")
        data = io.BytesIO()
        export_result(result, data, fmt="xlsx")
        return data.getvalue()
    body = await run_report_work(load)
    return Response(body, media_type=MIME[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _row_key(raw: str | None) -> list[Any]:
    try:
        key = json.loads(raw or "")
    except ValueError:
        key = None
    if not isinstance(key, list) or not all(isinstance(v, (str, int, float, bool)) or v is None for v in key):
        raise ValidationFailed({"row": ["must be the JSON list of a result row's group values"]})
    return key


async def report_drill(request: Request) -> Response:
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    query = dict(request.query_params)
    shown = display_for(request, svc, actor)
    reports = reports_for(svc)

    def load() -> dict[str, Any]:
        report = reports.report(actor, name)
        key = _row_key(query.get("row"))
        page = reports.drill_down(actor, name, given_params(report, query), key, limit=200)
        entity = svc.config.entities[report.entity]
        columns = [entity.fields[c] for c in entity.views.list.columns if c in entity.fields][:8]
        shown.prepare(entity, page.rows)
        root = request.scope.get("root_path", "")
        rows = [{"url": root + urls.record(entity.name, r["id"]), "title": shown.title_of(entity, r),
                 "cells": [shown.value(f, r.get(f.name)) for f in columns]} for r in page.rows]
        back = root + urls.report(name) + "?" + urlencode([(k, v) for k, v in query.items() if k != "row"])
        return {"report_label": report.label.text(shown.locale, svc.config.company.default_locale),
                "entity": entity, "columns": columns, "rows": rows, "more": page.has_more,
                "key": key, "back_url": back}
    return render(request, "report_drill.html", await run_report_work(load))


async def record_chart(request: Request) -> Response:
    """A record page's chart slot: the report run for that record; a failure stays inside the slot."""
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    entity, _, raw_id = str(request.query_params.get("record", "")).partition(":")
    locale = display_for(request, svc, actor).locale
    reports = reports_for(svc)

    def load() -> dict[str, Any]:
        if not raw_id.isdigit():
            raise ValidationFailed({"record": ["must be entity:id"]})
        result = reports.run_report(actor, name, {}, record=(entity, int(raw_id)), locale=locale)
        return {"result": result, "spec": chart_spec(result, None), "error": None,
                "report_url": request.scope.get("root_path", "") + urls.report(name)
                if reports.may_open(actor, name) else None}
    try:
        context = await run_report_work(load)
    except DomainError as exc:
        context = {"result": None, "spec": None, "error": exc.message, "report_url": None}
    return render(request, "_record_chart.html", context)


ROUTES = [
    Route(urls.REPORT_DRILL, report_drill, methods=["GET"], name="report_drill"),
    Route(urls.REPORT_CHART, record_chart, methods=["GET"], name="report_chart"),
    Route(urls.REPORT_EXPORT, report_export, methods=["GET"], name="report_export"),
    Route(urls.REPORT, report_page, methods=["GET"], name="report"),
]
