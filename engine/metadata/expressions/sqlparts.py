"""SQL building blocks whose spelling differs between PostgreSQL and SQLite.

Each is a small SQLAlchemy construct compiled per dialect (`@compiles`), so
an expression compiled once runs on either database. The SQLite spellings
lean on a few deterministic Python functions that `register_sqlite_functions`
installs on each new connection:

    from sqlalchemy import event
    event.listen(engine, "connect", register_sqlite_functions)

They give SQLite the same timezone rules, rounding and case mapping as the
Python evaluator (and as PostgreSQL): `crm_local_date`, `crm_local_midnight`,
`crm_add_days`, `crm_round`, `crm_lower`, `crm_upper`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Grouping
from sqlalchemy.sql.functions import FunctionElement

from . import values

Builder = Callable[..., ColumnElement]


class _Part(FunctionElement):
    inherit_cache = True


def _dialects(cls: type, *, postgresql: Builder, sqlite: Builder) -> None:
    """Compile `cls` by building an ordinary SQLAlchemy expression per dialect (SQLite is the default)."""
    def build(builder: Builder) -> Callable[..., str]:
        def compile_(element: Any, compiler: Any, **kw: Any) -> str:
            return compiler.process(Grouping(builder(*element.clauses.clauses)), **kw)
        return compile_
    compiles(cls)(build(sqlite))
    compiles(cls, "postgresql")(build(postgresql))


def _at_zone(value: ColumnElement, tz: ColumnElement) -> ColumnElement:
    return Grouping(value).op("AT TIME ZONE")(tz)


class divide(_Part):
    """`a / b`: never truncates, and dividing by zero gives null."""
    inherit_cache = True
    type = sa.Numeric()
    name = "crm_divide"


_dialects(divide,
          postgresql=lambda a, b: sa.cast(a, sa.Numeric) / sa.func.nullif(b, 0),
          sqlite=lambda a, b: sa.cast(a, sa.Float) / sa.func.nullif(b, 0))


class local_date(_Part):
    """The date of a datetime in the company's timezone."""
    inherit_cache = True
    type = sa.Date()
    name = "crm_local_date"


_dialects(local_date,
          postgresql=lambda d, tz: sa.cast(_at_zone(d, tz), sa.Date),
          sqlite=lambda d, tz: sa.func.crm_local_date(d, tz))


class local_midnight(_Part):
    """A date used as a datetime: midnight in the company's timezone."""
    inherit_cache = True
    type = sa.DateTime(timezone=True)
    name = "crm_local_midnight"


_dialects(local_midnight,
          postgresql=lambda d, tz: _at_zone(sa.cast(d, sa.DateTime(timezone=False)), tz),
          sqlite=lambda d, tz: sa.func.crm_local_midnight(d, tz))


class add_days(_Part):
    """date + n days."""
    inherit_cache = True
    type = sa.Date()
    name = "crm_add_days"


_dialects(add_days,
          postgresql=lambda d, n: d + sa.cast(n, sa.Integer),
          sqlite=lambda d, n: sa.func.date(d, sa.cast(n, sa.String) + sa.literal(" days")))


class add_days_local(_Part):
    """datetime + n days, keeping the wall-clock time in the company's timezone."""
    inherit_cache = True
    type = sa.DateTime(timezone=True)
    name = "crm_add_days_local"


_dialects(add_days_local,
          postgresql=lambda d, n, tz: _at_zone(
              _at_zone(d, tz) + sa.func.make_interval(0, 0, 0, sa.cast(n, sa.Integer)), tz),
          sqlite=lambda d, n, tz: sa.func.crm_add_days(d, n, tz))


class days_between(_Part):
    """a - b in days, for two dates."""
    inherit_cache = True
    type = sa.Integer()
    name = "crm_days_between"


_dialects(days_between,
          postgresql=lambda a, b: a - b,
          sqlite=lambda a, b: sa.cast(sa.func.julianday(a) - sa.func.julianday(b), sa.Integer))


class lower(_Part):
    inherit_cache = True
    type = sa.String()
    name = "crm_lower"


_dialects(lower, postgresql=lambda s: sa.func.lower(s), sqlite=lambda s: sa.func.crm_lower(s))


class upper(_Part):
    inherit_cache = True
    type = sa.String()
    name = "crm_upper"


_dialects(upper, postgresql=lambda s: sa.func.upper(s), sqlite=lambda s: sa.func.crm_upper(s))


class round_(_Part):
    """Round half away from zero to n places."""
    inherit_cache = True
    type = sa.Numeric()
    name = "crm_round"


_dialects(round_,
          postgresql=lambda x, n: sa.func.round(sa.cast(x, sa.Numeric), sa.cast(n, sa.Integer)),
          sqlite=lambda x, n: sa.func.crm_round(x, n))


def _like_pattern(t: ColumnElement, prefix: str, suffix: str) -> ColumnElement:
    """A LIKE pattern matching `t` literally: `\\`, `%` and `_` are escaped.

    Built when the expression is built, never while it is compiled: SQLAlchemy
    caches compiled SQL by structure, so a value read during compilation would
    stick to the cache entry.
    """
    if isinstance(t, BindParameter) and isinstance(t.value, str):
        escaped = t.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sa.literal(prefix + escaped + suffix)
    escaped = sa.func.replace(sa.func.replace(sa.func.replace(t, "\\", "\\\\"), "%", "\\%"), "_", "\\_")
    return sa.literal(prefix) + escaped + sa.literal(suffix)


class _starts_with(_Part):
    inherit_cache = True
    type = sa.Boolean()
    name = "crm_starts_with"


class _ends_with(_Part):
    inherit_cache = True
    type = sa.Boolean()
    name = "crm_ends_with"


class _contains(_Part):
    inherit_cache = True
    type = sa.Boolean()
    name = "crm_contains"


# Case-sensitive everywhere. PostgreSQL uses LIKE with escaping (a constant
# prefix can use an index); SQLite's LIKE ignores ASCII case, so it compares
# substrings instead. Each construct carries (text, searched, LIKE pattern).
_dialects(_starts_with,
          postgresql=lambda s, t, pattern: s.like(pattern, escape="\\"),
          sqlite=lambda s, t, pattern: sa.func.substr(s, 1, sa.func.length(t)) == t)
_dialects(_ends_with,
          postgresql=lambda s, t, pattern: s.like(pattern, escape="\\"),
          sqlite=lambda s, t, pattern: sa.func.substr(s, sa.func.length(s) - sa.func.length(t) + 1) == t)
_dialects(_contains,
          postgresql=lambda s, t, pattern: s.like(pattern, escape="\\"),
          sqlite=lambda s, t, pattern: sa.func.instr(s, t) > 0)


def starts_with(s: ColumnElement, t: ColumnElement) -> ColumnElement:
    return _starts_with(s, t, _like_pattern(t, "", "%"))


def ends_with(s: ColumnElement, t: ColumnElement) -> ColumnElement:
    return _ends_with(s, t, _like_pattern(t, "%", ""))


def contains(s: ColumnElement, t: ColumnElement) -> ColumnElement:
    return _contains(s, t, _like_pattern(t, "%", "%"))


class json_length(_Part):
    """Number of items of a multichoice value (JSON array text)."""
    inherit_cache = True
    type = sa.Integer()
    name = "crm_json_length"


_dialects(json_length,
          postgresql=lambda v: sa.func.json_array_length(sa.cast(v, sa.JSON)),
          sqlite=lambda v: sa.func.json_array_length(v))


class json_has(_Part):
    """`key in tags` for a multichoice value: the JSON text holds `"key"`."""
    inherit_cache = True
    type = sa.Boolean()
    name = "crm_json_has"


def _quoted(item: ColumnElement) -> ColumnElement:
    return sa.literal('"') + sa.cast(item, sa.String) + sa.literal('"')


_dialects(json_has,
          postgresql=lambda v, item: sa.func.strpos(v, _quoted(item)) > 0,
          sqlite=lambda v, item: sa.func.instr(v, _quoted(item)) > 0)


# --- the Python side of SQLite's helpers ------------------------------------

def _sqlite_datetime(value: dt.datetime) -> str:
    return value.astimezone(values.UTC).replace(tzinfo=None).strftime(values.SQLITE_DATETIME)


def _sql_local_date(value: str | None, tz: str) -> str | None:
    if value is None:
        return None
    if len(value) == 10:                      # already a date
        return value
    return values.local_date(values.as_datetime(value), tz).isoformat()


def _sql_local_midnight(value: str | None, tz: str) -> str | None:
    if value is None:
        return None
    if len(value) > 10:                       # already a datetime
        return value
    return _sqlite_datetime(values.local_midnight(dt.date.fromisoformat(value), tz))


def _sql_add_days(value: str | None, days: Any, tz: str) -> str | None:
    if value is None or days is None:
        return None
    shifted = values.add_days(values.as_datetime(value), int(days), tz)
    return _sqlite_datetime(shifted)            # type: ignore[arg-type]


def _sql_round(value: Any, places: Any) -> Any:
    if value is None or places is None:
        return None
    result = values.round_half_up(Decimal(repr(value)) if isinstance(value, float) else value, int(places))
    return int(result) if int(places) <= 0 else float(result)


def _none_safe(fn: Callable[[str], str]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else fn(str(v))


def register_sqlite_functions(dbapi_connection: Any, connection_record: Any = None) -> None:
    """Install the engine's SQL helper functions on a sqlite3 connection.

    Use as an SQLAlchemy `connect` event listener on every SQLite engine.
    """
    create = dbapi_connection.create_function
    create("crm_local_date", 2, _sql_local_date, deterministic=True)
    create("crm_local_midnight", 2, _sql_local_midnight, deterministic=True)
    create("crm_add_days", 3, _sql_add_days, deterministic=True)
    create("crm_round", 2, _sql_round, deterministic=True)
    create("crm_lower", 1, _none_safe(values.lower), deterministic=True)
    create("crm_upper", 1, _none_safe(values.upper), deterministic=True)
