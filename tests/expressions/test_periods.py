"""Report periods resolve to [start, end) dates for a given today."""
from __future__ import annotations

import datetime as dt

import pytest

from engine.metadata.expressions import Period, period_problem, resolve_period

from .factory import make_config

D = dt.date
TODAY = D(2024, 5, 15)          # a Wednesday
COMPANY = make_config({}, fiscal_year_start=(7, 1)).company
SUNDAY_COMPANY = make_config({}, week_starts="sunday").company


@pytest.mark.parametrize("spec,expected", [
    ("today", (D(2024, 5, 15), D(2024, 5, 16))),
    ("this_week", (D(2024, 5, 13), D(2024, 5, 20))),
    ("last_week", (D(2024, 5, 6), D(2024, 5, 13))),
    ("this_month", (D(2024, 5, 1), D(2024, 6, 1))),
    ("last_month", (D(2024, 4, 1), D(2024, 5, 1))),
    ("this_quarter", (D(2024, 4, 1), D(2024, 7, 1))),
    ("last_quarter", (D(2024, 1, 1), D(2024, 4, 1))),
    ("this_year", (D(2024, 1, 1), D(2025, 1, 1))),
    ("last_year", (D(2023, 1, 1), D(2024, 1, 1))),
    ("this_fiscal_year", (D(2023, 7, 1), D(2024, 7, 1))),
    ("last_fiscal_year", (D(2022, 7, 1), D(2023, 7, 1))),
    ("last_7_days", (D(2024, 5, 9), D(2024, 5, 16))),
    ("next_7_days", (D(2024, 5, 15), D(2024, 5, 22))),
    ("last_3_months", (D(2024, 2, 1), D(2024, 5, 1))),
    ("next_2_months", (D(2024, 6, 1), D(2024, 8, 1))),
    ({"from": "2024-01-01", "to": "2024-01-31"}, (D(2024, 1, 1), D(2024, 2, 1))),
    ({"from": D(2024, 1, 1)}, (D(2024, 1, 1), None)),
    (Period(D(2020, 1, 1), D(2020, 2, 1)), (D(2020, 1, 1), D(2020, 2, 1))),
])
def test_periods(spec, expected) -> None:
    assert resolve_period(spec, TODAY, COMPANY) == expected


def test_week_start_and_year_boundaries() -> None:
    assert resolve_period("this_week", TODAY, SUNDAY_COMPANY) == (D(2024, 5, 12), D(2024, 5, 19))
    assert resolve_period("last_month", D(2024, 1, 10)) == (D(2023, 12, 1), D(2024, 1, 1))
    assert resolve_period("last_quarter", D(2024, 2, 29)) == (D(2023, 10, 1), D(2024, 1, 1))
    assert resolve_period("this_fiscal_year", D(2024, 7, 1), COMPANY) == (D(2024, 7, 1), D(2025, 7, 1))


def test_fiscal_year_starting_on_leap_day() -> None:
    company = make_config({}, fiscal_year_start=(2, 29)).company
    assert resolve_period("this_fiscal_year", D(2025, 3, 1), company) == (D(2025, 2, 28), D(2026, 2, 28))


@pytest.mark.parametrize("spec", ["this_decade", "last_0_days", "last_N_days", {"from": "2024-13-01"},
                                  {"from": "2024-02-01", "to": "2024-01-01"}, {"since": "2024-01-01"}, 42])
def test_bad_periods(spec) -> None:
    assert period_problem(spec)
    with pytest.raises(ValueError):
        resolve_period(spec, TODAY)
