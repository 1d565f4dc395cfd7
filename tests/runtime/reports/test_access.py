"""Who sees which numbers: role listing (403), the row filter, hidden fields, crafted parameters."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.runtime.errors import Forbidden, NotFound, ValidationFailed


@pytest.fixture
def deals(world):
    world.deal(stage="new", amount=10, close_date=dt.date(2025, 3, 1), by=world.alice)
    world.deal(stage="new", amount=20, close_date=dt.date(2025, 3, 1), by=world.alice)
    world.deal(stage="new", amount=300, close_date=dt.date(2025, 3, 1), by=world.bob)
    return world


def totals(result):
    return [r.values["total"] for r in result.rows]


def test_a_rep_sees_only_their_own_numbers(deals):
    w = deals
    assert totals(w.reports.run_report(w.alice, "pipeline")) == [Decimal(30)]
    assert totals(w.reports.run_report(w.bob, "pipeline")) == [Decimal(300)]
    assert totals(w.reports.run_report(w.mona, "pipeline")) == [Decimal(330)]      # read: all
    assert totals(w.reports.run_report(w.admin, "pipeline")) == [Decimal(330)]


def test_reports_outside_the_users_roles_are_403(deals):
    w = deals
    with pytest.raises(Forbidden) as refused:
        w.reports.run_report(w.carol, "pipeline")
    assert refused.value.status == 403 and "pipeline" in refused.value.message
    assert w.reports.may_open(w.alice, "pipeline") and not w.reports.may_open(w.carol, "pipeline")
    assert w.reports.openable(w.carol) == []
    assert "deals_of_account" in w.reports.openable(w.admin)
    with pytest.raises(NotFound):
        w.reports.run_report(w.admin, "no_such_report")


def test_crafted_parameters_cannot_inject_or_widen(deals):
    w = deals
    for bad in ({"owner": "1 OR 1=1"}, {"owner": f"{w.bob.id}; DROP TABLE deal"},
                {"period": "this_month'); DROP TABLE deal; --"}, {"period": {"from": "2025-01-01", "sql": "1"}},
                {"owner": True}, {"filter": "true"}):
        with pytest.raises(ValidationFailed):
            w.reports.run_report(w.alice, "pipeline", bad)
    # A text parameter is a bound value, never SQL: quotes match nothing.
    assert w.reports.run_report(w.alice, "pipeline", {"name": "x' OR '1'='1"}).rows == ()
    # Asking for bob's deals as alice gives nothing: parameters narrow, never widen.
    assert w.reports.run_report(w.alice, "pipeline", {"owner": w.bob.id}).rows == ()
    with w.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM deal")).scalar() == 3


def test_a_report_reading_a_hidden_field_is_refused(deals):
    w = deals
    with pytest.raises(Forbidden) as refused:
        w.reports.run_report(w.alice, "secret_sums")
    assert "deal.cost" in refused.value.message
    with pytest.raises(Forbidden) as through_formula:           # margin = amount - cost
        w.reports.run_report(w.alice, "margins")
    assert "deal.cost" in through_formula.value.message
    assert w.reports.run_report(w.admin, "secret_sums").rows[0].values["cost"] is None   # admins see all


def test_drill_down_lists_the_records_behind_a_row(deals):
    w = deals
    w.deal(stage="won", amount=5, close_date=dt.date(2025, 4, 2), by=w.alice)
    result = w.reports.run_report(w.alice, "pipeline")
    by_key = {r.key: r for r in result.rows}
    assert set(by_key) == {("new", dt.date(2025, 3, 1)), ("won", dt.date(2025, 4, 1))}
    page = w.reports.drill_down(w.alice, "pipeline", {}, ("new", dt.date(2025, 3, 1)), sort="amount")
    assert [d["amount"] for d in page.rows] == [Decimal(10), Decimal(20)]     # bob's deal stays out
    assert "cost" not in page.rows[0]                                          # the list's mask applies
    entity, where = w.reports.drill_where(w.mona, "pipeline", {"owner": w.bob.id}, ("new", "2025-03-01"))
    table = w.tables.entity(entity)
    with w.engine.connect() as conn:
        assert conn.execute(sa.select(table.c.amount).where(where)).scalars().all() == [Decimal(300)]
    with pytest.raises(ValidationFailed):
        w.reports.drill_down(w.alice, "pipeline", {}, ("new",))


def test_record_charts_are_filtered_to_the_record(world):
    w = world
    acme = w.insert("account", name="ACME", industry="it", by=w.alice)
    other = w.insert("account", name="Other", industry="retail", by=w.alice)
    south = w.insert("account", name="South Ltd", by=w.carol)
    w.deal(account=acme, amount=100, by=w.alice)
    w.deal(account=acme, amount=50, by=w.bob)
    w.deal(account=other, amount=7, by=w.alice)
    result = w.reports.run_report(w.alice, "deals_of_account", record=("account", acme))
    assert [(r.groups[0].label, r.groups[1].label, r.values["total"]) for r in result.rows] == [
        ("IT", "ACME", Decimal(100))]                               # alice's deal only: own scope
    assert w.reports.run_report(w.mona, "deals_of_account", record=("account", acme)).rows[0].values["total"] == 150
    with pytest.raises(NotFound):                                  # alice may not read south's account
        w.reports.run_report(w.alice, "deals_of_account", record=("account", south))
    with pytest.raises(NotFound):
        w.reports.run_report(w.alice, "deals_of_account", record=("account", f"{acme} OR 1=1"))
    with pytest.raises(Forbidden):                                  # not a chart of the account page, not listed
        w.reports.run_report(w.alice, "secret_sums", record=("account", acme))
