"""Small speed-ups the importer uses per row, each giving exactly what the plain call gives.

- `MemoConvert`: `values.convert` remembered per field and raw text, for columns of
  few distinct values (stages, choices, dates, percentages);
- `RowCache`: the evaluator's `load(table, id)` served from rows fetched in batches;
- `AuditJson`: `audit.to_json` of a whole record, with one encoder per field chosen once
  (a test holds it equal to `to_json`);
- `MemoBind`: a column type's bind processor remembered per value (dates, `now`);
- `spared_from_gc`: the objects alive before an import kept out of the garbage collector's
  full passes while it runs;
- small readers of expressions (`first_names`, `links_followed`, `params_of`).
"""
from __future__ import annotations

import datetime as dt
import gc
import json
from contextlib import contextmanager
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Callable, Iterator, Mapping

from sqlalchemy import Connection, select

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


def _text_of(value: Any) -> str:
    return encode_basestring(value)


def _number_text(value: Any) -> str:
    return encode_basestring(format(value, "f"))


def _iso(value: Any) -> str:
    return encode_basestring(value.isoformat())


def _plain_number(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return repr(value) if type(value) is int else json.dumps(value)


def _any(value: Any) -> str:
    from .audit import to_json
    return to_json(value) or "null"


_ENCODERS: dict[str, Callable[[Any], str]] = {
    **{t: _text_of for t in ("string", "text", "email", "phone", "url", "choice", "stage", "autonumber")},
    **{t: _plain_number for t in ("int", "rating", "link", "user", "bool")},
    **{t: _number_text for t in ("decimal", "money", "percent")},
    "date": _iso, "datetime": _iso,
}


class AuditJson:
    """`audit.to_json({field: value for non-null stored fields})`, built field by field."""

    def __init__(self, entity: m.Entity):
        stored = sorted((f for f in entity.fields.values() if f.stored), key=lambda f: f.name)
        self.fields = [(f.name, f'"{f.name}": ', _ENCODERS.get(f.type, _any)) for f in stored]

    def __call__(self, record: Mapping[str, Any]) -> str:
        parts = []
        for name, key, encode in self.fields:
            value = record[name]
            if value is not None:
                # A value of an unexpected Python type takes the general path.
                parts.append(key + (encode(value) if type(value) in _SIMPLE else _any(value)))
        return "{" + ", ".join(parts) + "}"


_SIMPLE = {str, int, bool, dt.date, dt.datetime, __import__("decimal").Decimal}


@contextmanager
def spared_from_gc() -> Iterator[None]:
    """The objects alive when an import starts (configuration, tables, compiled statements, modules)
    set aside from garbage collection while it runs, as the web server does after it starts.

    An import makes and drops objects by the million; every full collection would walk all the
    older ones again, about a sixth of a single-process import's CPU time. They return to the
    collector afterwards, unless the process had already set objects aside itself (a server).
    """
    had_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not had_frozen:
            gc.unfreeze()


class MemoBind:
    """A bind processor remembered per value, for values that repeat (dates, the batch's `now`)."""

    LIMIT = 8192

    def __init__(self, process: Callable[[Any], Any]):
        self.process = process
        self.memo: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        hit = self.memo.get(value)
        if hit is None:
            hit = self.process(value)
            if len(self.memo) < self.LIMIT:
                self.memo[value] = hit
        return hit


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
