"""The forecast page of a pipeline with `forecast:`.

    GET /forecasts/{name}?period=this_quarter    totals, a chart by close month, tables by month and by
                                                 owner, and forecast-vs-actual for past months
                                                 (htmx: only the result part, URL kept in sync)

Access, the row filter and the numbers are the reports service's
(engine/runtime/reports/forecast.py, forecast_snapshots.py): 403 when neither
a role nor a dashboard of the user's opens the forecast, 422 for a bad period.
The chart is drawn by ui/static/charts.js from a `data-chart-spec` attribute.
See docs/reports-ui.md.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.runtime.reports.forecast import ForecastResult, forecast
from engine.runtime.reports.forecast_snapshots import forecast_accuracy

from .. import urls
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


def forecast_chart(result: ForecastResult, gettext: Any) -> dict[str, Any] | None:
    """A bar per close month: won, weighted pipeline and best case side by side."""
    if not result.by_month:
        return None
    labels = [line.label for line in result.by_month]

    def series(key: str, label: str) -> dict[str, Any]:
        return {"label": gettext(label), "drill": [None] * len(labels),
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
    return {"forecast": result, "spec": forecast_chart(result, gettext), "period": current,
            "period_last": last_day(result),
            "periods": [(w, FORECAST_PERIOD_NAMES.get(w)) for w in words],
            "accuracy": forecast_accuracy(reports, actor, name, months=ACCURACY_MONTHS, locale=locale)
            if accuracy else None,
            "page_url": root + urls.forecast(name)}


async def forecast_page(request: Request) -> Response:
    svc, name = services(request), request.path_params["name"]
    context = await run_in_threadpool(forecast_context, request, svc, name, dict(request.query_params))
    if is_htmx(request) and request.headers.get("HX-History-Restore-Request") != "true":
        return render(request, "_forecast_result.html", context)
    return render(request, "forecast.html", context)


ROUTES = [Route(urls.FORECAST, forecast_page, methods=["GET"], name="forecast")]
