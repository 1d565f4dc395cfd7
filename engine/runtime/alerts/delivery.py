"""Delivering the outbox: claim a batch, send it, record the outcome; retries with back-off.

    Delivery(engine, tables, channels, clock).run()     # until nothing is due; returns counts

A row moves pending -> claimed (a batch, with a lease) -> sending (this one
message, committed just before it is handed to the server) -> sent | pending
again (next_attempt_at = now + base * 2^(attempts-1)) -> ... -> failed after
`max_attempts`, its last error kept for admins. Claiming is one UPDATE over a
sub-select (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on
SQLite), committed before anything is sent, so any number of workers share
the outbox without taking the same row.

Never twice: a worker killed mid-batch leaves rows `claimed` (never handed
to the server: another worker sends them once the lease has run out) and at
most one row `sending` (handed over, outcome unknown). A `sending` row past
its lease is never sent again by itself: it becomes `uncertain` ("possibly
sent"), listed for admins on the failed deliveries page with a retry button.
The outbox id is the Message-ID / Idempotency-Key of every attempt, so even a
manual retry of a message that did arrive is recognisable as the same one.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sqlalchemy import Engine, and_, or_, select, update

from ..channels import Channel, ConnectionLost, DeliveryError, Message
from ..tables import Tables

SENT_CHANNELS = ("email", "sms")
UNCERTAIN_ERROR = ("the worker stopped after handing this message to the server and before hearing back: "
                   "it may have been delivered, so it is not sent again by itself")


@dataclass
class Delivered:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 5
    backoff: dt.timedelta = dt.timedelta(minutes=1)
    lease: dt.timedelta = dt.timedelta(minutes=5)
    batch: int = 100


class Delivery:
    def __init__(self, engine: Engine, tables: Tables, channels: Mapping[str, Channel],
                 clock: Callable[[], dt.datetime], policy: Policy | None = None):
        self.engine = engine
        self.outbox = tables("crm_outbox")
        self.channels = channels
        self.clock = clock
        self.policy = policy or Policy()

    def run(self, max_batches: int | None = None) -> Delivered:
        """Sends batches until none is due (or `max_batches` were sent)."""
        total = Delivered()
        batches = 0
        while max_batches is None or batches < max_batches:
            claimed = self.claim()
            if not claimed:
                break
            batches += 1
            outcome = self.send(claimed)
            total.sent += outcome.sent
            total.retried += outcome.retried
            total.failed += outcome.failed
        return total

    def claim(self) -> list[dict[str, Any]]:
        now = self.clock()
        o = self.outbox
        due = or_(and_(o.c.status == "pending", o.c.next_attempt_at <= now),
                  and_(o.c.status == "claimed", o.c.lease_until < now))
        with self.engine.connect() as conn, conn.begin():
            if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            # Handed to a server by a worker that never came back: possibly sent, so never re-sent by itself.
            conn.execute(update(o).where(o.c.status == "sending", o.c.lease_until < now)
                         .values(status="uncertain", lease_until=None, last_error=UNCERTAIN_ERROR))
            ids = select(o.c.id).where(due, o.c.channel.in_(SENT_CHANNELS)).order_by(o.c.id).limit(self.policy.batch)
            if conn.dialect.name == "postgresql":
                ids = ids.with_for_update(skip_locked=True)
            statement = (update(o).where(o.c.id.in_(ids.scalar_subquery()))
                         .values(status="claimed", lease_until=now + self.policy.lease, attempts=o.c.attempts + 1)
                         .returning(o.c.id, o.c.channel, o.c.address, o.c.subject, o.c.body, o.c.html, o.c.attempts))
            return [dict(r) for r in conn.execute(statement).mappings()]

    def send(self, claimed: list[dict[str, Any]]) -> Delivered:
        """Sends claimed rows; each outcome is committed as soon as the server answered.

        Each message is marked `sending` (committed) right before it is handed
        over and settled right after, so a worker killed at any point leaves at
        most one message whose fate is unknown, and that one is not re-sent.
        """
        outcome = Delivered()
        for channel in SENT_CHANNELS:
            rows = [r for r in claimed if r["channel"] == channel]
            if rows:
                self._send_channel(channel, rows, outcome)
        return outcome

    def _settle(self, row: dict[str, Any], error: str | None, outcome: Delivered) -> None:
        o = self.outbox
        now = self.clock()
        # Only our own claim is settled: a row re-claimed after our lease ran out has a higher attempt count.
        # `uncertain`: our answer came after the lease ran out; the answer is the truth, so it is recorded.
        mine = and_(o.c.id == row["id"], o.c.attempts == row["attempts"],
                    o.c.status.in_(("claimed", "sending", "uncertain")))
        if error is None:
            values: dict[str, Any] = dict(status="sent", sent_at=now, lease_until=None, last_error=None)
            outcome.sent += 1
        elif row["attempts"] >= self.policy.max_attempts:
            values = dict(status="failed", lease_until=None, last_error=error[:2000])
            outcome.failed += 1
        else:
            wait = self.policy.backoff * (2 ** (row["attempts"] - 1))
            values = dict(status="pending", lease_until=None, last_error=error[:2000], next_attempt_at=now + wait)
            outcome.retried += 1
        with self.engine.begin() as conn:
            conn.execute(update(o).where(mine).values(**values))

    def _hand_over(self, row: dict[str, Any]) -> bool:
        """Marks our claimed row `sending` in its own commit; False when it is no longer ours to send."""
        o = self.outbox
        mine = and_(o.c.id == row["id"], o.c.attempts == row["attempts"], o.c.status == "claimed")
        with self.engine.begin() as conn:
            result = conn.execute(update(o).where(mine).values(
                status="sending", lease_until=self.clock() + self.policy.lease))
        return bool(result.rowcount)

    def _send_channel(self, channel: str, rows: list[dict[str, Any]], outcome: Delivered) -> None:
        """Sends rows over one session; an error opening it fails every row of the batch (to be retried)."""
        try:
            session = self.channels[channel].open()
        except (DeliveryError, OSError, KeyError) as exc:
            for row in rows:
                self._settle(row, f"{channel}: {exc}", outcome)
            return
        try:
            for index, row in enumerate(rows):
                lost = False
                if not self._hand_over(row):    # re-claimed by another worker after our lease ran out
                    continue
                try:
                    session.send(Message(row["id"], channel, row["address"] or "", row["subject"],
                                         row["body"], row["html"]))
                    error = None
                except (ConnectionLost, OSError) as exc:
                    error, lost = f"{channel}: {exc}", True
                except DeliveryError as exc:
                    error = f"{channel}: {exc}"
                except Exception as exc:   # noqa: BLE001 - e.g. a protocol error of the server
                    error = f"{channel}: {type(exc).__name__}: {exc}"
                self._settle(row, error, outcome)
                if lost:      # the connection is gone: the rest of the batch waits for its next attempt
                    for rest in rows[index + 1:]:
                        self._settle(rest, f"{channel}: connection lost before sending", outcome)
                    break
        finally:
            try:
                session.close()
            except Exception:   # noqa: BLE001 - closing a broken connection must not lose the outcome
                pass
