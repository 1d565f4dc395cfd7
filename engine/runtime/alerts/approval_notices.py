"""Approval notices (spec section 7, `notify`): approvers hear of a request, requesters of its outcome.

    notices = ApprovalNotices(records, firer)
    notices.fire(conn, now, entity="deal", record_ids=[7])    # after the commit that changed a request
    notices.fire(conn, now, since=now - lookback)             # the worker's catch-up

Who is told, each once, through the alerts' outbox (same tables, same
delivery, same exactly-once keys; the firing's `alert` is `approval:<name>`):

- a pending request's current step: its approvers (active users holding the
  step's role or one that inherits it, in the step's team / the record
  owner's team / the named user), except whoever asked; moment
  `request<id>/step<n>`, so the next step's approvers are told in turn;
- an approved, rejected or expired request: whoever asked (a request made by
  the system: the record's owner), unless they decided it themselves; moment
  `request<id>/<status>`.

Every recipient reads the record as themselves (visibility.py, the record
page's read): one who may not read it is not told, and the title is what
their read gives (blank if it is hidden from them). The channels are the
approval's `notify.via` (default in-app); the texts are built in, in the
recipient's language (workflow/messages.py). A request approved at once (no
step applied) and a cancelled one tell nobody.

Which notices are due is one SELECT (requests without their firing); the
claim is the alerts' INSERT ... ON CONFLICT DO NOTHING, so the web process
(right after a decision commits) and a worker's catch-up scan never both send.
"""
from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, String, and_, case, cast, exists, func, literal, not_, or_, select

from ...metadata import model as m
from ..actor import SYSTEM
from ..query import row_to_dict
from ..records import Records
from ..workflow import messages
from .firing import Fired, Firer, addressed, dialect_insert, record_link
from .recipients import Directory
from .visibility import RecipientViews

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
TOLD = (PENDING, APPROVED, REJECTED, EXPIRED)
INBOX_LINK = "/approvals"


def alert_name(approval: str) -> str:
    """The firing's / outbox row's `alert` (40 characters, like alert names; the request id in the
    moment keeps a cut name unique)."""
    return f"approval:{approval}"[:40]


class ApprovalNotices:
    def __init__(self, records: Records, firer: Firer):
        self.records = records
        self.config = records.config
        self.tables = records.tables
        self.firer = firer

    # -- what is due -------------------------------------------------------------------------------
    def due(self, conn: Connection, now: dt.datetime, *, entity: str | None = None,
            record_ids: Iterable[int] | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Requests with a notice not yet fired (of some records, or changed since `since`), with its key."""
        # Sorted here, not by ORDER BY id: SQLite would then walk the whole table in id order
        # instead of the created_at / decided_at indexes (MULTI-INDEX OR); few rows are due.
        rows = conn.execute(self.due_query(now, entity=entity, record_ids=record_ids, since=since)).mappings()
        return sorted((dict(x) for x in rows), key=lambda x: x["id"])

    def due_query(self, now: dt.datetime, *, entity: str | None = None, record_ids: Iterable[int] | None = None,
                  since: dt.datetime | None = None) -> Any:
        """The SELECT behind `due` (the catch-up sweep's reads `created_at` / `decided_at` by index)."""
        r, f = self.tables("crm_approval_requests"), self.tables("crm_alert_firings")
        prefix = literal("request") + cast(r.c.id, String)
        key = case((r.c.status == PENDING, prefix + literal("/step") + cast(r.c.step, String)),
                   else_=prefix + literal("/") + r.c.status)
        conds = [r.c.status.in_(TOLD), r.c.steps != "[]", r.c.approval.in_(sorted(self.config.approvals)),
                 or_(r.c.status != PENDING, r.c.expires_at.is_(None), r.c.expires_at > now),
                 not_(exists().where(f.c.alert == func.substr(literal("approval:") + r.c.approval, 1, 40),
                                     f.c.entity == r.c.entity, f.c.record_id == r.c.record_id, f.c.moment == key))]
        if entity is not None:
            conds += [r.c.entity == entity, r.c.record_id.in_(sorted(set(record_ids or ())))]
        if since is not None:
            conds.append(or_(r.c.created_at >= since, r.c.decided_at >= since))
        return select(r, key.label("moment")).where(and_(*conds))

    # -- firing ------------------------------------------------------------------------------------
    def fire(self, conn: Connection, now: dt.datetime, *, entity: str | None = None,
             record_ids: Iterable[int] | None = None, since: dt.datetime | None = None) -> Fired:
        """Claims and writes every due notice (see `due`), in the caller's transaction."""
        due = self.due(conn, now, entity=entity, record_ids=record_ids, since=since)
        if not due:
            return Fired()
        firings = self.tables("crm_alert_firings")
        claimed = {(r["approval"], r["entity"], r["record_id"], r["moment"]): r for r in due}
        won = conn.execute(dialect_insert(conn, firings).values([
            dict(alert=alert_name(a), entity=e, record_id=rid, moment=mo, fired_at=now, revision=r["revision"])
            for (a, e, rid, mo), r in claimed.items()
        ]).on_conflict_do_nothing(index_elements=["alert", "entity", "record_id", "moment"]).returning(
            firings.c.id, firings.c.alert, firings.c.record_id, firings.c.moment))
        by_firing_key = {(alert_name(a), rid, mo): r for (a, _, rid, mo), r in claimed.items()}
        directory = Directory(conn, self.tables)
        result = Fired()
        rows: list[dict[str, Any]] = []
        for firing_id, alert, record_id, moment in won:
            request = by_firing_key[(alert, record_id, moment)]
            result.firings += 1
            rows += self._messages(conn, request, firing_id, directory, now)
        self.firer.write_outbox(conn, rows, now)
        result.messages = len(rows)
        result.pending = sum(1 for row in rows if row["status"] == "pending")
        return result

    def _messages(self, conn: Connection, request: Mapping[str, Any], firing_id: int, directory: Directory,
                  now: dt.datetime) -> list[dict[str, Any]]:
        approval = self.config.approvals[request["approval"]]
        entity, record_id = request["entity"], int(request["record_id"])
        record = self._record(conn, entity, record_id)
        if record is None:
            return []
        decision = self._last_decision(conn, int(request["id"]))
        if request["status"] == PENDING:
            users = self._approvers(request, directory)
        else:
            asked = request["requested_by"] or record.get("owner")
            decider = decision.get("user_id") if decision else None
            users = [int(asked)] if asked is not None and asked in directory.users and asked != decider else []
        # Each recipient's own read of the record: who may read it, and its title as they see it
        # (a formula title through a link they may not read is empty for them, like on the record page).
        wanted = {record_id: [(u, approval.notify_via) for u in users]}
        seen = RecipientViews(conn, self.records, entity, directory, wanted, follow_links=False)
        out = []
        for user_id, channels in wanted[record_id]:
            if not seen.readable(user_id, record_id):
                continue
            user = directory.users[user_id]
            subject, body = self._texts(approval, request, seen.view(user_id, record_id), decision, directory,
                                        user_id)
            for channel in channels:
                row = dict(firing_id=firing_id, alert=alert_name(approval.name), entity=entity, record_id=record_id,
                           recipient_id=user_id, channel=channel, status="pending", attempts=0,
                           next_attempt_at=now, created_at=now, subject=subject,
                           body=body if channel != "sms" else subject,
                           html=f"<p>{html.escape(body)}</p>" if channel == "email" else None,
                           link=INBOX_LINK if request["status"] == PENDING else record_link(entity, record_id),
                           address=None, last_error=None, sent_at=None)
                out.append(addressed(row, user, now))
        return out

    # -- who and what ------------------------------------------------------------------------------
    def _approvers(self, request: Mapping[str, Any], directory: Directory) -> list[int]:
        step = json.loads(request["steps"])[request["step"]]
        holding = self._roles_holding(step.get("role"))
        out = []
        for uid, user in directory.users.items():
            if uid == request["requested_by"]:
                continue
            if holding is not None and not (directory.roles[uid] & holding):
                continue
            if step.get("team") and user["team"] != step["team"]:
                continue
            if step.get("same_team") and request["team"] is not None and user["team"] != request["team"]:
                continue
            if step.get("user") and user["username"] != step["user"]:
                continue
            if holding is None and not (step.get("team") or step.get("user")):
                continue        # a step naming nobody: only admins decide it, and they are not paged
            out.append(uid)
        return out

    def _roles_holding(self, role: str | None) -> set[str] | None:
        """The roles that hold `role`: itself and every role inheriting it (at any depth)."""
        if not role:
            return None
        held = {role}
        grew = True
        while grew:
            more = {name for name, r in self.config.roles.items() if r.inherits in held} - held
            held |= more
            grew = bool(more)
        return held

    def _texts(self, approval: m.Approval, request: Mapping[str, Any], record: Mapping[str, Any],
               decision: Mapping[str, Any] | None, directory: Directory, user_id: int) -> tuple[str, str]:
        actor = directory.actor(user_id)
        locale = messages.locale_of(actor, self.config)
        ent = self.config.entities[request["entity"]]
        hidden = self.records.permissions.hidden(actor, ent.name)
        title = record.get(ent.title) if ent.title and ent.title not in hidden else None
        shown_record = f"„{title}”" if title not in (None, "") else f"#{record['id']}"
        if locale == "en" and title not in (None, ""):
            shown_record = f'"{title}"'
        values = dict(approval=messages.label(approval.label, approval.name, locale, self.config),
                      entity=messages.label(ent.label, ent.name, locale, self.config).lower(),
                      record=shown_record, step=int(request["step"]) + 1,
                      steps=len(json.loads(request["steps"])),
                      requester=self._name(directory, request["requested_by"], locale),
                      decider=self._name(directory, decision.get("user_id") if decision else None, locale),
                      reason=(decision or {}).get("reason") or "")
        status = request["status"]
        return (messages.text(locale, f"notice_{status}", **values),
                messages.text(locale, f"notice_{status}_body", **values))

    def _name(self, directory: Directory, user_id: int | None, locale: str) -> str:
        user = directory.users.get(user_id) if user_id is not None else None
        if user is None:
            return messages.text(locale, "somebody")
        return user["full_name"] or user["username"]

    def _record(self, conn: Connection, entity: str, record_id: int) -> dict[str, Any] | None:
        ent = self.config.entities[entity]
        row = conn.execute(self.records.query.select(SYSTEM, entity, where={"id": record_id})).mappings().first()
        return row_to_dict(ent, row) if row is not None else None

    def _last_decision(self, conn: Connection, request_id: int) -> dict[str, Any] | None:
        d = self.tables("crm_approval_decisions")
        row = conn.execute(select(d).where(d.c.request_id == request_id).order_by(d.c.id.desc()).limit(1)
                           ).mappings().first()
        return dict(row) if row is not None else None
