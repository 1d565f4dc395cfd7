"""Benchmark: `crm import deal deals.csv` through the real importer, on SQLite and PostgreSQL.

Goal (design.md): at least 20,000 rows/s on SQLite with validation, defaults,
formulas and audit. The data comes from the shared generator
(/work/shared/bench/gen_data.py: scale 1 = 100k accounts, 1M deals) and the
configuration from bench/config (deal: 3 validation rules, one over a
formula, a literal and an expression default, an autonumber, owner/team,
a link resolved by id, one audit row per record).

Steps per database: fresh tables and search indexes (as `crm migrate` leaves
them), `crm import user users.csv` (ids kept, so `owner_id` finds them),
accounts (ids kept, so `account_id` finds them), then the timed deals import
(a large one into an empty table: on SQLite in bulk mode, unless
--keep-indexes). Prints wall-clock rows/s, the load average (other
processes on the machine slow it down), rows per CPU-second of this process
and its workers (the cost per row: steadier on a busy machine), and the rate
the busiest process allows when each process has a CPU of its own (the
importing process reads and writes, a worker checks and encodes).

    .venv/bin/python bench/import_deals.py                 # scale 0.1, both databases
    .venv/bin/python bench/import_deals.py --scale 1 --db sqlite
    .venv/bin/python bench/import_deals.py --workers 0      # everything in one process
    .venv/bin/python bench/import_deals.py --keep-indexes   # indexes kept up to date row by row
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.actor import SYSTEM  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.import_users import import_users  # noqa: E402
from engine.runtime.importer import import_csv  # noqa: E402
from engine.runtime.records import Records  # noqa: E402
from engine.runtime.search import ensure_search_index  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402

GENERATOR = Path(os.environ.get("CRM_BENCH_GENERATOR", "/work/shared/bench/gen_data.py"))
PG_URL = os.environ.get("CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PG_SCHEMA = "bench_import"


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def ensure_data(scale: float, folder: Path) -> None:
    if (folder / "DONE").exists():
        return
    print(f"generating scale {scale:g} into {folder} ...", flush=True)
    subprocess.run([sys.executable, str(GENERATOR), "--scale", f"{scale:g}", "--out", str(folder)], check=True)


def database(kind: str, scale: float, folder: Path) -> str:
    if kind == "sqlite":
        path = folder / "import_bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    admin.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{PG_SCHEMA}"


def run(kind: str, scale: float, folder: Path, chunk: int, workers: int | None,
        keep_indexes: bool = False) -> dict[str, float]:
    config = load_config(ROOT / "bench" / "config")
    engine = make_engine(database(kind, scale, folder))
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    ensure_search_index(engine, config)      # as `crm migrate` leaves a database: FTS5 / pg_trgm indexes
    records = Records(config, engine, tables)
    import_users(records, folder / "users.csv", default_roles=["rep"])
    accounts = import_csv(records, SYSTEM, "account", folder / "accounts.csv", chunk_size=chunk)
    print(f"  [{kind}] {accounts.summary()}", flush=True)
    own_cpu, workers_cpu = cpu_seconds()
    deals = import_csv(records, SYSTEM, "deal", folder / "deals.csv", chunk_size=chunk, workers=workers,
                       report=folder / f"deals_refused_{kind}.csv", progress=sys.stderr,
                       **({"bulk": False} if keep_indexes else {}))
    own_now, workers_now = cpu_seconds()
    own_cpu, workers_cpu = own_now - own_cpu, workers_now - workers_cpu
    cpu = own_cpu + workers_cpu
    # With workers, the import goes as fast as its busiest process when each has a CPU of its own.
    busiest = max(own_cpu, workers_cpu)
    print(f"  [{kind}] {deals.summary()}; {deals.rows / cpu:,.0f} rows per CPU-second (all processes); "
          f"CPU-s: importing process {own_cpu:.1f}, workers {workers_cpu:.1f} -> {deals.rows / busiest:,.0f} rows/s "
          "with a free CPU per process", flush=True)
    engine.dispose()
    return {"rows_per_s": deals.rows_per_second, "cpu_rows_per_s": deals.rows / cpu,
            "free_cpu_rows_per_s": deals.rows / busiest, "refused": deals.refused}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--data", default=None, help="CSV folder (default /tmp/benchdata/s<scale>)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None, help="checking processes (default: the importer's choice)")
    parser.add_argument("--keep-indexes", action="store_true", help="no bulk mode (indexes kept up to date per row)")
    args = parser.parse_args(argv)
    folder = Path(args.data or f"/tmp/benchdata/s{args.scale:g}")
    ensure_data(args.scale, folder)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {kind: run(kind, args.scale, folder, args.chunk_size, args.workers, args.keep_indexes) for kind in kinds}
    load = os.getloadavg()[0]
    print(f"\nimport of deals.csv at scale {args.scale:g} (goal: 20,000 rows/s on SQLite); "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    for kind, r in results.items():
        print(f"  {kind:<10} {r['rows_per_s']:>9,.0f} rows/s   {r['cpu_rows_per_s']:>9,.0f} rows/CPU-s"
              f"   {r['free_cpu_rows_per_s']:>9,.0f} rows/s with a free CPU per process"
              f"   refused {r['refused']:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
