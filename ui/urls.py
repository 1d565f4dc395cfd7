"""The URL scheme of the UI, in one place: routes are declared with these paths and
links (navigation, redirects) are built from them, so the two cannot drift apart.

Paths here are relative to the application; templates prefix links with the
request's `root_path` when the app is mounted below one.
"""
from __future__ import annotations

from functools import lru_cache
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
# The record page and forms (ui/pages/record.py, forms.py, pickers.py, files.py).
RECORD_NEW = "/records/{entity}/new"
RECORD_EDIT = "/records/{entity}/{record_id:int}/edit"
RECORD_DELETE = "/records/{entity}/{record_id:int}/delete"
RECORD_VALIDATE = "/records/{entity}/validate"
RECORD_LOOKUP = "/records/{entity}/lookup"
RECORD_LINES = "/records/{entity}/lines/{field}"
RECORD_RELATED = "/records/{entity}/{record_id:int}/related/{related}"
RECORD_TIMELINE = "/records/{entity}/{record_id:int}/timeline"
FILE = "/files/{attachment_id:int}"
# The in-app notifications (ui/pages/notifications.py).
NOTIFICATIONS = "/notifications"
NOTIFICATIONS_COUNT = "/notifications/count"
NOTIFICATIONS_READ = "/notifications/read"
DELIVERIES = "/admin/deliveries"
DELIVERIES_RETRY = "/admin/deliveries/retry"

# The pipeline board, moves, conversions and the approval inbox (ui/pages/board.py, approvals.py).
BOARD = "/records/{entity}/board"
RECORD_MOVE = "/records/{entity}/{record_id:int}/move"
RECORD_CONVERT = "/records/{entity}/{record_id:int}/convert/{action}"
APPROVALS = "/approvals"
APPROVALS_COUNT = "/approvals/count"
APPROVAL_DECIDE = "/approvals/{request_id:int}/{decision:str}"

# Reachable without signing in; everything else redirects to LOGIN.
PUBLIC_PATHS = frozenset({LOGIN, HEALTH})
PUBLIC_PREFIXES = (STATIC + "/",)


def entity_list(entity: str) -> str:
    return ENTITY_LIST.format(entity=quote(entity))


def dashboard(name: str) -> str:
    return DASHBOARD.format(name=quote(name))


def login(next_path: str | None = None) -> str:
    return LOGIN + (f"?next={quote(next_path, safe='/')}" if next_path and next_path != HOME else "")


def record(entity: str, record_id: int) -> str:
    return f"/records/{_quoted(entity)}/{int(record_id)}"


@lru_cache(maxsize=1024)
def _quoted(name: str) -> str:
    """`quote(name)`, remembered: a page links to dozens of records of a few entities."""
    return quote(name)


def record_action(entity: str, action: str, record_id: int | None = None) -> str:
    """`/records/deal/new`, `/records/deal/7/edit`, `/records/deal/validate`, ..."""
    middle = f"/{int(record_id)}" if record_id is not None else ""
    return f"/records/{quote(entity)}{middle}/{action}"


def file(attachment_id: int) -> str:
    return f"/files/{int(attachment_id)}"
# Reports, dashboards and quota targets (ui/pages/reports.py, dashboards.py; docs/reports-ui.md).
REPORT = "/reports/{name}"
REPORT_EXPORT = "/reports/{name}.{fmt}"
REPORT_DRILL = "/reports/{name}/drill"
REPORT_CHART = "/reports/{name}/chart"
QUOTA_TARGETS = "/quotas/{name}/targets"


def report(name: str) -> str:
    return REPORT.format(name=quote(name))


def board(entity: str) -> str:
    return BOARD.format(entity=quote(entity))
# Configuration editing for administrators (ui/pages/admin_config.py, admin_config_forms.py, admin_history.py).
ADMIN_CONFIG = "/admin/config"
ADMIN_CONFIG_NEW = "/admin/config/new"
ADMIN_CONFIG_DOC = "/admin/config/doc/{path:path}"
ADMIN_CONFIG_CHECK = "/admin/config/check/{path:path}"
ADMIN_CONFIG_REVIEW = "/admin/config/review/{path:path}"
ADMIN_CONFIG_FORM = "/admin/config/form/{path:path}"
ADMIN_CONFIG_APPLY = "/admin/config/apply/{path:path}"
ADMIN_CONFIG_HISTORY = "/admin/config/history"
ADMIN_CONFIG_ROLLBACK = "/admin/config/history/{rev:int}/rollback"
# Forecasts of pipelines with `forecast:` (ui/pages/forecasts.py; docs/reports-ui.md).
FORECAST = "/forecasts/{name}"
FORECAST_DRILL = "/forecasts/{name}/drill"


def forecast(name: str) -> str:
    return FORECAST.format(name=quote(name))
