"""A column's bind processor for the importer's executemany, with a direct path for its usual values.

    process = direct_bind(table.c.created_at, dialect)
    process(dt.datetime(2025, 3, 10, 8, 30, tzinfo=dt.timezone.utc))   # '2025-03-10 08:30:00.000000' on SQLite

SQLAlchemy's processor of a UTC datetime column on SQLite is two calls (the
`UtcDateTime` decorator's, then SQLite's DATETIME text built from a dict) and
costs more than the rest of the row's binding; a date column's builds a dict
too. The importer's values are of one exact kind (a `datetime` in
`timezone.utc`, a `date`), for which the text is formatted here in one step,
the same text; any other value goes through the column's own processor. A test
compares both for such values on SQLite and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from sqlalchemy import Column, Date, Dialect
from sqlalchemy.types import TypeEngine

from .tables import UtcDateTime

Processor = Callable[[Any], Any]
UTC = dt.timezone.utc
_DATETIME = dt.datetime
_DATE = dt.date
# SQLAlchemy's SQLite DATETIME and DATE storage formats, positional.
SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
SQLITE_DATE = "%04d-%02d-%02d"
_SQLITE_DATETIME_DEFAULT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
_SQLITE_DATE_DEFAULT = "%(year)04d-%(month)02d-%(day)02d"


def direct_bind(column: Column, dialect: Dialect) -> Processor | None:
    """The column type's bind processor for `dialect` (None: values go as they are), with the
    direct path where there is one."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column.type, UtcDateTime):
        if dialect.name != "sqlite":
            return _utc_value(process)
        if _storage_format(column.type.impl_instance, dialect) == _SQLITE_DATETIME_DEFAULT:
            return _utc_text(process)
    elif isinstance(column.type, Date) and dialect.name == "sqlite":
        if _storage_format(column.type, dialect) == _SQLITE_DATE_DEFAULT:
            return _date_text(process)
    return process


def _utc_text(process: Processor) -> Processor:
    """SQLite: an aware UTC datetime as SQLAlchemy stores it (UTC wall-clock time, microseconds)."""
    fmt = SQLITE_DATETIME

    def utc_text(value: Any) -> Any:
        if type(value) is _DATETIME and value.tzinfo is UTC:
            return fmt % (value.year, value.month, value.day, value.hour, value.minute, value.second,
                          value.microsecond)
        return process(value)
    return utc_text


def _utc_value(process: Processor) -> Processor:
    """PostgreSQL: an aware UTC datetime is bound as it is (the decorator's `astimezone(utc)` is itself)."""
    def utc_value(value: Any) -> Any:
        if type(value) is _DATETIME and value.tzinfo is UTC:
            return value
        return process(value)
    return utc_value


def _date_text(process: Processor) -> Processor:
    fmt = SQLITE_DATE

    def date_text(value: Any) -> Any:
        if type(value) is _DATE:
            return fmt % (value.year, value.month, value.day)
        return process(value)
    return date_text


def _storage_format(type_: TypeEngine, dialect: Dialect) -> str | None:
    """The SQLite type's text format (a type given a format of its own keeps its own processor)."""
    return getattr(type_.dialect_impl(dialect), "_storage_format", None)
