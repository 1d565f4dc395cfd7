"""The signed session cookie, verified once per cookie rather than on every request.

    Middleware(SessionCookieMiddleware, secret_key=..., session_cookie="crm_session", max_age=...,
               same_site="lax", https_only=...)

Starlette's `SessionMiddleware` (same cookie: itsdangerous `TimestampSigner`
over base64 JSON, the same `Set-Cookie` flags) parses the Cookie header,
checks the HMAC and decodes the JSON on every request: a few percent of a
page. A browser sends the same cookie string until the session changes, so
this subclass remembers, per Cookie header seen (`VERIFIED_KEPT` of them, then
forgotten all at once), the signature's timestamp and the decoded session.
What a remembered cookie is still checked for, on every request:

- its age, exactly as the signer checks it (`int(time.time())` minus the
  signing time, refused when above `max_age` or below zero), so an expired
  cookie is refused at the same second as before;
- nothing else can change: the signature covers the whole value, and the key
  is the exact header text, so another or a tampered cookie is a different key
  and goes through the full check (only verified cookies are remembered).

The response side is Starlette's unchanged: the cookie is sent again only when
the request changed the session (sign-in, a new CSRF token, a language
change); an emptied session (sign-out) expires it. Its `Max-Age` counts from
that signing: there is no sliding refresh, as before.
"""
from __future__ import annotations

import json
import time
from base64 import b64decode, b64encode
from typing import Any

from itsdangerous.exc import BadSignature
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import Session, SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

VERIFIED_KEPT = 4096      # a bound: every signed-in browser has its own cookie
_IMMUTABLE = (str, int, float, bool, type(None))


class SessionCookieMiddleware(SessionMiddleware):
    """`SessionMiddleware` that remembers the cookies it has verified (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the request's Cookie header values -> (signing time, the session's items)
        self.verified: dict[tuple[bytes, ...], tuple[int, tuple[tuple[str, Any], ...]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # pragma: no cover - lifespan
            await self.app(scope, receive, send)
            return
        key = tuple(value for name, value in scope["headers"] if name == b"cookie")
        known = self.verified.get(key)
        if known is not None and self._fresh(known[0]):
            session, initial_session_was_empty = Session(known[1]), False
        else:
            if known is not None:
                del self.verified[key]
            session, initial_session_was_empty = self._verify(scope, key)
        scope["session"] = session

        # What Starlette's SessionMiddleware sends, unchanged.
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                session: Session = scope["session"]
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                if session.accessed:
                    headers.add_vary_header("Cookie")
                if session.modified and session:
                    data = self.signer.sign(b64encode(json.dumps(session).encode("utf-8")))
                    max_age = f"Max-Age={self.max_age}; " if self.max_age is not None else ""
                    headers.append("Set-Cookie", f"{self.session_cookie}={data.decode('utf-8')}; "
                                                 f"path={self.path}; {max_age}{self.security_flags}")
                elif session.modified and not initial_session_was_empty:
                    headers.append("Set-Cookie", f"{self.session_cookie}=null; path={self.path}; "
                                                 f"expires=Thu, 01 Jan 1970 00:00:00 GMT; {self.security_flags}")
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _fresh(self, signed_at: int) -> bool:
        """The signer's own age check (`TimestampSigner.unsign` with `max_age`)."""
        if self.max_age is None:
            return True
        age = int(time.time()) - signed_at
        return 0 <= age <= self.max_age

    def _verify(self, scope: Scope, key: tuple[bytes, ...]) -> tuple[Session, bool]:
        """Starlette's reading of the cookie (a session, and whether it started empty);
        a valid cookie is remembered under `key`."""
        cookies = HTTPConnection(scope).cookies
        if self.session_cookie not in cookies:
            return Session(), True
        try:
            data, signed = self.signer.unsign(cookies[self.session_cookie].encode("utf-8"),
                                              max_age=self.max_age, return_timestamp=True)
        except BadSignature:
            return Session(), True
        session = Session(json.loads(b64decode(data)))
        # Only flat values: each request gets its own copy of the items, nothing shared to mutate.
        if all(isinstance(value, _IMMUTABLE) for value in session.values()):
            if len(self.verified) >= VERIFIED_KEPT:
                self.verified.clear()
            self.verified[key] = (int(signed.timestamp()), tuple(session.items()))
        return session, False
