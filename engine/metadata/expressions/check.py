"""Type checking: is an expression meaningful where it is used?

    type, errors = check("amount + name", CheckContext(config, "deal"))
    # errors: [ExpressionError CRM-E303 "cannot add number and text" at offset 0]

Every problem is collected (not only the first), each with a stable code and
the offset of the offending part: unknown fields (E301, with a did-you-mean),
unknown functions or wrong argument counts (E302), types that do not mix
(E303), constructs the language lacks (E304), aggregates outside reports and
KPIs or fields outside aggregates in a measure (E305), unknown `$names`, or
`old`/`changed()` where no previous version exists (E306), and a result of
the wrong type for the place (E307). Both back ends run the same analysis
before compiling, so they see the same types.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from ..errors import did_you_mean
from ..model import Config
from .functions import FUNCTIONS, METHODS, Function
from .nodes import (Aggregate, BinOp, BoolOp, Call, Compare, ExpressionError, Expr, IfElse, ListLit,
                    Literal, MethodCall, Not, Param, Path, Unary)
from .parse import AGGREGATES, parse
from .paths import USER_COLUMNS, Resolved, resolve_path, rollup_source
from .types import (ANY, BOOL, DECIMAL, INT, NULL, TEXT, USER, Type, accepts, arithmetic_type, comparable,
                    is_loose, is_number, is_temporal, is_text, list_of, orderable, unify)

CONTEXT_NAMES = ("current_user", "old")


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Where an expression is used: which entity, what it may name, what it must give."""

    config: Config
    entity: str
    allow_aggregates: bool = False          # reports, KPIs, rollups
    params: Mapping[str, Type] = field(default_factory=dict)   # the `$names` allowed here
    allow_old: bool = False                 # `old.x` and `changed('x')`: approvals, alerts, validations
    expected: Type | None = None            # e.g. BOOL for when/filter/rule


@dataclass(slots=True, eq=False)
class Analysis:
    """The checked expression: its type, its errors, and the type of every node."""

    expr: Expr | None
    type: Type
    errors: list[ExpressionError]
    types: dict[int, Type] = field(default_factory=dict)
    paths: dict[int, Resolved] = field(default_factory=dict)

    def type_of(self, node: Expr) -> Type:
        return self.types.get(id(node), ANY)

    def raise_first(self) -> None:
        if self.errors:
            raise self.errors[0]


def check(text: str | Expr, ctx: CheckContext) -> tuple[Type, list[ExpressionError]]:
    """The result type and every error of an expression used in `ctx`."""
    analysis = analyse(text, ctx)
    return analysis.type, list(analysis.errors)


def analyse(text: str | Expr, ctx: CheckContext) -> Analysis:
    """Like `check`, keeping the per-node types the back ends need. Cached."""
    try:
        expr = parse(text) if isinstance(text, str) else text
    except ExpressionError as exc:
        return Analysis(None, ANY, [exc])
    params = tuple(sorted(ctx.params.items()))
    return _analyse(ctx.config, ctx.entity, expr, ctx.allow_aggregates, params, ctx.allow_old, ctx.expected)


@lru_cache(maxsize=2048)
def _analyse(config: Config, entity: str, expr: Expr, allow_aggregates: bool,
             params: tuple[tuple[str, Type], ...], allow_old: bool, expected: Type | None) -> Analysis:
    ctx = CheckContext(config, entity, allow_aggregates, dict(params), allow_old, expected)
    return _Checker(ctx).run(expr)


_INFERRING = threading.local()      # per thread: the computed fields being inferred right now


@lru_cache(maxsize=4096)
def infer_computed_type(config: Config, entity: str, name: str) -> Type:
    """The type a formula's `expr` (or a rollup's, over its child rows) gives; `any` when unknowable."""
    key = (id(config), entity, name)
    active: set[tuple[int, str, str]] = _INFERRING.__dict__.setdefault("keys", set())
    if key in active:              # a cycle: reported as CRM-E210 by the configuration checks
        return ANY
    field = config.entities[entity].fields[name]
    active.add(key)
    try:
        if field.type == "rollup":
            child, _ = rollup_source(config, entity, field)
            ctx = CheckContext(config, child, allow_aggregates=True)
        else:
            ctx = CheckContext(config, entity)
        analysis = analyse(field.expr or "null", ctx)
        return ANY if analysis.errors else analysis.type
    except ExpressionError:
        return ANY
    finally:
        active.discard(key)


class _Checker:
    def __init__(self, ctx: CheckContext):
        self.ctx = ctx
        self.errors: list[ExpressionError] = []
        self.types: dict[int, Type] = {}
        self.paths: dict[int, Resolved] = {}
        self.in_aggregate = False
        self.saw_aggregate = False
        self.bare_fields: list[Path] = []

    def run(self, expr: Expr) -> Analysis:
        if self.ctx.entity not in self.ctx.config.entities:
            err = ExpressionError("CRM-E301", f"entity '{self.ctx.entity}' does not exist", 0)
            return Analysis(expr, ANY, [err])
        result = self.visit(expr)
        if self.saw_aggregate:
            for node in self.bare_fields:
                self.error("CRM-E305", f"'{node.text}' is used outside an aggregate", node.offset,
                           f"aggregate it, e.g. max({node.text})")
        expected = self.ctx.expected
        if expected is not None and not self.errors and not accepts(expected, result):
            hint = "use round(x) for a whole number" if expected.kind == "int" and is_number(result) else None
            self.error("CRM-E307", f"the expression gives {_a(result)}, but {_a(expected)} is needed here",
                       expr.offset, hint)
        self.errors.sort(key=lambda e: e.offset)
        return Analysis(expr, result, self.errors, self.types, self.paths)

    def error(self, code: str, message: str, offset: int, hint: str | None = None) -> Type:
        self.errors.append(ExpressionError(code, message, offset, hint))
        return ANY

    def visit(self, node: Expr) -> Type:
        result = getattr(self, "_" + type(node).__name__)(node)
        self.types[id(node)] = result
        return result

    def condition(self, node: Expr) -> None:
        t = self.visit(node)
        if not (is_loose(t) or t.kind == "bool"):
            what = f"'{node.text}'" if isinstance(node, Path) else "this"
            self.error("CRM-E303", f"{what} is {_a(t)}, not a condition", node.offset,
                       "compare it, e.g. amount > 0 or name != null")

    # leaves ---------------------------------------------------------------
    def _Literal(self, node: Literal) -> Type:
        value = node.value
        if value is None:
            return NULL
        if isinstance(value, bool):
            return BOOL
        if isinstance(value, int):
            return INT
        return TEXT if isinstance(value, str) else DECIMAL

    def _ListLit(self, node: ListLit) -> Type:
        for element in node.items:
            self.visit(element)
        return self.error("CRM-E304", "a list can only stand after 'in' or 'not in'", node.offset)

    def list_literal(self, node: ListLit) -> Type:
        item: Type = NULL
        for element in node.items:
            t = self.visit(element)
            merged = unify(item, t)
            if merged is None or merged.kind in ("list", "period", "days"):
                return self.error("CRM-E303", f"a list mixes {item} and {t}", element.offset)
            item = merged
        result = list_of(ANY if item.kind == "null" else item)
        self.types[id(node)] = result
        return result

    def _Param(self, node: Param) -> Type:
        if node.name in self.ctx.params:
            return self.ctx.params[node.name]
        known = ", ".join(f"${n}" for n in sorted(self.ctx.params)) or "none"
        hint = did_you_mean(node.name, self.ctx.params)
        return self.error("CRM-E306", f"'${node.name}' is not available here (parameters: {known})",
                          node.offset, hint and hint.replace("'", "'$", 1))

    def _Path(self, node: Path) -> Type:
        parts, ctx = node.parts, self.ctx
        if parts[0] == "current_user":
            if len(parts) == 1:
                return USER
            if len(parts) == 2 and parts[1] in USER_COLUMNS:
                return USER_COLUMNS[parts[1]]
            return self.error("CRM-E301", f"a user has no attribute '{'.'.join(parts[1:])}'",
                              node.offset + 13, did_you_mean(parts[1], USER_COLUMNS))
        if parts[0] == "old":
            if not ctx.allow_old:
                return self.error("CRM-E306", "'old' is only available where a record is being updated "
                                  "(approvals, alerts, validations)", node.offset)
            if len(parts) == 1:
                return self.error("CRM-E304", "'old' needs a field, e.g. old.stage", node.offset)
            return self._resolve(node, parts[1:], node.offset + 4)
        if not self.in_aggregate:
            self.bare_fields.append(node)
        return self._resolve(node, parts, node.offset)

    def _resolve(self, node: Path, parts: tuple[str, ...], offset: int) -> Type:
        try:
            resolved = resolve_path(self.ctx.config, self.ctx.entity, parts, offset)
        except ExpressionError as exc:
            self.errors.append(exc)
            return ANY
        self.paths[id(node)] = resolved
        return resolved.type

    # operators ------------------------------------------------------------
    def _Unary(self, node: Unary) -> Type:
        t = self.visit(node.operand)
        if is_number(t) or is_loose(t):
            return t if not is_loose(t) else ANY
        return self.error("CRM-E303", f"'{node.op}' needs a number, not {t}", node.offset)

    def _BinOp(self, node: BinOp) -> Type:
        left, right = self.visit(node.left), self.visit(node.right)
        result = arithmetic_type(node.op, left, right)
        if isinstance(result, Type):
            return result
        message, hint = result
        return self.error("CRM-E303", message, node.offset, hint)

    def _Compare(self, node: Compare) -> Type:
        op = node.op
        left = self.visit(node.left)
        if isinstance(node.right, ListLit) and op in ("in", "not in"):
            right = self.list_literal(node.right)
        else:
            right = self.visit(node.right)
        if op in ("in", "not in"):
            if right.kind == "list":
                if not comparable(left, right.item or ANY):
                    self.error("CRM-E303", f"cannot look for {_a(left)} in a {right}", node.offset)
            elif right.kind == "period":
                if not (is_temporal(left) or is_loose(left)):
                    self.error("CRM-E303", f"only a date can be in a period, not {_a(left)}", node.offset)
            elif not is_loose(right):
                hint = "use s.contains(t) to search text" if is_text(right) else None
                self.error("CRM-E303", f"'{op}' needs a list or a period on its right, not {_a(right)}",
                           node.right.offset, hint)
        elif not comparable(left, right):
            self.error("CRM-E303", f"cannot compare {_a(left)} with {_a(right)}", node.offset)
        elif op not in ("==", "!=") and not (orderable(left) and orderable(right)):
            bad = left if not orderable(left) else right
            self.error("CRM-E303", f"'{op}' cannot order values of type {bad}", node.offset)
        self._check_keys(node)
        return BOOL

    def _check_keys(self, node: Compare) -> None:
        """`stage == 'wonn'`: a text literal compared with a stage or choice field must be one of its keys."""
        for field_side, other in ((node.left, node.right), (node.right, node.left)):
            resolved = self.paths.get(id(field_side))
            if resolved is None or resolved.field is None or resolved.attribute:
                continue
            keys = self._keys(resolved)
            if keys is None:
                continue
            literals = other.items if isinstance(other, ListLit) else (other,)
            for lit in literals:
                if isinstance(lit, Literal) and isinstance(lit.value, str) and lit.value not in keys:
                    kind = "a stage" if resolved.field.type == "stage" else "an option"
                    self.error("CRM-E303", f"'{lit.value}' is not {kind} of '{resolved.name}'", lit.offset,
                               did_you_mean(lit.value, keys))

    def _keys(self, resolved: Resolved) -> list[str] | None:
        f = resolved.field
        if f is None:
            return None
        if f.type == "stage" and f.pipeline in self.ctx.config.pipelines:
            return [s.key for s in self.ctx.config.pipelines[f.pipeline].stages]
        if f.type in ("choice", "multichoice") and f.options:
            return list(f.options)
        return None

    def _BoolOp(self, node: BoolOp) -> Type:
        for value in node.values:
            self.condition(value)
        return BOOL

    def _Not(self, node: Not) -> Type:
        self.condition(node.operand)
        return BOOL

    def _IfElse(self, node: IfElse) -> Type:
        self.condition(node.cond)
        then, otherwise = self.visit(node.then), self.visit(node.otherwise)
        merged = unify(then, otherwise)
        if merged is None:
            return self.error("CRM-E303", f"the two branches give {_a(then)} and {_a(otherwise)}", node.offset)
        return merged

    # calls ----------------------------------------------------------------
    def _Call(self, node: Call) -> Type:
        if node.name == "changed":
            return self._changed(node)
        fn = FUNCTIONS.get(node.name)
        if fn is None:
            hint = (f"write x.{node.name}()" if node.name in METHODS
                    else did_you_mean(node.name, [*FUNCTIONS, *AGGREGATES, "changed"]))
            for arg in node.args:
                self.visit(arg)
            return self.error("CRM-E302", f"'{node.name}' is not a function of the language", node.offset, hint)
        return self._apply(fn, node.name, list(node.args), node.offset)

    def _MethodCall(self, node: MethodCall) -> Type:
        fn = METHODS.get(node.name)
        if fn is None:
            self.visit(node.receiver)
            hint = f"write {node.name}(x)" if node.name in FUNCTIONS else did_you_mean(node.name, METHODS)
            return self.error("CRM-E302", f"'.{node.name}()' is not a method of the language", node.offset, hint)
        return self._apply(fn, f".{node.name}", [node.receiver, *node.args], node.offset)

    def _apply(self, fn: Function, label: str, args: list[Expr], offset: int) -> Type:
        types = [self.visit(arg) for arg in args]
        if len(args) < fn.min_args or fn.max_args is not None and len(args) > fn.max_args:
            given = len(args) - fn.method
            return self.error("CRM-E302", f"{label}() takes {fn.arity()}, not {given}", offset)
        result = fn.typer(types)
        if isinstance(result, str):
            return self.error("CRM-E303", f"{label}() {result}", offset)
        return result

    def _changed(self, node: Call) -> Type:
        if not self.ctx.allow_old:
            return self.error("CRM-E306", "changed() is only available where a record is being updated "
                              "(approvals, alerts, validations)", node.offset)
        arg = node.args[0] if len(node.args) == 1 else None
        if not (isinstance(arg, Literal) and isinstance(arg.value, str)):
            return self.error("CRM-E302", "changed() takes one field name in quotes", node.offset,
                              "e.g. changed('stage')")
        fields = self.ctx.config.entities[self.ctx.entity].fields
        if arg.value not in fields:
            return self.error("CRM-E301", f"{self.ctx.entity} has no field '{arg.value}'", arg.offset,
                              did_you_mean(arg.value, fields))
        return BOOL

    def _Aggregate(self, node: Aggregate) -> Type:
        if not self.ctx.allow_aggregates:
            self.error("CRM-E305", f"{node.name}() aggregates many records: only reports, KPIs and "
                       "rollups may use it", node.offset)
        elif self.in_aggregate:
            self.error("CRM-E304", "aggregates cannot be nested", node.offset)
        self.saw_aggregate = True
        outer, self.in_aggregate = self.in_aggregate, True
        t = self.visit(node.arg) if node.arg is not None else INT
        self.in_aggregate = outer
        if node.name == "count":
            return INT
        if node.name in ("sum", "avg") and not (is_number(t) or is_loose(t)):
            return self.error("CRM-E303", f"{node.name}() needs numbers, not {t}", node.offset)
        if node.name in ("min", "max") and not orderable(t):
            return self.error("CRM-E303", f"{node.name}() cannot order values of type {t}", node.offset)
        return DECIMAL if node.name == "avg" else t


def _a(t: Type) -> str:
    text = str(t)
    article = "an" if text[:1] in "aeiou" else "a"
    return {"null": "null", "any": "a value", "bool": "a condition (bool)"}.get(text, f"{article} {text}")
