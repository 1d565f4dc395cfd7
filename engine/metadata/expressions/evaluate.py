"""The Python back end: an expression evaluated on one record.

    env = EvalEnv(config, "deal", record={"amount": Decimal("100"), "account": 7},
                  load=lambda table, id: rows[table][id], now=clock())
    evaluate("amount * 2 if account.industry == 'it' else 0", env)

It gives what the SQL back end gives for the same row: SQL's null rules
(null compared is unknown, `and`/`or` three-valued, `== null` is IS NULL),
division by zero is null, decimals are Decimal, dates follow the company's
timezone. An expression is analysed and turned into a tree of closures once
(cached), then run per record.

Links are followed with `load(entity_or_"crm_users", id) -> row | None`
(a link value that is already a row mapping is used as is). Formula fields
are computed from their `expr`, never read from the record. Rollups call
`rollup(entity, field, row)`; without it the row's own value is used.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping

from ..model import Config, Field
from . import values
from .check import Analysis, CheckContext, analyse
from .functions import FUNCTIONS, METHODS, TEXT_TESTS, Function
from .nodes import (Aggregate, BinOp, BoolOp, Call, Compare, ExpressionError, Expr, IfElse, ListLit,
                    Literal, MethodCall, Not, Param, Path, Unary, walk)
from .paths import Resolved, resolve_path
from .periods import resolve_period
from .types import DATETIME, Type, type_of_value

Program = Callable[["Run", Mapping[str, Any]], Any]


@dataclass(slots=True)
class EvalEnv:
    """Everything one evaluation may see."""

    config: Config
    entity: str
    record: Mapping[str, Any]
    load: Callable[[str, int], Mapping[str, Any] | None] | None = None
    now: dt.datetime | None = None                     # aware; None reads the real clock
    current_user: Mapping[str, Any] | None = None      # a crm_users row
    old: Mapping[str, Any] | None = None               # the record before this change (None on create)
    params: Mapping[str, Any] = field(default_factory=dict)
    param_types: Mapping[str, Type] | None = None      # declared types; else taken from the values
    rollup: Callable[[str, Field, Mapping[str, Any]], Any] | None = None
    drop_null_params: bool = False                     # a comparison naming a null $param is true


def evaluate(expr: str | Expr, env: EvalEnv) -> Any:
    """The value of `expr` for `env.record`; raises ExpressionError if the expression is invalid."""
    param_types = env.param_types if env.param_types is not None else {
        name: type_of_value(value) for name, value in env.params.items()}
    program = _program(env.config, env.entity, expr, tuple(sorted(param_types.items())))
    return program(Run(env), env.record)


def holds(expr: str | Expr, env: EvalEnv) -> bool:
    """A condition (`when`, `rule`, `filter`): null counts as false."""
    return evaluate(expr, env) is True


def compile_program(config: Config, entity: str, expr: str | Expr,
                    param_types: Mapping[str, Type] | None = None) -> Program:
    """An expression turned into a closure once, for batches: `program(Run(env), record)`.

    `evaluate` does exactly this per call (both are cached); a batch may share
    one `Run` across rows so the clock is read once and linked rows load once.
    """
    return _program(config, entity, expr, tuple(sorted((param_types or {}).items())))


class Run:
    """One evaluation: the clock read once, rows loaded once, formulas guarded against cycles."""

    __slots__ = ("env", "now", "today", "tz", "rows", "active")

    def __init__(self, env: EvalEnv):
        self.env = env
        self.tz = env.config.company.timezone
        self.now = values.aware(env.now or dt.datetime.now(values.UTC))
        self.today = values.local_date(self.now, self.tz)
        self.rows: dict[tuple[str, int], Mapping[str, Any] | None] = {}
        self.active: set[tuple[str, str, int]] = set()

    def follow(self, table: str, ref: Any) -> Mapping[str, Any] | None:
        """The row a link points at (a link given as a row mapping is that row)."""
        if isinstance(ref, Mapping):
            return ref
        key = (table, int(ref))
        if key not in self.rows:
            if self.env.load is None:
                raise ValueError(f"following a link to {table} needs EvalEnv.load")
            self.rows[key] = self.env.load(table, key[1])
        return self.rows[key]


_Run = Run       # the name engine/runtime/import_batch.py imports


@lru_cache(maxsize=4096)
def _program(config: Config, entity: str, expr: str | Expr, params: tuple[tuple[str, Type], ...],
             allow_old: bool = True) -> Program:
    analysis = analyse(expr, CheckContext(config, entity, params=dict(params), allow_old=allow_old))
    analysis.raise_first()
    return _Builder(config, entity, analysis).build(analysis.expr)


@lru_cache(maxsize=4096)
def _formula(config: Config, entity: str, name: str) -> Program:
    f = config.entities[entity].fields[name]
    analysis = analyse(f.expr or "null", CheckContext(config, entity))
    analysis.raise_first()
    program = _Builder(config, entity, analysis).build(analysis.expr)
    key_name = name

    def run_formula(run: Run, row: Mapping[str, Any]) -> Any:
        key = (entity, key_name, id(row))
        if key in run.active:
            raise ExpressionError("CRM-E210", f"formula {entity}.{key_name} depends on itself")
        run.active.add(key)
        try:
            return program(run, row)
        finally:
            run.active.discard(key)
    return run_formula


class _Builder:
    """Syntax tree -> closures `(run, row) -> value`."""

    def __init__(self, config: Config, entity: str, analysis: Analysis):
        self.config, self.entity, self.analysis = config, entity, analysis

    def build(self, node: Expr) -> Program:
        return getattr(self, "_" + type(node).__name__)(node)

    def type(self, node: Expr) -> Type:
        return self.analysis.type_of(node)

    def _Literal(self, node: Literal) -> Program:
        value = node.value
        return lambda run, row: value

    def _ListLit(self, node: ListLit) -> Program:
        items = [self.build(i) for i in node.items]
        return lambda run, row: [item(run, row) for item in items]

    def _Param(self, node: Param) -> Program:
        name, kind = node.name, self.type(node).kind
        return lambda run, row: values.normalise(values.ref_id(run.env.params.get(name)), kind)

    def _Path(self, node: Path) -> Program:
        parts = node.parts
        if parts[0] == "current_user":
            if len(parts) == 1:
                return lambda run, row: values.ref_id(run.env.current_user)
            attr, kind = parts[1], self.type(node).kind
            return lambda run, row: values.normalise((run.env.current_user or {}).get(attr), kind)
        reader = self._reader(self.analysis.paths[id(node)])
        if parts[0] == "old":
            return lambda run, row: None if run.env.old is None else reader(run, run.env.old)
        return reader

    def _reader(self, resolved: Resolved) -> Program:
        value = _column_reader(self.config, resolved)
        hops = resolved.hops
        if not hops:
            return value

        def read(run: Run, row: Mapping[str, Any]) -> Any:
            current: Mapping[str, Any] | None = row
            for hop in hops:
                ref = current.get(hop.field)
                if ref is None:
                    return None
                current = run.follow(hop.target, ref)
                if current is None:
                    return None
            return value(run, current)
        return read

    def _Unary(self, node: Unary) -> Program:
        operand = self.build(node.operand)
        if node.op == "+":
            return operand
        return lambda run, row: None if (v := operand(run, row)) is None else -v

    def _BinOp(self, node: BinOp) -> Program:
        left, right = self.build(node.left), self.build(node.right)
        op, lt, rt = node.op, self.type(node.left).kind, self.type(node.right).kind
        compute = _arithmetic(op, lt, rt)

        def binop(run: Run, row: Mapping[str, Any]) -> Any:
            a, b = left(run, row), right(run, row)
            return None if a is None or b is None else compute(run, a, b)
        return binop

    def _Compare(self, node: Compare) -> Program:
        test = self._comparison(node)
        return self._droppable(node, test)

    def _comparison(self, node: Compare) -> Program:
        op = node.op
        if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
            other = self.build(node.right if _is_null(node.left) else node.left)
            if op == "==":
                return lambda run, row: other(run, row) is None
            return lambda run, row: other(run, row) is not None
        left, right = self._promoted(node.left, node.right)
        if op in ("in", "not in"):
            test = self._membership(node, left, right)
            if op == "not in":
                return lambda run, row: values.not3(test(run, row))
            return test
        compare = _COMPARE[op]

        def comparison(run: Run, row: Mapping[str, Any]) -> Any:
            a, b = left(run, row), right(run, row)
            return None if a is None or b is None else compare(a, b)
        return comparison

    def _membership(self, node: Compare, left: Program, right: Program) -> Program:
        kind = self.type(node.right).kind
        if isinstance(node.right, (ListLit, Param)) and kind == "list":
            def in_values(run: Run, row: Mapping[str, Any]) -> Any:
                items = right(run, row)
                return None if items is None else values.in3(left(run, row), list(items))
            return in_values
        if kind == "period":
            as_datetime = self.type(node.left).kind == "datetime"

            def in_period(run: Run, row: Mapping[str, Any]) -> Any:
                x, spec = left(run, row), right(run, row)
                if x is None or spec is None:
                    return None
                start, end = resolve_period(spec, run.today, run.env.config.company)
                if as_datetime:
                    start = start and values.local_midnight(start, run.tz)
                    end = end and values.local_midnight(end, run.tz)
                return values.and3([start is None or x >= start, end is None or x < end])
            return in_period

        def in_list(run: Run, row: Mapping[str, Any]) -> Any:
            x, items = left(run, row), values.as_list(right(run, row))
            return None if x is None or items is None else x in items
        return in_list

    def _promoted(self, *nodes: Expr) -> list[Program]:
        """Programs for values compared or merged: a date next to a datetime becomes local midnight."""
        kinds = {self.type(n).kind for n in nodes}
        programs = [self.build(n) for n in nodes]
        if {"date", "datetime"} <= kinds:
            return [_to_datetime(p) if self.type(n).kind == "date" else p for n, p in zip(nodes, programs)]
        return programs

    def _droppable(self, node: Expr, test: Program) -> Program:
        """With `drop_null_params`, a comparison naming a null parameter is true."""
        names = {n.name for n in walk(node) if isinstance(n, Param)}
        if not names:
            return test

        def maybe_dropped(run: Run, row: Mapping[str, Any]) -> Any:
            if run.env.drop_null_params and any(run.env.params.get(n) is None for n in names):
                return True
            return test(run, row)
        return maybe_dropped

    def _BoolOp(self, node: BoolOp) -> Program:
        parts = [self.build(v) for v in node.values]
        if node.op == "and":
            def all_of(run: Run, row: Mapping[str, Any]) -> Any:
                unknown = False
                for part in parts:
                    v = part(run, row)
                    if v is False:
                        return False
                    unknown = unknown or v is None
                return None if unknown else True
            return all_of

        def any_of(run: Run, row: Mapping[str, Any]) -> Any:
            unknown = False
            for part in parts:
                v = part(run, row)
                if v is True:
                    return True
                unknown = unknown or v is None
            return None if unknown else False
        return any_of

    def _Not(self, node: Not) -> Program:
        operand = self.build(node.operand)
        return lambda run, row: values.not3(operand(run, row))

    def _IfElse(self, node: IfElse) -> Program:
        cond = self.build(node.cond)
        then, otherwise = self._promoted(node.then, node.otherwise)
        return lambda run, row: then(run, row) if cond(run, row) is True else otherwise(run, row)

    def _Call(self, node: Call) -> Program:
        if node.name == "changed":
            return self._changed(node.args[0].value)  # type: ignore[union-attr]
        return self._apply(FUNCTIONS[node.name], list(node.args), node)

    def _MethodCall(self, node: MethodCall) -> Program:
        program = self._apply(METHODS[node.name], [node.receiver, *node.args], node)
        return self._droppable(node, program) if node.name in TEXT_TESTS else program

    def _apply(self, fn: Function, args: list[Expr], node: Expr) -> Program:
        promote = fn.promote and self.type(node) == DATETIME
        programs = self._promoted(*args) if promote else [self.build(a) for a in args]
        types = [self.type(a) for a in args]
        python, nulls = fn.python, fn.nulls

        def call(run: Run, row: Mapping[str, Any]) -> Any:
            got = [p(run, row) for p in programs]
            if not nulls and any(v is None for v in got):
                return None
            return python(run, got, types)
        return call

    def _changed(self, name: str) -> Program:
        reader = _column_reader(self.config, resolve_path(self.config, self.entity, (name,)))

        def changed(run: Run, row: Mapping[str, Any]) -> bool:
            now = reader(run, row)
            if run.env.old is None:
                return now is not None
            return now != reader(run, run.env.old)
        return changed

    def _Aggregate(self, node: Aggregate) -> Program:
        raise ExpressionError("CRM-E305", f"{node.name}() cannot be evaluated on one record", node.offset)


def _is_null(node: Expr) -> bool:
    return isinstance(node, Literal) and node.value is None


def _to_datetime(program: Program) -> Program:
    def promoted(run: Run, row: Mapping[str, Any]) -> Any:
        v = program(run, row)
        return None if v is None else values.local_midnight(v, run.tz)
    return promoted


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _arithmetic(op: str, left: str, right: str) -> Callable[[Run, Any, Any], Any]:
    """The Python operation for `op` on non-null operands of these type kinds."""
    if op in "+-" and (left == "days" or right == "days"):
        sign = 1 if op == "+" else -1
        if left == "days":
            return lambda run, a, b: values.add_days(b, a, run.tz)
        return lambda run, a, b: values.add_days(a, sign * b, run.tz)
    if op == "-" and left == right == "date":
        return lambda run, a, b: (a - b).days
    if op == "/":
        return lambda run, a, b: None if b == 0 else Decimal(a) / Decimal(b)
    if op == "%":
        return lambda run, a, b: None if b == 0 else values.sql_mod(a, b)
    if op == "+":
        return lambda run, a, b: a + b
    if op == "-":
        return lambda run, a, b: a - b
    return lambda run, a, b: a * b


def _column_reader(config: Config, resolved: Resolved) -> Program:
    """Read the final value of a path from the row that holds it, normalised to its type."""
    name, f, table = resolved.name, resolved.field, resolved.table
    if f is not None and f.type == "formula":
        return lambda run, row: _formula(config, table, name)(run, row)
    if f is not None and f.type == "rollup":
        def rollup(run: Run, row: Mapping[str, Any]) -> Any:
            if run.env.rollup is None:
                return values.normalise(row.get(name), resolved.type.kind)
            return values.normalise(run.env.rollup(table, f, row), resolved.type.kind)
        return rollup
    if resolved.attribute:
        return _stage_reader(config, resolved)
    kind = resolved.type.kind
    return lambda run, row: values.normalise(row.get(name), kind)


def _stage_reader(config: Config, resolved: Resolved) -> Program:
    pipeline = config.pipelines.get(resolved.field.pipeline or "") if resolved.field else None
    stages = pipeline.stages if pipeline else ()
    name, attribute = resolved.name, resolved.attribute
    if attribute == "probability":
        chances = {s.key: s.probability for s in stages}
        return lambda run, row: None if row.get(name) is None else chances.get(row.get(name))
    keys = {s.key for s in stages if {"open": s.closed is None, "won": s.closed == "won",
                                       "lost": s.closed == "lost", "closed": s.closed is not None}[attribute]}
    return lambda run, row: None if row.get(name) is None else row.get(name) in keys
