"""Babel's number and date patterns, looked up and prepared once per locale (and currency).

    money = number_format("hu", currency="HUF")
    money(Decimal("1234567"))                 # '1 234 567 Ft', what numbers.format_currency gives
    date_format("hu", "medium")(some_date)    # what dates.format_date(some_date, "medium", "hu") gives

Why: a list page formats hundreds of values, and Babel's `format_currency`,
`format_decimal` and `format_date` parse the locale, look up and parse the
CLDR pattern, and resolve the currency's digits and symbol and the locale's
separators on every call (about 12 µs a money value). Here that lookup
happens once per (locale, currency, pattern) and a value costs only its
rounding and grouping, done by the same steps as Babel's `NumberPattern.apply`
(CLDR data stays the only source of separators, digits and symbols). Patterns
this short path does not cover (scientific, significant digits, a quote in a
symbol, a currency's long name, infinities and NaN) go to Babel itself;
tests/ui/test_ui_formatting.py compares both over many locales and values.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Callable

from babel import Locale, dates, numbers

Number = int | float | Decimal


class NumberFormat:
    """One CLDR number pattern of one locale, ready to apply (see the module docstring)."""

    def __init__(self, pattern: numbers.NumberPattern, locale: Locale, currency: str | None,
                 quantize: bool):
        self.pattern, self.locale, self.currency, self.quantize = pattern, locale, currency, quantize
        self.frac_prec = (numbers.get_currency_precision(currency),) * 2 if currency else pattern.frac_prec
        self.quantum = numbers.get_decimal_quantum(self.frac_prec[1])
        self.group = numbers.get_group_symbol(locale)
        self.decimal = numbers.get_decimal_symbol(locale)
        self.prefix = tuple(self._affix(a) for a in pattern.prefix)
        self.suffix = tuple(self._affix(a) for a in pattern.suffix)
        text = "".join(self.prefix + self.suffix) + self.group + self.decimal
        # Babel removes quotes from the whole result and names a currency by the value's plural:
        # those cases (and non-plain patterns) are left to Babel.
        self.plain = (not pattern.exp_prec and "@" not in pattern.pattern and pattern.number_pattern != ""
                      and "'" not in text and "¤¤¤" not in "".join(pattern.prefix + pattern.suffix))

    def _affix(self, text: str) -> str:
        if "¤" in text and self.currency is not None and "¤¤¤" not in text:
            text = text.replace("¤¤", self.currency.upper())
            text = text.replace("¤", numbers.get_currency_symbol(self.currency, self.locale))
        return text

    def __call__(self, value: Number) -> str:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not self.plain or not number.is_finite():
            return str(self.pattern.apply(value, self.locale, currency=self.currency,
                                          decimal_quantization=self.quantize))
        pattern = self.pattern
        if pattern.scale:
            number = number.scaleb(pattern.scale)
        negative = int(number.is_signed())
        number = abs(number).normalize()
        low, high = self.frac_prec
        quantum = self.quantum
        if not self.quantize:
            natural = numbers.get_decimal_precision(number)
            if natural > high:
                high, quantum = natural, numbers.get_decimal_quantum(natural)
        whole, _, fraction = f"{number.quantize(quantum):f}".partition(".")
        return f"{self.prefix[negative]}{self._int(whole)}{self._frac(fraction or '0', low, high)}" \
               f"{self.suffix[negative]}"

    def _int(self, digits: str) -> str:          # NumberPattern._format_int
        least = self.pattern.int_prec[0]
        if len(digits) < least:
            digits = "0" * (least - len(digits)) + digits
        size, grouping = self.pattern.grouping[0], self.pattern.grouping
        out = ""
        while len(digits) > size:
            out = self.group + digits[-size:] + out
            digits = digits[:-size]
            size = grouping[1]
        return digits + out

    def _frac(self, digits: str, low: int, high: int) -> str:      # NumberPattern._format_frac
        if len(digits) < low:
            digits += "0" * (low - len(digits))
        if high == 0 or (low == 0 and int(digits) == 0):
            return ""
        return self.decimal + digits[:low] + digits[low:].rstrip("0")


@lru_cache(maxsize=512)
def number_format(locale: str, *, currency: str | None = None, pattern: str | None = None,
                  percent: bool = False, quantize: bool = True) -> NumberFormat:
    """A money (`currency`), percent, or decimal format (the locale's own, or `pattern`)."""
    loc = Locale.parse(locale)
    if currency is not None:
        parsed = loc.currency_formats["standard"]
    elif percent:
        parsed = loc.percent_formats[None]
    else:
        parsed = numbers.parse_pattern(pattern) if pattern else loc.decimal_formats[None]
    return NumberFormat(parsed, loc, currency, quantize)


@lru_cache(maxsize=256)
def date_format(locale: str, width: str) -> Callable[[dt.date], str]:
    """`dates.format_date(value, width, locale)` with the pattern looked up once."""
    loc = Locale.parse(locale)
    pattern = dates.parse_pattern(dates.get_date_format(width, locale=loc))
    # Days repeat on a page (close dates, due dates): each is formatted once per process.
    return lru_cache(maxsize=4096)(lambda value: str(pattern.apply(value, loc)))


@lru_cache(maxsize=256)
def time_format(locale: str, width: str) -> Callable[[dt.time], str]:
    """`dates.format_time(value, width, locale)` of a naive time, with the pattern looked up once."""
    loc = Locale.parse(locale)
    pattern = dates.parse_pattern(dates.get_time_format(width, locale=loc))

    @lru_cache(maxsize=4096)
    def apply(value: dt.time) -> str:
        # Babel takes a naive time to be UTC; the short and medium patterns show no zone anyway.
        return str(pattern.apply(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc), loc))
    if any(letter in pattern.pattern for letter in "sSAzZOvVxX"):
        return apply
    # A pattern without seconds or zones (CLDR's short ones): a minute of the day is formatted once.
    return lambda value: apply(value.replace(second=0, microsecond=0))


@lru_cache(maxsize=64)
def datetime_glue(locale: str, width: str) -> str:
    """CLDR's pattern joining a date ({1}) and a time ({0}): '{1}, {0}' in English."""
    return str(dates.get_datetime_format(width, locale=locale))
