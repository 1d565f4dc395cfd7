"""Failed deliveries, for administrators: what could not be sent, why, and a retry button.

    GET  /admin/deliveries          messages given up on after their retries, newest first
    POST /admin/deliveries/retry    put one (`id`) or every listed (`all`) message back in the queue

Only administrators may open or post here (the Inbox service checks, so a
crafted request from anyone else is a 403). Retried messages go back to the
outbox as pending with fresh attempts; the worker sends them on its next round.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.runtime.alerts.inbox import Inbox

from .. import urls
from ..templating import render
from ..web import services, signed_in_actor


def _inbox(request: Request) -> Inbox:
    svc = services(request)
    return Inbox(svc.engine, svc.tables, svc.permissions)


async def deliveries_page(request: Request) -> Response:
    failed = await run_in_threadpool(_inbox(request).failed, signed_in_actor(request))
    return render(request, "deliveries.html", {"failed": failed, "retried": request.query_params.get("retried")})


async def retry(request: Request) -> Response:
    actor, inbox = signed_in_actor(request), _inbox(request)
    form = await request.form()
    if form.get("all"):
        ids = [row["id"] for row in await run_in_threadpool(inbox.failed, actor)]
    else:
        ids = [int(v) for v in form.getlist("id") if str(v).isdigit()]
    count = await run_in_threadpool(inbox.retry, actor, ids)
    target = request.scope.get("root_path", "") + urls.DELIVERIES + f"?retried={count}"
    return RedirectResponse(target, status_code=303)


ROUTES = [
    Route(urls.DELIVERIES, deliveries_page, methods=["GET"], name="deliveries"),
    Route(urls.DELIVERIES_RETRY, retry, methods=["POST"], name="deliveries_retry"),
]
