"""The URL scheme of the UI, in one place: routes are declared with these paths and
links (navigation, redirects) are built from them, so the two cannot drift apart.

Paths here are relative to the application; templates prefix links with the
request's `root_path` when the app is mounted below one.
"""
from __future__ import annotations

from urllib.parse import quote

HOME = "/"
LOGIN = "/login"
LOGOUT = "/logout"
HEALTH = "/healthz"
LOCALE = "/preferences/locale"
STATIC = "/static"

# Pages added on top of this foundation register these paths.
ENTITY_LIST = "/records/{entity}"
RECORD = "/records/{entity}/{record_id:int}"
DASHBOARD = "/dashboards/{name}"

# Reachable without signing in; everything else redirects to LOGIN.
PUBLIC_PATHS = frozenset({LOGIN, HEALTH})
PUBLIC_PREFIXES = (STATIC + "/",)


def entity_list(entity: str) -> str:
    return ENTITY_LIST.format(entity=quote(entity))


def dashboard(name: str) -> str:
    return DASHBOARD.format(name=quote(name))


def login(next_path: str | None = None) -> str:
    return LOGIN + (f"?next={quote(next_path, safe='/')}" if next_path and next_path != HOME else "")
