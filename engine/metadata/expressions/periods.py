"""Report periods: `x in $period` and the period names of reports and KPIs.

A period resolves, for a given "today" in the company's timezone, to a
half-open range of dates `[start, end)`:

    today                  today only
    this_week, last_week   weeks begin on crm.yaml's `week_starts`
    this_month, last_month, this_quarter, last_quarter, this_year, last_year
    this_fiscal_year, last_fiscal_year
                           fiscal years begin on crm.yaml's `fiscal_year_start`
    last_N_days            N days ending with today (today included)
    next_N_days            N days starting with today (today included)
    last_N_months          the N whole calendar months before this month
    next_N_months          the N whole calendar months after this month
    {from: D1, to: D2}     D1 to D2, both included; either may be left out
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping, NamedTuple

from ..model import Company

NAMED = ("today", "this_week", "last_week", "this_month", "last_month", "this_quarter",
         "last_quarter", "this_year", "last_year", "this_fiscal_year", "last_fiscal_year")
_COUNTED = re.compile(r"^(last|next)_([1-9][0-9]{0,3})_(days|months)$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Period(NamedTuple):
    """Dates `start` (included) to `end` (excluded); None is an open end."""

    start: dt.date | None
    end: dt.date | None


def period_problem(spec: Any) -> str | None:
    """Why `spec` is not a period, or None when it is one (for configuration checks)."""
    if isinstance(spec, Period):
        return None
    if isinstance(spec, str):
        if spec in NAMED or _COUNTED.match(spec):
            return None
        return f"'{spec}' is not a period (one of {', '.join(NAMED)}, last_N_days, next_N_days, last_N_months, next_N_months)"
    if isinstance(spec, Mapping):
        extra = set(spec) - {"from", "to"}
        if extra or not spec:
            return "an explicit period has the keys 'from' and 'to'"
        try:
            start, end = _date(spec.get("from")), _date(spec.get("to"))
        except ValueError as exc:
            return str(exc)
        if start and end and end < start:
            return "the period ends before it starts"
        return None
    return f"{spec!r} is not a period"


def resolve_period(spec: Any, today: dt.date, company: Company | None = None) -> Period:
    """The dates of a period as `(start, end_exclusive)`; raises ValueError for a bad spec."""
    problem = period_problem(spec)
    if problem:
        raise ValueError(problem)
    if isinstance(spec, Period):
        return spec
    if isinstance(spec, Mapping):
        start, last = _date(spec.get("from")), _date(spec.get("to"))
        return Period(start, last + dt.timedelta(days=1) if last else None)
    counted = _COUNTED.match(spec)
    if counted:
        direction, n, unit = counted.group(1), int(counted.group(2)), counted.group(3)
        if unit == "days":
            if direction == "last":
                return Period(today - dt.timedelta(days=n - 1), today + dt.timedelta(days=1))
            return Period(today, today + dt.timedelta(days=n))
        month = _month_start(today)
        if direction == "last":
            return Period(_add_months(month, -n), month)
        return Period(_add_months(month, 1), _add_months(month, n + 1))
    which, unit = spec.split("_", 1) if spec != "today" else ("this", "day")
    shift = -1 if which == "last" else 0
    if unit == "day":
        return Period(today, today + dt.timedelta(days=1))
    if unit == "week":
        first = _WEEKDAYS.index((company.week_starts if company else "monday").lower())
        start = today - dt.timedelta(days=(today.weekday() - first) % 7) + dt.timedelta(weeks=shift)
        return Period(start, start + dt.timedelta(weeks=1))
    if unit == "month":
        start = _add_months(_month_start(today), shift)
        return Period(start, _add_months(start, 1))
    if unit == "quarter":
        start = _add_months(dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), 3 * shift)
        return Period(start, _add_months(start, 3))
    if unit == "year":
        return Period(dt.date(today.year + shift, 1, 1), dt.date(today.year + shift + 1, 1, 1))
    # fiscal_year
    month, day = company.fiscal_year_start if company else (1, 1)
    start_year = today.year if today >= _fiscal_start(today.year, month, day) else today.year - 1
    start_year += shift
    return Period(_fiscal_start(start_year, month, day), _fiscal_start(start_year + 1, month, day))


def _date(value: Any) -> dt.date | None:
    if value is None or type(value) is dt.date:
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a date (YYYY-MM-DD)") from None


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(first_of_month: dt.date, months: int) -> dt.date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _fiscal_start(year: int, month: int, day: int) -> dt.date:
    """The fiscal year's first day; a 29 February start is the 28th in other years."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        return dt.date(year, month, 28)
