"""Report values and group labels as the user's language writes them (Babel's CLDR data).

Measure and KPI formats (`format:`): `money` (the company's currency, its
digits), `percent` (a fraction: 0.25 -> 25%, as `count(won) / count(closed)`
gives it), `int` (rounded to whole), `decimal` (two places); no format shows
whole numbers as such and others with up to two places. Null shows as "".

Bucket labels: day and week show the date ("week of" is the page's wording),
month `Mar 2025`, quarter `2025 Q1`, year `2025`, fiscal quarter
`FY2025 Q2` and fiscal year `FY2025` (the year the fiscal year starts in).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from babel import dates, numbers

from ...metadata import model as m
from .buckets import fiscal_start


def format_value(value: Any, fmt: str | None, locale: str, currency: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if fmt == "money":
        return numbers.format_currency(value, currency, locale=locale)
    if fmt == "percent":
        return numbers.format_percent(Decimal(str(value)), format="#,##0.#%", locale=locale)
    if fmt == "int":
        return numbers.format_decimal(round(Decimal(str(value))), format="#,##0", locale=locale)
    if fmt == "decimal":
        return numbers.format_decimal(value, format="#,##0.00", locale=locale)
    if isinstance(value, int):
        return numbers.format_decimal(value, format="#,##0", locale=locale)
    if isinstance(value, (Decimal, float)):
        return numbers.format_decimal(value, format="#,##0.##", locale=locale)
    return str(value)


def bucket_label(start: dt.date | None, bucket: str, locale: str, company: m.Company) -> str:
    if start is None:
        return ""
    if isinstance(start, str):
        start = dt.date.fromisoformat(start)
    if bucket in ("day", "week"):
        return dates.format_date(start, "medium", locale=locale)
    if bucket == "month":
        return dates.format_skeleton("yMMM", start, locale=locale)
    if bucket == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if bucket == "year":
        return str(start.year)
    first_month, _ = fiscal_start(company)
    if bucket == "fiscal_year":
        return f"FY{start.year}"
    fiscal_year = start.year if start.month >= first_month else start.year - 1
    quarter = ((start.month - first_month) % 12) // 3 + 1
    return f"FY{fiscal_year} Q{quarter}"


def plain(value: Any) -> Any:
    """A value for CSV/XLSX cells: numbers stay numbers, dates stay dates."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value
