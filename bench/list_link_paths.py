"""Benchmark: a rep's deal list that reads through links, vs the plain list and a hand-written query.

Three timings on the `list_query.py` database (built by `list_page.build` if missing):

- plain: the `list_query.py` list (stage filter, own deals, sort -amount, link titles);
- paths: the same plus a filter and a column through the link (`account.industry`),
  as the list page sends them (the linked record's read filter is in the JOINs);
- paths SQL: the statement `paths` runs, built once and only executed (the
  database's part of the cost, which the linked entity's read filter adds to);
- hand: that second query written by hand, without any permission on the account.

Used to check that keeping link paths permission-filtered costs little. Times
are CPU time of this process (SQLite runs in it), medians: steadier than wall
time on a busy machine.

    .venv/bin/python bench/list_link_paths.py [--deals 100000] [--runs 30] [--db FILE]
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
       a.name AS account_title, a.industry AS account_industry, u.full_name AS owner_title
FROM deal d
LEFT JOIN account a ON a.id = d.account
LEFT JOIN crm_users u ON u.id = d.owner
WHERE d.stage = :stage AND d.owner = :owner AND a.industry = :industry
ORDER BY d.amount DESC, d.id DESC
LIMIT 51
"""


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()   # warm the caches and the statement cache
    times = []
    for _ in range(runs):
        started = time.process_time()
        fn()
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def measure(url: str, runs: int) -> dict[str, float]:
    config = load_config(CONFIG)
    engine = make_engine(url)
    svc = build_services(config, engine)
    rep = svc.users.actor("rep7")
    assert rep is not None

    def plain() -> list:
        return svc.records.list(rep, "deal", filter_expr="stage == 'negotiation'", sort="-amount",
                                limit=50, with_titles=True).rows

    def paths() -> list:
        return svc.records.list(rep, "deal", filter_expr="stage == 'negotiation' and account.industry == $i",
                                params={"i": "software"}, sort="-amount", limit=50, with_titles=True,
                                paths=["account.industry"]).rows

    statement = svc.records.query.select(
        rep, "deal", filter_expr="stage == 'negotiation' and account.industry == $i", params={"i": "software"},
        sort="-amount", titles=True, paths=["account.industry"]).limit(51)

    def paths_sql() -> list:
        with engine.connect() as conn:
            return conn.execute(statement).all()

    def by_hand() -> list:
        with engine.connect() as conn:
            return conn.execute(sa.text(HAND_WRITTEN), {"stage": "negotiation", "owner": rep.id,
                                                        "industry": "software"}).all()

    assert len(paths()) == min(50, len(by_hand())) == min(50, len(paths_sql()))
    forms = {"plain": plain, "paths": paths, "paths_sql": paths_sql, "hand": by_hand}
    rounds = [{key: median_ms(fn, runs) for key, fn in forms.items()} for _ in range(3)]
    engine.dispose()
    return {key: statistics.median(r[key] for r in rounds) for key in forms}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", default=None, help="SQLite file (default /tmp/crm-list-<deals>.sqlite3)")
    args = parser.parse_args()
    db = Path(args.db or f"/tmp/crm-list-{args.deals}.sqlite3")
    if not db.exists():
        build(db, args.deals)
    t = measure(f"sqlite:///{db}", args.runs)
    print(f"SQLite, {args.deals:,} deals (CPU ms): plain list {t['plain']:.2f}, list through account.industry "
          f"{t['paths']:.2f} (its SQL alone {t['paths_sql']:.2f}), hand-written {t['hand']:.2f}; "
          f"SQL vs hand {t['paths_sql'] / t['hand']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
