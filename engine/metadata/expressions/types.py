"""The value types of the expression language, and how they combine.

    int, decimal   numbers; int / int is a decimal; `%` takes ints only
    text           string-like fields, choice keys, stage keys
    bool           conditions
    date, datetime a date is accepted where a datetime is expected
                   (midnight in the company's timezone)
    days           what `days(n)` returns: only added to or taken from a date
    list           `[1, 2]` literals and multichoice fields (list of text)
    record         the value of a link field: the id of a row of `entity`
    user           the value of a user field or `current_user`: a crm_users id
    stage          a stage key of one pipeline; compares with text
    period         a `$param` of type period, used as `x in $period`
    null           the `null` literal; fits every type
    any            unknown (after an error, or an untyped parameter); fits every type
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Mapping

from ..model import Config, Field
from .periods import Period

Kind = Literal["int", "decimal", "text", "bool", "date", "datetime", "days", "list",
               "record", "user", "stage", "period", "null", "any"]


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    entity: str | None = None          # record: the linked entity
    pipeline: str | None = None        # stage: the pipeline
    item: Type | None = None           # list: the item type

    def __str__(self) -> str:
        if self.kind == "record":
            return f"link to {self.entity}"
        if self.kind == "stage":
            return f"stage of {self.pipeline}" if self.pipeline else "stage"
        if self.kind == "list":
            return f"list of {self.item}" if self.item and self.item.kind != "any" else "list"
        return {"int": "number", "decimal": "number"}.get(self.kind, self.kind)


INT = Type("int")
DECIMAL = Type("decimal")
TEXT = Type("text")
BOOL = Type("bool")
DATE = Type("date")
DATETIME = Type("datetime")
DAYS = Type("days")
USER = Type("user")
PERIOD = Type("period")
NULL = Type("null")
ANY = Type("any")


def record(entity: str) -> Type:
    return Type("record", entity=entity)


def stage(pipeline: str | None) -> Type:
    return Type("stage", pipeline=pipeline)


def list_of(item: Type) -> Type:
    return Type("list", item=item)


_FIELD_TYPES: dict[str, Type] = {
    **{t: TEXT for t in ("string", "text", "email", "phone", "url", "choice", "autonumber")},
    "int": INT, "rating": INT, "decimal": DECIMAL, "money": DECIMAL, "percent": DECIMAL,
    "bool": BOOL, "date": DATE, "datetime": DATETIME, "multichoice": list_of(TEXT), "user": USER,
}


def type_of_field(field: Field) -> Type | None:
    """The expression type of a field's value; None for lines and file fields (no single value)."""
    if field.type == "link":
        return record(field.entity or "")
    if field.type == "stage":
        return stage(field.pipeline)
    if field.type in ("formula", "rollup"):
        return _FIELD_TYPES.get(field.value_type, ANY)
    return _FIELD_TYPES.get(field.type)


def type_of_param(type_name: str, config: Config | None = None) -> Type:
    """The type of a declared parameter (`type: period`, `type: user`, a field type or an entity name)."""
    if type_name == "period":
        return PERIOD
    if type_name in ("link", "stage"):
        return ANY
    if type_name in _FIELD_TYPES:
        return _FIELD_TYPES[type_name]
    if config is not None and type_name in config.entities:
        return record(type_name)
    return ANY


def is_number(t: Type) -> bool:
    return t.kind in ("int", "decimal")


def is_text(t: Type) -> bool:
    return t.kind in ("text", "stage")


def is_temporal(t: Type) -> bool:
    return t.kind in ("date", "datetime")


def is_loose(t: Type) -> bool:
    """null and any fit everywhere."""
    return t.kind in ("null", "any")


def comparable(a: Type, b: Type) -> bool:
    """May `a == b` be asked? (Ordering needs `orderable` as well.)"""
    if is_loose(a) or is_loose(b):
        return True
    if is_number(a) and is_number(b) or is_text(a) and is_text(b) or is_temporal(a) and is_temporal(b):
        return True
    if a.kind == "record" and b.kind == "record":
        return a.entity == b.entity
    if {a.kind, b.kind} <= {"record", "int"} or {a.kind, b.kind} <= {"user", "int"}:
        return True          # a link's value is the id of the row it points at
    return a.kind == b.kind and a.kind in ("bool", "user")


def orderable(t: Type) -> bool:
    """May `<`, `min`, `max` be used on values of this type?"""
    return is_number(t) or t.kind in ("text", "date", "datetime") or is_loose(t)


def unify(a: Type, b: Type) -> Type | None:
    """The type of `x if c else y` / `coalesce(x, y)`; None when the two do not mix."""
    if a.kind == "null" or a.kind == "any" and b.kind != "null":
        return b if a.kind == "null" else a
    if b.kind in ("null", "any"):
        return a
    if a == b:
        return a
    if is_number(a) and is_number(b):
        return DECIMAL
    if is_temporal(a) and is_temporal(b):
        return DATETIME
    if is_text(a) and is_text(b):
        return TEXT
    if a.kind == "list" and b.kind == "list":
        item = unify(a.item or ANY, b.item or ANY)
        return list_of(item) if item else None
    return None


def accepts(expected: Type, actual: Type) -> bool:
    """May a value of type `actual` stand where `expected` is wanted (a `when`, a default, ...)?

    Numbers: an int fits a decimal, not the other way round (use round()).
    """
    if is_loose(actual) or expected.kind == "any":
        return True
    if expected.kind == "decimal":
        return is_number(actual)
    if expected.kind == "datetime":
        return is_temporal(actual)
    if expected.kind == "text":
        return is_text(actual)
    if expected.kind == "stage":
        return actual.kind == "text" or actual.kind == "stage" and actual.pipeline == expected.pipeline
    if expected.kind == "record":
        return actual.kind == "int" or actual == expected
    if expected.kind == "list":
        return actual.kind == "list" and accepts(expected.item or ANY, actual.item or ANY)
    return expected.kind == actual.kind


def arithmetic_type(op: str, left: Type, right: Type) -> Type | tuple[str, str | None]:
    """The type of `left op right`, or (message, hint) when they do not combine."""
    if is_loose(left) or is_loose(right):
        known = right if is_loose(left) else left
        if is_loose(known):
            return ANY
        if is_number(known):
            return DECIMAL if op == "/" else known
        if op == "+" and is_text(known):
            return TEXT
        if op in "+-" and (is_temporal(known) or known.kind == "days"):
            return known if is_temporal(known) else ANY
    elif is_number(left) and is_number(right):
        if op == "/":
            return DECIMAL
        if op == "%":
            if left.kind == right.kind == "int":
                return INT
            return ("'%' needs whole numbers", "use round(x) first")
        return INT if left.kind == right.kind == "int" else DECIMAL
    elif op == "+" and is_text(left) and is_text(right):
        return TEXT
    elif op in "+-" and is_temporal(left) and right.kind == "days":
        return left
    elif op == "+" and left.kind == "days" and is_temporal(right):
        return right
    elif op == "-" and left.kind == right.kind == "date":
        return INT
    verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}[op]
    hint = None
    if is_temporal(left) and is_number(right) and op in "+-":
        hint = f"write {'+' if op == '+' else '-'} days(n) to shift a date"
    elif op == "+" and (is_text(left) or is_text(right)):
        hint = "only text joins text"
    elif left.kind == right.kind == "datetime" and op == "-":
        hint = "use days_since(x.date()) or compare the dates"
    return (f"cannot {verb} {left} and {right}", hint)


def type_of_value(value: object) -> Type:
    """The type of a parameter value given without a declared type."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, (Decimal, float)):
        return DECIMAL
    if isinstance(value, str):
        return TEXT
    if isinstance(value, dt.datetime):
        return DATETIME
    if isinstance(value, dt.date):
        return DATE
    if isinstance(value, Period):
        return PERIOD
    if isinstance(value, (list, tuple, set, frozenset)):
        item = NULL
        for v in value:
            item = unify(item, type_of_value(v)) or ANY
        return list_of(ANY if item.kind == "null" else item)
    if isinstance(value, Mapping) and value and set(value) <= {"from", "to"}:
        return PERIOD
    return ANY
