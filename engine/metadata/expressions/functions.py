"""The functions of the expression language: one table, both back ends.

Each `Function` says how many arguments it takes, what it returns for the
argument types it is given (or why those types do not fit), and how to
compute it in Python (`python`) and in SQL (`sql`). The built-ins below use
the same `register` an extension would.

`python(rt, args, types)` gets the argument values; unless `nulls=True`, a
null argument makes the result null without calling it. `sql(rt, args,
types)` gets SQLAlchemy expressions. `rt` offers `today`, `now` and `tz`
(the company's timezone name) in the form of its back end. A function that
depends on the date or the time must take it from `rt` (never `func.now()`
or the system clock): statements are kept for reuse, and record pages
served again, on the strength of building them at other moments and
comparing (engine/runtime/query.py, ui/page_memo.py).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from . import sqlparts, values
from .types import (BOOL, DATE, DATETIME, DAYS, DECIMAL, INT, TEXT, Type, is_loose, is_number,
                    is_temporal, is_text, orderable, unify)

Typer = Callable[[list[Type]], "Type | str"]


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    min_args: int
    max_args: int | None              # None: any number
    typer: Typer                      # argument types -> result type, or a message (CRM-E303)
    python: Callable[[Any, list[Any], list[Type]], Any]
    sql: Callable[[Any, list[Any], list[Type]], Any]
    method: bool = False              # written `receiver.name(args)`
    nulls: bool = False               # python() also sees null arguments
    promote: bool = False             # arguments are first brought to the result type (date -> datetime)

    def arity(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' * (self.min_args != 1)}"
        if self.min_args == self.max_args:
            n = self.min_args - self.method
            return "no arguments" if n == 0 else f"{n} argument{'s' * (n != 1)}"
        return f"{self.min_args - self.method} to {self.max_args - self.method} arguments"


FUNCTIONS: dict[str, Function] = {}
METHODS: dict[str, Function] = {}
# Text tests count as comparisons: with a null `$param` in a report's where_params they are dropped.
TEXT_TESTS = ("startswith", "endswith", "contains")


def register(fn: Function) -> Function:
    """Add a function (or, with `method=True`, a method) to the language."""
    (METHODS if fn.method else FUNCTIONS)[fn.name] = fn
    return fn


# --- typing helpers ----------------------------------------------------------

def _fits(t: Type, test: Callable[[Type], bool]) -> bool:
    return is_loose(t) or test(t)


def _need(test: Callable[[Type], bool], what: str, result: Type | Callable[[list[Type]], Type]) -> Typer:
    def typer(types: list[Type]) -> Type | str:
        for t in types:
            if not _fits(t, test):
                return f"needs {what}, not {t}"
        return result(types) if callable(result) else result
    return typer


def _same_number(types: list[Type]) -> Type:
    return INT if all(t.kind == "int" for t in types) else DECIMAL


def _unify_all(types: list[Type]) -> Type | str:
    result = types[0]
    for t in types[1:]:
        merged = unify(result, t)
        if merged is None:
            return f"mixes {result} and {t}"
        result = merged
    return result


def _ordered(types: list[Type]) -> Type | str:
    for t in types:
        if not orderable(t):
            return f"cannot order values of type {t}"
    return _unify_all(types)


def _round_type(types: list[Type]) -> Type | str:
    if not _fits(types[0], is_number):
        return f"needs a number, not {types[0]}"
    if len(types) == 2 and not _fits(types[1], lambda t: t.kind == "int"):
        return f"needs a whole number of places, not {types[1]}"
    return DECIMAL if len(types) == 2 else INT


def _len_type(types: list[Type]) -> Type | str:
    t = types[0]
    return INT if _fits(t, lambda x: is_text(x) or x.kind == "list") else f"needs text or a list, not {t}"


# --- back-end helpers --------------------------------------------------------

def _py_date(rt: Any, value: Any) -> dt.date:
    return values.local_date(value, rt.tz)


def _sql_date(rt: Any, arg: Any, t: Type) -> Any:
    return sqlparts.local_date(arg, sa.literal(rt.tz)) if t.kind == "datetime" else arg


def _sql_min_max(args: list[Any], smaller: bool) -> Any:
    # CASE instead of LEAST/GREATEST: PostgreSQL's ignore nulls, SQLite's do not.
    a, b = args[0], args[1]
    first = a <= b if smaller else a >= b
    second = b < a if smaller else b > a
    result = sa.case((first, a), (second, b))
    for extra in args[2:]:
        result = _sql_min_max([result, extra], smaller)
    return result


def _py_min_max(items: list[Any], smaller: bool) -> Any:
    return min(items) if smaller else max(items)


def _sql_round(rt: Any, args: list[Any], types: list[Type]) -> Any:
    if len(args) == 1:
        return sa.cast(sqlparts.round_(args[0], sa.literal(0)), sa.Integer)
    return sqlparts.round_(args[0], args[1])


def _py_round(rt: Any, args: list[Any], types: list[Type]) -> Any:
    if len(args) == 1:
        return int(values.round_half_up(args[0], 0))
    return values.round_half_up(args[0], int(args[1]))


def _py_len(rt: Any, args: list[Any], types: list[Type]) -> Any:
    value = args[0]
    return len(value) if isinstance(value, str) else len(values.as_list(value) or [])


def _sql_len(rt: Any, args: list[Any], types: list[Type]) -> Any:
    return sqlparts.json_length(args[0]) if types[0].kind == "list" else sa.func.length(args[0])


def _fn(name: str, lo: int, hi: int | None, typer: Typer, python: Callable, sql: Callable, **kw: Any) -> None:
    register(Function(name, lo, hi, typer, python, sql, **kw))


# --- the built-ins -----------------------------------------------------------

_fn("today", 0, 0, lambda ts: DATE, lambda rt, a, t: rt.today, lambda rt, a, t: rt.today)
_fn("now", 0, 0, lambda ts: DATETIME, lambda rt, a, t: rt.now, lambda rt, a, t: rt.now)
_fn("days", 1, 1, _need(lambda t: t.kind == "int", "a whole number", DAYS),
    lambda rt, a, t: a[0], lambda rt, a, t: a[0])
_fn("days_until", 1, 1, _need(is_temporal, "a date", INT),
    lambda rt, a, t: (_py_date(rt, a[0]) - rt.today).days,
    lambda rt, a, t: sqlparts.days_between(_sql_date(rt, a[0], t[0]), rt.today))
_fn("days_since", 1, 1, _need(is_temporal, "a date", INT),
    lambda rt, a, t: (rt.today - _py_date(rt, a[0])).days,
    lambda rt, a, t: sqlparts.days_between(rt.today, _sql_date(rt, a[0], t[0])))
_fn("year", 1, 1, _need(is_temporal, "a date", INT),
    lambda rt, a, t: _py_date(rt, a[0]).year,
    lambda rt, a, t: sa.cast(sa.extract("year", _sql_date(rt, a[0], t[0])), sa.Integer))
_fn("month", 1, 1, _need(is_temporal, "a date", INT),
    lambda rt, a, t: _py_date(rt, a[0]).month,
    lambda rt, a, t: sa.cast(sa.extract("month", _sql_date(rt, a[0], t[0])), sa.Integer))
_fn("lower", 1, 1, _need(is_text, "text", TEXT),
    lambda rt, a, t: values.lower(a[0]), lambda rt, a, t: sqlparts.lower(a[0]))
_fn("upper", 1, 1, _need(is_text, "text", TEXT),
    lambda rt, a, t: values.upper(a[0]), lambda rt, a, t: sqlparts.upper(a[0]))
_fn("len", 1, 1, _len_type, _py_len, _sql_len)
_fn("coalesce", 1, None, _unify_all,
    lambda rt, a, t: next((v for v in a if v is not None), None),
    lambda rt, a, t: sa.func.coalesce(*a), nulls=True, promote=True)
_fn("round", 1, 2, _round_type, _py_round, _sql_round)
_fn("abs", 1, 1, _need(is_number, "a number", _same_number),
    lambda rt, a, t: abs(a[0]), lambda rt, a, t: sa.func.abs(a[0]))
_fn("min", 2, None, _ordered, lambda rt, a, t: _py_min_max(a, True),
    lambda rt, a, t: _sql_min_max(a, True), promote=True)
_fn("max", 2, None, _ordered, lambda rt, a, t: _py_min_max(a, False),
    lambda rt, a, t: _sql_min_max(a, False), promote=True)

# Methods: the receiver is the first argument, so `min_args`/`max_args` count it.
_fn("startswith", 2, 2, _need(is_text, "text", BOOL),
    lambda rt, a, t: a[0].startswith(a[1]), lambda rt, a, t: sqlparts.starts_with(a[0], a[1]), method=True)
_fn("endswith", 2, 2, _need(is_text, "text", BOOL),
    lambda rt, a, t: a[0].endswith(a[1]), lambda rt, a, t: sqlparts.ends_with(a[0], a[1]), method=True)
_fn("contains", 2, 2, _need(is_text, "text", BOOL),
    lambda rt, a, t: a[1] in a[0], lambda rt, a, t: sqlparts.contains(a[0], a[1]), method=True)
_fn("date", 1, 1, _need(is_temporal, "a date or datetime", DATE),
    lambda rt, a, t: _py_date(rt, a[0]), lambda rt, a, t: _sql_date(rt, a[0], t[0]), method=True)
