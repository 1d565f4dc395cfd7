"""Pages served again, without reading or rendering them, while nothing they show can have
changed: the record page (ui/pages/record.py) of one user, at one address, in one language.

    return await kept_or_rendered(request, page_templates("record", entity.name), read)

A page is kept (in its configuration's `Services.pages`, within the bounds of
ui/page_store.py, least recently used out first) with everything it was rendered from in its key or its check:

- the key: the user (the whole `Actor`: id, roles, team, language), the UI language, the
  site address and root path, the path and query string, the `HX-Request` header and the
  company's date (so a day boundary starts afresh, whatever the page shows);
- the check (engine/runtime/change_epoch.py): the SQLite database's change epoch, read
  before the page's reads; any commit since the page was rendered (by this process, another
  worker, `crm import`, the sqlite3 shell) moves it, and the page is read and rendered
  again. Users, roles given in the database, the active configuration revision and the
  alerts' messages live in that database too; a new configuration revision makes new
  `Services`, so its pages start empty;
- never kept: a page whose reads depend on the time of day (engine/runtime/clock_watch.py:
  a `now()` formula, an idle warning; `today()` and periods hold only the date, which is in
  the key), a page larger than `page_store.PAGE_CHARS_KEPT`, a page on PostgreSQL (no
  change epoch: always rendered), an answer other than the page (errors are raised before
  anything is kept), and everything when the app is made with `page_memo=False`
  (`crm serve --no-page-memo`).

The session's CSRF token is the one part of a page that differs between two sessions of one
user: the page is kept with a stand-in for it (`templating.render_slotted`) and each answer
gets its own session's token. Permissions are not checked again on a hit: the page was
rendered for this very user from this very database state, so the check would give what it
gave. The sign-in itself (the session cookie, the user still active as `Users.signed_in`
knows it) is checked on every request by the middleware before the page is looked for.
"""
from __future__ import annotations

import sqlite3
from typing import Any, Callable, Hashable, Sequence

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from engine.runtime.change_epoch import change_epoch
from engine.runtime.clock_watch import clock_reads

from . import sessions
from .page_store import PageMemo
from .services import Services
from .templating import TOKEN_SHAPE, fill_token, render, render_slotted
from .web import current_actor, request_locale, services


async def kept_or_rendered(request: Request, template: str | Sequence[str],
                           read: Callable[[Connection], dict[str, Any]]) -> Response:
    """`read(conn)` (run in the thread pool on the records service's reading connection) rendered
    into `template`, or the page kept for this request's key if the database is unchanged."""
    svc = services(request)
    epochs = change_epoch(svc.engine) if request.app.state.page_memo else None
    try:
        # Asked here, not in the thread pool: a hit then costs no thread hop. It reads SQLite's
        # shared memory (WAL) and never waits (change_epoch.py).
        epoch = epochs.current() if epochs is not None else None   # before the reads (change_epoch.py)
    except (sqlite3.Error, OSError):         # locked outside WAL mode, or the file is gone
        epoch = None
    token = sessions.csrf_token(request)
    if epoch is None or not TOKEN_SHAPE.fullmatch(token):
        return render(request, template, await run_in_threadpool(_read_page, svc, read))

    memo: PageMemo = svc.pages
    key = _page_key(request)
    parts = memo.get(key, epoch)
    if parts is None:
        context, timed = await run_in_threadpool(_timed_read, svc, read)
        if timed:
            return render(request, template, context)
        parts = render_slotted(request, template, context)
        memo.put(key, epoch, parts)
    return HTMLResponse(fill_token(parts, token))


def _read_page(svc: Services, read: Callable[[Connection], dict[str, Any]]) -> dict[str, Any]:
    with svc.records.reading() as conn:
        return read(conn)


def _timed_read(svc: Services, read: Callable[[Connection], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """`_read_page`, and whether it asked the clock (in the worker thread it runs in)."""
    with clock_reads() as reads:
        return _read_page(svc, read), reads.asked


def _page_key(request: Request) -> Hashable:
    scope = request.scope
    svc = services(request)
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    # The company's date by the records service's clock, which `today()` reads too (outside any
    # clock_reads() block here: not a clock read of the page).
    today = svc.records.clock().astimezone(svc.records.query.zone).date()
    return (current_actor(request), request_locale(request), scope.get("root_path", ""), scope.get("scheme", "http"),
            tuple(scope.get("server") or ()), host, scope["path"], scope.get("query_string", b""),
            request.headers.get("hx-request"), today)
