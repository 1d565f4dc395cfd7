"""The alerts service: event triggers on saves, scans of date/schedule/follow-up alerts, delivery.

    alerts = AlertService(records)            # listens to the records service's committed changes
    alerts.follow_approvals(workflow.approvals)   # approvers / requesters told (approval `notify`)
    alerts.run_due()                          # scan every date/schedule alert and follow-up rule up to now
    alerts.expire_approvals()                 # unanswered approval requests past `expires` (then told)
    alerts.deliver()                          # send what the outbox holds (e-mail, SMS)

The job queue (`queue.py`) calls `run_due` every minute and `deliver` whenever
a firing left messages to send; tests and `crm test` call them directly. All
the exactly-once work is in the database (`crm_alert_firings`, `crm_outbox`),
so the same code is correct with one worker, several, or none for a while.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable, Mapping

from sqlalchemy import Connection, select

from ...metadata import model as m
from ..actor import SYSTEM
from ..query import row_to_dict
from ..records import Change, Records
from ..channels import Channel, build_channels
from .approval_notices import ApprovalNotices
from .delivery import Delivered, Delivery, Policy
from .firing import CHUNK, Due, Fired, Firer, dialect_insert
from .render import Renderer
from .scan import Scanner, iso_minute

log = logging.getLogger(__name__)
DEFAULT_LOOKBACK = dt.timedelta(days=1)


class AlertService:
    def __init__(self, records: Records, *, clock: Callable[[], dt.datetime] | None = None,
                 lookback: dt.timedelta | None = DEFAULT_LOOKBACK, channels: Mapping[str, Channel] | None = None,
                 policy: Policy | None = None, listen: bool = True):
        """`lookback`: how far back the first scan of an alert new to the database looks (None: no limit;
        the scenario runner's choice). `listen`: register for event triggers on `records`."""
        self.records = records
        self.config = records.config
        self.clock = clock or records.clock
        self.lookback = lookback
        self.firer = Firer(records, Renderer(self.config))
        self.notices = ApprovalNotices(records, self.firer)
        self.approvals: Any = None              # the workflow's Approvals, once `follow_approvals` wired it
        self.scanner = Scanner(records)
        self.delivery = Delivery(records.engine, records.tables,
                                 channels if channels is not None else build_channels(self.config.company),
                                 self.clock, policy)
        self.on_pending: Callable[[], None] | None = None     # the queue's "deliver soon" (set by queue.py)
        if listen:
            records.listeners.append(self.on_change)

    # -- scans ----------------------------------------------------------------------------------
    def run_due(self, now: dt.datetime | None = None) -> Fired:
        """Every date and schedule alert over (its last scan, now], then every follow-up rule."""
        now = now or self.clock()
        total = Fired()
        # One alert failing (a database error) must not stop the others; it is retried next scan.
        for alert in self.config.alerts.values():
            if isinstance(alert.trigger, (m.DateTrigger, m.ScheduleTrigger)):
                try:
                    total.add(self._scan(alert, now))
                except Exception:   # noqa: BLE001
                    log.exception("scan of alert %s failed; retried at the next scan", alert.name)
        for pipeline in self.config.pipelines.values():
            for rule in pipeline.follow_up:
                alert = self.config.alerts.get(rule.alert or "")
                if alert is not None and alert.entity == pipeline.entity:
                    try:
                        total.add(self._idle(pipeline, rule, alert, now))
                    except Exception:   # noqa: BLE001
                        log.exception("follow-up rule of %s for alert %s failed", pipeline.name, alert.name)
        if self.config.approvals:
            # Catch-up: notices a process did not send after its commit (it stopped in between).
            try:
                total.add(self._notices(now, since=now - self.lookback if self.lookback else None))
            except Exception:   # noqa: BLE001
                log.exception("approval notices failed; retried at the next scan")
        self._after(total)
        return total

    # -- approvals --------------------------------------------------------------------------------
    def follow_approvals(self, approvals: Any) -> None:
        """Sends the approvals' `notify` notices right after each commit that changes a request."""
        self.approvals = approvals
        if self.on_approvals not in approvals.listeners:
            approvals.listeners.append(self.on_approvals)

    def on_approvals(self, entity: str, record_ids: list[int]) -> None:
        """After a commit that may have changed requests of these records: their due notices."""
        self._after(self._notices(self.clock(), entity=entity, record_ids=record_ids))

    def _notices(self, now: dt.datetime, **where: Any) -> Fired:
        with self.records.engine.connect() as conn:     # most saves change no request: read, no write lock
            if not self.notices.due(conn, now, **where):
                return Fired()
        with self.records.transaction() as conn:
            return self.notices.fire(conn, now, **where)

    def expire_approvals(self, now: dt.datetime | None = None) -> int:
        """Expires unanswered approval requests past `expires` (one audited UPDATE); the requesters are
        told through `follow_approvals`. Returns how many expired (0 without approvals wired)."""
        if self.approvals is None:
            return 0
        return int(self.approvals.expire_due(now or self.clock()))

    def _scan(self, alert: m.Alert, now: dt.datetime) -> Fired:
        scans = self.records.tables("crm_alert_scans")
        with self.records.engine.connect() as conn:
            last = conn.execute(select(scans.c.last_scan).where(scans.c.alert == alert.name)).scalar()
        since = last if last is not None else (now - self.lookback if self.lookback is not None else None)
        if since is not None and since >= now:
            return Fired()
        fired = Fired()
        if isinstance(alert.trigger, m.DateTrigger):
            with self.records.engine.connect() as conn:     # reading only: no write lock while scanning
                dues = self.scanner.date_dues(conn, alert, since, now)
            # Fired in chunks, each its own short transaction: saves are not held up behind a big
            # catch-up, and a crash between chunks only leaves moments the next scan claims again.
            for start in range(0, len(dues), CHUNK):
                with self.records.transaction() as conn:
                    fired.add(self.firer.fire(conn, alert, dues[start:start + CHUNK], now))
        with self.records.transaction() as conn:
            if isinstance(alert.trigger, m.ScheduleTrigger):
                fired.add(self.firer.fire(conn, alert, self._schedule_dues(conn, alert, since, now), now))
            upsert = dialect_insert(conn, scans).values(alert=alert.name, last_scan=now)
            conn.execute(upsert.on_conflict_do_update(index_elements=["alert"], set_={"last_scan": now},
                                                      where=scans.c.last_scan < now))
        return fired

    def _schedule_dues(self, conn: Connection, alert: m.Alert, since: dt.datetime | None,
                       now: dt.datetime) -> list[Due]:
        check = self.scanner.schedule_check(alert, since, now)
        if check is None:
            return []
        dues = self.scanner.period_dues(conn, alert, self.scanner.schedule_condition(alert),
                                        f"check@{iso_minute(check)}", now)
        self._open(conn, alert, dues, now)
        return dues

    def _idle(self, pipeline: m.Pipeline, rule: m.FollowUp, alert: m.Alert, now: dt.datetime) -> Fired:
        with self.records.transaction() as conn:
            condition, last = self.scanner.idle_condition(pipeline, rule, now)
            dues = self.scanner.period_dues(conn, alert, condition, last, now)
            self._open(conn, alert, dues, now)
            return self.firer.fire(conn, alert, dues, now)

    def _open(self, conn: Connection, alert: m.Alert, dues: list[Due], now: dt.datetime) -> None:
        """Marks the periods told: the record is not told again until its condition has been false."""
        if dues:
            opened = self.records.tables("crm_alert_open")
            conn.execute(dialect_insert(conn, opened).values(
                [dict(alert=alert.name, record_id=d.record_id, since=now) for d in dues]
            ).on_conflict_do_nothing(index_elements=["alert", "record_id"]))

    # -- events -----------------------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """A committed change: fire the event alerts it matches (in a transaction of their own)."""
        alerts = [a for a in self.config.alerts.values()
                  if isinstance(a.trigger, m.EventTrigger) and a.entity == change.entity
                  and self._matches(a.trigger, change)]
        if not alerts:
            return
        now = self.clock()
        total = Fired()
        with self.records.transaction() as conn:
            record, snapshot = self._record_of(conn, change)
            if record is None:
                return
            old = {**record, **{k: o for k, (o, _) in change.changes.items()}} if change.action == "update" else None
            for alert in alerts:
                if alert.when and not self.records.exprs.evaluate(conn, alert.entity, alert.when, record,
                                                                 change.actor, old=old):
                    continue
                key = _event_key(change, record)
                total.add(self.firer.fire(conn, alert, [Due(change.record_id, key)], now, snapshot))
        self._after(total)

    def _matches(self, trigger: m.EventTrigger, change: Change) -> bool:
        if trigger.event == "created":
            return change.action == "create"
        if trigger.event == "deleted":
            return change.action == "delete"
        if trigger.event == "updated":
            return change.action == "update" and (not trigger.fields or bool(set(trigger.fields) & set(change.changes)))
        stage = next((f.name for f in self.config.entities[change.entity].fields.values() if f.type == "stage"), None)
        if stage is None or change.action == "delete" or stage not in change.changes:
            return False
        return trigger.stage is None or change.changes[stage][1] == trigger.stage

    def _record_of(self, conn: Connection, change: Change
                   ) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]] | None]:
        if change.action == "delete":
            values = {k: o for k, (o, _) in change.changes.items()}
            return {**values, "id": change.record_id}, {change.record_id: values}
        ent = self.config.entities[change.entity]
        query = self.records.query.select(SYSTEM, change.entity, where={"id": change.record_id})
        row = conn.execute(query).mappings().first()
        return (row_to_dict(ent, row) if row is not None else None), None

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, max_batches: int | None = None) -> Delivered:
        return self.delivery.run(max_batches)

    def _after(self, fired: Fired) -> None:
        """After the firing's commit: tell listeners of records `also` made, and wake the delivery job."""
        for change in fired.changes:
            self.records.tell(change)
        if fired.pending and self.on_pending is not None:
            try:
                self.on_pending()
            except Exception:   # noqa: BLE001 - the periodic delivery picks the rows up anyway
                log.exception("could not enqueue delivery; the next periodic run will send")


def _event_key(change: Change, record: Mapping[str, Any]) -> str:
    if change.action == "create":
        return "created"
    if change.action == "delete":
        return "deleted"
    return f"updated@v{record.get('version')}"
