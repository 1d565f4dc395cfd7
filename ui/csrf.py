"""CSRF protection: every POST, PUT, PATCH and DELETE must carry the session's token.

The token (see `sessions.csrf_token`) is in base.html twice: a
`<meta name="csrf-token">` and `hx-headers` on `<body>`, so every htmx request
sends it as `X-CSRF-Token`; plain forms send it as the hidden field
`csrf_token` (the `csrf_field()` template global writes it). A request without
it, or with another one, is refused with 403 before any handler runs.

Reading a form field means reading the body here; it is kept in memory (up
to `max_body_bytes`, 413 beyond) and replayed to the handler unchanged.
"""
from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import sessions

HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

log = logging.getLogger("crm.ui.csrf")

ErrorPage = Callable[[Request, int], Awaitable[Response]]


class _TooLarge(Exception):
    pass


class CSRFMiddleware:
    """Refuses state-changing requests whose token does not match the session's."""

    def __init__(self, app: ASGIApp, *, error_page: ErrorPage, max_body_bytes: int = 32 * 1024 * 1024):
        self.app = app
        self.error_page = error_page
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        sent = request.headers.get(HEADER)
        downstream = receive
        if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
            try:
                body = await self._read_body(request, receive)
            except _TooLarge:
                await self._answer(scope, receive, send, 413)
                return
            downstream = _replay(body, receive)
            sent = await _form_token(scope, body)
        expected = request.session.get(sessions.CSRF)
        if not (isinstance(expected, str) and expected and sent
                and hmac.compare_digest(sent.encode(), expected.encode())):
            log.warning("refused %s %s: %s CSRF token", scope["method"], scope["path"],
                        "wrong" if sent else "no")
            await self._answer(scope, downstream, send, 403)
            return
        await self.app(scope, downstream, send)

    async def _read_body(self, request: Request, receive: Receive) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        response = await self.error_page(Request(scope, receive), status)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the already-read body once, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


async def _form_token(scope: Scope, body: bytes) -> str | None:
    async def once() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}
    request = Request(scope, once)
    try:
        form = await request.form()
    except (HTTPException, MultiPartException, ValueError):
        # A malformed body has no token to find; it is refused, the handler never sees it.
        return None
    try:
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()
