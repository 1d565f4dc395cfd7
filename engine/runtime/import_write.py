"""Writing a checked batch of imported records: ids, autonumbers, rows and audit, set-based.

    writer = BatchWriter(records, actor, entity)
    writer.write(conn, prepared, now)         # inside the batch's transaction

Per batch: one block of ids (SQLite: after MAX(id) under the write lock the
transaction already holds; PostgreSQL: `nextval` of the id sequence, n times
in one query), one block of numbers per autonumber counter and period, one
executemany for the rows and one for their 'create' audit rows. Values go
through each column type's own bind processor, so a row stores exactly what
the records service would store; the driver's executemany is used directly
because SQLAlchemy's per-row statement handling costs more than the insert.
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Callable, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Date, DateTime, Dialect, Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from ..metadata import model as m
from .actor import Actor
from .import_support import AuditJson, MemoBind, json_text
from .autonumber import DEFAULT_FORMAT, period_of, render
from .import_batch import Prepared
from .records import Records
from .tables import UtcDateTime
from .values import to_column

SYSTEM_COLUMNS = ("id", "created_at", "created_by", "updated_at", "updated_by", "version")
AUDIT_COLUMNS = ("entity", "record_id", "action", "field", "old_value", "new_value", "user_id", "at", "revision")


class _RawInsert:
    """`INSERT INTO t (cols) VALUES (?, ...)` with each column's bind processor, run as one executemany."""

    def __init__(self, dialect: Dialect, table: Table, columns: tuple[str, ...]):
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                    f"VALUES ({', '.join(mark for _ in columns)})")
        self.processors: list[Callable[[Any], Any] | None] = []
        for c in columns:
            process = table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
            repeats = isinstance(table.c[c].type, (Date, DateTime, UtcDateTime))
            self.processors.append(MemoBind(process).__getitem__ if repeats and process else process)
        self.active = [(i, p) for i, p in enumerate(self.processors) if p is not None]

    def bind(self, row: list[Any]) -> list[Any]:
        """The row as the driver takes it (each value through its column's bind processor)."""
        for i, process in self.active:
            value = row[i]
            if value is not None:
                row[i] = process(value)
        return row

    def run(self, conn: Connection, rows: list[list[Any]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, [tuple(r) for r in rows])


class Item(NamedTuple):
    """What writing needs of a record besides its encoded row: where it was, its id, and the day it
    was created in the company's timezone (for autonumber periods; None when the entity has none)."""

    line: int
    explicit_id: int | None
    day: dt.date | None


@dataclass(slots=True)
class Batch:
    """Records encoded for the driver, all but their ids and autonumbers (known when written).

    Plain values only, so a batch encoded in a worker process travels to the writing one.
    """

    items: list[Item]
    rows: list[list[Any]]
    audit: list[list[Any]]

    def one(self, i: int) -> "Batch":
        return Batch([self.items[i]], [list(self.rows[i])], [list(self.audit[i])])


class BatchWriter:
    """Writes prepared records of one entity for one acting user, auditing each as a 'create'.

    `encode` does the per-row work (no database needed, so it can run beside a
    write in progress); `write` numbers the batch and inserts it.
    """

    def __init__(self, records: Records, actor: Actor, entity: m.Entity):
        self.records = records
        self.actor = actor
        self.entity = entity
        self.table = records.tables.entity(entity.name)
        self.sequences = records.tables("crm_sequences")
        self.stored = [f for f in entity.fields.values() if f.stored]
        self.autonumbers = [(len(SYSTEM_COLUMNS) + i, f) for i, f in enumerate(self.stored)
                            if f.type == "autonumber"]
        self.zone = ZoneInfo(records.config.company.timezone)
        self.columns = SYSTEM_COLUMNS + tuple(f.name for f in self.stored)
        self.pick = operator.itemgetter(*self.columns)      # a record's values in column order, in C
        # Columns whose stored form differs from the value (multichoice: JSON text).
        self.listed = [(len(SYSTEM_COLUMNS) + i, f) for i, f in enumerate(self.stored) if f.type == "multichoice"]
        self.audit_json = AuditJson(entity)
        dialect = records.engine.dialect
        self.rows_sql = _RawInsert(dialect, self.table, self.columns)
        self.audit_sql = _RawInsert(dialect, records.tables.audit, AUDIT_COLUMNS)
        assert self.audit_sql.processors[AUDIT_COLUMNS.index("new_value")] is None   # see `encode`

    def encode(self, ready: list[Prepared], now: dt.datetime) -> Batch:
        pick, listed, bind = self.pick, self.listed, self.rows_sql.bind
        rows = []
        for p in ready:
            row = list(pick(p.record))
            for i, f in listed:
                row[i] = to_column(f, row[i])
            rows.append(bind(row))
        encode = self.audit_json
        # Every audit column but `new_value` (and the id, known when written) is the same for the
        # whole batch: bound once; `new_value` is text, which no dialect's bind processor changes.
        template = self.audit_sql.bind([self.entity.name, None, "create", None, None, None, self.actor.id, now,
                                        self.records.config.revision])
        audit = []
        markers = [(f.name, _marker(f)) for _, f in self.autonumbers]
        for p in ready:
            for field_name, marker in markers:     # numbered when written: a marker the number replaces
                p.record[field_name] = marker
            row = template.copy()
            row[5] = encode(p.record)
            audit.append(row)
        return Batch([Item(p.line, p.explicit_id, day) for p, day in zip(ready, self._days(ready))], rows, audit)

    def _days(self, ready: list[Prepared]) -> list[dt.date | None]:
        """Each record's creation day in the company's timezone, once per distinct creation time;
        computed here (beside the checks, in a worker when there is one), not when written."""
        if not self.autonumbers:
            return [None] * len(ready)
        zone, seen = self.zone, {}
        out = []
        for p in ready:
            created = p.record["created_at"]
            day = seen.get(created)
            if day is None:
                day = seen[created] = created.astimezone(zone).date()
            out.append(day)
        return out

    def write(self, conn: Connection, batch: Batch) -> None:
        if not batch.items:
            return
        ids = self._ids(conn, batch.items)
        for row, audit, record_id in zip(batch.rows, batch.audit, ids):
            row[0] = audit[1] = record_id
        audit_rows = batch.audit
        if self.autonumbers:     # the batch keeps its markers: a retry numbers it again
            audit_rows = [list(a) for a in batch.audit]
        for index, f in self.autonumbers:
            marker = json_text(_marker(f))
            for row, audit, number in zip(batch.rows, audit_rows, self._numbers(conn, f, batch.items)):
                row[index] = number
                audit[5] = audit[5].replace(marker, encode_basestring(number), 1)
        self.rows_sql.run(conn, batch.rows)
        self.audit_sql.run(conn, audit_rows)

    def _ids(self, conn: Connection, ready: list[Item]) -> list[int]:
        """Explicit ids as given, the others a block the database hands out."""
        explicit = [p.explicit_id for p in ready if p.explicit_id is not None]
        wanted = len(ready) - len(explicit)
        if conn.dialect.name == "postgresql":
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                    {"t": self._quoted(conn)}).scalar_one()
            if explicit:
                conn.execute(text("SELECT setval(:s, GREATEST(:top, COALESCE((SELECT MAX(id) FROM "
                                  f"{self._quoted(conn)}), 0)))"), {"s": sequence, "top": max(explicit)})
            fresh = conn.execute(text("SELECT nextval(:s) FROM generate_series(1, :n)"),
                                 {"s": sequence, "n": wanted}).scalars().all() if wanted else []
        else:
            # The transaction holds SQLite's write lock (BEGIN IMMEDIATE): nobody else can take these ids.
            top = conn.execute(select(func.coalesce(func.max(self.table.c.id), 0))).scalar_one()
            start = max([int(top)] + explicit) + 1
            fresh = list(range(start, start + wanted))
        numbers = iter(fresh)
        return [p.explicit_id if p.explicit_id is not None else int(next(numbers)) for p in ready]

    def _quoted(self, conn: Connection) -> str:
        return conn.dialect.identifier_preparer.quote(self.table.name)

    def _numbers(self, conn: Connection, f: m.Field, ready: list[Item]) -> list[str]:
        """One counter bump per period for the whole batch: numbers stay unique, as one save at a time."""
        fmt = f.format or DEFAULT_FORMAT
        groups: dict[str, list[tuple[int, dt.date]]] = {}
        periods: dict[dt.date, str] = {}
        for i, p in enumerate(ready):
            day = p.day
            assert day is not None          # set by encode for an entity with autonumbers
            period = periods.get(day)
            if period is None:
                period = periods[day] = period_of(fmt, day)
            groups.setdefault(period, []).append((i, day))
        out: list[str] = [""] * len(ready)
        for period, items in groups.items():
            last = reserve_block(conn, self.sequences, f"{self.entity.name}.{f.name}/{period}", len(items))
            numbered = _Renderer(fmt, items[0][1])
            for offset, (i, day) in enumerate(items):
                out[i] = numbered(last - len(items) + 1 + offset, day)
        return out


def _marker(f: m.Field) -> str:
    return f"\x00{f.name}\x00"


class _Renderer:
    """`autonumber.render` for many numbers of one counter period.

    Within a period every date part of the format is the same (the period is as
    fine as the finest date part), so the text around the number is rendered
    once, with a marker number, and only the number changes.
    """

    MARK = 10**30 + 7

    def __init__(self, fmt: str, day: dt.date):
        self.fmt = fmt
        sample = render(fmt, self.MARK, day)
        self.parts = sample.split(str(self.MARK)) if sample.count(str(self.MARK)) == 1 else None
        width = re.search(r"\{seq:(\d+)\}", fmt)
        self.width = int(width.group(1)) if width else 0

    def __call__(self, seq: int, day: dt.date) -> str:
        if self.parts is None:
            return render(self.fmt, seq, day)
        return self.parts[0] + str(seq).zfill(self.width) + self.parts[1]


def reserve_block(conn: Connection, sequences: Table, name: str, count: int) -> int:
    """Bumps counter `name` by `count` in the caller's transaction; returns the last number of the block."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(sequences).values(name=name, value=count)
    statement = statement.on_conflict_do_update(index_elements=[sequences.c.name],
                                                set_={"value": sequences.c.value + count})
    return int(conn.execute(statement.returning(sequences.c.value)).scalar_one())
