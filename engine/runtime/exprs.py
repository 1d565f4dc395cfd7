"""The records service's use of the expression language, in one place.

The language itself (parser, checker, SQL compiler, Python evaluator) lives
in `engine.metadata.expressions`; this module only says how records use it:

- `sql(entity, actor, params, visible=...)`: a compiler for one SELECT,
  compiling formulas and rollups (`compile_field`), filters
  (`compile_condition`) and the joins they need (`from_clause`). Read paths
  pass `visible=permissions.visible_rows(actor)` (RecordQuery does): link
  paths and rollups then reach only rows the user may read. Without it the
  compiler sees every row, as business rules must (link filters on save);
- `evaluate(conn, entity, text, record, actor, old=...)`: one record in
  Python (defaults, validation rules, stage requirements, approval and
  alert conditions), linked records read through `conn`. A business rule
  holds whoever saves: its links and rollups see every row, not just the
  ones the saving user may read (docs/records.md, "Permissions");
- `referenced_fields`, `params_of`: what an expression reads, so a save
  re-checks only what a change can affect;
- `refuse_hidden`: a filter may not read a field hidden from the user (it
  would leak the value through what it matches).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from sqlalchemy import Connection, select, true
from sqlalchemy.sql.elements import ColumnElement

from ..metadata import model as m
from ..metadata.expressions import BOOL, ExpressionError, parse, register_sqlite_functions, resolve_path
from ..metadata.expressions.nodes import Param, Path, walk
from ..metadata.expressions.paths import USERS
from ..metadata.expressions.sql import Visible
from .actor import Actor
from .db import SQLITE_FUNCTION_HOOKS
from .tables import Tables

CONTEXT_ROOTS = frozenset({"current_user", "old"})

# SQLite connections need the expression language's helper functions (time zones, rounding).
if register_sqlite_functions not in SQLITE_FUNCTION_HOOKS:
    SQLITE_FUNCTION_HOOKS.append(register_sqlite_functions)


class RecordExpressions:
    """Expressions as the records service needs them, for one configuration."""

    def __init__(self, config: m.Config, tables: Tables, clock: Callable[[], dt.datetime]):
        self.config = config
        self.tables = tables
        self.clock = clock

    # -- analysis ---------------------------------------------------------------------------
    def referenced_fields(self, text: str) -> set[str]:
        """First names of every path the expression reads (`product.list_price` -> {'product'})."""
        try:
            tree = parse(text)
        except ExpressionError:
            return set()
        return {n.parts[0] for n in walk(tree) if isinstance(n, Path) and n.parts[0] not in CONTEXT_ROOTS}

    def params_of(self, text: str) -> set[str]:
        """The `$names` of an expression (`account == $account` -> {'account'})."""
        try:
            tree = parse(text)
        except ExpressionError:
            return set()
        return {n.name for n in walk(tree) if isinstance(n, Param)}

    def refuse_hidden(self, entity: str, text: str, hidden_of: Callable[[str], frozenset[str]],
                      problems: dict[str, list[str]], key: str) -> None:
        """Adds a problem when the expression reads a field hidden from the user, on any hop of a path."""
        try:
            tree = parse(text)
        except ExpressionError as exc:
            problems.setdefault(key, []).append(exc.message)
            return
        for node in walk(tree):
            if not isinstance(node, Path) or node.parts[0] in CONTEXT_ROOTS:
                continue
            try:
                resolved = resolve_path(self.config, entity, node.parts)
            except ExpressionError as exc:
                problems.setdefault(key, []).append(exc.message)
                continue
            steps = [(hop.source, hop.field) for hop in resolved.hops] + [(resolved.table, resolved.name)]
            for source, name in steps:
                if source != USERS and name in hidden_of(source):
                    problems.setdefault(key, []).append(f"'{node.text}' is not a field you can filter on")
                    break

    # -- SQL -----------------------------------------------------------------------------------
    def sql(self, entity: str, actor: Actor, params: Mapping[str, Any] | None = None, *,
            visible: Visible | None = None) -> "SqlExpressions":
        """`visible`: the reader's row filter for linked and child rows (None: every row)."""
        return SqlExpressions(self, entity, actor, dict(params or {}), visible)

    # -- Python ----------------------------------------------------------------------------------
    def evaluate(self, conn: Connection, entity: str, text: str, record: Mapping[str, Any], actor: Actor,
                 *, old: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
                 visible: Visible | None = None) -> Any:
        """The value of `text` on one record (SQL NULL semantics; links read through `conn`).

        A business rule reads every row. A value computed to be shown to the user
        (a form's line totals) passes `visible=permissions.visible_rows(actor)`:
        a linked record the user may not read is then missing, and rollups count
        only readable child rows, as in lists.
        """
        from ..metadata.expressions import EvalEnv, evaluate
        env = EvalEnv(self.config, entity, dict(record), load=_Loader(conn, self.tables, visible),
                      now=self.clock(), current_user=user_row(actor), old=old, params=dict(params or {}),
                      rollup=lambda ent, field, row: self._rollup(conn, actor, ent, field, row, visible))
        return evaluate(text, env)

    def bound(self, field: m.Field, text: str) -> Any:
        """A `min`/`max` given as an expression (`today()`), evaluated without a record."""
        from ..metadata.expressions import EvalEnv, evaluate
        entity = self._entity_of(field)
        return evaluate(text, EvalEnv(self.config, entity, {}, now=self.clock()))

    def _entity_of(self, field: m.Field) -> str:
        for ent in self.config.entities.values():
            if ent.fields.get(field.name) is field:
                return ent.name
        return next(iter(self.config.entities))

    def _rollup(self, conn: Connection, actor: Actor, entity: str, field: m.Field, row: Mapping[str, Any],
                visible: Visible | None = None) -> Any:
        """A rollup of a saved record, computed by the database over every child row (a rule
        evaluated for a save is the same whoever saves) unless `visible` limits them; None
        before the first save."""
        if row.get("id") is None:
            return None
        table = self.tables.entity(entity)
        sql = self.sql(entity, actor, visible=visible)
        query = select(sql.compile_field(field)).select_from(sql.from_clause()).where(table.c.id == row["id"])
        return conn.execute(query).scalar()


def user_row(actor: Actor) -> dict[str, Any] | None:
    """The acting user as the evaluator's `current_user` (a crm_users row)."""
    if actor.id is None:
        return None
    return {"id": actor.id, "username": actor.username, "full_name": actor.full_name, "email": actor.email,
            "team": actor.team, "locale": actor.locale, "active": True, "phone": None}


class SqlExpressions:
    """Compiles the expressions of one SELECT over one entity; joins accumulate in `from_clause`.

    The compiler is made on first use: a plain list with no formula, rollup or
    filter is a SELECT from the entity's table alone.
    """

    def __init__(self, owner: RecordExpressions, entity: str, actor: Actor, params: dict[str, Any],
                 visible: Visible | None = None):
        self.owner = owner
        self.entity = entity
        self.actor = actor
        self.params = params
        self.visible = visible
        self._compiler: Any = None

    @property
    def compiler(self) -> Any:
        if self._compiler is None:
            from ..metadata.expressions import SqlCompiler
            self._compiler = SqlCompiler(self.owner.config, self.entity, self.owner.tables,
                                         current_user=user_row(self.actor), params=self.params,
                                         now=self.owner.clock(), visible=self.visible)
        return self._compiler

    def compile_field(self, field: m.Field) -> ColumnElement[Any]:
        """A formula or rollup as a column expression (rollups become correlated subqueries)."""
        return self.compiler.compile(field.name)

    def compile_condition(self, text: str, problems: dict[str, list[str]], key: str) -> ColumnElement[bool]:
        try:
            return self.compiler.compile(text, expected=BOOL)
        except ExpressionError as exc:
            problems.setdefault(key, []).append(exc.message)
            return true()

    def from_clause(self) -> Any:
        if self._compiler is None:
            return self.owner.tables.entity(self.entity)
        return self.compiler.from_clause()


class _Loader:
    """Reads one linked row (an entity's or crm_users') for the evaluator; None when missing
    (or, with `visible`, when the reader may not read it)."""

    def __init__(self, conn: Connection, tables: Tables, visible: Visible | None = None):
        self.conn = conn
        self.tables = tables
        self.visible = visible

    def __call__(self, table_name: str, record_id: int) -> dict[str, Any] | None:
        table = self.tables(table_name)
        query = select(table).where(table.c.id == record_id)
        seen = self.visible(table_name, table) if self.visible is not None else None
        if seen is not None:
            query = query.where(seen)
        row = self.conn.execute(query).mappings().first()
        return dict(row) if row is not None else None
