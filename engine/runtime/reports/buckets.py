"""Time buckets of report groupings: a date (or datetime) -> the first day of its bucket.

    start = bucket_start(column, "month", column_kind="date", dialect="sqlite", company=config.company)
    key, start = bucket_group(column, "month", column_kind="date", dialect="sqlite", company=config.company)

Buckets: `day`, `week` (weeks begin on crm.yaml's `week_starts`), `month`,
`quarter`, `year` (calendar quarters and years, like the `this_quarter` and
`this_year` periods), and `fiscal_quarter`, `fiscal_year` (counted from
`fiscal_year_start`; a 29 February start is taken as 28 February). A
datetime is first turned into its date in the company's timezone, so a deal
closed at 00:30 Budapest time on 1 March counts in March.

The result is always a date (the bucket's first day), so buckets sort and
compare the same on both databases. SQLite stores dates as ISO text, and
the SQLite spellings work on that text directly (substr/CASE instead of
strftime where they can), because this runs once per row of a report.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ...metadata import model as m
from ...metadata.expressions import sqlparts

BUCKETS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def bucket_start(column: ColumnElement, bucket: str, *, column_kind: str, dialect: str,
                 company: m.Company) -> ColumnElement:
    """The first day of `column`'s bucket, as a DATE expression for `dialect`."""
    if bucket not in BUCKETS:
        raise ValueError(f"'{bucket}' is not a bucket ({', '.join(BUCKETS)})")
    day = column
    if column_kind == "datetime":
        day = sqlparts.local_date(column, sa.literal(company.timezone))
    build = _postgresql if dialect == "postgresql" else _sqlite
    return sa.type_coerce(build(day, bucket, company), sa.Date())


def bucket_group(column: ColumnElement, bucket: str, *, column_kind: str, dialect: str,
                 company: m.Company) -> tuple[ColumnElement, ColumnElement]:
    """(GROUP BY key, selected bucket start) for a report's grouping.

    On SQLite a month or year is grouped by the date text's prefix (`2025-03`)
    and only the result rows get '-01' appended: the per-row work is then a
    substr, the same as a hand-written `GROUP BY substr(close_date, 1, 7)`.
    Elsewhere the key is the bucket start itself.
    """
    if dialect != "postgresql" and column_kind == "date" and bucket in ("month", "year"):
        width, tail = (7, "-01") if bucket == "month" else (4, "-01-01")
        key = sa.func.substr(column, _int(1), _int(width))
        return key, sa.type_coerce(key.op("||")(_text(tail)), sa.Date())
    start = bucket_start(column, bucket, column_kind=column_kind, dialect=dialect, company=company)
    return start, start


def fiscal_start(company: m.Company) -> tuple[int, int]:
    month, day = company.fiscal_year_start
    return (2, 28) if (month, day) == (2, 29) else (month, day)


def week_start_dow(company: m.Company) -> int:
    """The first weekday as SQL's day-of-week number (Sunday 0 .. Saturday 6)."""
    return _WEEKDAYS.index((company.week_starts or "monday").lower())


def _int(n: int) -> ColumnElement:
    # Configuration numbers (never user input) written into the SQL as literals,
    # so the statement's text is stable and the planner sees constants.
    return sa.literal_column(str(int(n)), sa.Integer())


def _text(s: str) -> ColumnElement:
    return sa.literal_column("'" + s.replace("'", "''") + "'", sa.String())


# -- SQLite: dates are 'YYYY-MM-DD' text ---------------------------------------------------

def _sqlite(d: ColumnElement, bucket: str, company: m.Company) -> ColumnElement:
    substr = sa.func.substr
    if bucket == "day":
        return d
    if bucket == "month":
        return substr(d, _int(1), _int(8)).op("||")(_text("01"))
    if bucket == "year":
        return substr(d, _int(1), _int(5)).op("||")(_text("01-01"))
    if bucket == "quarter":
        month = substr(d, 6, 2)
        first = sa.case((month <= _text("03"), _text("01-01")), (month <= _text("06"), _text("04-01")),
                        (month <= _text("09"), _text("07-01")), else_=_text("10-01"))
        return substr(d, 1, 5).op("||")(first)
    if bucket == "week":
        back = (sa.cast(sa.func.strftime("%w", d), sa.Integer) + _int(7 - week_start_dow(company))) % _int(7)
        return sa.func.date(d, _text("-").op("||")(back).op("||")(_text(" days")))
    fiscal_year = _sqlite_fiscal_year(d, company)
    if bucket == "fiscal_year":
        return fiscal_year
    month, day = fiscal_start(company)
    as_int = lambda e: sa.cast(e, sa.Integer)  # noqa: E731
    months = (as_int(substr(d, 1, 4)) * _int(12) + as_int(substr(d, 6, 2))
              - as_int(substr(fiscal_year, 1, 4)) * _int(12) - _int(month)
              - sa.case((as_int(substr(d, 9, 2)) < _int(day), _int(1)), else_=_int(0)))
    shift = (months // _int(3)) * _int(3)
    return sa.func.date(fiscal_year, _text("+").op("||")(shift).op("||")(_text(" months")))


def _sqlite_fiscal_year(d: ColumnElement, company: m.Company) -> ColumnElement:
    month, day = fiscal_start(company)
    month_day = f"-{month:02d}-{day:02d}"
    year = sa.func.substr(d, 1, 4)
    previous = sa.func.printf(_text("%04d"), sa.cast(year, sa.Integer) - _int(1))
    return sa.case((sa.func.substr(d, 5, 6) >= _text(month_day), year.op("||")(_text(month_day))),
                   else_=previous.op("||")(_text(month_day)))


# -- PostgreSQL: real dates ------------------------------------------------------------------

def _postgresql(d: ColumnElement, bucket: str, company: m.Company) -> ColumnElement:
    d = sa.cast(d, sa.Date)
    if bucket == "day":
        return d
    if bucket in ("month", "quarter", "year"):
        return sa.cast(sa.func.date_trunc(_text(bucket), sa.cast(d, sa.DateTime(timezone=False))), sa.Date)
    if bucket == "week":
        dow = sa.cast(sa.extract("dow", d), sa.Integer)
        return d - (dow + _int(7 - week_start_dow(company))) % _int(7)
    month, day = fiscal_start(company)
    year = sa.cast(sa.extract("year", d), sa.Integer)
    before = sa.func.to_char(d, _text("MM-DD")) < _text(f"{month:02d}-{day:02d}")
    start_year = year - sa.case((before, _int(1)), else_=_int(0))
    fiscal_year = sa.func.make_date(start_year, _int(month), _int(day))
    if bucket == "fiscal_year":
        return fiscal_year
    months = ((year - start_year) * _int(12) + sa.cast(sa.extract("month", d), sa.Integer) - _int(month)
              - sa.case((sa.cast(sa.extract("day", d), sa.Integer) < _int(day), _int(1)), else_=_int(0)))
    shift = (months // _int(3)) * _int(3)
    return sa.cast(fiscal_year + sa.func.make_interval(0, shift), sa.Date)
