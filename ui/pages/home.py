"""`/`: the page after signing in; a welcome and the user's navigation (dashboards come later)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import urls
from ..templating import render
from ..web import services


async def home(request: Request) -> Response:
    today = dt.datetime.now(ZoneInfo(services(request).config.company.timezone)).date()
    return render(request, "home.html", {"today": today})


ROUTES = [Route(urls.HOME, home, methods=["GET"], name="home")]
