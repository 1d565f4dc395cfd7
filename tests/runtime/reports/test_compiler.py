"""Reports against hand-written SQL, buckets, nulls, parameters, periods."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.runtime.errors import ValidationFailed

from .conftest import UTC

STAGES = ["new", "proposal", "won", "lost"]


def generated(world, n: int = 240, seed: int = 7) -> None:
    rnd = random.Random(seed)
    owners = [world.alice, world.bob, world.mona]
    rows = []
    for i in range(n):
        owner = rnd.choice(owners)
        close = dt.date(2024, 1, 1) + dt.timedelta(days=rnd.randrange(0, 500))
        amount = None if i % 17 == 0 else Decimal(rnd.randrange(100, 100000)) / 100
        rows.append({"name": f"d{i}", "stage": rnd.choice(STAGES), "amount": amount,
                     "close_date": None if i % 23 == 0 else close, "owner": owner.id, "team": owner.team,
                     "created_at": dt.datetime(2024, 1, 1, tzinfo=UTC), "updated_at": dt.datetime(2024, 1, 1, tzinfo=UTC),
                     "version": 1})
    with world.engine.begin() as conn:
        conn.execute(world.tables.entity("deal").insert(), rows)


def test_stage_by_month_equals_hand_written_sql(world):
    generated(world)
    result = world.reports.run_report(world.admin, "pipeline")
    month = "substr(close_date, 1, 7)" if world.dialect == "sqlite" else "to_char(close_date, 'YYYY-MM')"
    sql = (f"SELECT stage, {month} AS m, SUM(amount), COUNT(*) FROM deal "
           f"GROUP BY stage, {month}")
    with world.engine.connect() as conn:
        expected = {(s, m): (None if t is None else Decimal(str(t)).quantize(Decimal("0.01")), c)
                    for s, m, t, c in conn.execute(sa.text(sql))}
    got = {(r.groups[0].value, r.groups[1].value.strftime("%Y-%m") if r.groups[1].value else None):
           (None if r.values["total"] is None else r.values["total"].quantize(Decimal("0.01")), r.values["deals"])
           for r in result.rows}
    assert got == expected
    assert len(got) > 40
    # Stages come in pipeline order, months in date order within a stage.
    stages = [r.groups[0].value for r in result.rows]
    assert stages == sorted(stages, key=STAGES.index)
    assert [c.label for c in result.columns] == ["Stage", "Close date", "Total", "Deals", "Weighted"]


def test_labels_and_formats_follow_the_locale(world):
    world.deal(stage="new", amount=1234567, close_date=dt.date(2025, 3, 5), by=world.alice)
    hu = world.reports.run_report(world.admin, "pipeline", locale="hu")
    en = world.reports.run_report(world.admin, "pipeline", locale="en")
    assert hu.rows[0].groups[0].label == "Új" and en.rows[0].groups[0].label == "New"
    assert hu.rows[0].groups[1].label == "2025. márc." and en.rows[0].groups[1].label == "Mar 2025"
    assert hu.rows[0].formatted["total"] == "1\xa0234\xa0567\xa0Ft"
    assert en.rows[0].formatted["deals"] == "1"
    assert hu.label == "Pipeline"


def test_week_buckets_start_on_the_configured_day(world):
    # 2025-03-08 is a Saturday, 03-09 a Sunday: weeks start on Sunday in this company.
    for day in (dt.date(2025, 3, 8), dt.date(2025, 3, 9), dt.date(2025, 3, 15), dt.date(2025, 3, 16)):
        world.deal(close_date=day, by=world.alice)
    rows = world.reports.run_report(world.admin, "by_close_week").rows
    assert [(r.groups[0].value, r.values["deals"]) for r in rows] == [
        (dt.date(2025, 3, 2), 1), (dt.date(2025, 3, 9), 2), (dt.date(2025, 3, 16), 1)]


def test_quarter_and_year_buckets_are_calendar_ones(world):
    for day in (dt.date(2024, 6, 30), dt.date(2024, 7, 1), dt.date(2024, 12, 31), dt.date(2025, 1, 1)):
        world.deal(close_date=day, by=world.alice)
    rows = world.reports.run_report(world.admin, "by_close_quarter").rows
    assert [(r.groups[0].value, r.groups[1].value) for r in rows] == [
        (dt.date(2024, 4, 1), dt.date(2024, 1, 1)), (dt.date(2024, 7, 1), dt.date(2024, 1, 1)),
        (dt.date(2024, 10, 1), dt.date(2024, 1, 1)), (dt.date(2025, 1, 1), dt.date(2025, 1, 1))]
    assert [r.groups[0].label for r in rows] == ["2024 Q2", "2024 Q3", "2024 Q4", "2025 Q1"]


def test_fiscal_buckets_follow_fiscal_year_start(world):
    # The fiscal year starts on 1 July: FY2024 runs from 2024-07-01 to 2025-06-30.
    for day in (dt.date(2024, 6, 30), dt.date(2024, 7, 1), dt.date(2024, 9, 30), dt.date(2024, 10, 1),
                dt.date(2025, 3, 31), dt.date(2025, 4, 1)):
        world.deal(close_date=day, by=world.alice)
    rows = world.reports.run_report(world.admin, "by_fiscal").rows
    assert [(r.groups[0].value, r.groups[1].value, r.values["deals"]) for r in rows] == [
        (dt.date(2024, 4, 1), dt.date(2023, 7, 1), 1), (dt.date(2024, 7, 1), dt.date(2024, 7, 1), 2),
        (dt.date(2024, 10, 1), dt.date(2024, 7, 1), 1), (dt.date(2025, 1, 1), dt.date(2024, 7, 1), 1),
        (dt.date(2025, 4, 1), dt.date(2024, 7, 1), 1)]
    assert [(r.groups[0].label, r.groups[1].label) for r in rows][:2] == [("FY2023 Q4", "FY2023"),
                                                                          ("FY2024 Q1", "FY2024")]


def test_fiscal_year_starting_mid_month(make_world):
    from .conftest import FILES
    w = make_world({"crm.yaml": FILES["crm.yaml"].replace('"07-01"', '"04-15"')})
    for day in (dt.date(2025, 4, 14), dt.date(2025, 4, 15), dt.date(2025, 7, 14), dt.date(2025, 7, 15),
                dt.date(2026, 1, 20)):
        w.deal(close_date=day, by=w.alice)
    rows = w.reports.run_report(w.admin, "by_fiscal").rows
    assert [(r.groups[0].value, r.groups[1].value) for r in rows] == [
        (dt.date(2025, 1, 15), dt.date(2024, 4, 15)), (dt.date(2025, 4, 15), dt.date(2025, 4, 15)),
        (dt.date(2025, 7, 15), dt.date(2025, 4, 15)), (dt.date(2026, 1, 15), dt.date(2025, 4, 15))]
    assert [r.values["deals"] for r in rows] == [1, 2, 1, 1]


def test_datetime_buckets_use_the_company_timezone(world):
    # 23:30 UTC on 28 Feb is 00:30 on 1 March in Budapest.
    world.deal(closed_at=dt.datetime(2025, 2, 28, 23, 30, tzinfo=UTC), by=world.alice)
    world.deal(closed_at=dt.datetime(2025, 2, 28, 22, 30, tzinfo=UTC), by=world.alice)
    rows = world.reports.run_report(world.admin, "closed_by_day").rows
    assert [(r.groups[0].value, r.groups[1].value) for r in rows] == [
        (dt.date(2025, 2, 28), dt.date(2025, 2, 1)), (dt.date(2025, 3, 1), dt.date(2025, 3, 1))]


def test_division_by_zero_gives_null(world):
    world.deal(stage="won", by=world.alice)
    world.deal(stage="lost", by=world.alice)
    world.deal(stage="new", by=world.bob)          # bob has nothing closed
    rows = {r.groups[0].label: r for r in world.reports.run_report(world.admin, "win_rate_by_owner").rows}
    assert rows["Alice A"].values["win_rate"] == Decimal("0.5")
    assert rows["Alice A"].formatted["win_rate"] == "50%"
    assert rows["Bob B"].values["win_rate"] is None and rows["Bob B"].formatted["win_rate"] == ""
    assert rows["Bob B"].values["deals"] == 1


def test_null_parameters_are_dropped(world):
    world.deal(stage="new", amount=10, close_date=dt.date(2025, 3, 1), by=world.alice)
    world.deal(stage="new", amount=20, close_date=dt.date(2025, 3, 2), by=world.bob)
    everyone = world.reports.run_report(world.admin, "pipeline", {"owner": None, "period": ""})
    assert [r.values["total"] for r in everyone.rows] == [Decimal("30")]
    only_bob = world.reports.run_report(world.admin, "pipeline", {"owner": str(world.bob.id)})
    assert [r.values["total"] for r in only_bob.rows] == [Decimal("20")]
    assert only_bob.params == {"owner": world.bob.id, "period": None, "name": None}


def test_periods_resolve_against_today_and_the_week_start(world):
    for day in (dt.date(2025, 2, 28), dt.date(2025, 3, 1), dt.date(2025, 3, 9), dt.date(2025, 3, 12),
                dt.date(2025, 4, 1)):
        world.deal(stage="new", amount=1, close_date=day, by=world.alice)

    def count(period):
        rows = world.reports.run_report(world.admin, "pipeline", {"period": period}).rows
        return sum(r.values["deals"] for r in rows)

    assert count("this_month") == 3
    assert count("last_month") == 1
    assert count("this_week") == 2            # Sunday 9 March .. Saturday 15 March
    assert count("this_fiscal_year") == 5     # 1 July 2024 .. 30 June 2025
    assert count({"from": "2025-03-01", "to": "2025-03-09"}) == 2
    assert count("2025-03-09..2025-04-01") == 3
    assert count("next_30_days") == 2          # today included, 1 April too


def test_bad_parameters_are_422_naming_the_parameter(world):
    with pytest.raises(ValidationFailed) as bad:
        world.reports.run_report(world.admin, "pipeline", {"period": "this_decade", "owner": "bob"})
    assert set(bad.value.fields) == {"period", "owner"}
    assert bad.value.status == 422
    assert "this_decade" in bad.value.fields["period"][0]
    with pytest.raises(ValidationFailed) as unknown:
        world.reports.run_report(world.admin, "pipeline", {"stage": "won"})
    assert "not a parameter of report pipeline" in unknown.value.fields["stage"][0]
