"""What the signed session cookie holds, and the only functions that change it.

The cookie is Starlette's `SessionMiddleware` format (itsdangerous-signed JSON,
HttpOnly, SameSite=Lax, Secure when configured; read by ui/session_cookie.py,
which remembers the cookies it has verified). It holds:

- `uid`: the signed-in user's id (looked up again on every request, so a
  disabled user is signed out at their next click);
- `csrf`: the per-session CSRF token (sent back in a header or form field);
- `since`: when the user signed in (seconds since the epoch), for the log.

Signing in starts from an empty session with a fresh token, so nothing an
attacker planted before the login (a fixed token) survives it.
"""
from __future__ import annotations

import secrets
import time
from typing import Any, MutableMapping

from starlette.requests import HTTPConnection

from engine.runtime.actor import Actor

USER_ID = "uid"
CSRF = "csrf"
SINCE = "since"


def _session(request: HTTPConnection) -> MutableMapping[str, Any]:
    return request.session


def csrf_token(request: HTTPConnection) -> str:
    """This session's CSRF token; created on first use (which sets the cookie)."""
    session = _session(request)
    token = session.get(CSRF)
    if not isinstance(token, str) or not token:
        token = session[CSRF] = secrets.token_urlsafe(32)
    return token


def user_id(request: HTTPConnection) -> int | None:
    value = _session(request).get(USER_ID)
    return value if isinstance(value, int) else None


def sign_in(request: HTTPConnection, actor: Actor) -> None:
    """Replaces the session with a new one for `actor` (new CSRF token too)."""
    session = _session(request)
    session.clear()
    session[USER_ID] = actor.id
    session[SINCE] = int(time.time())
    session[CSRF] = secrets.token_urlsafe(32)


def sign_out(request: HTTPConnection) -> None:
    """Empties the session; the middleware then expires the cookie."""
    _session(request).clear()
