"""Who is signed in, checked before any handler runs; everything is private by default.

`AuthMiddleware` reads the user id from the session, loads that user again
(`Users.signed_in`: remembered for at most a second, so a user disabled since
signing in is signed out at their next request when disabled through this
server process, within a second when disabled by another process such as
`crm user disable`) and leaves the `Actor` in the scope for `web.current_actor`. A visitor who is not signed
in may only reach `urls.PUBLIC_PATHS` and the static files; anything else,
including unknown paths (so a 404 tells a stranger nothing), sends them to
the login page, or for htmx requests answers 401 with `HX-Redirect`.
"""
from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import sessions, urls
from .web import ACTOR_KEY, is_htmx, services


def route_path(scope: Scope) -> str:
    """The path below the app's root_path (what the router matches)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


def is_public(path: str) -> bool:
    return path in urls.PUBLIC_PATHS or path.startswith(urls.PUBLIC_PREFIXES)


class AuthMiddleware:
    """Loads the signed-in user; refuses private paths to visitors (see module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path.startswith(urls.PUBLIC_PREFIXES):   # static files: no session, no database
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        actor = None
        user_id = sessions.user_id(connection)
        if user_id is not None:
            users = services(connection).users
            # Remembered for a moment (Users.signed_in): only a fresh read goes to the thread pool.
            actor = users.remembered(user_id) or await run_in_threadpool(users.signed_in, user_id)
            if actor is None:                      # disabled or removed since signing in
                sessions.sign_out(connection)
        scope[ACTOR_KEY] = actor
        if actor is None and not is_public(path):
            await _to_login(connection, path)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _to_login(connection: HTTPConnection, path: str) -> Response:
    root = connection.scope.get("root_path", "")
    if is_htmx(connection):
        # htmx follows HX-Redirect with a full page load; a 3xx would be swapped in place.
        return Response(status_code=401, headers={"HX-Redirect": root + urls.login()})
    query = connection.scope.get("query_string", b"").decode("latin-1")
    wanted = path + (f"?{query}" if query else "")
    target = urls.login(wanted if connection.scope["method"] == "GET" else None)
    return RedirectResponse(root + target, status_code=303)
