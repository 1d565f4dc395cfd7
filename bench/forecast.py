"""Times the forecast of the default company (configs/) on generated deals, against hand-written SQL.

    .venv/bin/python bench/forecast.py [--deals 200000] [--db postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--runs 5]

Makes a fresh database (a temporary SQLite file by default; with --db a
throw-away schema on PostgreSQL), inserts --deals deals spread over 2 years,
8 stages and 20 owners, then times (best of --runs, after a warm-up):
`forecast()` for this year (two grouped statements: by close month, by owner,
plus the quota lookup), the same two statements written by hand, and the
daily snapshot (`take_snapshot`, one INSERT ... SELECT).
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from engine.metadata.forecasts import forecasts
from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.reports import Reports
from engine.runtime.reports.forecast import forecast
from engine.runtime.reports.forecast_snapshots import take_snapshot
from engine.runtime.tables import build_tables
from timing import best_ms

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--deals", type=int, default=200_000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    config = load_config(str(ROOT / "configs"))
    tmp = tempfile.mkdtemp()
    url = args.db or f"sqlite:///{tmp}/forecast.sqlite3"
    if url.startswith("postgresql"):
        schema = f"bench_forecast_{int(time.time())}"
        with sa.create_engine(url).begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    users = tables.users
    with engine.begin() as conn:
        conn.execute(users.insert(), [dict(username=f"u{i}", full_name=f"User {i}", active=True,
                                           created_at=NOW) for i in range(20)])
        ids = [r[0] for r in conn.execute(sa.select(users.c.id))]
    stages = [s.key for s in config.pipelines["sales"].stages]
    rng = random.Random(1)
    deal = tables.entity("deal")
    batch = []
    with engine.begin() as conn:
        for i in range(args.deals):
            batch.append(dict(name=f"D{i}", stage=rng.choice(stages), amount=Decimal(rng.randrange(10_000, 50_000_000)),
                              discount_pct=Decimal(rng.randrange(0, 20)), owner=rng.choice(ids),
                              close_date=dt.date(2025, 7, 1) + dt.timedelta(days=rng.randrange(730)),
                              created_at=NOW, updated_at=NOW, version=1))
            if len(batch) == 10_000:
                conn.execute(deal.insert(), batch)
                batch = []
        if batch:
            conn.execute(deal.insert(), batch)
    reports = Reports(config, engine, tables, clock=lambda: NOW)
    spec = forecasts(config)["sales"]
    month = "substr(close_date, 1, 7)" if engine.dialect.name == "sqlite" else "date_trunc('month', close_date)"
    probability = " ".join(f"WHEN '{s.key}' THEN {s.probability}" for s in config.pipelines["sales"].stages)
    net = "amount * (1 - discount_pct / 100.0)"
    hand = [f"""SELECT {g} AS g, SUM(CASE WHEN stage = 'won' THEN {net} ELSE 0 END),
                SUM(CASE WHEN stage NOT IN ('won', 'lost') AND (CASE stage {probability} END) >= 75 THEN {net} ELSE 0 END),
                SUM(CASE WHEN stage NOT IN ('won', 'lost') THEN {net} * (CASE stage {probability} END) / 100.0 ELSE 0 END),
                SUM(CASE WHEN stage NOT IN ('won', 'lost') THEN {net} ELSE 0 END),
                COUNT(CASE WHEN stage NOT IN ('won', 'lost') THEN 1 END)
              FROM deal WHERE close_date >= '2026-01-01' AND close_date < '2027-01-01' GROUP BY {g}"""
            for g in (month, "owner")]

    def handwritten() -> None:
        with engine.connect() as conn:
            for sql in hand:
                conn.execute(sa.text(sql)).all()

    def snapshot() -> None:
        with engine.begin() as conn:
            conn.execute(tables("crm_forecast_snapshot_rows").delete())
        take_snapshot(reports, spec, now=NOW)

    engine_ms = best_ms(lambda: forecast(reports, SYSTEM, "sales", period="this_year"), args.runs)
    hand_ms = best_ms(handwritten, args.runs)
    snap_ms = best_ms(snapshot, args.runs)
    print(f"{engine.dialect.name}, {args.deals:,} deals: forecast() {engine_ms:.0f} ms, hand-written "
          f"{hand_ms:.0f} ms ({engine_ms / hand_ms:.2f}x); snapshot INSERT ... SELECT {snap_ms:.0f} ms")
    engine.dispose()
    if url.startswith("postgresql"):
        with sa.create_engine(args.db).begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
