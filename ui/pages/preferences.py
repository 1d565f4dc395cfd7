"""The user's own settings; for now the UI language (POST /preferences/locale)."""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import urls
from ..web import is_htmx, safe_next, services, signed_in_actor


async def set_locale(request: Request) -> Response:
    """Stores the chosen language on the user and goes back to the page they were on."""
    actor = signed_in_actor(request)
    form = await request.form()
    locale = str(form.get("locale") or "")
    if actor.id is not None:     # every signed-in user has an id; only the system actor has none
        await run_in_threadpool(services(request).set_locale, actor.id, locale)
    target = request.scope.get("root_path", "") + safe_next(str(form.get("next") or ""))
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


ROUTES = [Route(urls.LOCALE, set_locale, methods=["POST"], name="set_locale")]
