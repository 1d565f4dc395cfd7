"""Rows that would not survive a schema change, and what kind of change a type change is.

A `RowCheck` is a query for the offending rows of one column (values too
long, fractions that an integer would cut, keys that are no longer options,
duplicates, dangling references). The planner runs it to classify a step and
to list the rows in a refusal; the migration runs it again, under lock, just
before changing anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SAMPLE = 20


@dataclass(frozen=True, slots=True)
class Offenders:
    count: int
    sample: tuple[tuple[Any, Any], ...]          # (id, value), ordered by id, at most SAMPLE

    def lines(self) -> list[str]:
        out = [f"id {rid}: {_shown(value)}" for rid, value in self.sample]
        if self.count > len(self.sample):
            out.append(f"... and {self.count - len(self.sample)} more")
        return out


@dataclass(frozen=True, slots=True, eq=False)
class RowCheck:
    table: str                                   # live name when planned (checks run before renames)
    what: str                                    # "longer than 50 characters"
    query: sa.Select                             # id, value of each offending row

    def run(self, conn: Connection) -> Offenders:
        sub = self.query.subquery()
        count = conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one()
        if not count:
            return Offenders(0, ())
        rows = conn.execute(self.query.order_by(self.query.selected_columns[0]).limit(SAMPLE)).all()
        return Offenders(int(count), tuple((r[0], r[1]) for r in rows))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_of(table: sa.Table) -> sa.Column:
    """What identifies a row in a refusal: `id` in entity tables, else the primary key's first column."""
    if "id" in table.c:
        return table.c.id
    return next(iter(table.primary_key.columns), None) or next(iter(table.c))


def where(table: sa.Table, column: str, condition: sa.ColumnElement[bool], what: str) -> RowCheck:
    col = table.c[column]
    return RowCheck(table.name, what, sa.select(key_of(table), col).where(col.is_not(None), condition))


def empty(table: sa.Table, column: str) -> RowCheck:
    col = table.c[column]
    return RowCheck(table.name, "empty", sa.select(key_of(table), col).where(col.is_(None)))


def duplicates(table: sa.Table, columns: list[str]) -> RowCheck:
    cols = [table.c[c] for c in columns]
    dup = sa.select(*cols).where(*[c.is_not(None) for c in cols]).group_by(*cols).having(sa.func.count() > 1)
    key = sa.tuple_(*cols) if len(cols) > 1 else cols[0]
    return RowCheck(table.name, "sharing a value that must be unique",
                    sa.select(key_of(table), cols[0]).where(key.in_(dup)))


def dangling(table: sa.Table, column: str, referred: sa.Table) -> RowCheck:
    col = table.c[column]
    target = key_of(referred)
    exists = sa.select(target).where(target == col).exists()
    return RowCheck(table.name, f"pointing at no {referred.name} record",
                    sa.select(key_of(table), col).where(col.is_not(None), ~exists))


def any_value(table: sa.Table, column: str, what: str) -> RowCheck:
    col = table.c[column]
    return RowCheck(table.name, what, sa.select(key_of(table), col).where(col.is_not(None)))


# -- type changes --------------------------------------------------------------------------

Change = Literal["same", "widen", "narrow", "convert"]
INT_DIGITS = 10           # a 32-bit integer has up to 10 digits


def kind_of(type_: sa.types.TypeEngine) -> tuple[Any, ...]:
    """A type reduced to what decides whether values fit: ('string', 255), ('decimal', 20, 2), ..."""
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa.Text) or (isinstance(type_, sa.String) and not type_.length):
        return ("text",)
    if isinstance(type_, sa.String):
        return ("string", type_.length)
    if isinstance(type_, sa.Boolean):
        return ("bool",)
    if isinstance(type_, sa.Integer):
        return ("int",)
    if isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float):
        return ("decimal", type_.precision or 38, type_.scale or 0)
    if isinstance(type_, sa.DateTime):
        return ("datetime",)
    if isinstance(type_, sa.Date):
        return ("date",)
    return ("other", type(type_).__name__)


def type_change(table: sa.Table, column: str, old: sa.types.TypeEngine,
                new: sa.types.TypeEngine) -> tuple[Change, RowCheck | None]:
    """How a column's values fare when its type changes, and the query for those that would not fit."""
    a, b = kind_of(old), kind_of(new)
    col = table.c[column]
    if a == b:
        return "same", None
    if a[0] in ("string", "text") and b[0] == "text":
        return "widen", None
    if a[0] in ("string", "text") and b[0] == "string":
        if a[0] == "string" and a[1] <= b[1]:
            return "widen", None
        return "narrow", where(table, column, sa.func.length(col) > b[1], f"longer than {b[1]} characters")
    if a[0] == "int" and b[0] == "decimal":
        if b[1] - b[2] >= INT_DIGITS:
            return "widen", None
        limit = 10 ** (b[1] - b[2])
        return "narrow", where(table, column, sa.func.abs(col) >= limit, f"with {b[1] - b[2]} or more digits before the point")
    if a[0] == "decimal" and b[0] == "int":
        return "narrow", where(table, column, sa.or_(col != sa.func.round(col), sa.func.abs(col) > 2**31 - 1),
                               "with a fraction, or too large for an integer")
    if a[0] == "decimal" and b[0] == "decimal":
        conditions = []
        if b[2] < a[2]:
            conditions.append(col != sa.func.round(col, b[2]))
        if b[1] - b[2] < a[1] - a[2]:
            conditions.append(sa.func.abs(col) >= 10 ** (b[1] - b[2]))
        if not conditions:
            return "widen", None
        return "narrow", where(table, column, sa.or_(*conditions),
                               f"not fitting {b[1] - b[2]} digits before and {b[2]} after the point")
    return "convert", any_value(table, column, f"holding a {a[0]} value that cannot become {b[0]}")
