"""`/healthz`: a liveness probe for load balancers and process managers, public."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .. import urls


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES = [Route(urls.HEALTH, healthz, methods=["GET", "HEAD"], name="healthz")]
