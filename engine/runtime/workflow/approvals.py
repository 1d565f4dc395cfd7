"""Approval requests (spec section 7): started by saves, decided by approvers, expired by time.

    approvals.approve(boss, "big_discount", deal_id)
    approvals.reject(boss, "big_discount", deal_id, reason="22% is too much")
    approvals.pending_for(boss)          # the inbox: requests waiting for this user
    approvals.expire_due(now)            # one UPDATE; returns how many expired

A save that makes an approval's `when` true (a new record, or an update that
turns it true) starts a request with the steps whose own `when` holds then;
the steps, the locked values and the configuration revision are kept on the
request, so editing the rule later does not change requests already made.
While a request is pending its `locks` are refused by name; changing a locked
field once it was decided (approved, rejected, expired) starts a new request
if `when` still holds; a save that makes `when` false cancels a pending one.
Requests for updates are written in the save's transaction; for a new record
(whose id exists only once it is inserted) right after its create commits.

Deciding: only a user holding the current step's role (a role that inherits
it counts; admins and the system actor may too), in the record owner's team
for `team: same`; rejecting needs a reason. Each decision is a row in
`crm_approval_decisions` and in the audit trail. Refusals are in the acting
user's language (messages.py).

`listeners` hear `(entity, record_ids)` after a commit that may have started,
advanced, decided or expired requests of those records: the alerts service
sends the `notify` notices from there (alerts/approval_notices.py).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Callable, Mapping

from sqlalchemy import Connection, Engine, and_, false, literal, or_, select

from ...metadata import model as m
from ..actor import Actor
from ..audit import to_json
from ..lines import back_link
from ..errors import Conflict, Forbidden, NotFound, Problems, ValidationFailed
from ..records import Change, Records
from ..saving import Draft
from ..tables import Tables
from ..values import stored_record
from . import messages
from .changes import lines_changed

PENDING, APPROVED, REJECTED, EXPIRED, CANCELLED = "pending", "approved", "rejected", "expired", "cancelled"
log = logging.getLogger(__name__)


class Approvals:
    """The approval requests of one configuration."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables, records: Records):
        self.config = config
        self.engine = engine
        self.tables = tables
        self.records = records
        self.requests = tables("crm_approval_requests")
        self.decisions = tables("crm_approval_decisions")
        self.listeners: list[Callable[[str, list[int]], None]] = []    # after commit: requests of these records

    def install(self) -> None:
        self.records.checks.append(self.check)
        self.records.listeners.append(self.on_change)

    def of_entity(self, entity: str) -> list[m.Approval]:
        return [a for a in self.config.approvals.values() if a.entity == entity]

    # -- state -----------------------------------------------------------------------------------
    def latest(self, conn: Connection, name: str, entity: str, record_id: int | None) -> dict[str, Any] | None:
        """The newest request of `name` for the record (None if there never was one)."""
        if record_id is None:
            return None
        r = self.requests
        row = conn.execute(select(r).where(r.c.approval == name, r.c.entity == entity, r.c.record_id == record_id)
                           .order_by(r.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        if out["status"] == PENDING and out["expires_at"] is not None and out["expires_at"] <= self._now():
            out["status"] = EXPIRED         # due but not swept yet: already counts as expired
        return out

    def state(self, conn: Connection, actor: Actor, name: str, entity: str, record: Mapping[str, Any]) -> str:
        """approved | not_required | pending | rejected | expired | cancelled | missing (for the record now)."""
        approval = self.config.approvals.get(name)
        if approval is None:
            return "not_required"
        if not self._holds(conn, actor, approval.entity, approval.when, record):
            return "not_required"
        latest = self.latest(conn, name, entity, record.get("id"))
        return "missing" if latest is None else str(latest["status"])

    def is_pending(self, name: str, entity: str, record_id: int) -> bool:
        with self.engine.connect() as conn:
            latest = self.latest(conn, name, entity, record_id)
        return latest is not None and latest["status"] == PENDING

    # -- the records check and listener ----------------------------------------------------------
    def check(self, conn: Connection, actor: Actor, draft: Draft, current: Mapping[str, Any] | None,
              problems: Problems) -> None:
        """On update: locks while pending, cancel when `when` turns false, start a request when it turns true."""
        locale = messages.locale_of(actor, self.config)
        self._check_child(conn, draft, current, problems, locale)
        if current is None:
            return
        entity = draft.entity.name
        for approval in self.of_entity(entity):
            latest = self.latest(conn, approval.name, entity, current["id"])
            locked = [f for f in approval.locks if self._changed(conn, draft, current, f)]
            new_holds = self._holds(conn, actor, entity, approval.when, draft.values, current)
            if latest is not None and latest["status"] == PENDING:
                for name in locked:
                    problems.field(name, messages.text(locale, "locked", approval=approval.name))
                if locked:
                    continue
                if not new_holds:
                    self._close(conn, latest["id"], CANCELLED)
                elif "team" in draft.changed:
                    conn.execute(self.requests.update().where(self.requests.c.id == latest["id"])
                                 .values(team=draft.values.get("team")))
                continue
            if not new_holds or problems:
                continue
            old_holds = self._holds(conn, actor, entity, approval.when, current)
            if not old_holds or locked:
                self._start(conn, actor, approval, draft.values)

    def _check_child(self, conn: Connection, draft: Draft, current: Mapping[str, Any] | None,
                     problems: Problems, locale: str) -> None:
        """A row of a locked `lines` field saved on its own is refused while its parent's request is pending."""
        for approval in self.config.approvals.values():
            parent = self.config.entities[approval.entity]
            for name in approval.locks:
                f = parent.fields.get(name)
                if f is None or f.type != "lines" or f.entity != draft.entity.name:
                    continue
                link = back_link(self.config, parent, f)
                parents = {draft.values.get(link), (current or {}).get(link)} - {None}
                for parent_id in parents:
                    latest = self.latest(conn, approval.name, parent.name, int(parent_id))
                    if latest is not None and latest["status"] == PENDING:
                        problems.field(link, messages.text(locale, "child_locked", entity=parent.name, field=name,
                                                           approval=approval.name))

    def on_change(self, change: Change) -> None:
        """A new record whose values make `when` true gets its request once the create commits;
        after any committed save of the entity, listeners hear of its requests (one may have started)."""
        approvals = self.of_entity(change.entity)
        if not approvals or change.action == "delete":
            return
        if change.action == "update":
            self._tell(change.entity, [change.record_id])
            return
        ent = self.config.entities[change.entity]
        table = self.tables.entity(change.entity)
        with self.records.transaction() as conn:
            row = conn.execute(select(table).where(table.c.id == change.record_id)).mappings().first()
            if row is None:
                return
            record = stored_record(ent, row)
            for approval in approvals:
                latest = self.latest(conn, approval.name, change.entity, change.record_id)
                if latest is None and self._holds(conn, change.actor, change.entity, approval.when, record):
                    self._start(conn, change.actor, approval, record)
        self._tell(change.entity, [change.record_id])

    def _tell(self, entity: str, record_ids: list[int]) -> None:
        """After a commit: listeners hear which records' requests may have changed (a failing one is logged)."""
        for listener in self.listeners:
            try:
                listener(entity, record_ids)
            except Exception:   # noqa: BLE001 - the change is committed; the worker's catch-up tells later
                log.exception("approval listener %r failed for %s %s", listener, entity, record_ids)

    # -- deciding --------------------------------------------------------------------------------
    def approve(self, actor: Actor, approval: str, record_id: int) -> dict[str, Any]:
        """Approves the current step; the request is approved once its last step is. Returns the request."""
        return self._decide(actor, approval, record_id, APPROVED, None)

    def reject(self, actor: Actor, approval: str, record_id: int, reason: str | None) -> dict[str, Any]:
        """Rejects the request (a reason is required). Returns the request."""
        if not reason or not str(reason).strip():
            locale = messages.locale_of(actor, self.config)
            raise ValidationFailed({"reason": [messages.text(locale, "reason_needed", approval=approval)]})
        return self._decide(actor, approval, record_id, REJECTED, str(reason).strip())

    def _decide(self, actor: Actor, name: str, record_id: int, decision: str, reason: str | None) -> dict[str, Any]:
        decided = self._decided(actor, name, record_id, decision, reason)
        self._tell(decided["entity"], [record_id])
        return decided

    def _decided(self, actor: Actor, name: str, record_id: int, decision: str, reason: str | None
                 ) -> dict[str, Any]:
        locale = messages.locale_of(actor, self.config)
        approval = self.config.approvals.get(name)
        if approval is None:
            raise NotFound("approval", name, message=messages.text(locale, "no_approval", approval=name))
        entity = approval.entity
        table = self.tables.entity(entity)
        now = self._now()
        with self.records.transaction() as conn:
            row = conn.execute(select(table).where(
                table.c.id == record_id,
                self.records.permissions.row_filter(actor, entity, "read", table))).mappings().first()
            if row is None:
                raise NotFound(entity, record_id,
                               message=messages.text(locale, "not_found", entity=entity, id=record_id))
            request = self._pending_row(conn, name, entity, record_id)
            if request is None:
                raise Conflict(messages.text(locale, "nothing_pending", entity=entity, id=record_id, approval=name))
            if request["expires_at"] is not None and request["expires_at"] <= now:
                raise Conflict(messages.text(locale, "request_expired", approval=name, entity=entity, id=record_id,
                                             at=f"{request['expires_at']:%Y-%m-%d %H:%M}"))
            steps = json.loads(request["steps"])
            step = steps[request["step"]]
            self._may_decide(actor, step, row.get("team"), name, request["step"], locale)
            conn.execute(self.decisions.insert().values(request_id=request["id"], step=request["step"],
                                                        user_id=actor.id, decision=decision, reason=reason, at=now))
            conn.execute(self.tables.audit.insert().values(
                entity=entity, record_id=record_id, action="approve" if decision == APPROVED else "reject",
                field=name, old_value=None, user_id=actor.id, at=now, revision=self.config.revision,
                new_value=to_json({"request": request["id"], "step": request["step"] + 1, "reason": reason})))
            nxt = request["step"] + 1
            r = self.requests
            if decision == REJECTED or nxt >= len(steps):
                conn.execute(r.update().where(r.c.id == request["id"]).values(
                    status=decision, decided_at=now))
            else:
                conn.execute(r.update().where(r.c.id == request["id"]).values(
                    step=nxt, step_role=steps[nxt].get("role"), step_same_team=bool(steps[nxt].get("same_team"))))
            return dict(conn.execute(select(r).where(r.c.id == request["id"])).mappings().one())

    def _pending_row(self, conn: Connection, name: str, entity: str, record_id: int) -> dict[str, Any] | None:
        r = self.requests
        query = select(r).where(r.c.approval == name, r.c.entity == entity, r.c.record_id == record_id,
                                r.c.status == PENDING).order_by(r.c.id.desc()).limit(1)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()     # two approvers at once: the second sees the first's step
        row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def _may_decide(self, actor: Actor, step: Mapping[str, Any], record_team: str | None, name: str,
                    index: int, locale: str) -> None:
        if actor.system or any(self.config.roles.get(r) is not None and self.config.roles[r].all
                               for r in actor.roles):
            return
        say = {"step": index + 1, "approval": name}
        if step.get("role") and step["role"] not in self.held_roles(actor):
            raise Forbidden(messages.text(locale, "needs_role", role=step["role"], **say))
        if step.get("team") and actor.team != step["team"]:
            raise Forbidden(messages.text(locale, "needs_team", team=step["team"], **say))
        if step.get("same_team") and record_team is not None and actor.team != record_team:
            raise Forbidden(messages.text(locale, "needs_same_team", team=record_team,
                                          role=step.get("role") or messages.text(locale, "user_word"), **say))
        if step.get("user") and actor.username != step["user"]:
            raise Forbidden(messages.text(locale, "needs_user", user=step["user"], **say))

    def held_roles(self, actor: Actor) -> set[str]:
        """The actor's roles and every role they inherit from."""
        held: set[str] = set()
        todo = list(actor.roles)
        while todo:
            role = todo.pop()
            if role in held:
                continue
            held.add(role)
            defined = self.config.roles.get(role)
            if defined is not None and defined.inherits:
                todo.append(defined.inherits)
        return held

    # -- time and the inbox ----------------------------------------------------------------------
    def expire_due(self, now: dt.datetime | None = None) -> int:
        """Every pending request past its expiry becomes expired (audited); returns how many."""
        now = now or self._now()
        r = self.requests
        due = and_(r.c.status == PENDING, r.c.expires_at.is_not(None), r.c.expires_at <= now)
        audit = self.tables.audit
        with self.records.transaction() as conn:
            conn.execute(audit.insert().from_select(
                ["entity", "record_id", "action", "field", "at", "revision"],
                select(r.c.entity, r.c.record_id, literal("expire"), r.c.approval, literal(now, audit.c.at.type),
                       r.c.revision).where(due)))
            expired = conn.execute(r.update().where(due).values(status=EXPIRED, decided_at=now)
                                   .returning(r.c.entity, r.c.record_id)).all()
        by_entity: dict[str, list[int]] = {}
        for entity, record_id in expired:
            by_entity.setdefault(entity, []).append(int(record_id))
        for entity, ids in by_entity.items():
            self._tell(entity, ids)        # the requesters are told it expired ("expires and is reported")
        return len(expired)

    def pending_for(self, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
        """The requests waiting for the user's decision, oldest first, on records they may read."""
        r = self.requests
        now = self._now()
        conds = [r.c.status == PENDING, or_(r.c.expires_at.is_(None), r.c.expires_at > now)]
        admin = actor.system or any(self.config.roles.get(x) is not None and self.config.roles[x].all
                                    for x in actor.roles)
        if not admin:
            roles = sorted(self.held_roles(actor))
            conds.append(r.c.step_role.in_(roles) if roles else false())
            conds.append(or_(r.c.step_same_team == false(), r.c.team.is_(None), r.c.team == actor.team))
        readable = []
        for entity in sorted({a.entity for a in self.config.approvals.values()}):
            t = self.tables.entity(entity)
            readable.append(and_(r.c.entity == entity, r.c.record_id.in_(
                select(t.c.id).where(self.records.permissions.row_filter(actor, entity, "read", t)))))
        conds.append(or_(*readable) if readable else false())
        with self.engine.connect() as conn:
            rows = conn.execute(select(r).where(*conds).order_by(r.c.created_at, r.c.id).limit(limit)).mappings()
            return [dict(x) for x in rows]

    # -- helpers ---------------------------------------------------------------------------------
    def _start(self, conn: Connection, actor: Actor, approval: m.Approval, record: Mapping[str, Any]) -> None:
        steps = [_step_spec(s.approvers) for s in approval.steps
                 if s.when is None or self._holds(conn, actor, approval.entity, s.when, record)]
        now = self._now()
        ent = self.config.entities[approval.entity]
        snapshot = {f: record.get(f) for f in approval.locks if f in ent.fields and ent.fields[f].stored}
        conn.execute(self.requests.insert().values(
            approval=approval.name, entity=approval.entity, record_id=record["id"],
            status=PENDING if steps else APPROVED, step=0, steps=json.dumps(steps),
            step_role=steps[0].get("role") if steps else None,
            step_same_team=bool(steps[0].get("same_team")) if steps else False,
            team=record.get("team"), revision=self.config.revision, requested_by=actor.id, created_at=now,
            decided_at=None if steps else now,
            expires_at=now + approval.expires if approval.expires and steps else None,
            snapshot=to_json(snapshot)))

    def _close(self, conn: Connection, request_id: int, status: str) -> None:
        conn.execute(self.requests.update().where(self.requests.c.id == request_id)
                     .values(status=status, decided_at=self._now()))

    def _changed(self, conn: Connection, draft: Draft, current: Mapping[str, Any], name: str) -> bool:
        f = draft.entity.fields.get(name)
        if f is None:
            return False
        if f.type == "lines":
            return name in draft.lines and lines_changed(self.config, self.tables, conn, draft.entity, f,
                                                         current["id"], draft.lines[name],
                                                         self.records.preparer.values)
        return name in draft.changed

    def _holds(self, conn: Connection, actor: Actor, entity: str, text: str, record: Mapping[str, Any],
               old: Mapping[str, Any] | None = None) -> bool:
        try:
            return self.records.exprs.evaluate(conn, entity, text, record, actor, old=old) is True
        except Exception:   # noqa: BLE001 - a condition that cannot be computed (a value missing) does not hold
            return False

    def _now(self) -> dt.datetime:
        return self.records.clock()


def _step_spec(target: m.Target) -> dict[str, Any]:
    return {"role": target.role, "team": target.team, "user": target.user, "same_team": target.same_team}
