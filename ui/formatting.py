"""Numbers, money, percentages, dates and datetimes as the user's language writes them.

    fmt = Formatter(locale="hu", currency="HUF", timezone="Europe/Budapest")
    fmt.money(Decimal("1234567"))      # '1 234 567 Ft' (U+00A0 separators, HUF has no decimals)
    fmt.money(Decimal("12.5"), "EUR")  # '12,50 EUR'
    fmt.datetime(aware_utc_value)      # shown in the company's timezone

Everything is Babel's CLDR data: the digits of a currency, the separators and
the date patterns are never written by hand here (compiled_formats.py looks
each pattern up once per locale). `None` formats as "".
The same functions are the Jinja filters `number`, `money`, `percent`, `date`
and `datetime` (see `templating.py`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any, Callable
from zoneinfo import ZoneInfo

from .compiled_formats import date_format, datetime_glue, number_format, time_format

Number = int | float | Decimal


@dataclass(frozen=True)
class Formatter:
    """Formatting for one user: their locale, the company's currency and timezone."""

    locale: str
    currency: str
    timezone: str

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def number(self, value: Number | None, decimals: int | None = None) -> str:
        """A number with grouping; `decimals` fixes the fraction digits (default: up to 3)."""
        if value is None:
            return ""
        if decimals is None:
            return number_format(self.locale)(value)
        pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
        return number_format(self.locale, pattern=pattern)(value)

    def money(self, value: Number | None, currency: str | None = None) -> str:
        """An amount in `currency` (default the company's) with that currency's digits."""
        if value is None:
            return ""
        return number_format(self.locale, currency=currency or self.currency)(value)

    def percent(self, value: Number | None) -> str:
        """A percent field's value (0..100, as stored), e.g. 12.5 -> '12,5%'."""
        if value is None:
            return ""
        # Stored percentages are 0..100; Babel multiplies by 100, and keeps the
        # fraction digits the value has instead of rounding to whole percents.
        return number_format(self.locale, percent=True, quantize=False)(Decimal(str(value)) / 100)

    def date(self, value: dt.date | None) -> str:
        """A date in the locale's medium form ('2025. márc. 14.', 'Mar 14, 2025')."""
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            value = self.local(value).date()
        return date_format(self.locale, "medium")(value)

    def datetime(self, value: dt.datetime | None) -> str:
        """A moment in the company's timezone: medium date and short time, no seconds."""
        if value is None:
            return ""
        # A page shows the same moments again and again (records imported or saved together):
        # each is formatted once per process, language and zone. The key keeps what tells two
        # moments apart (`fold` and the zone: equal datetimes of one zone can differ in them).
        return _moments(self.locale, self.timezone)((value, value.fold, value.tzinfo))

    def _datetime(self, value: dt.datetime) -> str:
        local = self.local(value)
        # CLDR's own glue between date and time ('{1}, {0}' in English, '{1} {0}' in Hungarian).
        glue = datetime_glue(self.locale, "medium")
        return (glue.replace("{1}", date_format(self.locale, "medium")(local.date()))
                    .replace("{0}", time_format(self.locale, "short")(local.time())))

    def local(self, value: dt.datetime) -> dt.datetime:
        """`value` in the company's timezone; a naive value is taken to be UTC (as stored)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(self.zone)


@lru_cache(maxsize=64)
def _moments(locale: str, timezone: str) -> Callable[[tuple[dt.datetime, int, Any]], str]:
    """`Formatter(locale, _, timezone).datetime` of a (value, fold, tzinfo) key, remembered."""
    formatter = Formatter(locale, "", timezone)
    return lru_cache(maxsize=4096)(lambda key: formatter._datetime(key[0]))
