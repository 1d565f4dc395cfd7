"""Writing demo rows: checked like an import, written in batches, then dated back in time.

    loader = Loader(records)
    accepted, refused = loader.write("deal", rows)      # rows: dicts of Python values
    loader.backdate()                                   # once, after every entity

Each entity's rows go through the importer's own pieces (`import_batch.ChunkPreparer`
checks every value, default, required field, link and link filter, ownership and
validation rule exactly as a save; `import_write.BatchWriter` writes a block of
ids, a block of autonumbers per counter, one executemany of rows and one of
their 'create' audit rows). So demo data is valid by the same code that guards
every other write, and nothing here knows SQL column formats.

The import stamps rows with the moment of writing; `backdate` then moves each
record's `updated_at`, its 'create' audit row and its `created_by` to the time
and owner the generator chose, one UPDATE per entity, so timelines and
"created per month" charts span the two years the data covers.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from ..actor import SYSTEM
from ..import_batch import ChunkPreparer
from ..import_columns import map_columns
from ..import_write import BatchWriter
from ..records import Records

CHUNK = 2000
_SKIP = frozenset({"autonumber", "formula", "rollup", "lines", "file"})


def cell(value: Any) -> str:
    """A Python value as the text an import cell would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(value)
    return str(value)


class Loader:
    """Writes generated rows entity by entity as the built-in administrator."""

    def __init__(self, records: Records):
        self.records = records
        self.config = records.config
        self.written: list[str] = []

    def columns(self, entity: str) -> list[tuple[str, str]]:
        """(header cell, field name) for every field the generator may set."""
        ent = self.config.entities[entity]
        out = [("id", "id"), ("created_at", "created_at")]
        for f in ent.fields.values():
            if not f.stored or f.type in _SKIP or f.name == "team":
                continue
            out.append((f"{f.name}_id" if f.type in ("link", "user") else f.name, f.name))
        return out

    def write(self, entity: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], list[tuple[str, str]]]]]:
        """Writes the valid rows; returns them and the refused ones with their reasons."""
        if not rows:
            return [], []
        columns = self.columns(entity)
        plan = map_columns(self.config, entity, [h for h, _ in columns], frozenset())
        preparer = ChunkPreparer(self.records, SYSTEM, plan)
        writer = BatchWriter(self.records, SYSTEM, plan.entity)
        rows = sorted(rows, key=lambda r: (r["created_at"], r["id"]))   # numbers follow time
        written_back = [f.name for f in plan.entity.fields.values() if f.stored and f.type != "autonumber"]
        accepted: list[dict[str, Any]] = []
        refused: list[tuple[dict[str, Any], list[tuple[str, str]]]] = []
        for start in range(0, len(rows), CHUNK):
            part = rows[start:start + CHUNK]
            chunk = [(i, [cell(row.get(name)) for _, name in columns]) for i, row in enumerate(part)]
            now = self.records.clock()
            with self.records.engine.connect() as conn:
                result = preparer.prepare(conn, chunk, now)
            batch = writer.encode(result.ready, now)
            with self.records.transaction() as conn:
                writer.write(conn, batch)
            for i, prepared in enumerate(result.ready):
                row = part[prepared.line]
                record = prepared.record
                for name in written_back:
                    if row.get(name) is None:
                        row[name] = record.get(name)                # defaults as written
                for index, f in writer.autonumbers:                  # numbers as written
                    row[f.name] = batch.rows[i][index]
                accepted.append(row)
            refused.extend((part[line], reasons) for line, reasons in result.refused)
        if entity not in self.written:
            self.written.append(entity)
        return accepted, refused

    def backdate(self) -> None:
        """Each record's times and author as generated: updated_at = created_at, created_by = owner."""
        tables = self.records.tables
        audit = tables.audit
        with self.records.transaction() as conn:
            for entity in self.written:
                table = tables.entity(entity)
                ent = self.config.entities[entity]
                author = table.c.owner if "owner" in ent.fields and ent.fields["owner"].stored else None
                values: dict[str, Any] = {"updated_at": table.c.created_at}
                if author is not None:
                    values.update(created_by=author, updated_by=author)
                conn.execute(update(table).values(**values))
                record = select(table.c.created_at).where(table.c.id == audit.c.record_id).scalar_subquery()
                changes: dict[str, Any] = {"at": record}
                if author is not None:
                    changes["user_id"] = select(author).where(table.c.id == audit.c.record_id).scalar_subquery()
                conn.execute(update(audit).where(audit.c.entity == entity, audit.c.action == "create").values(**changes))
