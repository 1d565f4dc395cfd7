"""The three row writes (insert, update, delete) with their audit rows and autonumbers.

Only the records service calls these, inside its transaction, after a Draft
passed every check. An update or delete carries the caller's WHERE (version and
permission), and reports whether a row matched instead of raising: the caller
decides whether that is a stale version, a refusal or a missing record.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, delete, insert, update
from sqlalchemy.sql.elements import ColumnElement

from ..metadata import model as m
from .actor import Actor
from .audit import AuditLog
from .autonumber import next_value
from .saving import Draft
from .tables import Tables
from .values import to_column


class RowWriter:
    """Writes rows of any entity of one configuration, auditing each change."""

    def __init__(self, config: m.Config, tables: Tables, audit: AuditLog, clock: Callable[[], dt.datetime]):
        self.config = config
        self.tables = tables
        self.audit = audit
        self.clock = clock
        self.zone = ZoneInfo(config.company.timezone)

    def insert(self, conn: Connection, actor: Actor, draft: Draft) -> int:
        """Inserts the draft (numbering its autonumbers first); returns the new id."""
        ent = draft.entity
        table = self.tables.entity(ent.name)
        values = draft.values
        day = values["created_at"].astimezone(self.zone).date()
        for f in ent.fields.values():
            if f.type == "autonumber" and values.get(f.name) is None:
                values[f.name] = next_value(conn, self.tables("crm_sequences"), ent.name, f.name, f.format, day)
        row: dict[str, Any] = {c: values[c] for c in ("created_at", "created_by", "updated_at",
                                                     "updated_by", "version")}
        for f in ent.fields.values():
            if f.stored:
                row[f.name] = to_column(f, values.get(f.name))
        record_id = int(conn.execute(insert(table).values(**row).returning(table.c.id)).scalar_one())
        values["id"] = record_id
        self.audit.created(conn, ent.name, record_id,
                           {f.name: values.get(f.name) for f in ent.fields.values()
                            if f.stored and values.get(f.name) is not None},
                           actor.id, values["created_at"])
        return record_id

    def update(self, conn: Connection, actor: Actor, draft: Draft, record_id: int,
               old: Mapping[str, Any], condition: ColumnElement[bool] | None = None) -> bool:
        """Writes the changed fields and bumps the version where `condition` holds; False if no row did."""
        ent = draft.entity
        table = self.tables.entity(ent.name)
        now = self.clock()
        row: dict[str, Any] = {name: to_column(ent.fields[name], value) for name, value in draft.changed.items()}
        row.update(updated_at=now, updated_by=actor.id, version=table.c.version + 1)
        where = [table.c.id == record_id]
        if condition is not None:
            where.append(condition)
        result = conn.execute(update(table).where(and_(*where)).values(**row))
        if result.rowcount != 1:
            return False
        draft.values.update(updated_at=now, updated_by=actor.id, version=int(old.get("version") or 0) + 1)
        self.audit.updated(conn, ent.name, record_id,
                           {name: (old.get(name), value) for name, value in draft.changed.items()},
                           actor.id, now)
        return True

    def delete(self, conn: Connection, actor: Actor, entity: m.Entity, record_id: int,
               old: Mapping[str, Any], condition: ColumnElement[bool] | None = None) -> bool:
        table = self.tables.entity(entity.name)
        where = [table.c.id == record_id]
        if condition is not None:
            where.append(condition)
        result = conn.execute(delete(table).where(and_(*where)))
        if result.rowcount != 1:
            return False
        self.audit.deleted(conn, entity.name, record_id,
                           {f.name: old.get(f.name) for f in entity.fields.values()
                            if f.stored and old.get(f.name) is not None},
                           actor.id, self.clock())
        return True
