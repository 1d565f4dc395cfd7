"""KPIs (current vs previous period, per user) and quota attainment."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.runtime.errors import Forbidden, ValidationFailed
from engine.runtime.reports.kpis import kpi_values, periods
from engine.runtime.reports.quotas import quota_attainment, set_target

from .conftest import UTC

MARCH = dt.datetime(2025, 3, 5, 12, tzinfo=UTC)
FEBRUARY = dt.datetime(2025, 2, 10, 12, tzinfo=UTC)


def closed(world, user, stage, at, created=dt.datetime(2024, 12, 1, tzinfo=UTC)):
    deal = world.deal(stage=stage, by=user, created_at=created)
    world.entered(deal, stage, at)
    return deal


def test_win_rate_this_month_against_last_month_by_closing_time(world):
    w = world
    closed(w, w.alice, "won", MARCH)
    closed(w, w.alice, "lost", MARCH)
    closed(w, w.bob, "won", MARCH)
    closed(w, w.bob, "won", FEBRUARY)
    closed(w, w.alice, "lost", FEBRUARY)
    closed(w, w.alice, "won", dt.datetime(2025, 1, 20, tzinfo=UTC))      # before both periods
    w.deal(stage="new", by=w.alice, created_at=MARCH)                      # open: counts at creation, not closed
    # Closed, but no history row: counts at its last update (28 Feb 23:30 UTC = 1 March in Budapest).
    w.deal(stage="lost", by=w.bob, created_at=FEBRUARY, updated_at=dt.datetime(2025, 2, 28, 23, 30, tzinfo=UTC))

    result = kpi_values(w.reports, w.admin, "win_rate")
    assert (result.current, result.previous, result.trend) == (Decimal("0.5"), Decimal("0.5"), "flat")
    assert result.current_period == (dt.date(2025, 3, 1), dt.date(2025, 4, 1))
    assert result.formatted == "50%"
    users = {u.label: (u.current, u.previous, u.trend) for u in result.by_user}
    assert users == {"Alice A": (Decimal("0.5"), Decimal(0), "up"),
                     "Bob B": (Decimal("0.5"), Decimal(1), "down")}


def test_kpis_follow_the_row_filter_and_the_role_listing(world):
    w = world
    closed(w, w.alice, "won", MARCH)
    closed(w, w.bob, "lost", MARCH)
    mine = kpi_values(w.reports, w.alice, "win_rate")
    assert mine.current == 1 and [u.label for u in mine.by_user] == ["Alice A"]
    assert kpi_values(w.reports, w.mona, "win_rate").current == Decimal("0.5")
    with pytest.raises(Forbidden):
        kpi_values(w.reports, w.carol, "win_rate")


def test_an_empty_period_gives_the_value_of_no_rows(world):
    w = world
    result = kpi_values(w.reports, w.admin, "calls_made")
    assert (result.current, result.previous, result.trend) == (0, 0, "flat")
    rate = kpi_values(w.reports, w.admin, "win_rate")
    assert (rate.current, rate.previous, rate.trend) == (None, None, None)


def test_period_lengths_follow_the_company_calendar(world):
    company = world.config.company
    today = dt.date(2025, 3, 12)
    assert periods("week", today, company) == ((dt.date(2025, 3, 9), dt.date(2025, 3, 16)),
                                               (dt.date(2025, 3, 2), dt.date(2025, 3, 9)))
    assert periods("fiscal_year", today, company)[0] == (dt.date(2024, 7, 1), dt.date(2025, 7, 1))
    assert periods("fiscal_quarter", today, company) == ((dt.date(2025, 1, 1), dt.date(2025, 4, 1)),
                                                         (dt.date(2024, 10, 1), dt.date(2025, 1, 1)))
    assert periods("day", today, company)[1] == (dt.date(2025, 3, 11), dt.date(2025, 3, 12))


def calls(world, user, n, at):
    for _ in range(n):
        world.insert("activity", subject="call", kind="call", done=True, by=user, created_at=at)


def test_quota_attainment_uses_stored_targets_over_the_configured_one(world):
    w = world
    this_week = dt.datetime(2025, 3, 10, 9, tzinfo=UTC)
    calls(w, w.alice, 3, this_week)
    calls(w, w.bob, 5, this_week)
    calls(w, w.bob, 9, dt.datetime(2025, 3, 7, tzinfo=UTC))        # last week
    w.insert("activity", subject="x", kind="call", done=False, by=w.alice, created_at=this_week)
    start = set_target(w.reports, w.admin, "activity_norms", "calls", user_id=w.bob.id,
                       day=dt.date(2025, 3, 12), value=10)
    assert start == dt.date(2025, 3, 9)
    result = quota_attainment(w.reports, w.mona, "activity_norms")
    assert (result.period_start, result.period_end) == (dt.date(2025, 3, 9), dt.date(2025, 3, 16))
    lines = {line.user_label: (line.actual, line.target, line.attainment) for line in result.lines}
    assert lines == {"Alice A": (3, Decimal(4), Decimal("0.75")), "Bob B": (5, Decimal(10), Decimal("0.5")),
                     "mona": (None, Decimal(4), Decimal(0))}
    # A rep sees their own line only.
    mine = quota_attainment(w.reports, w.alice, "activity_norms")
    assert [(line.user_label, line.formatted_attainment) for line in mine.lines] == [("Alice A", "75%")]


def test_only_admins_set_targets_and_targets_are_checked(world):
    w = world
    with pytest.raises(Forbidden):
        set_target(w.reports, w.mona, "activity_norms", "calls", user_id=w.alice.id, day=dt.date(2025, 3, 12), value=5)
    with pytest.raises(ValidationFailed):
        set_target(w.reports, w.admin, "activity_norms", "emails", user_id=w.alice.id, day=dt.date(2025, 3, 12), value=5)
    with pytest.raises(ValidationFailed):
        set_target(w.reports, w.admin, "activity_norms", "calls", user_id=w.alice.id, day=dt.date(2025, 3, 12), value=-1)
    with pytest.raises(Forbidden):
        quota_attainment(w.reports, w.carol, "activity_norms")


def test_a_dashboard_runs_its_widgets_for_the_user(make_world):
    from engine.runtime.reports.dashboards import dashboard
    w = make_world({"reports/reps.yaml": """
dashboard: reps
roles: [rep]
widgets:
  - {kpi: win_rate}
  - {report: secret_sums, size: wide}
  - {quota: activity_norms}
"""})
    closed(w, w.alice, "won", MARCH)
    board = dashboard(w.reports, w.alice, "reps")
    kinds = {x.name: x for x in board.widgets}
    assert kinds["win_rate"].result.current == 1
    assert kinds["secret_sums"].result is None and "deal.cost" in kinds["secret_sums"].error
    assert [line.user_label for line in kinds["activity_norms"].result.lines] == ["Alice A"]
    with pytest.raises(Forbidden):
        dashboard(w.reports, w.carol, "reps")


def test_a_kpi_without_period_is_one_value_over_all_time(make_world):
    w = make_world({"reports/deal_value.yaml": """
kpi: deal_value
entity: deal
value: "sum(amount)"
format: money
by: owner
"""})
    w.deal(amount=10, by=w.alice, created_at=dt.datetime(2020, 1, 1, tzinfo=UTC))
    w.deal(amount=5, by=w.bob)
    result = kpi_values(w.reports, w.admin, "deal_value", locale="en")
    assert (result.current, result.previous, result.trend, result.period) == (Decimal(15), None, None, None)
    assert result.formatted == "HUF\xa015" or result.formatted.endswith("15")
    assert {u.label: u.current for u in result.by_user} == {"Alice A": Decimal(10), "Bob B": Decimal(5)}
