"""The app's router: Starlette's, remembering which route a method and path went to.

Starlette's `Router` tries every route in order until one matches fully (a regular
expression each); the record page is near the end of the list, so each request
tried a dozen and a half patterns. Which route matches first depends only on the
scope type, the method and the path below the root path (no route here looks at
the host), so the first full match is remembered for them (`ROUTES_KEPT` of them,
then forgotten all at once) and tried first next time; it is still asked to match,
which gives the path parameters. Anything else (no full match: 405, a slash
redirect, 404) goes through Starlette's own loop unchanged.
"""
from __future__ import annotations

from typing import Any

from starlette._utils import get_route_path
from starlette.routing import Match, Router
from starlette.types import Receive, Scope, Send

ROUTES_KEPT = 4096      # a bound: record ids are part of the paths


class RememberingRouter(Router):
    """`Router` that tries a method and path's remembered route first (see module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first: dict[tuple[str, str, str], int] = {}
        self._routes_seen = len(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await super().app(scope, receive, send)
            return
        if len(self.routes) != self._routes_seen:       # a route added since: remember afresh
            self._first.clear()
            self._routes_seen = len(self.routes)
        if "router" not in scope:
            scope["router"] = self
        key = (scope["type"], scope.get("method", ""), get_route_path(scope))
        index = self._first.get(key)
        # Partial matches before the first full one do not matter: a full match wins.
        candidates = ((index, self.routes[index]),) if index is not None else enumerate(self.routes)
        for position, route in candidates:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                if index is None:
                    if len(self._first) >= ROUTES_KEPT:
                        self._first.clear()
                    self._first[key] = position
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)
