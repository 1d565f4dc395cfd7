"""Small speed-ups the importer uses per row, each giving exactly what the plain call gives.

- `MemoConvert`: `values.convert` remembered per field and raw text, for columns of
  few distinct values (stages, choices, dates, percentages);
- `RowCache`: the evaluator's `load(table, id)` served from rows fetched in batches;
- `AuditJson`: `audit.to_json` of a whole record, encoded by orjson (a test holds its
  decoded values equal to `to_json`'s for every field type);
- `MemoBind`: a column type's bind processor remembered per value (dates, `now`);
- `spared_from_gc`: the objects alive before an import kept out of the garbage collector's
  full passes while it runs, and its young pass run less often;
- `among`: `column IN (values)` for a chunk's lookups as one parameter;
- small readers of expressions (`first_names`, `links_followed`, `params_of`).
"""
from __future__ import annotations

import datetime as dt
import gc
import operator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator, Mapping

import orjson
from sqlalchemy import ARRAY, ColumnElement, Connection, Text, any_, bindparam, func, literal_column, select

from ..metadata import model as m
from ..metadata.expressions.nodes import Param, Path, walk
from ..metadata.expressions.parse import parse
from ..metadata.expressions.paths import USERS
from .errors import Problems
from .tables import Tables
from .values import ValueContext, converter


class MemoConvert:
    """`values.convert`, once per distinct raw text of a field (up to LIMIT texts per field).

    Each field's conversion is compiled once (`values.converter`). A column whose
    values hardly repeat (names, amounts) stops being remembered once LIMIT texts
    are seen with few hits: the lookups would only cost time.
    """

    LIMIT = 4096

    def __init__(self, ctx: ValueContext, entity: m.Entity):
        self.ctx = ctx
        self.memos: dict[str, dict[str, tuple[Any, list[str]]] | None] = {
            f.name: {} for f in entity.fields.values() if f.stored and memoizable(f)}
        self.hits: dict[str, int] = dict.fromkeys(self.memos, 0)
        self.converters: dict[str, Callable[[Any], tuple[Any, list[str]]]] = {}

    def __call__(self, f: m.Field, raw: str) -> tuple[Any, list[str]]:
        return self.for_field(f)(raw)

    def remembers(self, f: m.Field) -> bool:
        """Whether `f`'s texts are still remembered (not for values that hardly repeat)."""
        return self.memos.get(f.name) is not None

    def for_field(self, f: m.Field) -> Callable[[str], tuple[Any, list[str]]]:
        """The conversion of one field's texts, remembered while it pays."""
        convert_one = self.converters.get(f.name)
        if convert_one is None:
            convert_one = self.converters[f.name] = converter(f, self.ctx)
        memo = self.memos.get(f.name)
        if memo is None:
            return convert_one

        def remembered(raw: str) -> tuple[Any, list[str]]:
            hit = memo.get(raw)
            if hit is not None:
                self.hits[f.name] += 1
                return hit
            hit = convert_one(raw)
            if len(memo) < self.LIMIT:
                memo[raw] = hit
            elif self.hits[f.name] < self.LIMIT:
                self.memos[f.name] = None       # from the next column on: convert without looking
            return hit
        return remembered


def memoizable(f: m.Field) -> bool:
    """Values that are immutable and do not depend on the clock (`min: today()` does)."""
    if f.type == "multichoice":          # a list: a shared one could be changed by a caller
        return False
    if f.type in ("date", "datetime"):
        return all(b is None or not isinstance(b, str) or _is_iso_date(b) for b in (f.min, f.max))
    return True


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class RowCache:
    """`load(table, id)` for the evaluator: rows fetched in batches; a miss (a deeper hop) reads one row."""

    def __init__(self, conn: Connection, tables: Tables, users: dict[Any, Mapping[str, Any]]):
        self.conn = conn
        self.tables = tables
        self.users = users
        self.rows: dict[tuple[str, int], Mapping[str, Any] | None] = {}

    def put(self, table: str, row: Mapping[str, Any]) -> None:
        self.rows[(table, row["id"])] = row

    def __call__(self, table: str, record_id: int) -> Mapping[str, Any] | None:
        if table == USERS and record_id in self.users:
            return self.users[record_id]
        key = (table, record_id)
        if key not in self.rows:
            t = self.tables(table)
            self.rows[key] = self.conn.execute(select(t).where(t.c.id == record_id)).mappings().first()
        return self.rows[key]


def _decimal_text(value: Any) -> str:
    """orjson's `default`: decimals (the one type of a stored field it does not write itself) as
    `audit._plain` writes them. Anything else fails the fast path; the record takes `audit.to_json`."""
    if type(value) is Decimal:
        return format(value, "f")
    raise TypeError(type(value).__name__)


DECIMAL_TYPES = frozenset({"decimal", "money", "percent"})


class AuditJson:
    """`audit.to_json({field: value for non-null stored fields})` of a record, encoded by orjson.

    The same JSON values, keys in the same (sorted) order; the text is orjson's compact form
    (no blank after ':' and ','), which every reader of the trail decodes before use.
    Strings (non-ASCII kept, control characters as \\u00XX), dates and datetimes (ISO, the
    offset as '+00:00') come out as `to_json` writes them; a test compares both field by field.
    """

    def __init__(self, entity: m.Entity):
        stored = sorted((f for f in entity.fields.values() if f.stored), key=lambda f: f.name)
        self.names = tuple(f.name for f in stored)
        self.pick = values_of(self.names)
        # Number fields: their decimals written as text here (orjson would call `default` for each,
        # after a failed attribute lookup).
        self.decimals = tuple(f.name for f in stored if f.type in DECIMAL_TYPES)

    def __call__(self, record: Mapping[str, Any]) -> str:
        values = {name: value for name, value in zip(self.names, self.pick(record)) if value is not None}
        for name in self.decimals:
            value = values.get(name)
            if type(value) is Decimal:
                values[name] = format(value, "f")
        try:
            return orjson.dumps(values, default=_decimal_text).decode()
        except (orjson.JSONEncodeError, TypeError):
            from .audit import to_json       # an unexpected type (a set, a 65-bit int): the general path
            return to_json({name: value for name, value in zip(self.names, self.pick(record))
                            if value is not None}) or "null"


def values_of(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A mapping's values for `names`, always as a tuple (`itemgetter` of one name gives the bare value)."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    return lambda mapping: tuple(mapping[name] for name in names)


def json_text(value: str) -> str:
    """A string as `AuditJson` writes it inside a record (to find and replace it there)."""
    return orjson.dumps(value).decode()


YOUNG_THRESHOLD = 50_000      # allocations between young collections during an import (Python's default: 700)


@contextmanager
def spared_from_gc() -> Iterator[None]:
    """The objects alive when an import starts (configuration, tables, compiled statements, modules)
    set aside from garbage collection while it runs, as the web server does after it starts.

    An import makes and drops objects by the million; every full collection would walk all the
    older ones again, about a sixth of a single-process import's CPU time. They return to the
    collector afterwards, unless the process had already set objects aside itself (a server).
    The young generation is collected every YOUNG_THRESHOLD allocations instead of 700: a chunk
    makes tens of thousands of short-lived containers that reference counting frees anyway.
    """
    had_frozen = gc.get_freeze_count() > 0
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not had_frozen:
            gc.unfreeze()


class MemoBind(dict):
    """A bind processor remembered per value, for values that repeat (dates, the batch's `now`).

    Called as `memo[value]`: a value seen before is a lookup in C, no Python call; a new one goes
    through `__missing__` (the processor), remembered while fewer than LIMIT values are.
    """

    LIMIT = 8192

    def __init__(self, process: Callable[[Any], Any]):
        super().__init__()
        self.process = process

    def __missing__(self, value: Any) -> Any:
        processed = self.process(value)
        if len(self) < self.LIMIT:
            self[value] = processed
        return processed

    def __call__(self, value: Any) -> Any:
        return self[value]


def among(conn: Connection, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """`column IN (values)` for a chunk's worth of whole numbers or texts, as one parameter: SQLite
    reads a JSON array with `json_each`, PostgreSQL an array with `= ANY`. An IN list of thousands
    of parameters costs more to build, render and bind than the lookup itself. Other values
    (dates, decimals: bound by their column type) keep `IN`."""
    kinds = {type(v) for v in values}
    if kinds != {int} and kinds != {str}:          # none, mixed, or bound by the column's type
        return column.in_(values)
    if conn.dialect.name == "sqlite":
        array = bindparam(None, orjson.dumps(values).decode(), type_=Text())
        return column.in_(select(literal_column("value")).select_from(func.json_each(array)))
    if conn.dialect.name == "postgresql":
        # Texts as TEXT[]: an array of the column's VARCHAR(n) would cut longer values to n.
        element = Text() if kinds == {str} else column.type
        return column == any_(bindparam(None, values, type_=ARRAY(element)))
    return column.in_(values)


def first_names(text: str) -> set[str]:
    """The fields an expression starts its paths from (`account.industry` -> account)."""
    try:
        return {n.parts[0] for n in walk(parse(text)) if isinstance(n, Path)}
    except Exception:
        return set()


def followed_links(text: str, entity: m.Entity) -> set[str]:
    """Fields of `entity` an expression follows further (`account.industry` -> {'account'})."""
    try:
        return {n.parts[0] for n in walk(parse(text))
                if isinstance(n, Path) and len(n.parts) > 1 and n.parts[0] in entity.fields}
    except Exception:
        return set()


def links_followed(entity: m.Entity, expression_defaults: list[m.Field]) -> set[str]:
    """Links whose records the entity's rules, expression defaults or formulas read: fetched whole."""
    texts = [rule.rule for rule in entity.validations] + [str(f.default) for f in expression_defaults]
    texts += [f.expr for f in entity.fields.values() if f.type == "formula" and f.expr]
    return set().union(*(followed_links(t, entity) for t in texts)) if texts else set()


def flatten_problems(problems: Problems) -> list[tuple[str, str]]:
    """(field, message) pairs; a record-level message has the field ''."""
    out = [(name, message) for name, messages in problems.fields.items() for message in messages]
    return out + [("", message) for message in problems.messages]


def params_of(text: str) -> set[str]:
    try:
        return {n.name for n in walk(parse(text)) if isinstance(n, Param)}
    except Exception:
        return set()
