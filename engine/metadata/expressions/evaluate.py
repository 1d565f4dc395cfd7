"""The Python back end: an expression evaluated on one record.

    env = EvalEnv(config, "deal", record={"amount": Decimal("100"), "account": 7},
                  load=lambda table, id: rows[table][id], now=clock())
    evaluate("amount * 2 if account.industry == 'it' else 0", env)

It gives what the SQL back end gives for the same row: SQL's null rules
(null compared is unknown, `and`/`or` three-valued, `== null` is IS NULL),
division by zero is null, decimals are Decimal, dates follow the company's
timezone. An expression is analysed and turned into a tree of closures once
(`closures.py`: constants computed in advance, fields read with one lookup;
cached), then run per record.

Links are followed with `load(entity_or_"crm_users", id) -> row | None`
(a link value that is already a row mapping is used as is). Formula fields
are computed from their `expr`, never read from the record. Rollups call
`rollup(entity, field, row)`; without it the row's own value is used.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from ..model import Config, Field
from . import values
from .check import CheckContext, analyse
from .closures import build
from .nodes import Expr
from .types import Type, type_of_value

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

    __slots__ = ("env", "now", "today", "tz", "rows", "active", "formulas")

    def __init__(self, env: EvalEnv):
        self.env = env
        self.tz = env.config.company.timezone
        self.now = values.aware(env.now or dt.datetime.now(values.UTC))
        self.today = values.local_date(self.now, self.tz)
        self.rows: dict[tuple[str, int], Mapping[str, Any] | None] = {}
        self.active: set[tuple[str, str, int]] = set()
        self.formulas: dict[str, Any] = {}      # formulas read twice by the expression being evaluated

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
    return build(config, entity, analysis)
