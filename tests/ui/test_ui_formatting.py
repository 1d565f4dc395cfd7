"""Babel-backed formatting: currency digits, separators, dates in the company's timezone."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ui.formatting import Formatter

NBSP = "\u00a0"
HU = Formatter("hu", "HUF", "Europe/Budapest")
EN = Formatter("en", "HUF", "Europe/Budapest")


def test_huf_has_no_decimals_and_eur_two():
    assert HU.money(Decimal("1234567.4")) == f"1{NBSP}234{NBSP}567{NBSP}Ft"
    assert HU.money(Decimal("12.5"), "EUR") == f"12,50{NBSP}EUR"
    assert EN.money(Decimal("12.5"), "EUR") == "€12.50"


def test_numbers_use_the_locales_separators():
    assert HU.number(Decimal("1234567.891")) == f"1{NBSP}234{NBSP}567,891"
    assert EN.number(1234567) == "1,234,567"
    assert HU.number(3, decimals=2) == "3,00"
    assert EN.number(Decimal("2.5"), decimals=0) == "2"       # half to even, as Babel rounds


def test_percent_fields_are_stored_as_0_to_100():
    assert HU.percent(Decimal("12.5")) == "12,5%"
    assert EN.percent(40) == "40%"


def test_dates():
    assert HU.date(dt.date(2025, 3, 14)) == "2025. márc. 14."
    assert EN.date(dt.date(2025, 3, 14)) == "Mar 14, 2025"


def test_datetimes_are_shown_in_the_company_timezone():
    summer = dt.datetime(2025, 7, 1, 22, 30, tzinfo=dt.timezone.utc)       # CEST, UTC+2
    winter = dt.datetime(2025, 1, 15, 7, 5, tzinfo=dt.timezone.utc)        # CET, UTC+1
    assert HU.datetime(summer) == "2025. júl. 2. 0:30"
    assert HU.datetime(winter) == "2025. jan. 15. 8:05"
    assert EN.datetime(winter) == "Jan 15, 2025, 8:05\u202fAM"
    assert HU.date(summer) == "2025. júl. 2."                               # the local day


def test_naive_datetimes_are_taken_as_utc():
    assert HU.datetime(dt.datetime(2025, 1, 15, 7, 5)) == "2025. jan. 15. 8:05"


def test_none_is_empty():
    assert [HU.number(None), HU.money(None), HU.percent(None), HU.date(None), HU.datetime(None)] == [""] * 5


# -- compiled_formats.py gives what Babel's own functions give ----------------------------------------
LOCALES = ("en", "hu", "de", "de_CH", "fr", "en_IN", "ja", "ar", "pt_BR", "pl", "sv", "fa", "he", "nl_BE")
VALUES = (0, -0.0, 1, -1, 7, 0.5, 2.675, -2.5, 3.5, 12.3456, 1e-7, 1e21, float("inf"), float("-inf"),
          Decimal("0"), Decimal("-0"), Decimal("1234567.895"), Decimal("-1234567.5"), Decimal("0.005"),
          Decimal("0.015"), Decimal("99999999999999.999"), Decimal("1E+3"), Decimal("1.000"), Decimal("NaN"),
          123456789012345678901234567890, Decimal("12.5000001"), 1234, 12345678)


def _outcome(call):
    """The text, or the exception's type (a 30-digit value exceeds Decimal's precision in both)."""
    try:
        return call()
    except ArithmeticError as exc:
        return type(exc)


def test_compiled_number_formats_equal_babels():
    from babel import numbers
    from ui.compiled_formats import number_format
    checked = 0
    for locale in LOCALES:
        for value in VALUES:
            for currency in ("HUF", "EUR", "USD", "JPY", "CHF", "BHD", "INR"):
                assert _outcome(lambda: number_format(locale, currency=currency)(value)) == \
                    _outcome(lambda: numbers.format_currency(value, currency, locale=locale)), (locale, currency, value)
            assert _outcome(lambda: number_format(locale)(value)) == \
                _outcome(lambda: numbers.format_decimal(value, locale=locale)), (locale, value)
            for pattern in ("#,##0", "#,##0.00", "#,##0.000"):
                assert _outcome(lambda: number_format(locale, pattern=pattern)(value)) == \
                    _outcome(lambda: numbers.format_decimal(value, format=pattern, locale=locale)), \
                    (locale, pattern, value)
            assert _outcome(lambda: number_format(locale, percent=True, quantize=False)(value)) == \
                _outcome(lambda: numbers.format_percent(value, locale=locale, decimal_quantization=False)), \
                (locale, value)
            checked += 1
    assert checked == len(LOCALES) * len(VALUES)


def test_compiled_date_formats_equal_babels():
    from babel import dates
    from ui.compiled_formats import date_format, datetime_glue, time_format
    for locale in LOCALES:
        for day in (dt.date(2025, 1, 1), dt.date(2025, 3, 14), dt.date(1999, 12, 31)):
            for width in ("short", "medium", "long"):
                assert date_format(locale, width)(day) == dates.format_date(day, width, locale=locale)
        for moment in (dt.time(0, 5), dt.time(12, 0), dt.time(23, 59, 59), dt.time(23, 59, 1), dt.time(9, 30, 30)):
            for width in ("short", "medium"):
                assert time_format(locale, width)(moment) == dates.format_time(moment, width, locale=locale)
        assert datetime_glue(locale, "medium") == str(dates.get_datetime_format("medium", locale=locale))


def test_remembered_datetimes_keep_moments_apart_that_compare_equal():
    """Formatter.datetime remembers each moment's text: two datetimes of one zone that compare
    equal but differ in `fold` (the repeated hour when clocks go back) are different moments."""
    from zoneinfo import ZoneInfo
    utc = Formatter("en", "EUR", "UTC")
    budapest = ZoneInfo("Europe/Budapest")
    first = dt.datetime(2025, 10, 26, 2, 30, tzinfo=budapest)           # 00:30 UTC
    second = dt.datetime(2025, 10, 26, 2, 30, tzinfo=budapest, fold=1)  # 01:30 UTC
    assert first == second
    assert utc.datetime(first) == "Oct 26, 2025, 12:30\u202fAM"
    assert utc.datetime(second) == "Oct 26, 2025, 1:30\u202fAM"
    naive, aware = dt.datetime(2025, 1, 15, 7, 5), dt.datetime(2025, 1, 15, 7, 5, tzinfo=dt.timezone.utc)
    for value in (first, second, naive, aware):
        for fmt in (utc, HU, EN):
            assert fmt.datetime(value) == fmt.datetime(value) == fmt._datetime(value)


def test_escape_text_escapes_as_markupsafe_does():
    from markupsafe import Markup, escape

    from ui.display import Shown, _replace_entities, escape_text
    samples = ["", "plain", "<script>alert(\"x\")</script>", "a & b", "it's", "&amp; already", "ü → ★",
               "<img src=x onerror=alert(1)>", Markup("<b>kept</b>")]
    for text in samples:
        assert escape_text(text) == str(escape(text))
        if type(text) is str:
            assert _replace_entities(text) == str(escape(text))
    shown = Shown('<a href="x">', "https://example.com/?q=<script>&x='1'")
    assert shown.html() == Markup('<a href="{}">{}</a>').format(shown.url, shown.text)
    assert Shown("1\n<2>", multiline=True).html() == Markup('<span class="multiline">{}</span>').format("1\n<2>")
