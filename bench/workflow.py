"""Benchmark: set-based workflow work over N records, and the latency of one move.

On the workflow test company (tests/runtime/workflow/conftest.py), with N
leads and N deals inserted in bulk:

1. `rescore_all("lead")`: one UPDATE with the scoring rules' CASE sums;
2. `idle_records("deal", rule)`: the follow-up query, counted;
3. `move()` refused (requirements missing) and successful, per call.

    .venv/bin/python bench/workflow.py [--rows 100000] [--db URL]   (default: a temporary SQLite file;
    a --db URL must be a scratch database: its tables are dropped and made again)
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "runtime" / "workflow"))

import sqlalchemy as sa  # noqa: E402

from conftest import FILES  # noqa: E402
from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.records import Records  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402
from engine.runtime.workflow import Workflow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "cfg"
        files = {"crm.yaml": "company: T\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n", **FILES}
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        config = load_config(root)
        engine = make_engine(args.db or f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        tables = build_tables(config)
        tables.metadata.drop_all(engine)
        tables.metadata.create_all(engine)
        records = Records(config, engine, tables)
        workflow = Workflow(config, engine, tables, records)
        now = dt.datetime.now(dt.timezone.utc)
        old = now - dt.timedelta(days=30)
        rng = random.Random(7)
        leads = [dict(company=f"C{i}", source=rng.choice(["web", "referral", "fair"]), size=rng.randint(1, 200),
                      email=f"x{i}@gmail.com" if i % 3 else None, country="hu", score=0, status="new",
                      created_at=now, updated_at=now, version=1) for i in range(args.rows)]
        deals = [dict(name=f"D{i}", stage="new", discount_pct=0, created_at=old, updated_at=old, version=1)
                 for i in range(args.rows)]
        with engine.begin() as conn:
            conn.execute(tables.entity("lead").insert(), leads)
            conn.execute(tables.entity("deal").insert(), deals)

        start = time.perf_counter()
        scored = workflow.scoring.rescore_all("lead")
        rescore = time.perf_counter() - start

        rule = config.pipelines["sales"].follow_up[0]
        start = time.perf_counter()
        with engine.connect() as conn:
            idle = conn.execute(sa.select(sa.func.count()).select_from(
                workflow.idle_records("deal", rule).subquery())).scalar()
        idle_time = time.perf_counter() - start

        start = time.perf_counter()
        for record_id in range(1, 201):
            try:
                workflow.move(SYSTEM, "deal", record_id, "lost")
            except Exception:  # noqa: BLE001 - refused on purpose: lost_reason is missing
                pass
        refused = (time.perf_counter() - start) / 200
        for record_id in range(1, 51):
            records.update(SYSTEM, "deal", record_id, {"lost_reason": "price"}, None)
        start = time.perf_counter()
        for record_id in range(1, 51):
            workflow.move(SYSTEM, "deal", record_id, "lost")
        moved = (time.perf_counter() - start) / 50
        print(f"{engine.dialect.name}: rescore_all {scored} leads in {rescore:.2f} s; idle_records over "
              f"{args.rows} deals -> {idle} in {idle_time:.2f} s; refused move {refused * 1000:.1f} ms; "
              f"successful move {moved * 1000:.1f} ms")
        engine.dispose()


if __name__ == "__main__":
    main()
