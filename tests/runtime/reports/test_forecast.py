"""Forecasts on both databases: numbers against hand-written SQL on generated deals, the row filter,
quota targets, daily snapshots (idempotent, through the real huey worker, made by `migrate`) and
forecast-vs-actual accuracy."""
from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR

from engine.metadata.errors import ConfigInvalid
from engine.metadata.loader import load_config
from engine.runtime.errors import Forbidden, ValidationFailed
from engine.runtime.reports.forecast import forecast
from engine.runtime.reports.forecast_snapshots import forecast_accuracy, take_snapshots
from engine.runtime.reports.quotas import set_target

from .conftest import FILES, NOW, UTC

FORECAST_FILES = {
    "pipelines/sales.yaml": FILES["pipelines/sales.yaml"] + (
        "forecast: {amount: amount, close_date: close_date, quota: won_quota, commit: 50}\n"),
    "reports/won_value.yaml": "kpi: won_value\nentity: deal\nvalue: \"sum(amount)\"\nfilter: \"stage.won\"\n"
                              "period: month\nby: owner\nformat: money\n",
    "reports/won_quota.yaml": "quota: won_quota\nperiod: month\ntargets:\n  won: {kpi: won_value, target: 1000}\n",
    "roles.yaml": FILES["roles.yaml"].replace("reports: [pipeline,", "reports: [sales, pipeline,"),
}
PROBABILITY = {"new": 10, "proposal": 50, "won": 100, "lost": 0}
TWO = Decimal("0.01")


@pytest.fixture
def fworld(make_world):
    return make_world(FORECAST_FILES)


def generate(world, n: int = 240, seed: int = 3) -> None:
    """Deals for alice, bob, mona and nobody, every stage, close dates over 2024-12 .. 2025-07 (some none)."""
    rng = random.Random(seed)
    owners = [world.alice, world.bob, world.mona, None]
    rows = []
    for i in range(n):
        owner = rng.choice(owners)
        close = None if rng.random() < 0.08 else dt.date(2024, 12, 1) + dt.timedelta(days=rng.randrange(0, 240))
        amount = None if rng.random() < 0.05 else Decimal(rng.randrange(100, 100000)) / 10
        rows.append(dict(name=f"D{i}", stage=rng.choice(list(PROBABILITY)), amount=amount, close_date=close,
                         owner=owner.id if owner else None, team=owner.team if owner else None,
                         created_at=NOW, updated_at=NOW, version=1))
    with world.engine.begin() as conn:
        conn.execute(world.tables.entity("deal").insert(), rows)


def hand_sql(world, key: str, start: dt.date, end: dt.date, owner_id: int | None = None) -> dict:
    """The forecast measures written by hand, grouped by `key` ('month' or 'owner')."""
    month = "substr(close_date, 1, 7)" if world.dialect == "sqlite" else "to_char(close_date, 'YYYY-MM')"
    group = month if key == "month" else "owner"
    weighted = " ".join(f"WHEN stage = '{s}' THEN amount * {p} / 100.0" for s, p in PROBABILITY.items() if s in
                        ("new", "proposal"))
    sql = f"""SELECT {group} AS g,
                     SUM(CASE WHEN stage = 'won' THEN amount ELSE 0 END) AS won,
                     SUM(CASE WHEN stage = 'proposal' THEN amount ELSE 0 END) AS commit_,
                     SUM(CASE {weighted} ELSE 0 END) AS weighted,
                     SUM(CASE WHEN stage IN ('new', 'proposal') THEN amount ELSE 0 END) AS best,
                     COUNT(CASE WHEN stage IN ('new', 'proposal') THEN 1 END) AS open_deals
              FROM deal WHERE close_date >= :start AND close_date < :end {'AND owner = :owner' if owner_id else ''}
              GROUP BY {group}"""
    args = {"start": start, "end": end, **({"owner": owner_id} if owner_id else {})}
    with world.engine.connect() as conn:
        return {r.g: r for r in conn.execute(sa.text(sql), args)}


def close(a, b) -> bool:
    return Decimal(str(a or 0)).quantize(TWO) == Decimal(str(b or 0)).quantize(TWO)


def same_line(line, row) -> bool:
    return (close(line.won, row.won) and close(line.commit, row.commit_) and close(line.weighted, row.weighted)
            and close(line.best_case, row.best) and line.open_deals == row.open_deals)


def test_forecast_by_month_and_owner_equals_hand_written_sql(fworld):
    generate(fworld)
    result = forecast(fworld.reports, fworld.mona, "sales", period="this_year")   # mona reads every deal
    start, end = dt.date(2025, 1, 1), dt.date(2026, 1, 1)
    months = hand_sql(fworld, "month", start, end)
    assert [line.key.isoformat()[:7] for line in result.by_month] == sorted(months)
    assert all(same_line(line, months[line.key.isoformat()[:7]]) for line in result.by_month)
    owners = hand_sql(fworld, "owner", start, end)
    assert {line.key for line in result.by_owner} == set(owners)
    assert all(same_line(line, owners[line.key]) for line in result.by_owner)
    total = result.total
    assert close(total.won, sum((r.won or 0) for r in owners.values()))
    assert close(total.best_case, sum((r.best or 0) for r in owners.values()))
    assert close(total.expected, Decimal(str(total.won)) + Decimal(str(total.weighted)))
    assert total.won and total.weighted and total.best_case     # the generated data has some of each
    assert result.period.start == start and result.period.end == end


def test_a_rep_sees_only_their_own_deals_and_others_are_refused(fworld):
    generate(fworld)
    q1 = forecast(fworld.reports, fworld.alice, "sales")                 # default: this quarter
    assert q1.period.start == dt.date(2025, 1, 1) and q1.period.end == dt.date(2025, 4, 1)
    mine = hand_sql(fworld, "owner", dt.date(2025, 1, 1), dt.date(2025, 4, 1), fworld.alice.id)
    assert [line.key for line in q1.by_owner] == [fworld.alice.id]
    assert same_line(q1.by_owner[0], mine[fworld.alice.id])
    months = hand_sql(fworld, "month", dt.date(2025, 1, 1), dt.date(2025, 4, 1), fworld.alice.id)
    assert all(same_line(line, months[line.key.isoformat()[:7]]) for line in q1.by_month)
    with pytest.raises(Forbidden):
        forecast(fworld.reports, fworld.carol, "sales")                  # no role lists it
    with pytest.raises(ValidationFailed) as bad:
        forecast(fworld.reports, fworld.alice, "sales", period="this_decade")
    assert "period" in bad.value.fields


def test_won_is_measured_against_the_quota_targets_of_the_period(fworld):
    generate(fworld)
    set_target(fworld.reports, fworld.admin, "won_quota", "won", user_id=fworld.alice.id,
               day=dt.date(2025, 2, 10), value=400)
    result = forecast(fworld.reports, fworld.mona, "sales", period="this_quarter")
    lines = {line.key: line for line in result.by_owner}
    assert lines[fworld.alice.id].quota == Decimal(2400)         # 1000 + 400 (February's own) + 1000
    assert lines[fworld.bob.id].quota == Decimal(3000)
    assert lines[None].quota is None                             # deals without an owner have no target
    won = Decimal(str(lines[fworld.bob.id].won or 0))
    assert lines[fworld.bob.id].attainment == (won / 3000).quantize(Decimal("0.0001"))
    assert result.has_quota and result.total.quota == sum(t.quota for t in lines.values() if t.quota is not None)


def test_a_wrong_forecast_field_is_a_located_error(write_config):
    files = {**FILES, **FORECAST_FILES, "pipelines/sales.yaml": FILES["pipelines/sales.yaml"]
             + "forecast: {amount: amout, close_date: name, quota: won_quota.wom}\n"}
    with pytest.raises(ConfigInvalid) as errors:
        load_config(write_config(files))
    text = str(errors.value)
    assert "sales.yaml:9:20: CRM-E201 forecast.amount:" in text
    assert "'amout' is not a field of deal (did you mean 'amount'?)" in text
    assert "'name' is a string field; the forecast's close_date needs a date field" in text
    assert "'wom' is not a target of quota won_quota" in text


def test_forecast_widgets_and_digests_are_checked_where_written(write_config):
    board = "dashboard: board\nroles: [manager]\ndigest: {schedule: %s}\nwidgets:\n  - {forecast: %s}\n"
    with pytest.raises(ConfigInvalid) as errors:
        load_config(write_config({**FILES, **FORECAST_FILES, "reports/board.yaml": board % ("monday 07:00", "salse")}))
    assert "board.yaml:5:16: CRM-E205 widgets[0].forecast: 'salse' is not a forecast (did you mean 'sales'?)" \
        in str(errors.value)
    with pytest.raises(ConfigInvalid) as errors:
        load_config(write_config({**FILES, **FORECAST_FILES, "reports/board.yaml": board % ("someday", "sales")}))
    assert "board.yaml:3:20: CRM-E104 digest.schedule:" in str(errors.value)
    assert load_config(write_config({**FILES, **FORECAST_FILES, "reports/board.yaml": board % ("daily", "sales")}))


def test_a_forecast_reading_a_hidden_field_is_refused(make_world):
    world = make_world({**FORECAST_FILES, "pipelines/sales.yaml": FILES["pipelines/sales.yaml"]
                        + "forecast: {amount: margin}\n"})                  # margin = amount - cost
    with pytest.raises(Forbidden, match="deal.cost"):
        forecast(world.reports, world.alice, "sales")                       # cost is hidden from reps
    assert forecast(world.reports, world.admin, "sales").total.won is None  # admins see every field


def snapshot_rows(world) -> list[tuple]:
    t = world.tables("crm_forecast_snapshot_rows")
    with world.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t.c.snapshot_date, t.c.owner_id, t.c.close_month, t.c.won,
                                                         t.c.weighted, t.c.best_case, t.c.open_deals)
                                               .order_by(t.c.snapshot_date, t.c.owner_id, t.c.close_month))]


def test_a_daily_snapshot_is_set_based_and_taken_once_a_day(fworld):
    generate(fworld)
    inserted = take_snapshots(fworld.reports, now=NOW)
    rows = snapshot_rows(fworld)
    assert inserted == len(rows) > 0
    assert take_snapshots(fworld.reports, now=NOW + dt.timedelta(hours=5)) == 0     # same company day
    assert snapshot_rows(fworld) == rows
    # against the deals: open or won, closing this month (March 2025) or later, by owner and month
    hand = hand_sql(fworld, "owner", dt.date(2025, 3, 1), dt.date(2100, 1, 1))
    by_owner: dict = {}
    for day, owner, month, won, weighted, best, open_deals in rows:
        assert str(day)[:10] == "2025-03-12" and str(month)[8:10] == "01" and str(month)[:7] >= "2025-03"
        sums = by_owner.setdefault(owner, [0, 0, 0])
        sums[0] += Decimal(str(won or 0))
        sums[1] += Decimal(str(weighted or 0))
        sums[2] += open_deals
    assert set(by_owner) == {(k or 0) for k in hand}
    for owner, (won, weighted, open_deals) in by_owner.items():
        row = hand[owner or None]
        assert close(won, row.won) and close(weighted, row.weighted) and open_deals == row.open_deals
    assert take_snapshots(fworld.reports, now=NOW + dt.timedelta(days=1)) == len(rows)   # the next day


def test_migrate_creates_the_snapshot_table_on_an_existing_database(fworld):
    from engine.runtime.migrate import migrate
    with fworld.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE crm_forecast_snapshot_rows"))
    assert "crm_forecast_snapshot_rows" not in sa.inspect(fworld.engine).get_table_names()
    migrate(fworld.engine, fworld.config)
    assert "crm_forecast_snapshot_rows" in sa.inspect(fworld.engine).get_table_names()
    generate(fworld, n=20)
    assert take_snapshots(fworld.reports, now=NOW) > 0


def test_forecast_vs_actual_reads_the_first_snapshot_of_each_month(fworld):
    march = fworld.deal(name="M1", stage="proposal", amount=1000, close_date=dt.date(2025, 3, 20), by=fworld.alice)
    fworld.deal(name="M2", stage="new", amount=500, close_date=dt.date(2025, 3, 5), by=fworld.bob)
    fworld.deal(name="B1", stage="proposal", amount=800, close_date=dt.date(2025, 3, 9), by=fworld.mona)
    take_snapshots(fworld.reports, now=dt.datetime(2025, 2, 3, 9, tzinfo=UTC))      # a month before
    take_snapshots(fworld.reports, now=dt.datetime(2025, 2, 20, 9, tzinfo=UTC))     # later in February: not shown
    with fworld.engine.begin() as conn:
        deal = fworld.tables.entity("deal")
        conn.execute(deal.update().where(deal.c.name == "M2").values(stage="proposal"))
    take_snapshots(fworld.reports, now=dt.datetime(2025, 3, 2, 9, tzinfo=UTC))      # at month start
    with fworld.engine.begin() as conn:
        conn.execute(deal.update().where(deal.c.id == march).values(stage="won"))
    at = dt.datetime(2025, 4, 4, 9, tzinfo=UTC)
    result = forecast_accuracy(fworld.reports, fworld.mona, "sales", months=3, at=at)
    march_row = next(r for r in result.rows if r.month == dt.date(2025, 3, 1))
    assert march_row.month_before.snapshot_date == dt.date(2025, 2, 3)
    assert close(march_row.month_before.expected, 1000 * Decimal("0.5") + 500 * Decimal("0.1") + 400)
    assert march_row.at_start.snapshot_date == dt.date(2025, 3, 2)
    assert close(march_row.at_start.expected, 500 + 250 + 400)          # M2 moved to proposal
    assert close(march_row.actual, 1000)                                 # M1 was won
    assert march_row.accuracy == (Decimal(1000) / Decimal(1150)).quantize(Decimal("0.0001"))
    # alice (own scope) sees her own owner's snapshot rows only
    mine = forecast_accuracy(fworld.reports, fworld.alice, "sales", months=3, at=at)
    mine_march = next(r for r in mine.rows if r.month == dt.date(2025, 3, 1))
    assert close(mine_march.at_start.expected, 500) and close(mine_march.actual, 1000)


def test_the_snapshot_task_runs_in_the_real_huey_worker(fworld, tmp_path, db_url):
    from engine.runtime.alerts import AlertService
    from engine.runtime.alerts.queue import Jobs, make_huey
    from engine.runtime.records import Records
    generate(fworld, n=60)
    records = Records(fworld.config, fworld.engine, fworld.tables, clock=lambda: NOW)
    jobs = Jobs(make_huey(queue_file=tmp_path / "jobs.sqlite3", db_url=db_url),
                AlertService(records, channels={}, listen=False))
    periodic = {t.name for t in jobs.huey._registry.periodic_tasks}
    assert {"crm.forecast_snapshots", "crm.digests", "crm.tick"} <= periodic
    finished: list[tuple[str, str]] = []       # huey keeps no results of periodic tasks: its signals tell

    @jobs.huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
    def seen(signal, task, *args):
        finished.append((signal, task.name))
    consumer = jobs.huey.create_consumer(workers=2, worker_type="thread", periodic=False,
                                         initial_delay=0.01, max_delay=0.05)
    consumer.start()
    try:
        jobs.forecast_snapshots()
        jobs.forecast_snapshots()                 # the same day again, possibly at the same moment
        deadline = time.monotonic() + 30
        while len(finished) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        consumer.stop(graceful=True)
    assert finished == [(SIGNAL_COMPLETE, "crm.forecast_snapshots")] * 2
    rows = snapshot_rows(fworld)
    assert len(rows) > 0 and len({(r[0], r[1], r[2]) for r in rows}) == len(rows)
    assert {str(r[0])[:10] for r in rows} == {"2025-03-12"}


def hand_ids(world, start: dt.date, end: dt.date, stages: tuple[str, ...], owner_id: int | None = None,
             month: str | None = None) -> set[int]:
    """Ids of the deals closing in [start, end) in `stages`, written by hand (one owner, one close month)."""
    sql = ("SELECT id FROM deal WHERE close_date >= :start AND close_date < :end AND stage IN :stages"
           + (" AND owner = :owner" if owner_id else "")
           + (" AND close_date >= :m0 AND close_date < :m1" if month else ""))
    args: dict = {"start": start, "end": end, "stages": list(stages), "owner": owner_id}
    if month:
        m0 = dt.date.fromisoformat(month)
        args.update(m0=m0, m1=dt.date(m0.year + m0.month // 12, m0.month % 12 + 1, 1))
    text = sa.text(sql).bindparams(sa.bindparam("stages", expanding=True))
    with world.engine.connect() as conn:
        return {r[0] for r in conn.execute(text, {k: v for k, v in args.items() if v is not None})}


def test_a_line_drills_into_exactly_the_deals_it_counts(fworld):
    from engine.runtime.reports.forecast import forecast_drill
    generate(fworld)
    start, end = dt.date(2025, 1, 1), dt.date(2026, 1, 1)
    result = forecast(fworld.reports, fworld.mona, "sales", period="this_year")
    amounts = {}
    with fworld.engine.connect() as conn:
        amounts = {r.id: (r.stage, r.amount) for r in conn.execute(sa.text("SELECT id, stage, amount FROM deal"))}
    for line in result.by_month:
        page = forecast_drill(fworld.reports, fworld.mona, "sales", period="this_year", by="month",
                              key=line.key.isoformat(), limit=500)
        ids = {r["id"] for r in page.rows}
        assert ids == hand_ids(fworld, start, end, ("new", "proposal", "won"), month=line.key.isoformat())
        # the line's numbers are those deals' numbers
        assert sum(1 for i in ids if amounts[i][0] != "won") == line.open_deals
        assert close(sum(Decimal(str(amounts[i][1] or 0)) for i in ids if amounts[i][0] == "won"), line.won)
        assert close(sum(Decimal(str(amounts[i][1] or 0)) for i in ids if amounts[i][0] != "won"), line.best_case)
        won = forecast_drill(fworld.reports, fworld.mona, "sales", period="this_year", by="month",
                             key=line.key.isoformat(), measure="won", limit=500)
        assert {r["id"] for r in won.rows} == {i for i in ids if amounts[i][0] == "won"}
        commit = forecast_drill(fworld.reports, fworld.mona, "sales", period="this_year", by="month",
                                key=line.key.isoformat(), measure="commit", limit=500)
        assert {r["id"] for r in commit.rows} == {i for i in ids if amounts[i][0] == "proposal"}
    for line in result.by_owner:
        page = forecast_drill(fworld.reports, fworld.mona, "sales", period="this_year", by="owner",
                              key="" if line.key is None else line.key, limit=500)
        ids = {r["id"] for r in page.rows}
        assert sum(1 for i in ids if amounts[i][0] != "won") == line.open_deals
        assert close(sum(Decimal(str(amounts[i][1] or 0)) for i in ids if amounts[i][0] != "won"), line.best_case)
        if line.key is not None:
            assert ids == hand_ids(fworld, start, end, ("new", "proposal", "won"), owner_id=line.key)
    # a rep drilling into a colleague's line gets nothing: the row filter is in the drill too
    bob_line = next(line for line in result.by_owner if line.key == fworld.bob.id)
    assert bob_line.open_deals and forecast_drill(fworld.reports, fworld.alice, "sales", period="this_year",
                                                  by="owner", key=fworld.bob.id).rows == []
    for bad in ({"by": "stage", "key": "x"}, {"by": "month", "key": "2025-03-05"}, {"by": "owner", "key": "bob"},
                {"by": "month", "key": "2025-03-01", "measure": "secret"}):
        with pytest.raises(ValidationFailed):
            forecast_drill(fworld.reports, fworld.mona, "sales", period="this_year", **bad)
    with pytest.raises(Forbidden):
        forecast_drill(fworld.reports, fworld.carol, "sales", by="month", key="2025-03-01")


def test_snapshot_rows_are_read_by_the_deals_own_rule_rep_lead_manager_admin(make_world):
    """What each user sees of a snapshot is what they would have read of the deals that day."""
    from engine.runtime.users import Users
    files = {**FORECAST_FILES, "roles.yaml": FORECAST_FILES["roles.yaml"] + (
        "  lead:\n    inherits: rep\n    entities:\n      deal: {read: team}\n")}
    w = make_world(files)
    users = Users(w.config, w.engine, w.tables, clock=lambda: NOW)
    lead = users.add("lena", roles=["lead"], team="north")
    dave = users.add("dave", roles=["rep"], team="south")
    root = users.add("root", roles=["admin"])
    march = dt.date(2025, 3, 10)
    w.deal(name="A", stage="won", amount=1000, close_date=march, by=w.alice)
    w.deal(name="B", stage="proposal", amount=500, close_date=march, by=w.bob)            # weighted 250
    w.deal(name="D", stage="won", amount=300, close_date=march, by=dave)
    w.deal(name="X", stage="won", amount=200, close_date=march, owner=w.alice.id, team="south")  # alice's, south
    w.deal(name="N", stage="won", amount=100, close_date=march)                          # nobody's
    take_snapshots(w.reports, now=dt.datetime(2025, 3, 2, 9, tzinfo=UTC))
    at = dt.datetime(2025, 4, 4, 9, tzinfo=UTC)
    expected = {}
    for who, actor in (("alice", w.alice), ("lena", lead), ("mona", w.mona), ("root", root)):
        row = next(r for r in forecast_accuracy(w.reports, actor, "sales", months=1, at=at).rows)
        expected[who] = row.at_start.expected if row.at_start else None
        # the snapshot agrees with the live forecast of the same month under the same user's row filter
        live = forecast(w.reports, actor, "sales", period="2025-03-01..2025-03-31", at=at)
        assert close(expected[who], live.total.expected), who
    assert close(expected["alice"], 1000 + 200)                 # own: the deals she owned (X too)
    assert close(expected["lena"], 1000 + 250)                  # team north: A and B, not X (team south)
    assert close(expected["mona"], 1000 + 250 + 300 + 200 + 100) and close(expected["root"], expected["mona"])
