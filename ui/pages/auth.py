"""Signing in and out.

GET /login shows the form; POST /login checks the password (argon2, through
`Users.authenticate`, which refuses inactive users exactly like a wrong
password), slows repeated failures (`LoginThrottle`), logs every outcome
(never the password) and starts a fresh session. POST /logout empties it.
"""
from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import sessions, urls
from ..templating import render
from ..throttle import LoginThrottle
from ..web import current_actor, is_htmx, safe_next, services

log = logging.getLogger("crm.ui.auth")

# argon2 on a megabyte-long "password" is a cheap way to burn our CPU; no real one is this long.
MAX_PASSWORD_LENGTH = 1024


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if current_actor(request) is not None:
        return RedirectResponse(request.scope.get("root_path", "") + next_path, status_code=303)
    return render(request, "login.html", {"next": next_path, "username": "", "failed": False})


async def login(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_path = safe_next(str(form.get("next") or ""))
    address = request.client.host if request.client else "unknown"
    throttle: LoginThrottle = request.app.state.login_throttle
    async with throttle.attempt(username, address) as attempt:
        actor = None
        if username and password and len(password) <= MAX_PASSWORD_LENGTH:
            actor = await run_in_threadpool(services(request).users.authenticate, username, password)
        if actor is None:
            delay = await attempt.failed()
            log.warning("sign-in failed for %r from %s (%d in a row, answered after %.2f s)",
                        username, address, attempt.failures, delay)
            return render(request, "login.html", {"next": next_path, "username": username, "failed": True},
                          status_code=401)
        attempt.succeeded()
    sessions.sign_in(request, actor)
    log.info("signed in: %s from %s", actor.username, address)
    return RedirectResponse(request.scope.get("root_path", "") + next_path, status_code=303)


async def logout(request: Request) -> Response:
    actor = current_actor(request)
    sessions.sign_out(request)
    if actor is not None:
        log.info("signed out: %s", actor.username)
    target = request.scope.get("root_path", "") + urls.LOGIN
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


ROUTES = [
    Route(urls.LOGIN, login_form, methods=["GET"], name="login"),
    Route(urls.LOGIN, login, methods=["POST"], name="login_submit"),
    Route(urls.LOGOUT, logout, methods=["POST"], name="logout"),
]
