"""The SQL back end: an expression compiled to SQLAlchemy Core, for many rows at once.

    compiler = SqlCompiler(config, "deal", tables, params={"owner": 3}, now=clock())
    where = compiler.compile("stage.open and account.industry == 'it'")
    total = compiler.compile("sum(amount)")
    rows = conn.execute(select(total).select_from(compiler.from_clause()).where(where))

Storage conventions it relies on: one table per entity named like it, one
column per stored field, system columns, link and user columns holding ids,
`crm_users` for users, multichoice values as JSON array text (see
docs/expressions.md). Formula fields are compiled inline from their `expr`;
rollups become correlated scalar subqueries. Each link path becomes one LEFT
OUTER JOIN on an alias, shared by every expression compiled with the same
compiler, so `from_clause()` is the root table joined to what was used.

`visible(entity, alias)` (optional) says which rows of an entity the reader
may see: its clause is part of every such JOIN's ON (a row the reader may not
see joins as NULL, so no path reads its values) and of every rollup's WHERE
(a rollup aggregates only the child rows the reader may see). Read paths pass
the acting user's row filter (`Permissions.visible_rows`); business rules
evaluated for a save compile without it and see every row.

The result is dialect-neutral: the parts that differ between PostgreSQL and
SQLite are constructs from `sqlparts.py` (SQLite connections need
`register_sqlite_functions`). `today()` and `now()` are bound parameters
taken from the injected clock. `old` and `changed()` exist only for one
record and are refused here.
"""
from __future__ import annotations

import datetime as dt
import itertools
import operator
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import sqlalchemy as sa
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Grouping
from sqlalchemy.sql.expression import FromClause

from ..model import Config, Field
from . import sqlparts, values
from .check import Analysis, CheckContext, analyse
from .functions import FUNCTIONS, METHODS, TEXT_TESTS, Function
from .nodes import (Aggregate, BinOp, BoolOp, Call, Compare, ExpressionError, Expr, IfElse, ListLit,
                    Literal, MethodCall, Not, Param, Path, Unary, walk)
from .paths import USERS, Resolved, rollup_source
from .periods import resolve_period
from .types import BOOL, DATETIME, Type, type_of_value

Tables = Callable[[str], sa.Table]
Visible = Callable[[str, FromClause], "ColumnElement[bool] | None"]
"""(entity, table or alias holding its rows) -> the rows the reader may see; None: all of them."""


def sql_type(t: Type) -> sa.types.TypeEngine:
    """The SQLAlchemy type results of this expression type come back as."""
    return {
        "int": sa.BigInteger(), "decimal": sa.Numeric(), "text": sa.String(), "stage": sa.String(),
        "bool": sa.Boolean(), "date": sa.Date(), "datetime": sa.DateTime(timezone=True),
        "record": sa.Integer(), "user": sa.Integer(), "days": sa.Integer(), "list": sa.Text(),
    }.get(t.kind, sa.types.NULLTYPE)


class _Base(NamedTuple):
    """Where names are looked up: an entity, the table or alias holding its row, and the link path to it."""

    entity: str
    selectable: FromClause
    prefix: tuple[str, ...]


class SqlCompiler:
    """Compiles expressions over one entity's rows; collects the joins they need."""

    def __init__(self, config: Config, entity: str, tables: Tables, *,
                 params: Mapping[str, Any] | None = None,
                 param_types: Mapping[str, Type] | None = None,
                 current_user: Mapping[str, Any] | None = None,
                 now: dt.datetime | None = None,
                 drop_null_params: bool = False,
                 visible: Visible | None = None,
                 _root: FromClause | None = None,
                 _names: Iterator[int] | None = None,
                 _stack: tuple[tuple[str, str], ...] = ()):
        self.config, self.entity, self.tables = config, entity, tables
        self.params = dict(params or {})
        self.param_types = dict(param_types) if param_types is not None else {
            name: type_of_value(value) for name, value in self.params.items()}
        self.current_user = current_user
        self.drop_null_params = drop_null_params
        self.visible = visible
        self.tz = config.company.timezone
        self.clock = values.aware(now or dt.datetime.now(values.UTC)).astimezone(values.UTC)
        self.today_value = values.local_date(self.clock, self.tz)
        self.now = sa.literal(self.clock, sa.DateTime(timezone=True))
        self.today = sa.literal(self.today_value, sa.Date())
        self.root = _root if _root is not None else tables(entity)
        self._names = _names or itertools.count(1)
        self._stack = _stack
        self._aliases: dict[tuple[str, ...], FromClause] = {}
        self._joins: list[tuple[FromClause, ColumnElement]] = []

    # public API -------------------------------------------------------------
    def compile(self, expr: str | Expr, *, expected: Type | None = None) -> ColumnElement:
        """One expression as a column expression; raises ExpressionError when it is invalid."""
        analysis = self._analyse(self.entity, expr, expected)
        return self._typed(self._compile(analysis, _Base(self.entity, self.root, ())), analysis.type)

    def from_clause(self) -> FromClause:
        """The root table with a LEFT OUTER JOIN for every link path compiled so far."""
        joined: FromClause = self.root
        for alias, on in self._joins:
            joined = joined.outerjoin(alias, on)
        return joined

    def select(self, *columns: Any) -> sa.Select:
        """`SELECT columns FROM from_clause()`."""
        return sa.select(*columns).select_from(self.from_clause())

    # analysis ----------------------------------------------------------------
    def _analyse(self, entity: str, expr: str | Expr, expected: Type | None = None,
                 params: bool = True) -> Analysis:
        ctx = CheckContext(self.config, entity, allow_aggregates=True,
                           params=self.param_types if params else {}, expected=expected)
        analysis = analyse(expr, ctx)
        analysis.raise_first()
        return analysis

    @staticmethod
    def _typed(column: ColumnElement, t: Type) -> ColumnElement:
        # Parenthesised: a formula inlined into a larger expression keeps its own precedence.
        grouped = _grouped(column)
        return sa.type_coerce(grouped, sql_type(t)) if t.kind not in ("null", "any") else grouped

    def _compile(self, analysis: Analysis, base: _Base) -> ColumnElement:
        return _Visit(self, analysis, base).visit(analysis.expr)

    # paths -------------------------------------------------------------------
    def _path(self, resolved: Resolved, base: _Base) -> ColumnElement:
        selectable, prefix = base.selectable, base.prefix
        for hop in resolved.hops:
            prefix = prefix + (hop.field,)
            selectable = self._join(prefix, selectable, hop.field, hop.target)
        return self._final(resolved, _Base(resolved.table, selectable, prefix))

    def _join(self, prefix: tuple[str, ...], parent: FromClause, field: str, target: str) -> FromClause:
        alias = self._aliases.get(prefix)
        if alias is None:
            alias = self.tables(target).alias(f"_j{next(self._names)}")
            self._aliases[prefix] = alias
            on = parent.c[field] == alias.c.id
            seen = self._visible(target, alias)
            self._joins.append((alias, on if seen is None else sa.and_(on, seen)))
        return alias

    def _visible(self, entity: str, selectable: FromClause) -> ColumnElement | None:
        """The reader's row filter on `entity` (users are not filtered: every user may be named)."""
        if self.visible is None or entity == USERS:
            return None
        return self.visible(entity, selectable)

    def _final(self, resolved: Resolved, base: _Base) -> ColumnElement:
        f = resolved.field
        if f is not None and f.type == "formula":
            return self._formula(f, base, resolved.type)
        if f is not None and f.type == "rollup":
            return self._rollup(f, base, resolved.type)
        try:
            column = base.selectable.c[resolved.name]
        except KeyError:
            raise ExpressionError("CRM-E301", f"table {resolved.table} has no column '{resolved.name}'") from None
        if resolved.attribute:
            return self._stage_attribute(f, column, resolved.attribute)
        return column

    def _enter(self, base: _Base, f: Field) -> tuple[tuple[str, str], ...]:
        key = (base.entity, f.name)
        if key in self._stack:
            chain = " -> ".join(f"{e}.{n}" for e, n in (*self._stack, key))
            raise ExpressionError("CRM-E210", f"computed fields depend on each other in a cycle: {chain}")
        return (*self._stack, key)

    def _formula(self, f: Field, base: _Base, t: Type) -> ColumnElement:
        stack = self._enter(base, f)
        analysis = self._analyse(base.entity, f.expr or "null", params=False)
        outer, self._stack = self._stack, stack
        try:
            return self._typed(self._compile(analysis, base), t)
        finally:
            self._stack = outer

    def _rollup(self, f: Field, base: _Base, t: Type) -> ColumnElement:
        child, link = rollup_source(self.config, base.entity, f)
        inner = SqlCompiler(self.config, child, self.tables, current_user=self.current_user,
                            now=self.clock, visible=self.visible,
                            _root=self.tables(child).alias(f"_r{next(self._names)}"),
                            _names=self._names, _stack=self._enter(base, f))
        analysis = inner._analyse(child, f.expr or "count()")
        if not any(isinstance(n, Aggregate) for n in walk(analysis.expr)):
            raise ExpressionError("CRM-E303", f"rollup {base.entity}.{f.name} must aggregate its rows",
                                  0, "e.g. sum(amount), count(), max(due_on)")
        value = inner.compile(analysis.expr)
        condition = inner.root.c[link] == base.selectable.c.id
        if f.filter:
            condition = sa.and_(condition, inner.compile(f.filter, expected=BOOL))
        seen = inner._visible(child, inner.root)
        if seen is not None:     # only the child rows the reader may see
            condition = sa.and_(condition, seen)
        query = sa.select(value).select_from(inner.from_clause()).where(condition)
        result = query.correlate(base.selectable).scalar_subquery()
        if base.prefix:      # through a link: no linked row, no value (not a count of 0)
            result = sa.case((base.selectable.c.id.is_(None), sa.null()), else_=result)
        return self._typed(result, t)

    def _stage_attribute(self, f: Field | None, column: ColumnElement, attribute: str) -> ColumnElement:
        pipeline = self.config.pipelines.get(f.pipeline or "") if f else None
        stages = pipeline.stages if pipeline else ()
        if attribute == "probability":
            if not stages:
                return sa.null()
            return sa.case({s.key: s.probability for s in stages}, value=column)
        keys = [s.key for s in stages if {"open": s.closed is None, "won": s.closed == "won",
                                          "lost": s.closed == "lost", "closed": s.closed is not None}[attribute]]
        if not keys:
            return sa.case((column.is_(None), sa.null()), else_=sa.false())
        return column.in_(keys)

    # values ------------------------------------------------------------------
    def _param(self, name: str) -> Any:
        value = self.params.get(name)
        return value.get("id") if isinstance(value, Mapping) and "id" in value else value


class _Visit:
    """One walk over one analysed expression, in one base."""

    def __init__(self, compiler: SqlCompiler, analysis: Analysis, base: _Base):
        self.c, self.analysis, self.base = compiler, analysis, base

    def visit(self, node: Expr) -> ColumnElement:
        return getattr(self, "_" + type(node).__name__)(node)

    def type(self, node: Expr) -> Type:
        return self.analysis.type_of(node)

    def _Literal(self, node: Literal) -> ColumnElement:
        return _bound(node.value)

    def _ListLit(self, node: ListLit) -> Any:
        raise ExpressionError("CRM-E304", "a list can only stand after 'in' or 'not in'", node.offset)

    def _Param(self, node: Param) -> ColumnElement:
        return _value(self.c._param(node.name), self.type(node))

    def _Path(self, node: Path) -> ColumnElement:
        parts = node.parts
        if parts[0] == "current_user":
            user = self.c.current_user or {}
            return _value(user.get("id") if len(parts) == 1 else user.get(parts[1]), self.type(node))
        if parts[0] == "old":
            raise ExpressionError("CRM-E306", "'old' is only available on one record, not in SQL", node.offset)
        return self.c._path(self.analysis.paths[id(node)], self.base)

    def _Unary(self, node: Unary) -> ColumnElement:
        operand = self.visit(node.operand)
        if self.type(node.operand).kind in ("null", "any"):
            return sa.null()
        return operand if node.op == "+" else -operand

    def _BinOp(self, node: BinOp) -> ColumnElement:
        op, lt, rt = node.op, self.type(node.left).kind, self.type(node.right).kind
        a, b = self.visit(node.left), self.visit(node.right)
        if "null" in (lt, rt):
            return sa.null()
        if "days" in (lt, rt):
            day, n = (b, a) if lt == "days" else (a, b)
            temporal = rt if lt == "days" else lt
            n = n if op == "+" else -n
            if temporal == "datetime":
                return sqlparts.add_days_local(day, n, sa.literal(self.c.tz))
            return sqlparts.add_days(day, n)
        if op == "-" and lt == rt == "date":
            return sqlparts.days_between(a, b)
        if op == "+" and self.type(node).kind == "text":
            return a.op("||")(b)
        if op == "/":
            return sqlparts.divide(a, b)
        if op == "%":
            return a % sa.func.nullif(b, 0)
        if lt == rt == "int":
            a = sa.cast(a, sa.BigInteger)    # PostgreSQL's integer columns overflow at 2**31
        return _OPERATORS[op](a, b)

    def _Compare(self, node: Compare) -> ColumnElement:
        if self._dropped(node):
            return sa.true()
        op = node.op
        if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
            if _is_null(node.left) and _is_null(node.right):
                return sa.true() if op == "==" else sa.false()
            other = _grouped(self.visit(node.right if _is_null(node.left) else node.left))
            return Grouping(other.is_(None) if op == "==" else other.is_not(None))
        if op in ("in", "not in"):
            test = _grouped(self._membership(node))
            return Grouping(sa.not_(test)) if op == "not in" else test
        if "null" in (self.type(node.left).kind, self.type(node.right).kind):
            return sa.null()          # a null value (not the literal) compared: unknown
        left, right = (_grouped(c) for c in self._promoted(node.left, node.right))
        return _OPERATORS[op](left, right)

    def _membership(self, node: Compare) -> ColumnElement:
        left, kind = _grouped(self.visit(node.left)), self.type(node.right).kind
        if isinstance(node.right, ListLit):
            return left.in_([self.visit(i) for i in node.right.items])
        if isinstance(node.right, Param) and kind in ("list", "period", "null"):
            value = self.c._param(node.right.name)
            if value is None:
                return sa.null()
            if kind == "list":
                return left.in_(list(value))
            start, end = resolve_period(value, self.c.today_value, self.c.config.company)
            bounds = []
            as_datetime = self.type(node.left).kind == "datetime"
            for day, test in ((start, lambda b: left >= b), (end, lambda b: left < b)):
                if day is not None:
                    bound = values.local_midnight(day, self.c.tz) if as_datetime else day
                    bounds.append(test(_bound(bound, sa.DateTime(timezone=True) if as_datetime else sa.Date())))
            return sa.and_(*bounds) if bounds else sa.case((left.is_(None), sa.null()), else_=sa.true())
        return sqlparts.json_has(self.visit(node.right), left)

    def _dropped(self, node: Expr) -> bool:
        return self.c.drop_null_params and any(
            isinstance(n, Param) and self.c._param(n.name) is None for n in walk(node))

    def _promoted(self, *nodes: Expr) -> list[ColumnElement]:
        kinds = {self.type(n).kind for n in nodes}
        columns = [self.visit(n) for n in nodes]
        if {"date", "datetime"} <= kinds:
            tz = sa.literal(self.c.tz)
            return [sqlparts.local_midnight(col, tz) if self.type(n).kind == "date" else col
                    for n, col in zip(nodes, columns)]
        return columns

    def _BoolOp(self, node: BoolOp) -> ColumnElement:
        parts = [_grouped(self.visit(v)) for v in node.values]
        return Grouping(sa.and_(*parts) if node.op == "and" else sa.or_(*parts))

    def _Not(self, node: Not) -> ColumnElement:
        return Grouping(sa.not_(_grouped(self.visit(node.operand))))

    def _IfElse(self, node: IfElse) -> ColumnElement:
        then, otherwise = self._promoted(node.then, node.otherwise)
        return sa.case((self.visit(node.cond), then), else_=otherwise)

    def _Call(self, node: Call) -> ColumnElement:
        if node.name == "changed":
            raise ExpressionError("CRM-E306", "changed() is only available on one record, not in SQL", node.offset)
        return self._apply(FUNCTIONS[node.name], list(node.args), node)

    def _MethodCall(self, node: MethodCall) -> ColumnElement:
        if node.name in TEXT_TESTS and self._dropped(node):
            return sa.true()
        return self._apply(METHODS[node.name], [node.receiver, *node.args], node)

    def _apply(self, fn: Function, args: list[Expr], node: Expr) -> ColumnElement:
        promote = fn.promote and self.type(node) == DATETIME
        columns = self._promoted(*args) if promote else [self.visit(a) for a in args]
        return fn.sql(self.c, columns, [self.type(a) for a in args])

    def _Aggregate(self, node: Aggregate) -> ColumnElement:
        if node.arg is None:
            return sa.func.count()
        arg = self.visit(node.arg)
        if node.name == "count":
            if self.type(node.arg).kind == "bool":
                return sa.func.count(sa.case((arg, 1)))
            return sa.func.count(arg)
        return getattr(sa.func, node.name)(arg)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _grouped(column: ColumnElement) -> ColumnElement:
    """In parentheses unless it is a single column or value (SQLAlchemy's own precedence
    rules do not see through type_coerce and NOT)."""
    if isinstance(column, (sa.ColumnClause, BindParameter, Grouping, sa.sql.elements.Null,
                           sa.sql.elements.True_, sa.sql.elements.False_)):
        return column
    return Grouping(column)


def _is_null(node: Expr) -> bool:
    return isinstance(node, Literal) and node.value is None


def _value(value: Any, t: Type) -> ColumnElement:
    """A value known at compile time (parameter, current user): a bound parameter even when null.

    A null value is not the `null` literal: `x == $p` with a null `$p` is unknown, not IS NULL.
    """
    if value is None and t.kind not in ("null", "any"):
        return sa.literal(None, sql_type(t))
    return _bound(value, sql_type(t))


def _bound(value: Any, type_: sa.types.TypeEngine | None = None) -> ColumnElement:
    """A constant as a bound parameter (never inlined into the SQL text)."""
    if value is None:
        return sa.null()
    if value is True or value is False:
        return sa.true() if value else sa.false()
    if type_ is None or isinstance(type_, sa.types.NullType):
        type_ = sql_type(type_of_value(value))
    if isinstance(value, dt.datetime):
        value = values.aware(value).astimezone(values.UTC)
    return sa.literal(value, type_)
