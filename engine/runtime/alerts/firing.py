"""Firing an alert for some records, exactly once: claim, render into the outbox, run `also`.

Everything here happens in ONE transaction, the caller's:

1. claim: `INSERT INTO crm_alert_firings ... ON CONFLICT DO NOTHING RETURNING`;
   the UNIQUE (alert, entity, record_id, moment) lets exactly one worker win a
   moment, whatever the number of workers or restarts;
2. recipients resolved; each recipient reads the records as on the record
   page (visibility.py): one who may not read a record gets nothing about it;
3. one `crm_outbox` row per (firing, recipient, channel), rendered now from
   that recipient's read (the record as it was when the alert fired, its
   rollups over the rows they may read, links followed one hop as they may
   read them); in-app messages are delivered right
   here (a `crm_notifications` row), e-mail and SMS wait for the delivery job;
4. `also` actions create their records through `Records` as the system actor.

A crash anywhere before the commit leaves nothing, and the moment is claimed
again by the next scan; after the commit, the outbox holds the work.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from ...metadata import model as m
from ..actor import SYSTEM
from ..errors import DomainError
from ..query import row_to_dict
from ..records import Change, Records
from .recipients import Directory, resolve, user_view
from .render import Renderer
from .visibility import RecipientViews

CHUNK = 500
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Due:
    """A record whose alert moment has come: `moment` is the key that makes the firing unique."""

    record_id: int
    moment: str


@dataclass
class Fired:
    """What one call fired: counts, and the record changes to tell listeners after the commit."""

    firings: int = 0
    messages: int = 0
    pending: int = 0                    # e-mail/SMS rows waiting for delivery
    changes: list[Change] = field(default_factory=list)

    def add(self, other: "Fired") -> None:
        self.firings += other.firings
        self.messages += other.messages
        self.pending += other.pending
        self.changes.extend(other.changes)


def dialect_insert(conn: Connection, table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def record_link(entity: str, record_id: int) -> str:
    return f"/records/{entity}/{record_id}"


class Firer:
    """Fires the alerts of one configuration (see the module docstring)."""

    def __init__(self, records: Records, renderer: Renderer):
        self.records = records
        self.config = records.config
        self.tables = records.tables
        self.renderer = renderer

    def fire(self, conn: Connection, alert: m.Alert, dues: Sequence[Due], now: dt.datetime,
             snapshot: Mapping[int, Mapping[str, Any]] | None = None) -> Fired:
        """Claims and fires `dues`; `snapshot` gives record values for records that no longer exist (deleted)."""
        out = Fired()
        for start in range(0, len(dues), CHUNK):
            out.add(self._fire_chunk(conn, alert, dues[start:start + CHUNK], now, snapshot or {}))
        return out

    def _fire_chunk(self, conn: Connection, alert: m.Alert, dues: Sequence[Due], now: dt.datetime,
                    snapshot: Mapping[int, Mapping[str, Any]]) -> Fired:
        firings = self.tables("crm_alert_firings")
        unique = {(d.record_id, d.moment): d for d in dues}
        claim = dialect_insert(conn, firings).values([
            dict(alert=alert.name, entity=alert.entity, record_id=d.record_id, moment=d.moment, fired_at=now,
                 revision=self.config.revision) for d in unique.values()
        ]).on_conflict_do_nothing(index_elements=["alert", "entity", "record_id", "moment"]).returning(
            firings.c.id, firings.c.record_id)
        claimed = [(r[0], r[1]) for r in conn.execute(claim)]
        if not claimed:
            return Fired()
        records = self._load(conn, alert.entity, [rid for _, rid in claimed], snapshot)
        directory = Directory(conn, self.tables)
        wanted = resolve(alert, records.values(), directory)
        # Each recipient's own read of the records (visibility.py): who may read which, and what they see.
        seen = RecipientViews(conn, self.records, alert.entity, directory, wanted, snapshot)
        wanted = {rid: [(u, chs) for u, chs in pairs if seen.readable(u, rid)] for rid, pairs in wanted.items()}
        result = Fired(firings=len(claimed))
        today = now.date()
        rows = []
        for firing_id, record_id in claimed:
            for user_id, channels in wanted.get(record_id, []):
                for channel in channels:
                    rows.append(self._message(alert, firing_id, record_id, directory, user_id, channel,
                                              seen.view(user_id, record_id), today, now))
        result.messages = len(rows)
        result.pending = sum(1 for r in rows if r["status"] == "pending")
        self.write_outbox(conn, rows, now)
        for _, record_id in claimed:
            if record_id in records and not snapshot:
                self._also(conn, alert, records[record_id], result.changes)
        return result

    # -- pieces --------------------------------------------------------------------------------
    def _load(self, conn: Connection, entity: str, ids: list[int],
              snapshot: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """The records as the system sees them (computed fields included), or the deletion snapshot."""
        if snapshot:
            return {rid: {**snapshot[rid], "id": rid} for rid in ids if rid in snapshot}
        ent = self.config.entities[entity]
        query = self.records.query.select(SYSTEM, entity, where={"id": ids})
        return {int(r["id"]): row_to_dict(ent, r) for r in conn.execute(query).mappings()}

    def _message(self, alert: m.Alert, firing_id: int, record_id: int, directory: Directory, user_id: int,
                 channel: str, shown: dict[str, Any], today: dt.date, now: dt.datetime) -> dict[str, Any]:
        """One outbox row; `shown` is the record as this recipient may see it (visibility.py)."""
        user = directory.users[user_id]
        row: dict[str, Any] = dict(firing_id=firing_id, alert=alert.name, entity=alert.entity, record_id=record_id,
                                   recipient_id=user_id, channel=channel, status="pending", attempts=0,
                                   next_attempt_at=now, created_at=now, subject="", body="", html=None,
                                   link=record_link(alert.entity, record_id), address=None, last_error=None)
        try:
            rendered = self.renderer.render(alert, channel, shown, user_view(user), today)
            row.update(subject=rendered.subject, body=rendered.text, html=rendered.html)
        except Exception as exc:   # noqa: BLE001 - data a template cannot show fails this message only
            return {**row, "status": "failed", "last_error": f"template {alert.template}: {exc}"}
        return addressed(row, user, now)

    def write_outbox(self, conn: Connection, rows: list[dict[str, Any]], now: dt.datetime) -> None:
        """Inserts rendered outbox rows; in-app ones become notifications (the bell) in the same transaction."""
        if not rows:
            return
        outbox = self.tables("crm_outbox")
        for r in rows:
            r.setdefault("sent_at", None)
        ids = [r[0] for r in conn.execute(outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True),
                                          rows)]
        notes = [dict(user_id=r["recipient_id"], outbox_id=oid, title=r["subject"] or r["alert"], body=r["body"],
                      link=r["link"], created_at=now, read_at=None)
                 for oid, r in zip(ids, rows) if r["channel"] == "in_app" and r["status"] == "sent"]
        if notes:
            conn.execute(self.tables("crm_notifications").insert(), notes)

    def _also(self, conn: Connection, alert: m.Alert, record: Mapping[str, Any], changes: list[Change]) -> None:
        """Each `also: create` once per firing, in the firing's transaction, as the system actor."""
        for action in alert.also:
            values = {name: self.records.exprs.evaluate(conn, alert.entity, expr, record, SYSTEM)
                      for name, expr in action.map.items()}
            try:
                self.records.create(SYSTEM, action.entity, values, internal=True, conn=conn, deferred=changes)
            except DomainError as exc:
                # Refused before anything was written (the checks run first): the alert still tells
                # its recipients; the refusal is logged with where and why.
                log.warning("alert %s, %s %s: also create %s refused: %s", alert.name, alert.entity,
                            record.get("id"), action.entity, exc)


def addressed(row: dict[str, Any], user: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A rendered outbox row given its address: e-mail/SMS wait for delivery (failed at once without an
    address), in-app is delivered by the insert itself."""
    channel = row["channel"]
    if channel == "email":
        row["address"] = user.get("email")
    elif channel == "sms":
        row["address"] = user.get("phone")
    if channel in ("email", "sms") and not row["address"]:
        what = "e-mail address" if channel == "email" else "phone number"
        return {**row, "status": "failed", "last_error": f"user {user['username']} has no {what}"}
    if channel == "in_app":
        row.update(status="sent", sent_at=now, attempts=1)
    return row
