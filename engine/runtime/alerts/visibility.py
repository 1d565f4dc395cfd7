"""What one recipient may see of the records an alert renders: the template context, per recipient.

Each recipient's `record` is that recipient's own read, through the same
`RecordQuery.select` the record page, lists and exports use, so whatever a
template shows is what the recipient would see on the record page:

- the record comes back only if the recipient may read it (their row filter
  is in the WHERE); a recipient it does not come back for gets no message;
- rollups count and sum only the child rows the recipient may read, and
  formulas that read through a link see NULL where the linked record is not
  theirs to read (`Permissions.visible_rows`, docs/records.md "What a read
  reaches through links and rollups");
- fields hidden from the recipient (`hidden_fields`, and the formulas/rollups
  that read one) are not among the read's columns: they are empty text;
- each link is followed one hop with the recipient's read of the linked
  record (its rollups and hidden fields likewise); a linked record they may
  not read is `Withheld`: every field empty and false in `{% if %}`, so
  `record.account.name` renders nothing rather than failing the message.
  User fields become `{username, full_name, ...}` (users are not records).

A deleted record has no row left to read: its last stored values stand for
it, shown only to a recipient whose read scope grants it from the stored
owner and team (`Permissions.may_read_gone`), with hidden fields, formulas and
rollups empty (nothing is left to compute them from); its links are still read
as the recipient.

Cost: per recipient, one read of the batch's records plus one read per
linked entity, whatever the number of records in the batch
(`follow_links=False`: the one read only, for texts that show no links,
like approval notices).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection

from ...metadata import model as m
from ..actor import Actor
from ..query import COMPUTED, row_to_dict
from ..records import Records
from .recipients import Directory, user_view


class Withheld(dict):
    """A linked record the recipient may not read: its fields all blank, and falsy like a missing link."""

    def __bool__(self) -> bool:
        return False


class RecipientViews:
    """The batch's records as each recipient reads them (see the module docstring)."""

    def __init__(self, conn: Connection, records: Records, entity: str, directory: Directory,
                 wanted: Mapping[int, Iterable[tuple[int, Any]]],
                 snapshot: Mapping[int, Mapping[str, Any]] | None = None, follow_links: bool = True):
        self.conn = conn
        self.records = records
        self.config = records.config
        self.entity = entity
        self.directory = directory
        ent = self.config.entities[entity]
        self.links = {f.name: f.entity for f in ent.fields.values()
                      if f.type == "link" and f.entity in self.config.entities}
        self.user_fields = [f.name for f in ent.fields.values() if f.type == "user"]
        by_user: dict[int, set[int]] = defaultdict(set)
        for record_id, pairs in wanted.items():
            for user_id, _ in pairs:
                by_user[user_id].add(record_id)
        # user -> record id -> the record as that user reads it (absent: they may not read it)
        self._views: dict[int, dict[int, dict[str, Any]]] = {}
        for user_id, ids in by_user.items():
            actor = directory.actor(user_id)
            if snapshot:
                read = self._gone(actor, ent, {rid: snapshot[rid] for rid in ids if rid in snapshot})
            else:
                read = self._read(actor, entity, ids)
            self._views[user_id] = self._followed(actor, read) if follow_links else read

    def readable(self, user_id: int, record_id: int) -> bool:
        return record_id in self._views.get(user_id, {})

    def view(self, user_id: int, record_id: int) -> dict[str, Any]:
        """The record as this recipient may see it, links followed one hop."""
        return self._views[user_id][record_id]

    # -- pieces --------------------------------------------------------------------------------
    def _gone(self, actor: Actor, ent: m.Entity, last: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """Deleted records as this recipient may see them: only those their read scope grants from
        the stored owner and team, hidden fields empty, and formulas and rollups empty for everyone
        (they are not stored, and there is no row left to compute them from)."""
        permissions = self.records.permissions
        blank = dict.fromkeys(set(permissions.hidden(actor, ent.name))
                              | {f.name for f in ent.fields.values() if f.type in COMPUTED}, "")
        return {rid: {**values, **blank, "id": rid}
                for rid, values in last.items() if permissions.may_read_gone(actor, ent.name, values)}

    def _read(self, actor: Actor, entity: str, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The recipient's read of these records: the record page's statement, hidden fields as ''."""
        ent = self.config.entities[entity]
        query = self.records.query.select(actor, entity, where={"id": sorted(ids)})
        blank = dict.fromkeys(self.records.permissions.hidden(actor, entity) & set(_shown_fields(ent)), "")
        return {int(r["id"]): {**blank, **row_to_dict(ent, r)} for r in self.conn.execute(query).mappings()}

    def _followed(self, actor: Actor, read: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """`read` with user fields as user dicts and links as the recipient's read of the linked record."""
        for view in read.values():
            for name in self.user_fields:
                uid = view.get(name)
                if uid not in (None, ""):
                    view[name] = user_view(self.directory.users.get(uid))
        by_target: dict[str, set[int]] = defaultdict(set)
        for view in read.values():
            for name, target in self.links.items():
                if view.get(name) not in (None, ""):
                    by_target[target].add(int(view[name]))
        linked = {target: self._read(actor, target, ids) for target, ids in by_target.items()}
        for view in read.values():
            for name, target in self.links.items():
                if view.get(name) in (None, ""):
                    continue
                found = linked[target].get(int(view[name]))
                view[name] = found if found is not None else Withheld(
                    dict.fromkeys(_shown_fields(self.config.entities[target]), ""))
        return read


def _shown_fields(ent: m.Entity) -> list[str]:
    """Every key a read of `ent` can return: system columns, stored and computed fields."""
    return [*m.SYSTEM_COLUMNS, *(f.name for f in ent.fields.values() if f.stored or f.type in COMPUTED)]
