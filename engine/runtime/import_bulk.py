"""Bulk mode for a large import on SQLite: secondary indexes and search upkeep suspended, rebuilt once.

    load = BulkLoad.begin(engine, entity)       # None when another import of the entity holds it
    ...                                         # batches written as usual
    load.finish()                               # indexes built again, new rows put in the search index

    repair_interrupted(engine)                  # every import and `crm migrate`: finish what a killed one left

An import that is large for its table (`worth_it`) pays most of its write in
inserting each row into every secondary index (random inserts into b-trees
that grow as it goes) and into the FTS5 search index. Building them once at
the end costs less: the entity's non-unique `ix_` indexes are dropped for the
import and created again with the DDL SQLite stored for them; the FTS triggers
are narrowed to rows with ids up to the table's highest before the import
(rows already indexed stay in step with updates and deletes made meanwhile),
and the rows above it - the import's, and any saved meanwhile - are indexed in
one INSERT ... SELECT at the end, as they are then. Unique indexes and
constraints stay: they enforce rules.

Crash safety: the transaction that drops the indexes also records, in
`crm_bulk_imports` (a table that exists only while some import is in bulk mode),
every statement `finish` needs and which process holds it (host and pid).
`finish` runs in one transaction and removes that record, so a finished import
leaves the schema exactly as before. A process killed meanwhile leaves the
record; the next import or `crm migrate` sees its process is gone and runs the
same `finish`. PostgreSQL imports keep their indexes (see docs/import-export.md).
"""
from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..metadata import model as m
from .search import fts_fill_sql, fts_triggers

log = logging.getLogger(__name__)

STATE_TABLE = "crm_bulk_imports"
MIN_ROWS = 50_000       # below this, dropping and building the indexes saves too little to be worth a change

_HELD: set[tuple[str, str]] = set()      # (database URL, entity) in bulk mode in this process


def worth_it(estimated_rows: int, table_rows: int) -> bool:
    """Bulk mode pays when the file holds at least MIN_ROWS rows and at least as many as the table."""
    return estimated_rows >= MIN_ROWS and estimated_rows >= table_rows


def estimated_rows(rows_read: int, fraction_read: float) -> int:
    """The file's data rows, from those read so far and how far into the file they reach."""
    return rows_read if fraction_read >= 1.0 or fraction_read <= 0 else int(rows_read / fraction_read)


@dataclass(frozen=True, slots=True)
class _State:
    """Everything `finish` runs, recorded before anything is dropped."""

    table: str
    indexes: list[str]                  # CREATE INDEX statements, as SQLite stored them
    triggers: dict[str, str]            # FTS trigger name -> its SQL outside bulk mode
    narrowed: dict[str, str]            # ... and in bulk mode (rows up to the highest id before)
    fill: str | None                    # indexes the rows above that id
    host: str
    pid: int
    started: str | None                 # when that process started (a pid is reused after it ends)


class BulkLoad:
    """One entity's import in bulk mode (SQLite)."""

    def __init__(self, engine: Engine, entity: str, state: _State):
        self.engine = engine
        self.entity = entity
        self.state = state

    @classmethod
    def begin(cls, engine: Engine, entity: m.Entity) -> "BulkLoad | None":
        """Drops the entity's non-unique `ix_` indexes and narrows its FTS triggers, recorded first.

        None (nothing changed) when another import of the entity is in bulk mode.
        """
        with _write_transaction(engine) as conn:
            if _has_state_table(conn) and conn.exec_driver_sql(
                    f"SELECT 1 FROM {STATE_TABLE} WHERE entity = ?", (entity.name,)).first():
                return None
            top = int(conn.exec_driver_sql(f'SELECT coalesce(max(id), 0) FROM "{entity.table}"').scalar_one())
            indexes = [(name, sql) for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
                "AND name LIKE 'ix\\_%' ESCAPE '\\'", (entity.table,))
                if not sql.upper().startswith("CREATE UNIQUE")]
            triggers = fts_triggers(entity)
            live = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all())
            if not triggers or any((live.get(n) or "").strip() != sql for n, sql in triggers.items()):
                triggers = {}       # no search index here, or one `ensure_search_index` has yet to repair
            narrowed = fts_triggers(entity, up_to=top) if triggers else {}
            state = _State(entity.table, [sql for _, sql in indexes], triggers, narrowed,
                           fts_fill_sql(entity, top) if triggers else None, os.uname().nodename, os.getpid(),
                           _started(os.getpid()))
            conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (entity TEXT PRIMARY KEY, state TEXT)")
            conn.exec_driver_sql(f"INSERT INTO {STATE_TABLE} (entity, state) VALUES (?, ?)",
                                 (entity.name, json.dumps(asdict(state))))
            for name, _ in indexes:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
            _replace_triggers(conn, narrowed)
        _HELD.add((str(engine.url), entity.name))
        return cls(engine, entity.name, state)

    def finish(self) -> None:
        """Builds the indexes again, indexes the new rows for search, restores the triggers: one transaction."""
        try:
            with _write_transaction(self.engine) as conn:
                _finish(conn, self.entity, self.state)
        finally:        # failed: left recorded, for the next import or migration to finish
            _HELD.discard((str(self.engine.url), self.entity))


def repair_interrupted(engine: Engine) -> list[str]:
    """Finishes the bulk imports whose process is gone (killed, or its machine restarted); returns what it did."""
    if engine.dialect.name != "sqlite":
        return []
    with engine.connect() as conn:
        if not _has_state_table(conn):
            return []
    done: list[str] = []
    with _write_transaction(engine) as conn:
        if not _has_state_table(conn):
            return []
        for entity, text in conn.exec_driver_sql(f"SELECT entity, state FROM {STATE_TABLE}").all():
            state = _State(**json.loads(text))
            if (str(engine.url), entity) in _HELD or _alive(state):
                continue
            _finish(conn, entity, state)
            done.append(f"indexes and search index of {entity} restored after an interrupted import")
    return done


def _finish(conn: Connection, entity: str, state: _State) -> None:
    # Each step in its own savepoint: a migration run meanwhile may have renamed or dropped a
    # column the recorded SQL names. Such a step is skipped (logged) rather than failing the
    # finish for ever: the next `crm migrate` makes the indexes the configuration asks for, and
    # `ensure_search_index` rebuilds a search index whose triggers are not the expected ones.
    for sql in state.indexes:
        _step(conn, _if_not_exists(sql))
    live = dict(conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all())
    # Triggers no longer narrowed: a repair of the search index (a rebuild) ran meanwhile and indexed every row.
    if state.fill and all((live.get(n) or "").strip() == sql for n, sql in state.narrowed.items()):
        if _step(conn, state.fill):
            _replace_triggers(conn, state.triggers)
        else:       # new rows not indexed: no triggers at all, so the next check rebuilds the whole index
            for name in state.narrowed:
                conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')
    conn.exec_driver_sql(f"DELETE FROM {STATE_TABLE} WHERE entity = ?", (entity,))
    if conn.exec_driver_sql(f"SELECT 1 FROM {STATE_TABLE}").first() is None:
        conn.exec_driver_sql(f"DROP TABLE {STATE_TABLE}")


def _step(conn: Connection, sql: str) -> bool:
    """Runs `sql` in a savepoint; False (logged, rolled back) when the database refuses it."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(sql)
        return True
    except DBAPIError as exc:
        log.warning("finishing a bulk import: skipped %s (%s)", sql, exc.orig)
        return False


def _replace_triggers(conn: Connection, triggers: dict[str, str]) -> None:
    for name, sql in triggers.items():
        conn.exec_driver_sql(f'DROP TRIGGER IF EXISTS "{name}"')
        _step(conn, sql)


def _if_not_exists(sql: str) -> str:
    """`CREATE INDEX x ...` as `CREATE INDEX IF NOT EXISTS x ...` (a migration may have made it already)."""
    head = "CREATE INDEX "
    return "CREATE INDEX IF NOT EXISTS " + sql[len(head):] if sql.upper().startswith(head) and \
        not sql.upper().startswith(head + "IF NOT EXISTS") else sql


def _alive(state: _State) -> bool:
    """Is the process that holds the bulk mode still running? (one on another host: assumed so)

    POSIX only (`os.kill(pid, 0)` would end the process on Windows): the importer uses bulk mode nowhere else.
    """
    if state.host != os.uname().nodename:
        return True
    if state.pid == os.getpid():
        return False            # this process: `_HELD` knows its imports
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return state.started is None or _started(state.pid) in (None, state.started)


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux's /proc), None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _has_state_table(conn: Connection) -> bool:
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (STATE_TABLE,)).first() is not None


@contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding SQLite's write lock from its start (as `Records.transaction`)."""
    with engine.connect() as conn, conn.begin():
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


__all__ = ["BulkLoad", "MIN_ROWS", "estimated_rows", "repair_interrupted", "worth_it"]
