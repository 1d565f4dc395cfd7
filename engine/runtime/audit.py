"""The audit trail: who changed what, when, from which value to which, under which config.

One `crm_audit` row per changed field on update, one row for a create (the
record's first values as `new_value`) and one for a delete (its last values as
`old_value`). Values are JSON: decimals and dates as strings, so the trail reads
the same on every database. Rows are written in the record's own transaction:
a refused save leaves no trace.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import Connection, Integer, Select, Table, and_, bindparam, select
from sqlalchemy.sql.elements import ColumnElement

from .direct_reads import all_mappings

TRAIL_RECORD = "crm_trail_record"
trail_record_param = bindparam(TRAIL_RECORD, type_=Integer)


def to_json(value: Any) -> str | None:
    """A field value as audit JSON (None stays SQL NULL, not the text 'null')."""
    if value is None:
        return None
    return json.dumps(value, default=_plain, ensure_ascii=False, sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    entity: str
    record_id: int
    action: str
    field: str | None
    old: Any
    new: Any
    user_id: int | None
    at: dt.datetime
    revision: str | None


class AuditLog:
    """Writes and reads `crm_audit` for one configuration revision."""

    def __init__(self, table: Table, revision: str | None):
        self.table = table
        self.revision = revision

    def created(self, conn: Connection, entity: str, record_id: int, values: Mapping[str, Any],
                user_id: int | None, at: dt.datetime) -> None:
        self._write(conn, [dict(entity=entity, record_id=record_id, action="create", field=None,
                                old_value=None, new_value=to_json(dict(values)), user_id=user_id,
                                at=at, revision=self.revision)])

    def updated(self, conn: Connection, entity: str, record_id: int,
                changes: Mapping[str, tuple[Any, Any]], user_id: int | None, at: dt.datetime) -> None:
        """`changes` maps field -> (old, new); unchanged fields must not be in it."""
        self._write(conn, [dict(entity=entity, record_id=record_id, action="update", field=name,
                                old_value=to_json(old), new_value=to_json(new), user_id=user_id,
                                at=at, revision=self.revision)
                           for name, (old, new) in changes.items()])

    def deleted(self, conn: Connection, entity: str, record_id: int, values: Mapping[str, Any],
                user_id: int | None, at: dt.datetime) -> None:
        self._write(conn, [dict(entity=entity, record_id=record_id, action="delete", field=None,
                                old_value=to_json(dict(values)), new_value=None, user_id=user_id,
                                at=at, revision=self.revision)])

    def _write(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(self.table.insert(), rows)

    def history(self, conn: Connection, entity: str, record_id: int) -> list[AuditEntry]:
        """The record's trail, oldest first."""
        t = self.table
        rows = conn.execute(select(t).where(t.c.entity == entity, t.c.record_id == record_id)
                            .order_by(t.c.id)).mappings()
        return [_entry(r) for r in rows]

    def readable_history(self, conn: Connection, entity: str, record_id: int, records: Table,
                         readable: ColumnElement[bool]) -> list[AuditEntry] | None:
        """The trail of a record that `readable` (a WHERE on `records`, the entity's table) lets
        through, oldest first; None when it does not (or the record does not exist).

        One statement: the record LEFT JOIN its audit rows, so the permission check and the
        trail cannot disagree. No row: not readable; one row of NULLs: readable, no trail yet.
        """
        return self.read_trail(conn, self.readable_history_statement(entity, records, readable), record_id)

    def readable_history_statement(self, entity: str, records: Table, readable: ColumnElement[bool]) -> Select:
        """`readable_history`'s statement with the record id a bind (TRAIL_RECORD), to build once
        per user and entity and run with `read_trail`."""
        t = self.table
        on = and_(t.c.entity == entity, t.c.record_id == records.c.id)
        return (select(t).select_from(records.outerjoin(t, on))
                .where(records.c.id == trail_record_param, readable).order_by(t.c.id))

    @staticmethod
    def read_trail(conn: Connection, statement: Select, record_id: int) -> list[AuditEntry] | None:
        """Runs a `readable_history_statement`: the trail, or None when the record is not readable."""
        rows = all_mappings(conn, statement, {TRAIL_RECORD: record_id})
        if not rows:
            return None
        return [_entry(r) for r in rows if r["id"] is not None]


def _entry(r: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(r["id"], r["entity"], r["record_id"], r["action"], r["field"],
                      json.loads(r["old_value"]) if r["old_value"] is not None else None,
                      json.loads(r["new_value"]) if r["new_value"] is not None else None,
                      r["user_id"], r["at"], r["revision"])
