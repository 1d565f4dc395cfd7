"""Writing a checked batch of imported records: ids, autonumbers, rows and audit, set-based.

    writer = BatchWriter(records, actor, entity)
    writer.write(conn, prepared, now)         # inside the batch's transaction

Per batch: one block of ids (SQLite: after MAX(id) under the write lock the
transaction already holds; PostgreSQL: `nextval` of the id sequence, n times
in one query), one block of numbers per autonumber counter and period, one
executemany for the rows and one for their 'create' audit rows. Values go
through each column type's own bind processor (`import_binds.direct_bind`: the
same text in one step for UTC times and dates), so a row stores exactly what
the records service would store; the driver's executemany is used directly
because SQLAlchemy's per-row statement handling costs more than the insert.
Columns NULL in every row of a batch (the system user's ids, an audit row's
`field` and `old_value`) are written as NULL in the statement, not bound.
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
from .import_binds import direct_bind
from .import_support import AuditJson, MemoBind, json_text
from .autonumber import DEFAULT_FORMAT, period_of, render
from .import_batch import Prepared
from .records import Records
from .tables import UtcDateTime
from .values import to_column

SYSTEM_COLUMNS = ("id", "created_at", "created_by", "updated_at", "updated_by", "version")
AUDIT_COLUMNS = ("entity", "record_id", "action", "field", "old_value", "new_value", "user_id", "at", "revision")

_NO_VALUE = object()


class _RawInsert:
    """`INSERT INTO t (cols) VALUES (?, ...)` with each column's bind processor, run as one executemany.

    `nulls`: columns that are NULL in every row (the system user's `created_by`, an audit row's
    `old_value`): written as NULL in the statement, not bound per row (the driver looks for an
    adapter for each None it binds, at the cost of two failed attribute lookups).
    """

    def __init__(self, dialect: Dialect, table: Table, columns: tuple[str, ...], nulls: tuple[str, ...] = ()):
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns + nulls)}) "
                    f"VALUES ({', '.join([mark] * len(columns) + ['NULL'] * len(nulls))})")
        self.processors: list[Callable[[Any], Any] | None] = []
        self.timed: set[int] = set()         # columns holding the batch's `now` in most rows
        for i, c in enumerate(columns):
            process = direct_bind(table.c[c], dialect)
            if process is not None and isinstance(table.c[c].type, UtcDateTime):
                self.timed.add(i)
            elif process is not None and isinstance(table.c[c].type, (Date, DateTime)):
                process = MemoBind(process).__getitem__      # dates repeat: a lookup in C
            self.processors.append(process)
        self.active = [(i, p) for i, p in enumerate(self.processors) if p is not None]

    def bind(self, row: list[Any]) -> list[Any]:
        """The row as the driver takes it (each value through its column's bind processor)."""
        for i, process in self.active:
            value = row[i]
            if value is not None:
                row[i] = process(value)
        return row

    def binder(self, now: dt.datetime) -> list[tuple[int, Callable[[Any], Any], object, Any]]:
        """(column, processor, `now` or a marker no value is, `now` as bound) for a batch: the batch's
        `now` (creation and update times) is bound once; other values through the processor."""
        return [(i, process, now, process(now)) if i in self.timed else (i, process, _NO_VALUE, None)
                for i, process in self.active]

    def run(self, conn: Connection, rows: list[list[Any]]) -> None:
        self.run_tuples(conn, [tuple(r) for r in rows])

    def run_tuples(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, rows)


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
    audit: list[str]                # each record's audit `new_value` (autonumbers as markers)
    audit_row: tuple[Any, ...]      # the audit row's other columns, bound: the same for the whole batch

    def one(self, i: int) -> "Batch":
        return Batch([self.items[i]], [list(self.rows[i])], [self.audit[i]], self.audit_row)


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
        self.zone = ZoneInfo(records.config.company.timezone)
        # The acting user's id is every record's `created_by` and `updated_by`, and every audit row's
        # `user_id`; with `field` and `old_value` (a creation's) they are NULL in a whole batch or never.
        unknown_user = ("created_by", "updated_by") if actor.id is None else ()
        self.columns = tuple(c for c in SYSTEM_COLUMNS if c not in unknown_user) + tuple(f.name for f in self.stored)
        self.pick = operator.itemgetter(*self.columns)      # a record's values in column order, in C
        self.autonumbers = [(self.columns.index(f.name), f) for f in self.stored if f.type == "autonumber"]
        # Columns whose stored form differs from the value (multichoice: JSON text).
        self.listed = [(self.columns.index(f.name), f) for f in self.stored if f.type == "multichoice"]
        self.audit_json = AuditJson(entity)
        dialect = records.engine.dialect
        self.rows_sql = _RawInsert(dialect, self.table, self.columns, unknown_user)
        audit_nulls = ("field", "old_value") + (("user_id",) if actor.id is None else ())
        self.audit_columns = tuple(c for c in AUDIT_COLUMNS if c not in audit_nulls)
        self.audit_sql = _RawInsert(dialect, records.tables.audit, self.audit_columns, audit_nulls)
        self.audit_id = self.audit_columns.index("record_id")
        self.audit_new = self.audit_columns.index("new_value")
        assert self.audit_id < self.audit_new and self.audit_sql.processors[self.audit_new] is None  # see `encode`

    def encode(self, ready: list[Prepared], now: dt.datetime) -> Batch:
        pick, listed, active = self.pick, self.listed, self.rows_sql.binder(now)
        rows = []
        for p in ready:
            row = list(pick(p.record))
            for i, f in listed:
                row[i] = to_column(f, row[i])
            for i, process, same, bound in active:
                value = row[i]
                if value is not None:
                    row[i] = bound if value is same else process(value)
            rows.append(row)
        encode = self.audit_json
        # Every audit column but `new_value` (and the id, known when written) is the same for the
        # whole batch: bound once; `new_value` is text, which no dialect's bind processor changes.
        audit_values = {"entity": self.entity.name, "action": "create", "user_id": self.actor.id, "at": now,
                        "revision": self.records.config.revision}
        audit_row = tuple(self.audit_sql.bind([audit_values.get(c) for c in self.audit_columns]))
        markers = [(f.name, _marker(f)) for _, f in self.autonumbers]
        if markers:
            for p in ready:
                for field_name, marker in markers:     # numbered when written: a marker the number replaces
                    p.record[field_name] = marker
        audit = [encode(p.record) for p in ready]
        item = tuple.__new__       # Item(...) without the named tuple's `__new__` in Python
        return Batch([item(Item, (p.line, p.explicit_id, day)) for p, day in zip(ready, self._days(ready))],
                     rows, audit, audit_row)

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
        for row, record_id in zip(batch.rows, ids):
            row[0] = record_id
        texts = batch.audit            # the batch keeps its markers (new lists below): a retry numbers it again
        for index, f in self.autonumbers:
            marker = json_text(_marker(f))
            numbers = self._numbers(conn, f, batch.items)
            for row, number in zip(batch.rows, numbers):
                row[index] = number
            texts = [t.replace(marker, encode_basestring(number), 1) for t, number in zip(texts, numbers)]
        self.rows_sql.run(conn, batch.rows)
        row, i, j = batch.audit_row, self.audit_id, self.audit_new
        head, middle, tail = row[:i], row[i + 1:j], row[j + 1:]
        self.audit_sql.run_tuples(conn, [(*head, record_id, *middle, new, *tail) for record_id, new in zip(ids, texts)])

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
        days = [p.day for p in ready]
        assert None not in days             # set by encode for an entity with autonumbers
        periods = {day: period_of(fmt, day) for day in dict.fromkeys(days)}
        groups: dict[str, list[int]] = {period: [] for period in periods.values()}
        if len(groups) == 1:
            groups[next(iter(groups))] = list(range(len(ready)))
        else:
            for i, period in enumerate(map(periods.__getitem__, days)):
                groups[period].append(i)
        out: list[str] = [""] * len(ready)
        for period, items in groups.items():
            last = reserve_block(conn, self.sequences, f"{self.entity.name}.{f.name}/{period}", len(items))
            numbered = _Renderer(fmt, days[items[0]])
            texts = numbered.many(range(last - len(items) + 1, last + 1), [days[i] for i in items])
            for i, number in zip(items, texts):
                out[i] = number
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

    def many(self, seqs: range, days: list[dt.date]) -> list[str]:
        """`render(fmt, seq, day)` for each pair; the text around the number joined, not rendered, per number."""
        if self.parts is None:
            return [render(self.fmt, seq, day) for seq, day in zip(seqs, days)]
        head, tail, width = self.parts[0], self.parts[1], self.width
        return [head + str(seq).zfill(width) + tail for seq in seqs]


def reserve_block(conn: Connection, sequences: Table, name: str, count: int) -> int:
    """Bumps counter `name` by `count` in the caller's transaction; returns the last number of the block."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(sequences).values(name=name, value=count)
    statement = statement.on_conflict_do_update(index_elements=[sequences.c.name],
                                                set_={"value": sequences.c.value + count})
    return int(conn.execute(statement.returning(sequences.c.value)).scalar_one())
