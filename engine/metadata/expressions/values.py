"""Runtime values shared by the Python evaluator and the SQLite helper functions.

The conventions, the same in every back end:

- numbers are `int` or `Decimal` (a float read from SQLite becomes the
  Decimal of its shortest repr); division and rounding use Decimal;
- datetimes are aware; a naive datetime (SQLite gives those back) is UTC;
- "the date of a datetime" is its date in the company's timezone, and a date
  used as a datetime is midnight of that day in the company's timezone;
- adding days to a datetime keeps its wall-clock time in the company's timezone;
- text case mapping is per character (`upper('ß')` stays 'ß'), as PostgreSQL does.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Mapping
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"    # how SQLAlchemy stores DateTime in SQLite


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def aware(value: dt.datetime) -> dt.datetime:
    """A naive datetime is UTC (that is how the engine stores them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def local_date(value: dt.datetime | dt.date, tz: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return aware(value).astimezone(zone(tz)).date()
    return value


def localize(wall: dt.datetime, tz: str) -> dt.datetime:
    """A naive local wall-clock time in `tz` -> aware UTC, resolved as PostgreSQL does.

    A time skipped by a DST jump forward takes the offset from before the jump;
    a time repeated by a jump back takes the offset from after it.
    """
    z = zone(tz)
    first, second = wall.replace(tzinfo=z, fold=0), wall.replace(tzinfo=z, fold=1)
    if first.utcoffset() != second.utcoffset() and second.astimezone(UTC).astimezone(z).replace(tzinfo=None) == wall:
        return second.astimezone(UTC)      # repeated hour: the later instant
    return first.astimezone(UTC)


def local_midnight(day: dt.date, tz: str) -> dt.datetime:
    """Midnight at the start of `day` in `tz`, as an aware UTC datetime."""
    if isinstance(day, dt.datetime):
        return aware(day).astimezone(UTC)
    return localize(dt.datetime(day.year, day.month, day.day), tz)


def add_days(value: dt.date | dt.datetime, days: int, tz: str) -> dt.date | dt.datetime:
    """`value + days(n)`; a datetime keeps its local wall-clock time."""
    if isinstance(value, dt.datetime):
        wall = aware(value).astimezone(zone(tz)).replace(tzinfo=None) + dt.timedelta(days=days)
        return localize(wall, tz)
    return value + dt.timedelta(days=days)


def as_number(value: Any) -> int | Decimal | None:
    if value is None or isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def as_date(value: Any) -> dt.date | None:
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return aware(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    return aware(dt.datetime.fromisoformat(str(value)))


def as_list(value: Any) -> list | None:
    """A multichoice value: a list, or the JSON array text it is stored as."""
    if value is None or isinstance(value, list):
        return value
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    parsed = json.loads(value)
    return parsed if isinstance(parsed, list) else None


def ref_id(value: Any) -> Any:
    """A link given as a row mapping stands for its id."""
    return value.get("id") if isinstance(value, Mapping) and "id" in value else value


def normalise(value: Any, kind: str) -> Any:
    """A stored value in the form the evaluator computes with (SQLite returns floats, 0/1, text dates)."""
    if value is None:
        return None
    if kind == "decimal" or kind == "int" and not isinstance(value, int):
        return as_number(value)
    if kind == "int":
        return value
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return as_date(value)
    if kind == "datetime":
        return as_datetime(value)
    if kind in ("record", "user"):
        return ref_id(value)
    if kind == "list":
        return as_list(value)
    return value


def lower(text: str) -> str:
    # Per character, like PostgreSQL: 'İ' has a two-character full lowercase; its simple one is 'i'.
    return "".join(c.lower() if len(c.lower()) == 1 else ("i" if c == "\u0130" else c) for c in text)


def upper(text: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


def round_half_up(value: int | Decimal, places: int) -> Decimal:
    """Round half away from zero, as PostgreSQL's round(numeric, n) does."""
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def sql_mod(a: int, b: int) -> int:
    """`a % b` with the sign of `a`, as SQL has it (Python's % follows `b`)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


# Three-valued logic: None is SQL's unknown.
def and3(values: list[Any]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def or3(values: list[Any]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def not3(value: Any) -> bool | None:
    return None if value is None else not value


def in3(item: Any, items: list[Any]) -> bool | None:
    """SQL's `item IN (...)`: unknown when no match and a null is involved; an empty list is false."""
    if not items:
        return False
    if item is None:
        return None
    if any(v is not None and v == item for v in items):
        return True
    return None if any(v is None for v in items) else False
