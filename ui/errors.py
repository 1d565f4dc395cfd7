"""One way errors reach the user: a full page, or for htmx requests a small fragment.

    exception_handlers = errors.HANDLERS        # given to Starlette in app.py

- a runtime `DomainError` answers with its own HTTP status (404, 403, 409, 422, ...);
- Starlette's `HTTPException` (unknown route 404, 405, ...) likewise;
- anything else is logged with its traceback and answered 500, without details.

404 and 403 always show the same generic text, never the error's own message,
so a page cannot tell "does not exist" from "exists but is not yours". For
htmx requests the fragment is sent with `HX-Retarget: #flash`, so it appears
in the page's message area whatever the request meant to replace.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from engine.runtime.errors import DomainError, ValidationFailed

from .security import add_security_headers
from .templating import render
from .web import is_htmx

log = logging.getLogger("crm.ui.errors")

# Statuses whose own message could reveal whether something exists.
GENERIC_ONLY = frozenset({401, 403, 404})


def error_response(request: Request, status: int, *, message: str | None = None,
                   problems: dict[str, list[str]] | None = None, reason: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """The error page (or fragment) for `status`; `reason` picks a more specific text ('csrf')."""
    context: dict[str, Any] = {
        "status": status,
        "message": None if status in GENERIC_ONLY else message,
        "problems": problems or {},
        "reason": reason,
        "fragment": is_htmx(request),
    }
    if is_htmx(request):
        fragment_headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML", **(headers or {})}
        return render(request, "_error.html", context, status_code=status, headers=fragment_headers)
    return render(request, "error.html", context, status_code=status, headers=headers)


async def domain_error(request: Request, exc: DomainError) -> Response:
    problems = exc.fields if isinstance(exc, ValidationFailed) else None
    message = "; ".join(exc.messages) if isinstance(exc, ValidationFailed) else exc.message
    return error_response(request, exc.status, message=message or None, problems=problems)


async def http_error(request: Request, exc: HTTPException) -> Response:
    return error_response(request, exc.status_code, headers=dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """Answers 500. Runs outside the middleware stack, so it adds the security headers itself."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    try:
        response = error_response(request, 500)
    except Exception:     # the page itself failed (templates, database): plain text then
        log.exception("the error page failed too")
        response = PlainTextResponse("Internal server error", status_code=500)
    add_security_headers(response.headers)
    return response


async def middleware_error(request: Request, status: int) -> Response:
    """For middleware refusals (CSRF: 403, body too large: 413)."""
    return error_response(request, status, reason="csrf" if status == 403 else None)


# Starlette picks the handler by the exception's class (most specific first).
HANDLERS: dict[Any, Callable[[Request, Any], Awaitable[Response]]] = {
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
