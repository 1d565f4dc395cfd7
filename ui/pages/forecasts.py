"""The forecast page of a pipeline with `forecast:`.

    GET /forecasts/{name}?period=this_quarter    totals, a chart by close month, tables by month and by
                                                 owner, and forecast-vs-actual for past months
                                                 (htmx: only the result part, URL kept in sync)
    GET /forecasts/{name}/drill?period=..&by=month&key=2025-03-01[&measure=won]
                                                 the deals behind one line (or one chart bar)

Access, the row filter and the numbers are the reports service's
(engine/runtime/reports/forecast.py, forecast_snapshots.py): 403 when neither
a role nor a dashboard of the user's opens the forecast, 422 for a bad period.
The chart is drawn by ui/static/charts.js from a `data-chart-spec` attribute.
The page and the drill are report work: they take their turn (ui/report_turns.py).
See docs/reports-ui.md.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.runtime.reports.forecast import ForecastLine, ForecastResult, forecast, forecast_drill
from engine.runtime.reports.forecast_snapshots import forecast_accuracy

from .. import urls
from ..report_turns import run_report_work
from ..services import Services
from ..templating import render
from ..web import is_htmx, services, signed_in_actor
from .record import display_for
from .reports import PERIOD_NAMES, reports_for

# The periods offered: forecasts look ahead, so next months come first after this period.
FORECAST_PERIODS = ("this_month", "this_quarter", "this_year", "this_fiscal_year", "next_3_months",
                    "next_6_months", "next_12_months", "last_month", "last_quarter", "last_year")
FORECAST_PERIOD_NAMES = {**PERIOD_NAMES, "next_3_months": "Next 3 months", "next_6_months": "Next 6 months",
                         "next_12_months": "Next 12 months"}
ACCURACY_MONTHS = 6


DrillUrl = Callable[[str, ForecastLine, "str | None"], str]


def drill_url(root: str, name: str, period: str | None, by: str, line: ForecastLine,
              measure: str | None = None) -> str:
    """The list of deals behind one line (by month or owner), or behind one of its measures (a bar)."""
    key = line.key.isoformat() if isinstance(line.key, dt.date) else ("" if line.key is None else str(line.key))
    args = ([("period", period)] if period else []) + [("by", by), ("key", key)]
    args += [("measure", measure)] if measure else []
    return root + urls.FORECAST_DRILL.format(name=name) + "?" + urlencode(args)


def line_drills(root: str, name: str, period: str | None) -> DrillUrl:
    return lambda by, line, measure=None: drill_url(root, name, period, by, line, measure)


def forecast_chart(result: ForecastResult, gettext: Any, drill: DrillUrl | None = None) -> dict[str, Any] | None:
    """A bar per close month: won, weighted pipeline and best case side by side; a bar opens its deals."""
    if not result.by_month:
        return None
    labels = [line.label for line in result.by_month]

    def series(key: str, label: str) -> dict[str, Any]:
        return {"label": gettext(label),
                "drill": [drill("month", line, key) if drill else None for line in result.by_month],
                "data": [float(line.values[key]) if line.values[key] is not None else None
                         for line in result.by_month]}
    return {"type": "bar", "labels": labels,
            "datasets": [series("won", "Won"), series("weighted", "Weighted pipeline"),
                         series("best_case", "Best case")]}


def last_day(result: ForecastResult) -> dt.date | None:
    """The period's last day (its end is exclusive), for display."""
    return result.period.end - dt.timedelta(days=1) if result.period.end else None


def forecast_context(request: Request, svc: Services, name: str, query: Mapping[str, str],
                     accuracy: bool = True) -> dict[str, Any]:
    actor = signed_in_actor(request)
    locale = display_for(request, svc, actor).locale
    reports = reports_for(svc)
    result = forecast(reports, actor, name, period=query.get("period") or None, locale=locale)
    gettext = svc.catalogs.get(locale).gettext
    # as written (a custom `FROM..TO` in a link stays selected as such), else the default word
    current = str(query.get("period") or "") or (result.period_spec if isinstance(result.period_spec, str) else "")
    words = list(FORECAST_PERIODS) + ([current] if current and current not in FORECAST_PERIODS else [])
    root = request.scope.get("root_path", "")
    drill = line_drills(root, name, current or None)
    return {"forecast": result, "spec": forecast_chart(result, gettext, drill), "period": current,
            "month_drills": [drill("month", line) for line in result.by_month],
            "owner_drills": [drill("owner", line) for line in result.by_owner],
            "period_last": last_day(result),
            "periods": [(w, FORECAST_PERIOD_NAMES.get(w)) for w in words],
            "accuracy": forecast_accuracy(reports, actor, name, months=ACCURACY_MONTHS, locale=locale)
            if accuracy else None,
            "page_url": root + urls.forecast(name)}


async def forecast_page(request: Request) -> Response:
    svc, name = services(request), request.path_params["name"]
    context = await run_report_work(forecast_context, request, svc, name, dict(request.query_params))
    if is_htmx(request) and request.headers.get("HX-History-Restore-Request") != "true":
        return render(request, "_forecast_result.html", context)
    return render(request, "forecast.html", context)


async def forecast_drill_page(request: Request) -> Response:
    """The deals behind one forecast line: the report drill-down's page, over `forecast_drill`."""
    svc, actor, name = services(request), signed_in_actor(request), request.path_params["name"]
    query = dict(request.query_params)
    shown = display_for(request, svc, actor)
    reports = reports_for(svc)

    def load() -> dict[str, Any]:
        page = forecast_drill(reports, actor, name, period=query.get("period") or None,
                              by=str(query.get("by", "")), key=query.get("key"),
                              measure=query.get("measure") or None, limit=200)
        pipeline = svc.config.pipelines[name]
        entity = svc.config.entities[pipeline.entity]
        columns = [entity.fields[c] for c in entity.views.list.columns if c in entity.fields][:8]
        shown.prepare(entity, page.rows)
        root = request.scope.get("root_path", "")
        rows = [{"url": root + urls.record(entity.name, r["id"]), "title": shown.title_of(entity, r),
                 "cells": [shown.value(f, r.get(f.name)) for f in columns]} for r in page.rows]
        back = root + urls.forecast(name) + ("?" + urlencode({"period": query["period"]})
                                             if query.get("period") else "")
        label = (pipeline.label.text(shown.locale, svc.config.company.default_locale) if pipeline.label
                 else name)
        return {"report_label": label, "entity": entity, "columns": columns, "rows": rows,
                "more": page.has_more, "back_url": back}
    return render(request, "report_drill.html", await run_report_work(load))


ROUTES = [Route(urls.FORECAST_DRILL, forecast_drill_page, methods=["GET"], name="forecast_drill"),
          Route(urls.FORECAST, forecast_page, methods=["GET"], name="forecast")]
