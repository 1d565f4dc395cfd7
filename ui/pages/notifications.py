"""The user's in-app notifications (the bell): a list, mark read, and the unread count for the nav.

    GET  /notifications           the latest 50, unread first marked
    GET  /notifications/count     htmx fragment: the unread count badge (empty when none)
    POST /notifications/read      mark one (`id`) or all of the user's notifications read

Reads and writes go through `engine.runtime.alerts.inbox.Inbox`, which keeps
every query to the signed-in user's own rows.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from engine.runtime.alerts.inbox import Inbox

from .. import urls
from ..templating import render
from ..web import is_htmx, services, signed_in_actor


def _inbox(request: Request) -> Inbox:
    svc = services(request)
    return Inbox(svc.engine, svc.tables, svc.permissions)


async def notifications_page(request: Request) -> Response:
    actor, inbox = signed_in_actor(request), _inbox(request)
    notes = await run_in_threadpool(inbox.latest, actor, 50)
    return render(request, "notifications.html", {"notes": notes,
                                                  "unread": sum(1 for n in notes if n.read_at is None)})


async def unread_count(request: Request) -> Response:
    count = await run_in_threadpool(_inbox(request).unread_count, signed_in_actor(request))
    return HTMLResponse(f'<span class="badge" data-unread="{count}">{count}</span>' if count else "")


async def mark_read(request: Request) -> Response:
    actor, inbox = signed_in_actor(request), _inbox(request)
    form = await request.form()
    raw = str(form.get("id") or "")
    ids = [int(raw)] if raw.isdigit() else None
    await run_in_threadpool(inbox.mark_read, actor, ids)
    target = request.scope.get("root_path", "") + urls.NOTIFICATIONS
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


ROUTES = [
    Route(urls.NOTIFICATIONS, notifications_page, methods=["GET"], name="notifications"),
    Route(urls.NOTIFICATIONS_COUNT, unread_count, methods=["GET"], name="notifications_count"),
    Route(urls.NOTIFICATIONS_READ, mark_read, methods=["POST"], name="notifications_read"),
]
