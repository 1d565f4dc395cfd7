"""Benchmark: the deal list page (`GET /records/deal`) on a million deals, in process.

Builds (once, reused while the file exists) a SQLite database of bench/config
with N deals and N/10 accounts, generated set-based in SQL, migrated with
`migrate` and indexed with `ensure_search_index` (the FTS5 build is timed),
then times full-page and htmx requests through the real app with a signed-in
user (Starlette TestClient: no network, one thread). Prints median and p90 ms.

    .venv/bin/python bench/list_page.py                      # 1,000,000 deals
    .venv/bin/python bench/list_page.py --deals 100000 --db /tmp/list100k.sqlite3
"""
from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.migrate import migrate  # noqa: E402
from engine.runtime.search import ensure_search_index  # noqa: E402
from ui.app import create_app  # noqa: E402
from ui.services import build_services  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001 - progress shows while it runs
CONFIG = Path(__file__).parent / "config"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Tyrell", "Cyberdyne")
STAGES = ("new", "qualified", "proposal", "negotiation", "won", "lost")
INDUSTRIES = ("software", "manufacturing", "retail", "finance", "healthcare")


def build(db: Path, deals: int) -> None:
    config = load_config(CONFIG)
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine, config)
    svc = build_services(config, engine)
    svc.users.add("boss", roles=["admin"], password="pw", full_name="Boss")
    svc.users.add("rep7", roles=["rep"], team="north", password="pw", full_name="Rep Seven")
    users = svc.tables.users
    with engine.begin() as conn:      # 48 more owners (no password: nobody signs in as them)
        conn.execute(users.insert(), [{"username": f"user{i}", "full_name": f"User {i}", "team": "north",
                                       "active": True} for i in range(3, 51)])
    accounts = max(1, deals // 10)
    words = "CASE (n % 10) " + " ".join(f"WHEN {i} THEN '{w}'" for i, w in enumerate(WORDS)) + " END"
    stages = "CASE (n % 6) " + " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(STAGES)) + " END"
    industries = "CASE (n % 5) " + " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(INDUSTRIES)) + " END"
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) "
            "INSERT INTO account (id, created_at, updated_at, version, name, industry, owner, team) "
            f"SELECT n, '2025-01-01 00:00:00', '2025-01-01 00:00:00', 1, {words} || ' ' || n || ' Kft.', "
            f"{industries}, 1 + (n % 50), 'north' FROM c", (accounts,))
        conn.exec_driver_sql(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < ?) "
            "INSERT INTO deal (id, created_at, updated_at, version, code, name, account, stage, amount, "
            "discount_pct, close_date, source, owner, team) "
            f"SELECT n, '2025-01-01 00:00:00', '2025-01-01 00:00:00', 1, 'D-' || n, "
            f"{words} || ' order ' || n, 1 + (n % ?), {stages}, (n * 7919) % 1000000, n % 30, "
            "date('2025-01-01', '+' || (n % 365) || ' days'), 'web', 1 + ((n / 7) % 50), 'north' FROM c",
            (deals, accounts))
        conn.exec_driver_sql("ANALYZE")
    print(f"generated {deals:,} deals, {accounts:,} accounts in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    print("\n".join(ensure_search_index(engine, config)))
    print(f"search indexes built in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def measure(db: Path, runs: int) -> None:
    config = load_config(CONFIG)
    engine = make_engine(f"sqlite:///{db}")
    app = create_app(config, engine, secret_key=SECRET)
    urls = {
        "default (sort -close_date)": "/records/deal",
        "L1 stage+owner, sort -amount": "/records/deal?stage=negotiation&owner=7&sort=-amount",
        "filter account.industry + date range": "/records/deal?account.industry=retail"
                                                "&close_date__from=2025-03-01&close_date__to=2025-03-31",
        "L2 search q=initech 4242": "/records/deal?q=initech+4242",
        "search q=acme (many hits)": "/records/deal?q=acme",
        "page 200": "/records/deal?page=200",
        "segment-less htmx partial, sort name": "/records/deal?sort=name",
    }
    for user in ("boss", "rep7"):
        with TestClient(app) as client:
            page = client.get("/login").text
            token = page.split('name="csrf-token" content="')[1].split('"')[0]
            client.post("/login", data={"username": user, "password": "pw", "csrf_token": token})
            print(f"\nas {user}: median / p90 ms over {runs} requests")
            for name, url in urls.items():
                headers = {"HX-Request": "true", "HX-Target": "list-results"} if "htmx" in name else {}
                times = []
                for _ in range(runs + 2):
                    started = time.perf_counter()
                    response = client.get(url, headers=headers)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text[:500]
                times = sorted(times[2:])
                rows = response.text.count("<tr data-id=")
                print(f"  {name:40s} {statistics.median(times):8.1f} {times[int(len(times) * .9) - 1]:8.1f}"
                      f"   ({rows} rows)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/crm_list_bench.sqlite3"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if not args.db.exists():
        build(args.db, args.deals)
    with sa.create_engine(f"sqlite:///{args.db}").connect() as conn:
        print(f"{conn.exec_driver_sql('SELECT count(*) FROM deal').scalar():,} deals in {args.db}")
    measure(args.db, args.runs)


if __name__ == "__main__":
    main()
