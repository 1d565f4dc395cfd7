"""The pages of the UI, one module per concern; each exports `ROUTES`.

To add a page: write `ui/pages/<name>.py` with thin async handlers (parse the
request, call a service with the acting user, `render()` a template) and a
`ROUTES` list using a path from `ui/urls.py`, then add it to `ROUTES` below.
Pages are private unless their path is in `urls.PUBLIC_PATHS`.
"""
from __future__ import annotations

from starlette.routing import BaseRoute

from . import auth, health, home, lists, preferences
from . import files, forms, pickers, record
from . import notifications
from . import deliveries
from . import dashboards, reports
from . import forecasts
from . import approvals, board, record_workflow
from . import admin_config, admin_config_forms, admin_history

ROUTES: list[BaseRoute] = [*health.ROUTES, *auth.ROUTES, *home.ROUTES, *preferences.ROUTES, *lists.ROUTES,
                           *forms.ROUTES, *pickers.ROUTES, *record.ROUTES, *files.ROUTES,
                           *notifications.ROUTES, *board.ROUTES, *approvals.ROUTES,
                           *record_workflow.ROUTES, *deliveries.ROUTES,
                           *reports.ROUTES, *dashboards.ROUTES, *forecasts.ROUTES,
                           *admin_config.ROUTES, *admin_config_forms.ROUTES, *admin_history.ROUTES]
