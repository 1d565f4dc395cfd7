"""Alerts (spec section 8): triggers, exactly-once firings, recipients, templates, the outbox.

- `service.AlertService`: event triggers (a `Records` listener, after commit),
  `run_due()` scans of date and schedule alerts and follow-up rules, `deliver()`;
- `timing`: local moments in the company's timezone (DST-safe);
- `scan`: one SQL query per alert for what is due;
- `firing`: claim (INSERT ... ON CONFLICT DO NOTHING), render into `crm_outbox`, `also` actions;
- `delivery`: the outbox sent over the channels (engine/runtime/channels) with retries;
- `queue`: the huey job queue and `crm worker`.

See docs/alerts.md for the decisions the spec leaves open.
"""
from .delivery import Delivered, Policy
from .firing import Due, Fired
from .service import AlertService

__all__ = ["AlertService", "Delivered", "Due", "Fired", "Policy"]
