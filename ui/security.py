"""Security headers on every response, pages, fragments, static files and errors alike.

The Content-Security-Policy allows only our own origin's scripts and styles:
no inline `<script>`, no `style=""`, no `eval`. Everything the UI ships keeps
to it (htmx is told not to inject its indicator `<style>` and not to `eval`,
see the `htmx-config` meta tag in base.html).
"""
from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# Pages hold customer data: keep them out of shared and back-button caches.
PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
# As ASGI sends them (lower-case latin-1 names), encoded once rather than on every response.
_RAW = {static: [(name.lower().encode("latin-1"), value.encode("latin-1"))
                 for name, value in (SECURITY_HEADERS if static else PAGE_HEADERS).items()]
        for static in (True, False)}


def add_security_headers(headers: MutableHeaders, *, static: bool = False) -> None:
    """Sets the headers unless a response chose its own value (`MutableHeaders.setdefault` of each)."""
    present = {name for name, _ in headers.raw}
    for name, value in _RAW[static]:
        if name not in present:
            headers.raw.append((name, value))


class SecurityHeadersMiddleware:
    """Adds `SECURITY_HEADERS` to every HTTP response (static files keep their caching)."""

    def __init__(self, app: ASGIApp, static_prefix: str = "/static/"):
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(self.static_prefix)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_security_headers(MutableHeaders(scope=message), static=static)
            await send(message)

        await self.app(scope, receive, send_with_headers)
