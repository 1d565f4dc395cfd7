"""Benchmark: a permission-filtered list query through the records service vs by hand.

The query of a rep's deal list: stage filter, own records only (the rep role's
`read: own`), sorted by amount descending, 50 rows with the account's and the
owner's names. Timed through `Records.list(..., with_titles=True)` (compile the
permission filter, the expression filter and the joins, run, convert rows) and
as the same SELECT written by hand, on the same database, interleaved.
Goal (runtime core issue): within 1.2x of the hand-written query on both databases.

    .venv/bin/python bench/list_query.py [--deals 1000000] [--runs 30]   (SQLite only so far)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from list_page import CONFIG, build  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from ui.services import build_services  # noqa: E402

HAND_WRITTEN = """
SELECT d.id, d.code, d.name, d.stage, d.amount, d.close_date, d.owner, d.account,
       a.name AS account_title, u.full_name AS owner_title
FROM deal d
LEFT JOIN account a ON a.id = d.account
LEFT JOIN crm_users u ON u.id = d.owner
WHERE d.stage = :stage AND d.owner = :owner
ORDER BY d.amount DESC, d.id DESC
LIMIT 51
"""


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()   # warm the caches and the statement cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(url: str, runs: int) -> tuple[float, float]:
    config = load_config(CONFIG)
    engine = make_engine(url)
    svc = build_services(config, engine)
    rep = svc.users.actor("rep7")
    assert rep is not None

    def service() -> list:
        return svc.records.list(rep, "deal", filter_expr="stage == 'negotiation'", sort="-amount",
                                limit=50, with_titles=True).rows

    def by_hand() -> list:
        with engine.connect() as conn:
            return conn.execute(sa.text(HAND_WRITTEN), {"stage": "negotiation", "owner": rep.id}).all()

    assert len(service()) == min(50, len(by_hand()))
    rounds = [(median_ms(service, runs), median_ms(by_hand, runs)) for _ in range(3)]
    engine.dispose()
    return statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", default=None, help="SQLite file (default /tmp/crm-list-<deals>.sqlite3)")
    args = parser.parse_args()
    db = Path(args.db or f"/tmp/crm-list-{args.deals}.sqlite3")
    if not db.exists():
        build(db, args.deals)
    service, hand = measure(f"sqlite:///{db}", args.runs)
    print(f"SQLite, {args.deals:,} deals: service {service:.2f} ms, hand-written {hand:.2f} ms, "
          f"ratio {service / hand:.2f}x (goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
