"""The SQL each step of a plan will run, for `crm plan` to print before anything changes.

PostgreSQL: the steps run through Alembic in offline mode (`as_sql`), which
writes the statements instead of executing them; every change is a plain
ALTER, so each statement stands on its own.

SQLite: a change ALTER cannot make copies the table, and the copy's CREATE
TABLE depends on everything earlier steps did to that table. So the steps run
for real, in order, against an empty in-memory copy of the live schema, and
the statements they execute are recorded. That is also a dry run: a plan that
cannot apply fails here, before the real database is touched.
"""
from __future__ import annotations

import io
from dataclasses import replace
from typing import Any, Iterator

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from . import steps as st
from .livedb import Snapshot, referred_table

TERMINATOR = ";\n\n"
_NOT_DDL = ("PRAGMA", "SELECT")        # reflection by batch mode, not part of the migration


def with_sql(dialect: sa.Dialect, snap: Snapshot, steps: list[st.Step]) -> list[st.Step]:
    rendered = _sqlite_dry_run(snap, steps) if dialect.name == "sqlite" else _offline(dialect, steps)
    return [replace(step, sql=tuple(sql)) for step, sql in zip(steps, rendered)]


def _runnable(steps: list[st.Step]) -> Iterator[tuple[int, st.Step]]:
    return ((i, s) for i, s in enumerate(steps) if not isinstance(s, st.Refusal))


def _offline(dialect: sa.Dialect, steps: list[st.Step]) -> list[list[str]]:
    buffer = io.StringIO()
    ops = Operations(MigrationContext.configure(dialect=dialect, opts={"as_sql": True, "output_buffer": buffer}))
    out: list[list[str]] = [[] for _ in steps]
    for i, step in _runnable(steps):
        start = buffer.tell()
        step.run(ops)
        text = buffer.getvalue()[start:]
        out[i] = [s.strip() for s in text.split(TERMINATOR) if s.strip()]
    return out


def _sqlite_dry_run(snap: Snapshot, steps: list[st.Step]) -> list[list[str]]:
    engine = sa.create_engine("sqlite://")
    out: list[list[str]] = [[] for _ in steps]
    current: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if not statement.lstrip().upper().startswith(_NOT_DDL):
            current.append(statement.strip())

    try:
        with engine.connect() as conn:
            _copy_schema(conn, snap)
            sa.event.listen(conn, "before_cursor_execute", record)
            ops = Operations(MigrationContext.configure(conn))
            for i, step in _runnable(steps):
                current.clear()
                try:
                    step.run(ops)
                except Exception as exc:     # the plan is wrong, not the database: say which step
                    raise PlanError(f"step {i + 1} ({step.describe()}) fails on a copy of the schema: {exc}") from exc
                out[i] = list(current)
    finally:
        engine.dispose()
    return out


def _copy_schema(conn: sa.Connection, snap: Snapshot) -> None:
    """The live tables, empty; a reference to a table that is gone (a leftover's) is left out."""
    for table in snap.metadata.tables.values():
        if table.name.startswith("crm_fts_"):   # full-text tables (search.py): virtual, no step touches them
            continue
        fks = [fk for fk in table.foreign_key_constraints if referred_table(fk) in snap.metadata.tables]
        conn.execute(sa.schema.CreateTable(table, include_foreign_key_constraints=fks))
        for index in table.indexes:
            conn.execute(sa.schema.CreateIndex(index))


class PlanError(Exception):
    """A plan that cannot be applied (found by the SQLite dry run)."""
