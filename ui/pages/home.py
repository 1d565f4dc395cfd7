"""`/`: the page after signing in: the dashboard of the user's role when there is one, else a welcome."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import urls
from ..report_turns import run_report_work
from ..templating import render
from ..web import services, signed_in_actor
from .dashboards import board_context, role_dashboard


async def home(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    today = dt.datetime.now(ZoneInfo(svc.config.company.timezone)).date()
    board = role_dashboard(svc, actor)
    if board is not None:
        context = await run_report_work(board_context, request, svc, actor, board)
        return render(request, "dashboard.html", {**context, "today": today, "home": True})
    return render(request, "home.html", {"today": today})


ROUTES = [Route(urls.HOME, home, methods=["GET"], name="home")]
