"""A checked expression turned into Python closures, once, then run on many records.

    program = build(config, "deal", analysis)      # analysis: check.analyse(...), without errors
    program(run, record)                           # run: evaluate.Run (clock, loaded rows, callbacks)

Only the validated syntax tree is read (never the text, never Python's
eval): every node becomes a small closure `(run, row) -> value`. Whatever does
not depend on the record is done here, once, so a row costs as few Python
calls as the semantics allow:

- a constant part (`1 - 0.25`, `days(7)`, `[1, 2]`) is computed when the
  program is built (a part that cannot be computed, e.g. `round(1, 99999)`,
  is left to fail per record as before);
- a field of the record is one `row.get(name)`, converted with
  `values.normalise` only when the value is not already in the evaluator's
  form (a float or a text date read from SQLite);
- operators with a constant or a field operand are fused into one closure;
  comparisons are `operator` functions;
- a formula field that cannot reach itself is compiled into its reader (a
  formula in a dependency cycle keeps the per-call guard that reports
  CRM-E210); one the expression reads twice (`net == null or net >= 0`) is
  computed once per evaluation;
- `x.date()` remembers its last datetime (an import's `created_at` is the
  same instant for a whole chunk).

The results are those of `values` (SQL's null rules, Decimal arithmetic,
company timezone); tests/expressions compares them with the SQL back end.
"""
from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping

from ..model import Config
from . import values
from .check import Analysis, CheckContext, analyse
from .functions import FUNCTIONS, METHODS, TEXT_TESTS, Function
from .nodes import (Aggregate, BinOp, BoolOp, Call, Compare, ExpressionError, Expr, IfElse, ListLit,
                    Literal, MethodCall, Not, Param, Path, Unary, children, walk)
from .paths import Resolved, resolve_path
from .periods import resolve_period
from .types import DATETIME, Type

Program = Callable[[Any, Mapping[str, Any]], Any]

_normalise = values.normalise
_DATE = dt.date
# Kinds `values.normalise` converts; others (text, stage, ...) are returned as they are.
_CONVERTED = frozenset({"decimal", "int", "bool", "date", "datetime", "record", "user", "list"})
# Values of these exact types are already in the evaluator's form for the kind (normalise returns them
# unchanged), so the call is skipped; any other value still goes through normalise.
_READY: dict[str, frozenset[type]] = {
    "decimal": frozenset({int, Decimal}), "int": frozenset({int}), "bool": frozenset({bool}),
    "date": frozenset({dt.date}), "record": frozenset({int}), "user": frozenset({int}),
    "list": frozenset({list}), "datetime": frozenset(),
}
_AS_IS = frozenset({str, int, Decimal, bool})

# Calls whose value depends on the moment or the record's history: never computed in advance.
_NOT_CONSTANT = frozenset({"today", "now", "days_until", "days_since", "changed"})
_DATE_METHOD = METHODS["date"]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class _FoldRun:
    """What a constant part may see while it is computed in advance: the timezone only."""

    __slots__ = ("tz",)

    def __init__(self, tz: str):
        self.tz = tz


_NO_ROW: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class _Operand:
    """A built node: its program, plus what lets its parent fuse it (a constant, a plain field)."""

    program: Program
    constant: bool = False
    value: Any = None
    column: tuple[str, str, frozenset[type]] | None = None    # (name, kind, ready types) of a field read


def _constant(value: Any) -> _Operand:
    return _Operand(lambda run, row: value, True, value)


def build(config: Config, entity: str, analysis: Analysis) -> Program:
    """The program of a checked expression (the analysis must have no errors)."""
    builder = _Builder(config, entity, analysis)
    body = builder.build(analysis.expr)  # type: ignore[arg-type]
    if not builder.shared:
        return body

    def with_shared_formulas(run: Any, row: Mapping[str, Any]) -> Any:
        # A formula read more than once (`net == null or net >= 0`) is computed once per evaluation.
        outer, run.formulas = run.formulas, {}
        try:
            return body(run, row)
        finally:
            run.formulas = outer
    return with_shared_formulas


@lru_cache(maxsize=4096)
def formula_program(config: Config, entity: str, name: str) -> Program:
    """A formula field's program, compiled in when it cannot reach itself; else the guarded call."""
    if not _cyclic(config, entity, name, ()):
        try:
            analysis = analyse(config.entities[entity].fields[name].expr or "null", CheckContext(config, entity))
            analysis.raise_first()
            return build(config, entity, analysis)
        except Exception:   # noqa: BLE001 - reported when the formula is read, as the guarded call does
            pass
    return _guarded_formula(config, entity, name)


def _cyclic(config: Config, entity: str, name: str, seen: tuple[tuple[str, str], ...]) -> bool:
    """Whether the formulas `entity.name` reads (through links too) can lead back to one already on the way."""
    key = (entity, name)
    if key in seen:
        return True
    try:
        analysis = analyse(config.entities[entity].fields[name].expr or "null", CheckContext(config, entity))
    except Exception:   # noqa: BLE001 - unknown: take the guarded path
        return True
    if analysis.errors:
        return True
    for resolved in analysis.paths.values():
        f = resolved.field
        if f is not None and f.type == "formula" and resolved.table in config.entities:
            if _cyclic(config, resolved.table, resolved.name, seen + (key,)):
                return True
    return False


@lru_cache(maxsize=4096)
def _formula_body(config: Config, entity: str, name: str) -> Program:
    f = config.entities[entity].fields[name]
    analysis = analyse(f.expr or "null", CheckContext(config, entity))
    analysis.raise_first()
    return build(config, entity, analysis)


def _guarded_formula(config: Config, entity: str, name: str) -> Program:
    """The formula built on first use, and refused (CRM-E210) when it is reached again on the same row."""
    def run_formula(run: Any, row: Mapping[str, Any]) -> Any:
        program = _formula_body(config, entity, name)
        key = (entity, name, id(row))
        if key in run.active:
            raise ExpressionError("CRM-E210", f"formula {entity}.{name} depends on itself")
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
        self.tz = config.company.timezone
        self._pure: dict[int, bool] = {}
        self.repeated = _repeated_formulas(analysis)
        self.shared = False         # whether a repeated formula read was built (needs run.formulas)

    def build(self, node: Expr) -> Program:
        return self.operand(node).program

    def operand(self, node: Expr) -> _Operand:
        built = getattr(self, "_" + type(node).__name__)(node)
        if not isinstance(built, _Operand):
            built = _Operand(built)
        if built.constant or not self.pure(node):
            return built
        try:
            value = built.program(_FoldRun(self.tz), _NO_ROW)
        except Exception:   # noqa: BLE001 - computed per record then, failing there as it always did
            return built
        return built if isinstance(value, list) else _constant(value)

    def pure(self, node: Expr) -> bool:
        """No field, parameter, clock or history: the same value for every record."""
        key = id(node)
        known = self._pure.get(key)
        if known is None:
            if isinstance(node, (Path, Param, Aggregate)):
                known = False
            elif isinstance(node, Call) and node.name in _NOT_CONSTANT:
                known = False
            else:
                known = all(self.pure(c) for c in children(node))
            self._pure[key] = known
        return known

    def type(self, node: Expr) -> Type:
        return self.analysis.type_of(node)

    # -- leaves --------------------------------------------------------------------------------
    def _Literal(self, node: Literal) -> _Operand:
        return _constant(node.value)

    def _ListLit(self, node: ListLit) -> Program:
        items = [self.build(i) for i in node.items]
        return lambda run, row: [item(run, row) for item in items]

    def _Param(self, node: Param) -> Program:
        name, kind = node.name, self.type(node).kind
        return lambda run, row: _normalise(values.ref_id(run.env.params.get(name)), kind)

    def _Path(self, node: Path) -> _Operand | Program:
        parts = node.parts
        if parts[0] == "current_user":
            if len(parts) == 1:
                return lambda run, row: values.ref_id(run.env.current_user)
            attr, kind = parts[1], self.type(node).kind
            return lambda run, row: _normalise((run.env.current_user or {}).get(attr), kind)
        resolved = self.analysis.paths[id(node)]
        if parts[0] == "old":
            reader = self._reader(resolved)
            return lambda run, row: None if run.env.old is None else reader(run, run.env.old)
        if not resolved.hops and _plain_column(resolved):
            kind = resolved.type.kind
            return _Operand(_column_value(resolved.name, kind),
                            column=(resolved.name, kind, _READY.get(kind, _AS_IS)))
        if (resolved.table, resolved.name) in self.repeated:
            self.shared = True
            return _shared_formula(formula_program(self.config, resolved.table, resolved.name), resolved.name)
        return self._reader(resolved)

    def _reader(self, resolved: Resolved) -> Program:
        value = _column_reader(self.config, resolved)
        hops = resolved.hops
        if not hops:
            return value

        def read(run: Any, row: Mapping[str, Any]) -> Any:
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

    # -- operators -----------------------------------------------------------------------------
    def _Unary(self, node: Unary) -> _Operand | Program:
        operand = self.operand(node.operand)
        if node.op == "+":
            return operand
        program = operand.program
        return lambda run, row: None if (v := program(run, row)) is None else -v

    def _BinOp(self, node: BinOp) -> Program:
        op, lt, rt = node.op, self.type(node.left).kind, self.type(node.right).kind
        left, right = self.operand(node.left), self.operand(node.right)
        if op in "+-" and (lt == "days" or rt == "days"):
            return _add_days(op, left, right, lt)
        if op == "-" and lt == rt == "date":
            return _binary(left, right, _days_between)
        if op == "/":
            if right.constant and right.value is not None:
                if right.value == 0:
                    return _binary(left, right, lambda a, b: None)
                divisor = Decimal(right.value)
                return _binary(left, right, lambda a, b: (a if type(a) is Decimal else Decimal(a)) / divisor)
            return _binary(left, right, _divide)
        if op == "%":
            return _binary(left, right, _modulo)
        return _binary(left, right, {"+": operator.add, "-": operator.sub}.get(op, operator.mul))

    def _Compare(self, node: Compare) -> Program:
        test = self._comparison(node)
        return self._droppable(node, test)

    def _comparison(self, node: Compare) -> Program:
        op = node.op
        if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
            other = self.operand(node.right if _is_null(node.left) else node.left)
            is_null = _null_test(other)
            if op == "==":
                return is_null
            return lambda run, row: not is_null(run, row)
        left, right = self._promoted(node.left, node.right)
        if op in ("in", "not in"):
            test = self._membership(node, left, right)
            if op == "not in":
                return lambda run, row: None if (v := test(run, row)) is None else not v
            return test
        return _binary(left, right, _COMPARE[op])

    def _membership(self, node: Compare, left_operand: _Operand, right_operand: _Operand) -> Program:
        kind = self.type(node.right).kind
        left, right = left_operand.program, right_operand.program
        if isinstance(node.right, (ListLit, Param)) and kind == "list":
            if isinstance(node.right, ListLit) and all(self.pure(i) for i in node.right.items):
                try:
                    fixed = right(_FoldRun(self.tz), _NO_ROW)
                except Exception:   # noqa: BLE001 - computed per record then
                    fixed = None
                if fixed is not None:
                    in3 = values.in3
                    return lambda run, row: in3(left(run, row), fixed)

            def in_values(run: Any, row: Mapping[str, Any]) -> Any:
                items = right(run, row)
                return None if items is None else values.in3(left(run, row), list(items))
            return in_values
        if kind == "period":
            as_datetime = self.type(node.left).kind == "datetime"

            def in_period(run: Any, row: Mapping[str, Any]) -> Any:
                x, spec = left(run, row), right(run, row)
                if x is None or spec is None:
                    return None
                start, end = resolve_period(spec, run.today, run.env.config.company)
                if as_datetime:
                    start = start and values.local_midnight(start, run.tz)
                    end = end and values.local_midnight(end, run.tz)
                return values.and3([start is None or x >= start, end is None or x < end])
            return in_period

        def in_list(run: Any, row: Mapping[str, Any]) -> Any:
            x, items = left(run, row), values.as_list(right(run, row))
            return None if x is None or items is None else x in items
        return in_list

    def _promoted(self, *nodes: Expr) -> list[_Operand]:
        """Values compared or merged: a date next to a datetime becomes local midnight."""
        kinds = {self.type(n).kind for n in nodes}
        built = [self.operand(n) for n in nodes]
        if {"date", "datetime"} <= kinds:
            return [_Operand(_to_datetime(b.program)) if self.type(n).kind == "date" else b
                    for n, b in zip(nodes, built)]
        return built

    def _droppable(self, node: Expr, test: Program) -> Program:
        """With `drop_null_params`, a comparison naming a null parameter is true."""
        names = {n.name for n in walk(node) if isinstance(n, Param)}
        if not names:
            return test

        def maybe_dropped(run: Any, row: Mapping[str, Any]) -> Any:
            if run.env.drop_null_params and any(run.env.params.get(n) is None for n in names):
                return True
            return test(run, row)
        return maybe_dropped

    def _BoolOp(self, node: BoolOp) -> Program:
        parts = [self.build(v) for v in node.values]
        if node.op == "and":
            if len(parts) == 2:
                first, second = parts

                def both(run: Any, row: Mapping[str, Any]) -> Any:
                    a = first(run, row)
                    if a is False:
                        return False
                    b = second(run, row)
                    if b is False:
                        return False
                    return None if a is None or b is None else True
                return both

            def all_of(run: Any, row: Mapping[str, Any]) -> Any:
                unknown = False
                for part in parts:
                    v = part(run, row)
                    if v is False:
                        return False
                    unknown = unknown or v is None
                return None if unknown else True
            return all_of
        if len(parts) == 2:
            first, second = parts

            def either(run: Any, row: Mapping[str, Any]) -> Any:
                a = first(run, row)
                if a is True:
                    return True
                b = second(run, row)
                if b is True:
                    return True
                return None if a is None or b is None else False
            return either

        def any_of(run: Any, row: Mapping[str, Any]) -> Any:
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
        return lambda run, row: None if (v := operand(run, row)) is None else not v

    def _IfElse(self, node: IfElse) -> Program:
        cond = self.build(node.cond)
        then, otherwise = (b.program for b in self._promoted(node.then, node.otherwise))
        return lambda run, row: then(run, row) if cond(run, row) is True else otherwise(run, row)

    # -- calls ---------------------------------------------------------------------------------
    def _Call(self, node: Call) -> Program:
        if node.name == "changed":
            return self._changed(node.args[0].value)  # type: ignore[union-attr]
        return self._apply(FUNCTIONS[node.name], list(node.args), node)

    def _MethodCall(self, node: MethodCall) -> Program:
        program = self._apply(METHODS[node.name], [node.receiver, *node.args], node)
        return self._droppable(node, program) if node.name in TEXT_TESTS else program

    def _apply(self, fn: Function, args: list[Expr], node: Expr) -> Program:
        promote = fn.promote and self.type(node) == DATETIME
        programs = [b.program for b in self._promoted(*args)] if promote else [self.build(a) for a in args]
        types = [self.type(a) for a in args]
        python, nulls = fn.python, fn.nulls
        if fn is _DATE_METHOD and not nulls:
            return _date_of(programs[0], python, types)
        if len(programs) == 1 and not nulls:
            only = programs[0]

            def call1(run: Any, row: Mapping[str, Any]) -> Any:
                v = only(run, row)
                return None if v is None else python(run, [v], types)
            return call1
        if len(programs) == 2 and not nulls:
            first, second = programs

            def call2(run: Any, row: Mapping[str, Any]) -> Any:
                a, b = first(run, row), second(run, row)
                return None if a is None or b is None else python(run, [a, b], types)
            return call2

        def call(run: Any, row: Mapping[str, Any]) -> Any:
            got = [p(run, row) for p in programs]
            if not nulls and any(v is None for v in got):
                return None
            return python(run, got, types)
        return call

    def _changed(self, name: str) -> Program:
        reader = _column_reader(self.config, resolve_path(self.config, self.entity, (name,)))

        def changed(run: Any, row: Mapping[str, Any]) -> bool:
            now = reader(run, row)
            if run.env.old is None:
                return now is not None
            return now != reader(run, run.env.old)
        return changed

    def _Aggregate(self, node: Aggregate) -> Program:
        raise ExpressionError("CRM-E305", f"{node.name}() cannot be evaluated on one record", node.offset)


def _repeated_formulas(analysis: Analysis) -> set[tuple[str, str]]:
    """Formula fields of the record itself (no link, not `old`) that the expression reads more than once."""
    seen: set[tuple[str, str]] = set()
    repeated: set[tuple[str, str]] = set()
    for node in walk(analysis.expr) if analysis.expr is not None else ():
        if not isinstance(node, Path) or node.parts[0] in ("old", "current_user"):
            continue
        resolved = analysis.paths.get(id(node))
        if resolved is None or resolved.hops or resolved.field is None or resolved.field.type != "formula":
            continue
        key = (resolved.table, resolved.name)
        (repeated if key in seen else seen).add(key)
    return repeated


def _shared_formula(program: Program, name: str) -> Program:
    """A formula of the evaluated row, computed on its first read in this evaluation (`run.formulas`)."""
    def shared(run: Any, row: Mapping[str, Any]) -> Any:
        known = run.formulas
        if name in known:
            return known[name]
        value = known[name] = program(run, row)
        return value
    return shared


# -- fused operators ---------------------------------------------------------------------------

def _binary(left: _Operand, right: _Operand, combine: Callable[[Any, Any], Any]) -> Program:
    """`combine(a, b)`, or null when either side is null; the left side is read first."""
    if right.constant and right.value is not None:
        b = right.value
        if left.column is not None:
            name, kind, ready = left.column

            def field_and_constant(run: Any, row: Mapping[str, Any]) -> Any:
                a = row.get(name)
                if a is None:
                    return None
                if type(a) not in ready:
                    a = _normalise(a, kind)
                    if a is None:
                        return None
                return combine(a, b)
            return field_and_constant
        lp = left.program

        def with_constant(run: Any, row: Mapping[str, Any]) -> Any:
            a = lp(run, row)
            return None if a is None else combine(a, b)
        return with_constant
    if left.constant and left.value is not None:
        a_fixed, rp = left.value, right.program

        def constant_with(run: Any, row: Mapping[str, Any]) -> Any:
            b = rp(run, row)
            return None if b is None else combine(a_fixed, b)
        return constant_with
    lp, rp = left.program, right.program

    def both(run: Any, row: Mapping[str, Any]) -> Any:
        a, b = lp(run, row), rp(run, row)
        return None if a is None or b is None else combine(a, b)
    return both


def _null_test(operand: _Operand) -> Program:
    """`x == null` (SQL's IS NULL)."""
    if operand.column is not None:
        name, kind, ready = operand.column

        def field_is_null(run: Any, row: Mapping[str, Any]) -> bool:
            v = row.get(name)
            if v is None:
                return True
            return type(v) not in ready and _normalise(v, kind) is None
        return field_is_null
    program = operand.program
    return lambda run, row: program(run, row) is None


def _add_days(op: str, left: _Operand, right: _Operand, left_kind: str) -> Program:
    """`d + days(n)`, `days(n) + d`, `d - days(n)`: a datetime keeps its local wall-clock time."""
    add_days = values.add_days
    if left_kind == "days":            # days(n) + d
        lp, rp = left.program, right.program

        def days_first(run: Any, row: Mapping[str, Any]) -> Any:
            a, b = lp(run, row), rp(run, row)
            return None if a is None or b is None else add_days(b, a, run.tz)
        return days_first
    sign = 1 if op == "+" else -1
    step = _fixed_step(sign, right)
    if step is not None:
        n, step = step
        lp = left.program

        def shifted(run: Any, row: Mapping[str, Any]) -> Any:
            a = lp(run, row)
            if a is None:
                return None
            return a + step if type(a) is _DATE else add_days(a, n, run.tz)
        return shifted
    lp, rp = left.program, right.program

    def moved(run: Any, row: Mapping[str, Any]) -> Any:
        a, b = lp(run, row), rp(run, row)
        return None if a is None or b is None else add_days(a, sign * b, run.tz)
    return moved


def _fixed_step(sign: int, days: _Operand) -> tuple[Any, dt.timedelta] | None:
    """A constant number of days and its timedelta; None when it is not constant or out of range
    (then the addition fails per record, as it always did)."""
    if not days.constant or days.value is None:
        return None
    try:
        n = sign * days.value
        return n, dt.timedelta(days=n)
    except (OverflowError, TypeError, ValueError):
        return None


def _date_of(program: Program, python: Callable[..., Any], types: list[Type]) -> Program:
    """`x.date()`, remembering the last datetime seen (the same instant repeats across a batch)."""
    last: list[tuple[Any, Any, Any]] = [(None, None, None)]

    def date_of(run: Any, row: Mapping[str, Any]) -> Any:
        v = program(run, row)
        if v is None:
            return None
        if type(v) is not dt.datetime:
            return python(run, [v], types)
        seen = last[0]                 # one tuple: read and replaced atomically across threads
        if seen[0] is v and seen[1] is run.tz:
            return seen[2]
        # An aware datetime: `values.local_date` without its calls (a naive one takes that path).
        day = v.astimezone(values.zone(run.tz)).date() if v.tzinfo is not None else python(run, [v], types)
        last[0] = (v, run.tz, day)
        return day
    return date_of


def _divide(a: Any, b: Any) -> Any:
    return None if b == 0 else Decimal(a) / Decimal(b)


def _modulo(a: Any, b: Any) -> Any:
    return None if b == 0 else values.sql_mod(a, b)


def _days_between(a: Any, b: Any) -> Any:
    return (a - b).days


def _is_null(node: Expr) -> bool:
    return isinstance(node, Literal) and node.value is None


def _to_datetime(program: Program) -> Program:
    def promoted(run: Any, row: Mapping[str, Any]) -> Any:
        v = program(run, row)
        return None if v is None else values.local_midnight(v, run.tz)
    return promoted


# -- reading fields ----------------------------------------------------------------------------

def _plain_column(resolved: Resolved) -> bool:
    """A stored value read as it is (not a formula, rollup or stage attribute)."""
    f = resolved.field
    return not resolved.attribute and not (f is not None and f.type in ("formula", "rollup"))


def _column_value(name: str, kind: str) -> Program:
    """`row[name]` in the evaluator's form for `kind` (what `values.normalise` gives)."""
    if kind not in _CONVERTED:
        return lambda run, row: row.get(name)
    if kind == "datetime":
        def read_datetime(run: Any, row: Mapping[str, Any]) -> Any:
            v = row.get(name)
            if v is None or type(v) is dt.datetime and v.tzinfo is not None:
                return v
            return _normalise(v, kind)
        return read_datetime
    ready = _READY[kind]

    def read(run: Any, row: Mapping[str, Any]) -> Any:
        v = row.get(name)
        if v is None or type(v) in ready:
            return v
        return _normalise(v, kind)
    return read


def _column_reader(config: Config, resolved: Resolved) -> Program:
    """Read the final value of a path from the row that holds it, normalised to its type."""
    name, f, table = resolved.name, resolved.field, resolved.table
    if f is not None and f.type == "formula":
        return formula_program(config, table, name)
    if f is not None and f.type == "rollup":
        kind = resolved.type.kind

        def rollup(run: Any, row: Mapping[str, Any]) -> Any:
            if run.env.rollup is None:
                return _normalise(row.get(name), kind)
            return _normalise(run.env.rollup(table, f, row), kind)
        return rollup
    if resolved.attribute:
        return _stage_reader(config, resolved)
    return _column_value(name, resolved.type.kind)


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
