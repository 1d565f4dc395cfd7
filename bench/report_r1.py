"""Benchmark R1: the pipeline report through the report compiler vs the same query written by hand.

R1 of the shared benchmark (/work/shared/bench/README.md): count and
sum(amount) of deals by stage x close month over one year. The report is
bench/config/reports/pipeline.yaml; the hand-written query is the raw
floor's (`GROUP BY stage, substr(close_date, 1, 7)` on SQLite,
`date_trunc('month', close_date)` on PostgreSQL), run on the same database,
tables and indexes the engine made.

Measured per database, median of N runs each, interleaved:
- sql:  the compiled statement vs the hand-written one, both executed and
        fetched through the same SQLAlchemy engine (the compiler's cost);
- full: `Reports.run_report` end to end (access check, parameters,
        compiling, the query, labels, number conversion, formatting) vs the
        hand-written query;
then the same again after adding the covering index the report implies
(reports/indexes.py: (close_date, stage, amount)), for both sides.

    .venv/bin/python bench/report_r1.py                    # scale 0.1, SQLite and PostgreSQL
    .venv/bin/python bench/report_r1.py --scale 1 --db sqlite --runs 5

Data: /tmp/benchdata/s<scale> from the shared generator (made if missing),
loaded once into /tmp/crm-bench-r1/s<scale>.sqlite3 and the PostgreSQL schema
bench_r1_s<scale> by a direct batch load into the engine-created tables.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime import exprs  # noqa: E402,F401  (registers the SQLite functions)
from engine.runtime.reports import Reports  # noqa: E402
from engine.runtime.reports.indexes import covering_indexes  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402

GENERATOR = Path(os.environ.get("CRM_BENCH_GENERATOR", "/work/shared/bench/gen_data.py"))
PG_URL = os.environ.get("CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
UTC = dt.timezone.utc
YEAR = 2025
PARAMS = {"period": {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}}
HAND = {
    "sqlite": ("SELECT stage, substr(close_date, 1, 7) AS m, count(*), sum(amount) FROM deal"
               " WHERE close_date >= :a AND close_date < :b GROUP BY stage, m"),
    # date_trunc, not to_char: to_char is ~1.5x slower here, and the floor should be the fast spelling.
    "postgresql": ("SELECT stage, date_trunc('month', close_date) AS m, count(*), sum(amount) FROM deal"
                   " WHERE close_date >= :a AND close_date < :b GROUP BY stage, m"),
}


def ensure_data(scale: float) -> Path:
    folder = Path(f"/tmp/benchdata/s{scale:g}")
    if not (folder / "DONE").exists():
        print(f"generating scale {scale:g} into {folder} ...", flush=True)
        subprocess.run([sys.executable, str(GENERATOR), "--scale", f"{scale:g}", "--out", str(folder)], check=True)
    return folder


def rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


def batches(items: Iterator[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def load(engine: sa.Engine, tables: Any, data: Path) -> None:
    """Users, accounts and deals straight into the engine's tables (no per-record services: this is R1's setup)."""
    users = list(rows(data / "users.csv"))
    teams = sorted({u["team"] for u in users})
    deal = tables.entity("deal")
    account = tables.entity("account")
    with engine.begin() as conn:
        conn.execute(tables("crm_teams").insert(), [{"name": t} for t in teams])
        conn.execute(tables.users.insert(), [{"id": int(u["id"]), "username": u["username"], "full_name": u["full_name"],
                                              "email": u["email"], "team": u["team"], "active": True} for u in users])
        team_of = {int(u["id"]): u["team"] for u in users}
        for batch in batches({"id": int(a["id"]), "name": a["name"], "owner": int(a["owner_id"]),
                              "team": team_of[int(a["owner_id"])], "created_at": stamp(a["created_at"]),
                              "updated_at": stamp(a["created_at"]), "version": 1}
                             for a in rows(data / "accounts.csv")):
            conn.execute(account.insert(), batch)
        for batch in batches({"id": int(d["id"]), "account": int(d["account_id"]), "owner": int(d["owner_id"]),
                              "team": team_of[int(d["owner_id"])], "name": d["name"], "stage": d["stage"],
                              "amount": Decimal(d["amount"]), "discount_pct": Decimal(d["discount_pct"]),
                              "close_date": dt.date.fromisoformat(d["close_date"]),
                              "created_at": stamp(d["created_at"]), "updated_at": stamp(d["created_at"]),
                              "version": 1, "code": f"D-{int(d['id']):07d}"}
                             for d in rows(data / "deals.csv")):
            conn.execute(deal.insert(), batch)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))


def database(kind: str, scale: float, data: Path, config: Any) -> sa.Engine:
    tables = build_tables(config)
    if kind == "sqlite":
        path = Path(f"/tmp/crm-bench-r1/s{scale:g}.sqlite3")
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        engine = make_engine(f"sqlite:///{path}")
    else:
        schema = f"bench_r1_s{scale:g}".replace(".", "_")
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            fresh = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first() is None
            if fresh:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
    if fresh:
        started = time.perf_counter()
        tables.metadata.create_all(engine)
        load(engine, tables, data)
        print(f"  loaded {kind} in {time.perf_counter() - started:.1f} s", flush=True)
    return engine


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(kind: str, engine: sa.Engine, reports: Reports, runs: int) -> dict[str, float]:
    hand = sa.text(HAND[kind])
    bounds = {"a": dt.date(YEAR, 1, 1), "b": dt.date(YEAR + 1, 1, 1)}
    compiled, _ = reports.compile(SYSTEM, "pipeline", PARAMS)

    def run_hand() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(hand, bounds).all()

    def run_sql() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(compiled.statement).all()

    def run_full() -> Any:
        return reports.run_report(SYSTEM, "pipeline", PARAMS)

    expected = {(s, m if isinstance(m, str) else m.strftime("%Y-%m")): (c, Decimal(str(t)).quantize(Decimal("0.01")))
                for s, m, c, t in run_hand()}
    got = {(r.groups[0].value, r.groups[1].value.strftime("%Y-%m")): (r.values["deals"], r.values["total"].quantize(Decimal("0.01")))
           for r in run_full().rows}
    assert got == expected, "the report and the hand-written query disagree"
    for fn in (run_hand, run_sql, run_full):      # warm caches (pages, statement cache)
        fn()
    out = {"hand": [], "sql": [], "full": []}     # interleaved rounds, so drift hits all three alike
    for _ in range(runs):
        out["hand"].append(median_ms(run_hand, 1))
        out["sql"].append(median_ms(run_sql, 1))
        out["full"].append(median_ms(run_full, 1))
    result = {k: statistics.median(v) for k, v in out.items()}
    result["groups"] = len(expected)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    data = ensure_data(args.scale)
    config = load_config(ROOT / "bench" / "config")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"R1 pipeline report, scale {args.scale:g}, median of {args.runs} runs")
    print("| database | indexes | hand-written ms | compiled SQL ms | ratio | run_report ms | ratio | groups |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        engine = database(kind, args.scale, data, config)
        reports = Reports(config, engine, build_tables(config))
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX IF EXISTS ix_deal_r1_covering"))
        covering = covering_indexes(config)["deal"][0]        # derived from the report: (close_date, stage, amount)
        for label in ("engine's", f"+ covering ({', '.join(covering)})"):
            if label.startswith("+"):
                with engine.begin() as conn:
                    conn.execute(sa.text(f"CREATE INDEX ix_deal_r1_covering ON deal ({', '.join(covering)})"))
                    conn.execute(sa.text("ANALYZE"))
            r = measure(kind, engine, reports, args.runs)
            print(f"| {kind} | {label} | {r['hand']:.1f} | {r['sql']:.1f} | {r['sql'] / r['hand']:.2f}x "
                  f"| {r['full']:.1f} | {r['full'] / r['hand']:.2f}x | {r['groups']:.0f} |", flush=True)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX IF EXISTS ix_deal_r1_covering"))
        engine.dispose()


if __name__ == "__main__":
    main()
