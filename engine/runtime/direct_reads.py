"""Cached read statements run on SQLite's cursor directly: the same SQL, parameters and values.

    keys, rows = run_read(conn, statements.rows, {LIMIT: 11, OFFSET: 0})   # what .keys(), .all() give
    record = first_mapping(conn, matching, {MATCHING: 7})                 # what .mappings().first() gives

Why: a record page runs half a dozen statements that are built once per user and kept
(`RecordQuery.matching`, `RecordQuery.page`, the history and messages statements). For
each, `Connection.execute` still looks its compiled form up in SQLAlchemy's cache, builds
an execution context and a result, and wraps every row: more Python work than SQLite
takes to answer. Here a kept statement is compiled once (its SQL, its binds in placeholder
order with their types' processors, its columns' result processors) and run on the DBAPI
cursor; rows come back as tuples with the values SQLAlchemy would give
(tests/runtime/test_direct_reads.py holds them equal). Nothing about permissions changes:
the user's row filter is inside the statement.

Only on SQLite. Any other database (PostgreSQL), a connection with execution options, a
statement this path does not cover (expanding or render-time binds, a column whose name is
not its key), or a driver error goes through `Connection.execute` as before (an error is
then raised as SQLAlchemy raises it). Listeners of `before_cursor_execute` and `after_cursor_execute` (logging, the tests'
statement counts) still see every statement.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Plan:
    dialect: Dialect
    sql: str
    compiled: Any                                        # SQLCompiler: gives the binds' values (construct_params)
    names: tuple[str, ...]                               # bind names in placeholder order
    bind_processors: tuple[tuple[int, Processor], ...]   # (place, processor)
    keys: tuple[str, ...]
    result_processors: tuple[tuple[int, Processor], ...]  # (column, processor)


_UNSUITED = object()     # kept for a statement this path does not run: asked once, not again
_PLANS: "weakref.WeakKeyDictionary[Select, Any]" = weakref.WeakKeyDictionary()


def run_read(conn: Connection, statement: Select, params: Mapping[str, Any]) -> tuple[Sequence[str], list[Any]]:
    """(result keys, every row): `result.keys()` and `result.all()` of `conn.execute(statement, params)`.
    For statements that are kept and run again (built once per user): each is compiled once."""
    plan = _plan(conn, statement)
    if plan is not None:
        rows = _run(conn, plan, params)
        if rows is not None:
            return plan.keys, rows
    result = conn.execute(statement, params)
    return result.keys(), result.all()   # type: ignore[return-value]


def all_mappings(conn: Connection, statement: Select, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`conn.execute(statement, params).mappings().all()`, each row as a dict."""
    keys, rows = run_read(conn, statement, params)
    return [dict(zip(keys, row)) for row in rows]


def first_mapping(conn: Connection, statement: Select, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """`conn.execute(statement, params).mappings().first()` as a dict (None: no row)."""
    keys, rows = run_read(conn, statement, params)
    return dict(zip(keys, rows[0])) if rows else None


def _plan(conn: Connection, statement: Select) -> _Plan | None:
    dialect = conn.dialect
    if dialect.name != "sqlite" or conn.get_execution_options():
        return None         # execution options (a schema map, streaming, ...): SQLAlchemy applies them
    plan = _PLANS.get(statement)
    if plan is _UNSUITED:
        return None
    if plan is None or plan.dialect is not dialect:
        plan = _PLANS[statement] = _compile(statement, dialect) or _UNSUITED
        if plan is _UNSUITED:
            return None
    return plan  # type: ignore[no-any-return]


def _compile(statement: Select, dialect: Dialect) -> _Plan | None:
    compiled: Any = statement.compile(dialect=dialect)
    if not compiled.positional or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    names = tuple(compiled.positiontup or ())
    processors = compiled.construct_expanded_state(
        {name: None for name in compiled.binds}).processors        # placeholders' values do not matter here
    binds = tuple((i, processors[name]) for i, name in enumerate(names) if processors.get(name) is not None)
    columns = list(statement.selected_columns)
    keys = tuple(statement.selected_columns.keys())
    # The result's keys as SQLAlchemy names them: the same as the statement's, else not run here
    # (anonymous labels, a name selected twice).
    rendered = getattr(compiled, "_result_columns", None)
    if rendered is None or tuple(column[0] for column in rendered) != keys:
        return None
    results = []
    for i, column in enumerate(columns):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if processor is not None:
            results.append((i, processor))
    return _Plan(dialect, compiled.string, compiled, names, binds, keys, tuple(results))


def _run(conn: Connection, plan: _Plan, params: Mapping[str, Any]) -> list[Any] | None:
    """The rows, or None when the driver refused (the caller then runs it through SQLAlchemy)."""
    try:
        values = plan.compiled.construct_params(params)
    except Exception:       # noqa: BLE001 - a missing bind: SQLAlchemy says so in its own words
        return None
    parameters: Any = [values[name] for name in plan.names]
    for i, processor in plan.bind_processors:
        parameters[i] = processor(parameters[i])
    parameters = tuple(parameters)
    sql = plan.sql
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        return None
    # What Connection.execute checks before asking its listeners (set by event.listen on either).
    listened = getattr(conn, "_has_events", True) or getattr(conn.engine, "_has_events", True)
    cursor = dbapi.cursor()
    try:
        if listened:
            for listener in conn.dispatch.before_cursor_execute:
                sql, parameters = listener(conn, cursor, sql, parameters, None, False)
        try:
            cursor.execute(sql, parameters)
            rows = cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error:
            return None
        if listened:
            for listener in conn.dispatch.after_cursor_execute:
                listener(conn, cursor, sql, parameters, None, False)
    finally:
        cursor.close()
    if plan.result_processors and rows:
        # Column by column: each processor mapped over its column (no Python loop per value),
        # the rows zipped back together as tuples.
        columns: list[Any] = list(zip(*rows))
        for i, processor in plan.result_processors:
            columns[i] = map(processor, columns[i])
        return list(zip(*columns))
    return rows
