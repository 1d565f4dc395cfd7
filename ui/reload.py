"""Live reload: a server follows the database's active configuration revision, between requests.

    ensure_current(app)               # cheap check (at most every 0.5 s); swap when the revision changed
    ensure_current(app, force=True)   # check now and wait for the swap (right after applying a revision)

A server serves exactly one immutable configuration at a time: `app.state.services`
(and `app.state.config`, its Config). When the active row of `crm_revisions`
names another content hash, the new Config (`revisions.active_config`) and its
Services (`build_services`) are built beside the old ones and then swapped in by
one attribute assignment. `ReloadMiddleware` pins the services a request starts
with into its scope (`web.services` reads them from there), so a request in
flight finishes on the configuration it began with, and the next one sees the
new configuration whole, never a mix.

Where the work happens: a watcher thread per app (started by the app's
lifespan) checks every `CHECK_INTERVAL` seconds and does the building, off the
request path. Requests run the same throttled check only when no watcher
runs (an app driven without its lifespan) or it has missed three turns; the
request that then finds a change builds it, and requests that arrive meanwhile
keep the old services and are not held up.

The check is one query on a tiny table (the newest active row of
`crm_revisions`, found through its primary key). A database without revisions
(never pushed; `crm migrate` only) is served with the configuration the app
was created with.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.runtime.revisions import RevisionRefused, active_config, active_hash

from .services import build_services
from .web import SERVICES_KEY

log = logging.getLogger("crm.ui.reload")
CHECK_INTERVAL = 0.5        # seconds between two checks of the active revision, per app
_CREATE = threading.Lock()


@dataclass
class Reloader:
    """The reload state of one app: when it last looked, and who is building a new configuration."""

    interval: float = CHECK_INTERVAL
    last_check: float = float("-inf")
    build_lock: threading.Lock = field(default_factory=threading.Lock)
    check_lock: threading.Lock = field(default_factory=threading.Lock)
    failed: str | None = None       # a revision that did not build: not retried until another one is active
    swaps: int = 0
    watched: bool = False           # a Watcher thread checks (and builds) for this app

    def due(self) -> bool:
        """Whether a request should check: every `interval`; with a watcher running only when it has
        missed three of its turns (it is stuck or dead), so requests do not do its building."""
        wait = self.interval * (3 if self.watched else 1)
        return time.monotonic() - self.last_check >= wait

    def claim_check(self) -> bool:
        """True for the one caller that may check now (the throttle), False for the others."""
        with self.check_lock:
            now = time.monotonic()
            if now - self.last_check < self.interval:
                return False
            self.last_check = now
            return True


def reloader(app: Starlette) -> Reloader:
    """The app's reload state, made on first use (by the watcher's start, or the first request)."""
    with _CREATE:
        if not hasattr(app.state, "reloader"):
            app.state.reloader = Reloader()
        return app.state.reloader  # type: ignore[no-any-return]


def ensure_current(app: Starlette, *, force: bool = False) -> bool:
    """Brings `app` to the database's active revision; True when it swapped to a new configuration.

    Without `force` the database is asked at most every CHECK_INTERVAL seconds per app,
    and a change another thread is already building is left to it (False at once).
    With `force` it asks now and, if needed, waits for the new configuration to be
    in place (an admin page calls it right after applying a revision).
    Errors (database unreachable, a stored revision that no longer validates) are
    logged and the current configuration kept: serving goes on.
    """
    state = reloader(app)
    if force:
        state.last_check = time.monotonic()
    elif not state.claim_check():
        return False
    engine: Engine = app.state.engine
    try:
        wanted = active_hash(engine)
    except Exception:   # noqa: BLE001 - a failed check must not fail the request; next check retries
        log.exception("could not read the active configuration revision")
        return False
    if wanted is None or wanted == app.state.services.config.revision:
        return False
    if not state.build_lock.acquire(blocking=force):
        return False        # another thread is building it; this request keeps the current services
    try:
        return _swap(app, state, wanted, force=force)
    finally:
        state.build_lock.release()


def _swap(app: Starlette, state: Reloader, wanted: str, *, force: bool) -> bool:
    engine: Engine = app.state.engine
    current = app.state.services
    if current.config.revision == wanted or (state.failed == wanted and not force):
        return False        # built meanwhile by the thread that held the lock, or known not to build
    started = time.perf_counter()
    try:
        config = active_config(engine)
        services = build_services(config, engine)
    except RevisionRefused:
        # The stored files no longer validate (an older engine accepted them): not retried until
        # another revision is active; a database hiccup (below) is retried at the next check.
        state.failed = wanted
        log.exception("configuration revision %s is not valid for this engine; still serving %s",
                      wanted, current.config.revision)
        return False
    except Exception:   # noqa: BLE001 - keep serving the configuration that works
        log.exception("configuration revision %s could not be loaded; still serving %s",
                      wanted, current.config.revision)
        return False
    # One assignment switches every later request; `config` follows for readers of app.state.config.
    app.state.services = services
    app.state.config = config
    state.failed = None
    state.swaps += 1
    _refreeze()
    log.info("now serving configuration revision %s (was %s; built in %.0f ms)",
             config.revision, current.config.revision, (time.perf_counter() - started) * 1000)
    return True


def _refreeze() -> None:
    """`crm serve` freezes what it built at start-up out of the garbage collector's sight
    (serve.freeze_startup_objects); the services just replaced were among them and, frozen, would
    never be freed. Unfreeze, collect them, and freeze the new ones (once per revision change, in
    the thread that built it)."""
    import gc
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
        gc.freeze()


class ReloadMiddleware:
    """Runs the throttled check before a request, then pins the services the request will use."""

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/static/"):
        self.app = app
        self.static_prefix = static_prefix
        self._known: tuple[Any, Reloader] | None = None    # (app, its Reloader): no lock per request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.static_prefix):
            app = scope["app"]
            known = self._known
            if known is None or known[0] is not app:
                known = self._known = (app, reloader(app))
            if known[1].due():
                await run_in_threadpool(ensure_current, app)
            scope[SERVICES_KEY] = app.state.services
        await self.app(scope, receive, send)


class Watcher:
    """A daemon thread that keeps one app current, so the building is done off the request path."""

    def __init__(self, app: Starlette, interval: float = CHECK_INTERVAL,
                 check: Callable[[Starlette], Any] = ensure_current):
        self.app = app
        self.interval = interval
        self._check = check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crm-config-watcher", daemon=True)

    def start(self) -> "Watcher":
        self._thread.start()
        reloader(self.app).watched = True
        return self

    def stop(self, timeout: float = 5.0) -> None:
        reloader(self.app).watched = False
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._check(self.app)
            except Exception:   # noqa: BLE001 - the watcher must outlive one bad check
                log.exception("configuration check failed")
