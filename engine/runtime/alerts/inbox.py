"""What users read of the alerts: their in-app notifications (the bell) and a record's messages.

    inbox = Inbox(engine, tables, permissions)
    inbox.unread_count(actor); inbox.latest(actor); inbox.mark_read(actor, [3, 4]); inbox.mark_read(actor)
    inbox.record_messages(actor, "contract", 7)     # the record timeline's "sent" entries

A user only ever sees their own notifications (the user id is in every
WHERE). A record's messages are shown to whoever may read the record (the
permission filter); their error text only to admins.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Connection, Engine, Integer, Select, and_, bindparam, func, select, update

from ..actor import Actor
from ..direct_reads import all_mappings
from ..errors import Forbidden, NotFound
from ..list_statement import StatementCache
from ..permissions import Permissions
from ..tables import Tables

NEEDS_AN_ADMIN = ("failed", "uncertain")     # outbox states only an admin's retry sends again
MESSAGES_RECORD = "crm_messages_record"
messages_record_param = bindparam(MESSAGES_RECORD, type_=Integer)


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    title: str
    body: str
    link: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class Inbox:
    def __init__(self, engine: Engine, tables: Tables, permissions: Permissions):
        self.engine = engine
        self.tables = tables
        self.permissions = permissions
        self.notes = tables("crm_notifications")
        self._messages = StatementCache()     # record_messages statements by (entity, user)

    def unread_count(self, actor: Actor) -> int:
        if actor.id is None:
            return 0
        n = self.notes
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(n).where(
                n.c.user_id == actor.id, n.c.read_at.is_(None))).scalar() or 0)

    def latest(self, actor: Actor, limit: int = 50, unread_only: bool = False) -> list[Notification]:
        if actor.id is None:
            return []
        n = self.notes
        query = select(n).where(n.c.user_id == actor.id).order_by(n.c.id.desc()).limit(max(1, min(limit, 500)))
        if unread_only:
            query = query.where(n.c.read_at.is_(None))
        with self.engine.connect() as conn:
            return [Notification(r["id"], r["title"], r["body"], r["link"], r["created_at"], r["read_at"])
                    for r in conn.execute(query).mappings()]

    def mark_read(self, actor: Actor, ids: Iterable[int] | None = None,
                  now: dt.datetime | None = None) -> int:
        """Marks the given notifications (default: all) of the user read; returns how many changed."""
        if actor.id is None:
            return 0
        n = self.notes
        statement = update(n).where(n.c.user_id == actor.id, n.c.read_at.is_(None))
        if ids is not None:
            statement = statement.where(n.c.id.in_([int(i) for i in ids]))
        with self.engine.begin() as conn:
            result = conn.execute(statement.values(read_at=now or dt.datetime.now(dt.timezone.utc)))
        return int(result.rowcount or 0)

    def record_messages(self, actor: Actor, entity: str, record_id: int,
                        conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every message an alert sent about the record, newest first (for its timeline);
        read through `conn` when given (a page's shared connection), else a connection of its own."""
        if entity not in self.permissions.config.entities:
            raise NotFound(entity, record_id)
        admin = self.permissions.is_admin(actor)
        key = (entity, actor)
        query = self._messages.get(key)
        if query is None:
            query = self._messages_statement(actor, entity)
            self._messages.put(key, query)
        if conn is not None:
            found = all_mappings(conn, query, {MESSAGES_RECORD: record_id})
        else:
            with self.engine.connect() as own:
                found = own.execute(query, {MESSAGES_RECORD: record_id}).mappings().all()
        if not found:
            raise NotFound(entity, record_id)
        rows = [dict(r) for r in found if r["id"] is not None]
        if not admin:
            for r in rows:
                r["last_error"] = None
        return rows

    def _messages_statement(self, actor: Actor, entity: str) -> Select:
        """`record_messages`' statement, the record id a bind (MESSAGES_RECORD): built once per
        user and entity (per Inbox, i.e. per configuration when the Inbox is the services' own)."""
        o, users = self.tables("crm_outbox"), self.tables.users
        records = self.tables.entity(entity)
        # One statement: the record (through the user's read filter) LEFT JOIN its messages.
        # No row: not readable (404); one row without a message id: readable, nothing sent.
        sent = o.join(users, users.c.id == o.c.recipient_id)
        return (select(o.c.id, o.c.alert, o.c.channel, o.c.status, o.c.subject, o.c.created_at, o.c.sent_at,
                       o.c.attempts, o.c.last_error, users.c.username.label("recipient"))
                .select_from(records.outerjoin(sent, and_(o.c.entity == entity, o.c.record_id == records.c.id)))
                .where(records.c.id == messages_record_param,
                       self.permissions.row_filter(actor, entity, "read", records))
                .order_by(o.c.id.desc()))

    # -- admins: failed deliveries ---------------------------------------------------------------
    def failed(self, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
        """Messages given up on (`failed`) or possibly sent by a worker that died while handing them
        over (`uncertain`: never re-sent by itself), newest first, with their error (admins only)."""
        self._admin(actor)
        o, users = self.tables("crm_outbox"), self.tables.users
        query = (select(o.c.id, o.c.alert, o.c.entity, o.c.record_id, o.c.channel, o.c.address, o.c.attempts,
                        o.c.status, o.c.last_error, o.c.created_at, users.c.username.label("recipient"))
                 .join(users, users.c.id == o.c.recipient_id)
                 .where(o.c.status.in_(NEEDS_AN_ADMIN)).order_by(o.c.id.desc()).limit(max(1, min(limit, 1000))))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def retry(self, actor: Actor, ids: Iterable[int], now: dt.datetime | None = None) -> int:
        """Puts failed or possibly-sent messages back in the queue with fresh attempts (admins only)."""
        self._admin(actor)
        o = self.tables("crm_outbox")
        with self.engine.begin() as conn:
            result = conn.execute(update(o).where(o.c.status.in_(NEEDS_AN_ADMIN),
                                                  o.c.id.in_([int(i) for i in ids]))
                                  .values(status="pending", attempts=0,
                                          next_attempt_at=now or dt.datetime.now(dt.timezone.utc)))
        return int(result.rowcount or 0)

    def _admin(self, actor: Actor) -> None:
        if not self.permissions.is_admin(actor):
            raise Forbidden("only administrators see and retry failed deliveries")

