"""Dashboard digests: a dashboard e-mailed to the users of its roles on a schedule, through the outbox.

    Digests(alert_service).run_due()       # what `crm worker` runs every minute (queue.py, crm.digests)

A dashboard with `digest: {schedule: "weekly monday 07:00", period: this_month}`
(engine extension, docs/alerts.md "Digests") is sent at its scheduled local
moment to every active user holding one of its `roles`. Exactly once per
(dashboard, recipient, moment): the moment is claimed in `crm_alert_firings`
(alert = the dashboard, entity `crm_digest`, record_id = the recipient,
moment `digest@<UTC instant>`) with INSERT ... ON CONFLICT DO NOTHING, and
its `crm_outbox` row is written in the same transaction; the outbox's
delivery (retries, Message-ID) sends it. Each recipient's numbers come from
running the dashboard as that user (their row filter, their hidden fields,
their locale). A moment missed by more than a day is not sent late: last
week's digest is of no use next Tuesday.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Connection

from ...metadata import model as m
from ..reports import Reports
from ..reports.dashboards import DashboardResult, dashboard
from .firing import dialect_insert
from .recipients import Directory
from .render import html_to_text
from .scan import iso_minute
from .service import AlertService
from .timing import schedule_instants

log = logging.getLogger(__name__)
ENTITY = "crm_digest"
LATE_LIMIT = dt.timedelta(days=1)

TEXTS = {
    "en": {"intro": "Your dashboard as of {day}.", "open": "Open the dashboard", "previous": "previous period",
           "up": "up", "down": "down", "flat": "unchanged", "missing": "This widget cannot be shown:",
           "won": "Won", "weighted": "Weighted pipeline", "best_case": "Best case", "commit": "Commit",
           "expected": "Expected", "quota": "Quota", "attainment": "Attainment", "user": "User",
           "actual": "Actual", "goal": "Goal"},
    "hu": {"intro": "Az irányítópultja {day} állapot szerint.", "open": "Irányítópult megnyitása",
           "previous": "előző időszak", "up": "nőtt", "down": "csökkent", "flat": "változatlan",
           "missing": "Ez az elem nem jeleníthető meg:", "won": "Megnyert", "weighted": "Súlyozott pipeline",
           "best_case": "Legjobb eset", "commit": "Biztos", "expected": "Várható", "quota": "Kvóta",
           "attainment": "Teljesítés", "user": "Felhasználó", "actual": "Tény", "goal": "Cél"},
}

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
# The e-mail's HTML (engine-owned, autoescaped); the plain-text alternative is made from it.
TEMPLATE = _ENV.from_string((Path(__file__).parent / "digest.email.html").read_text(encoding="utf-8"))


@dataclass
class DigestRun:
    claimed: int = 0          # (recipient, moment) pairs claimed now
    queued: int = 0           # e-mails put in the outbox


class Digests:
    """Sends the due digests of one configuration through an alert service's outbox."""

    def __init__(self, alerts: AlertService, reports: Reports | None = None):
        self.alerts = alerts
        records = alerts.records
        self.config = records.config
        self.reports = reports or Reports(self.config, records.engine, records.tables,
                                          permissions=records.permissions, clock=alerts.clock, records=records)

    def run_due(self, now: dt.datetime | None = None) -> DigestRun:
        now = now or self.alerts.clock()
        total = DigestRun()
        for board in self.config.dashboards.values():
            if board.digest is None:
                continue
            try:
                moments = schedule_instants(board.digest.schedule, now - LATE_LIMIT, now,
                                            self.config.company.timezone)
                for moment in moments:
                    run = self._send(board, moment, now)
                    total.claimed += run.claimed
                    total.queued += run.queued
            except Exception:   # noqa: BLE001 - one dashboard failing must not stop the others
                log.exception("digest of dashboard %s failed; retried at the next run", board.name)
        if total.queued and self.alerts.on_pending is not None:
            try:
                self.alerts.on_pending()
            except Exception:   # noqa: BLE001 - the periodic delivery sends it anyway
                log.exception("could not enqueue delivery of digests")
        return total

    def _send(self, board: m.Dashboard, moment: dt.datetime, now: dt.datetime) -> DigestRun:
        records = self.alerts.records
        run = DigestRun()
        with records.transaction() as conn:
            directory = Directory(conn, records.tables)
            wanted = sorted({uid for role in board.roles for uid in directory.with_role(role)})
            claimed = self._claim(conn, board, wanted, moment, now)
            run.claimed = len(claimed)
            rows = [self._message(board, firing_id, directory, user_id, moment, now)
                    for firing_id, user_id in claimed]
            if rows:
                conn.execute(records.tables("crm_outbox").insert(), rows)
            run.queued = sum(1 for r in rows if r["status"] == "pending")
        return run

    def _claim(self, conn: Connection, board: m.Dashboard, users: list[int], moment: dt.datetime,
               now: dt.datetime) -> list[tuple[int, int]]:
        if not users:
            return []
        firings = self.alerts.records.tables("crm_alert_firings")
        key = f"digest@{iso_minute(moment)}"
        claim = dialect_insert(conn, firings).values([
            dict(alert=board.name, entity=ENTITY, record_id=uid, moment=key, fired_at=now,
                 revision=self.config.revision) for uid in users
        ]).on_conflict_do_nothing(index_elements=["alert", "entity", "record_id", "moment"]).returning(
            firings.c.id, firings.c.record_id)
        return [(r[0], r[1]) for r in conn.execute(claim)]

    def _message(self, board: m.Dashboard, firing_id: int, directory: Directory, user_id: int,
                 moment: dt.datetime, now: dt.datetime) -> dict[str, Any]:
        user = directory.users[user_id]
        # The e-mail's link needs the site's address, which the worker cannot know: CRM_PUBLIC_URL.
        link = os.environ.get("CRM_PUBLIC_URL", "").rstrip("/") + f"/dashboards/{board.name}"
        row: dict[str, Any] = dict(firing_id=firing_id, alert=board.name, entity=ENTITY, record_id=user_id,
                                   recipient_id=user_id, channel="email", status="pending", attempts=0,
                                   next_attempt_at=now, created_at=now, sent_at=None, subject="", body="",
                                   html=None, link=link, address=user.get("email"), last_error=None)
        try:
            actor = directory.actor(user_id)
            locale = actor.locale or self.config.company.default_locale
            result = dashboard(self.reports, actor, board.name, locale=locale,
                               period=board.digest.period if board.digest else None)
            subject, markup = self.render(result, locale, moment, link)
            row.update(subject=subject, html=markup, body=html_to_text(markup))
        except Exception as exc:   # noqa: BLE001 - a dashboard that cannot be run fails this message only
            return {**row, "status": "failed", "last_error": f"digest {board.name}: {exc}"}
        if not row["address"]:
            return {**row, "status": "failed", "last_error": f"user {user['username']} has no e-mail address"}
        return row

    def render(self, result: DashboardResult, locale: str, moment: dt.datetime, link: str) -> tuple[str, str]:
        """(subject, HTML) of one recipient's digest."""
        from babel import dates
        from zoneinfo import ZoneInfo
        day = dates.format_date(moment.astimezone(ZoneInfo(self.config.company.timezone)).date(), "long",
                                locale=locale)
        texts = TEXTS.get(locale.split("_")[0], TEXTS["en"])
        subject = f"{result.label} · {day}"
        return subject, TEMPLATE.render(board=result, t=texts, day=day, link=link)
