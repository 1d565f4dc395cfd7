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
