"""Benchmark: a permission-filtered list query through the records service vs by hand.

The query of a rep's deal list: stage filter, own records only (the rep role's
`read: own`), sorted by amount descending, 50 rows with the account's and the
owner's names. Timed through `Records.list(..., with_titles=True)` (the
permission filter, the expression filter, the joins, the row conversion) and
as the same SELECT written by hand, on the same database, interleaved:

- `hand-written`: the plain form (join, filter, sort, LIMIT);
- `hand, page first`: the form the service generates (the page's ids picked in
  a subquery, then joined to the names), written by hand; the fair comparison
  for the service's own overhead.

Goal (runtime core issue): within 1.2x of the hand-written query on both databases.
The SQLite file is built once and kept (/tmp/crm-list-<deals>.sqlite3); the
PostgreSQL data is kept in schema `bench_list_<deals>` and rebuilt only when its
deal count is wrong.

    .venv/bin/python bench/list_query.py                        # 1M deals, SQLite and PostgreSQL
    .venv/bin/python bench/list_query.py --deals 100000 --db sqlite --runs 100
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402
from list_page import CONFIG, INDUSTRIES, STAGES, WORDS, build  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.migrate import migrate  # noqa: E402
from ui.services import build_services  # noqa: E402

PG_URL = os.environ.get("CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

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

HAND_PAGE_FIRST = """
SELECT d.id, d.code, d.name, d.stage, d.amount, d.close_date, d.owner, d.account,
       a.name AS account_title, u.full_name AS owner_title
FROM (SELECT id, amount FROM deal WHERE stage = :stage AND owner = :owner
      ORDER BY amount DESC, id DESC LIMIT 51) p
JOIN deal d ON d.id = p.id
LEFT JOIN account a ON a.id = d.account
LEFT JOIN crm_users u ON u.id = d.owner
ORDER BY p.amount DESC, p.id DESC
"""


def interleaved_ms(forms: dict[str, Callable[[], Any]], runs: int) -> dict[str, float]:
    """Median ms per form; the forms take turns call by call (rotating who goes first), so a
    change in the machine's load hits all of them alike."""
    names = list(forms)
    for fn in forms.values():
        fn()    # warm the caches, the statement cache and the server's prepared statements
        fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            started = time.perf_counter()
            forms[name]()
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(url: str, runs: int) -> dict[str, float]:
    config = load_config(CONFIG)
    engine = make_engine(url)
    svc = build_services(config, engine)
    rep = svc.users.actor("rep7")
    assert rep is not None

    def service() -> list:
        return svc.records.list(rep, "deal", filter_expr="stage == 'negotiation'", sort="-amount",
                                limit=50, with_titles=True).rows

    def by_hand(sql: str) -> Callable[[], list]:
        def run() -> list:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql), {"stage": "negotiation", "owner": rep.id}).all()
        return run

    timed = {"service": service, "hand-written": by_hand(HAND_WRITTEN), "hand, page first": by_hand(HAND_PAGE_FIRST)}
    expected = [r[0] for r in by_hand(HAND_WRITTEN)()][:50]
    assert [r["id"] for r in service()] == expected, "the service and the hand-written query disagree"
    assert [r[0] for r in by_hand(HAND_PAGE_FIRST)()][:50] == expected
    result = interleaved_ms(timed, runs)
    engine.dispose()
    return result


def sqlite_url(deals: int, db: str | None) -> str:
    path = Path(db or f"/tmp/crm-list-{deals}.sqlite3")
    if not path.exists():
        building = path.with_name(path.name + ".building")
        building.unlink(missing_ok=True)
        build(building, deals)
        building.rename(path)
    return f"sqlite:///{path}"


def postgresql_url(deals: int) -> str:
    """The bench configuration with `deals` deals in schema bench_list_<deals> (the same rows as SQLite's)."""
    schema = f"bench_list_{deals}"
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        present = conn.execute(sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s "
                                       "AND table_name = 'deal'"), {"s": schema}).first()
        if present and conn.execute(sa.text(f'SELECT count(*) FROM "{schema}".deal')).scalar() == deals:
            admin.dispose()
            return url
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    build_postgresql(url, deals)
    return url


def build_postgresql(url: str, deals: int) -> None:
    """`list_page.build` for PostgreSQL: the same users, accounts and deals, generated in SQL."""
    config = load_config(CONFIG)
    engine = make_engine(url)
    migrate(engine, config)
    svc = build_services(config, engine)
    svc.users.add("boss", roles=["admin"], password="pw", full_name="Boss")
    svc.users.add("rep7", roles=["rep"], team="north", password="pw", full_name="Rep Seven")
    with engine.begin() as conn:
        conn.execute(svc.tables.users.insert(), [{"username": f"user{i}", "full_name": f"User {i}", "team": "north",
                                                  "active": True} for i in range(3, 51)])
    accounts = max(1, deals // 10)

    def case(values: tuple[str, ...], modulo: int) -> str:
        return f"CASE mod(n, {modulo}) " + " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values)) + " END"
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO account (id, created_at, updated_at, version, name, industry, owner, team) "
            f"SELECT n, '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00', 1, {case(WORDS, 10)} || ' ' || n || ' Kft.', "
            f"{case(INDUSTRIES, 5)}, 1 + mod(n, 50), 'north' FROM generate_series(1, {int(accounts)}) AS n")
        conn.exec_driver_sql(
            "INSERT INTO deal (id, created_at, updated_at, version, code, name, account, stage, amount, "
            "discount_pct, close_date, source, owner, team) "
            f"SELECT n, '2025-01-01 00:00:00+00', '2025-01-01 00:00:00+00', 1, 'D-' || n, "
            f"{case(WORDS, 10)} || ' order ' || n, 1 + mod(n, {int(accounts)}), {case(STAGES, 6)}, "
            "mod(n::bigint * 7919, 1000000), mod(n, 30), DATE '2025-01-01' + mod(n, 365), 'web', "
            f"1 + mod(n / 7, 50), 'north' FROM generate_series(1, {int(deals)}) AS n")
        for table in ("account", "deal"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"PostgreSQL: generated {deals:,} deals, {accounts:,} accounts in {time.perf_counter() - started:.1f} s",
          flush=True)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300, help="timed calls per form")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sqlite-file", default=None, help="SQLite file (default /tmp/crm-list-<deals>.sqlite3)")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"list query, {args.deals:,} deals, median of {args.runs} interleaved calls per form; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for kind in kinds:
        url = sqlite_url(args.deals, args.sqlite_file) if kind == "sqlite" else postgresql_url(args.deals)
        r = measure(url, args.runs)
        print(f"  {kind:<10} service {r['service']:.2f} ms | hand-written {r['hand-written']:.2f} ms, "
              f"ratio {r['service'] / r['hand-written']:.2f}x | hand, page first {r['hand, page first']:.2f} ms, "
              f"ratio {r['service'] / r['hand, page first']:.2f}x   (goal <= 1.2x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
