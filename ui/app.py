"""The web application: `create_app(config, engine, secret_key=...)` builds one Starlette app.

    app = create_app(load_config("configs"), make_engine(), secret_key=load_secret_key())

Nothing is global: the Config, the engine and the services built from them
are on `app.state` (`config`, `engine`, `services`, `templates`,
`login_throttle`). Requests pass through, outermost first:

    SecurityHeaders -> Reload (the active revision) -> Session (signed cookie, ui/session_cookie.py)
        -> Auth (who, or to /login) -> CSRF -> routes

Live reload (ui/reload.py): the app follows the database's active
configuration revision; a new one is built beside the old one and swapped in
between requests (`app.state.services` is replaced; a request keeps the
services it started with).

Routes are `ui.pages.ROUTES` plus the static files under /static
(`ui/static/`, with the npm-fetched files in `ui/static/vendor/`).
"""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import Engine, inspect
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from engine.metadata import model as m
from engine.runtime.tables import USERS

from . import errors, urls
from .auth import AuthMiddleware
from .csrf import CSRFMiddleware
from .pages import ROUTES
from .reload import ReloadMiddleware, Watcher
from .routing import RememberingRouter
from .security import SecurityHeadersMiddleware
from .session_cookie import SessionCookieMiddleware
from .services import build_services
from .templating import build_templates
from .throttle import LoginThrottle

STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "crm_session"
log = logging.getLogger("crm.ui")


class DatabaseNotReady(RuntimeError):
    """The database lacks the engine's tables: `crm migrate` has not run."""


def create_app(config: m.Config, engine: Engine, *, secret_key: str, secure_cookies: bool = False,
               session_max_age: int = 12 * 60 * 60, login_throttle: LoginThrottle | None = None,
               max_body_bytes: int = 32 * 1024 * 1024, live_reload: bool = True,
               page_memo: bool = True) -> Starlette:
    """The UI for one configuration on one database.

    `secure_cookies` marks the session cookie Secure (set it whenever the site
    is served over HTTPS); `session_max_age` is in seconds; `login_throttle`
    decides how failed logins are slowed (tests inject one that does not sleep).
    `live_reload=False` serves `config` only, whatever revision becomes active.
    `page_memo=False` renders every record page (ui/page_memo.py keeps them on SQLite while
    the database is unchanged).
    """
    if len(secret_key) < 32:
        raise ValueError("secret_key must be at least 32 characters")
    middleware = [
        Middleware(SecurityHeadersMiddleware, static_prefix=urls.STATIC + "/"),
        *([Middleware(ReloadMiddleware, static_prefix=urls.STATIC + "/")] if live_reload else []),
        Middleware(SessionCookieMiddleware, secret_key=secret_key, session_cookie=SESSION_COOKIE,
                   max_age=session_max_age, same_site="lax", https_only=secure_cookies),
        Middleware(AuthMiddleware),
        Middleware(CSRFMiddleware, error_page=errors.middleware_error, max_body_bytes=max_body_bytes),
    ]
    routes = [*ROUTES, Mount(urls.STATIC, app=StaticFiles(directory=STATIC_DIR), name="static")]
    app = Starlette(middleware=middleware, exception_handlers=errors.HANDLERS)
    app.router = RememberingRouter(routes, lifespan=_lifespan)   # what Starlette(routes=, lifespan=) builds
    app.state.config = config
    app.state.engine = engine
    app.state.services = build_services(config, engine)
    app.state.templates = build_templates()
    app.state.login_throttle = login_throttle or LoginThrottle()
    app.state.live_reload = live_reload
    app.state.page_memo = page_memo
    return app


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Refuses to start on a database without the engine's tables, with the fix in the message."""
    engine: Engine = app.state.engine
    has_users = await run_in_threadpool(lambda: inspect(engine).has_table(USERS))
    if not has_users:
        raise DatabaseNotReady(f"{engine.url.render_as_string(hide_password=True)} has no engine tables "
                               "yet: run `crm migrate` first")
    config: m.Config = app.state.config
    log.info("serving %s (configuration revision %s)", config.company.name, config.revision)
    watcher = Watcher(app).start() if app.state.live_reload else None
    try:
        yield
    finally:
        if watcher is not None:
            watcher.stop()
