"""Times the approval notices' catch-up sweep (`ApprovalNotices.due(since=)`, every minute) with and
without the created_at / decided_at indexes of crm_approval_requests.

    .venv/bin/python bench/approval_sweep.py [--requests 200000] [--runs 5]
                                             [--db postgresql://postgres@127.0.0.1:5432/postgres]

Makes a fresh database of the default company (configs/; a temporary SQLite
file, or with --db a throw-away schema on PostgreSQL), inserts --requests
decided requests spread over two years (each with its firing, as after normal
operation) plus a few from the last minutes, then times (best of --runs, after
a warm-up) the sweep's real SELECT with a 5-minute lookback: with the engine's
indexes, then with the two dropped.
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from engine.metadata.loader import load_config
from engine.runtime.alerts import AlertService
from engine.runtime.alerts.approval_notices import alert_name
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from timing import best_ms

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.timezone.utc)
INDEXES = ("ix_crm_approval_requests_created_at", "ix_crm_approval_requests_decided_at")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    config = load_config(str(ROOT / "configs"))
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/sweep.sqlite3"
    schema = None
    if url.startswith("postgresql"):
        schema = f"bench_sweep_{int(time.time())}"
        with sa.create_engine(url).begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        url += ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    approval = sorted(config.approvals)[0]
    requests, firings = tables("crm_approval_requests"), tables("crm_alert_firings")
    start = NOW - dt.timedelta(days=730)
    step = dt.timedelta(days=730) / args.requests
    with engine.begin() as conn:
        for first in range(0, args.requests, 10_000):
            rows = range(first, min(first + 10_000, args.requests))
            conn.execute(requests.insert(), [
                dict(id=i + 1, approval=approval, entity="deal", record_id=i + 1, status="approved", step=0,
                     steps='[{"role": "sales_manager"}]', created_at=start + step * i,
                     decided_at=start + step * i + dt.timedelta(hours=2)) for i in rows])
            conn.execute(firings.insert(), [
                dict(alert=alert_name(approval), entity="deal", record_id=i + 1, moment=f"request{i + 1}/approved",
                     fired_at=NOW) for i in rows])
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE crm_approval_requests"))
            conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('crm_approval_requests', 'id'), "
                                 f"{args.requests})"))
        else:
            conn.exec_driver_sql("ANALYZE")
    records = Records(config, engine, tables, clock=lambda: NOW)
    notices = AlertService(records, channels={}, listen=False).notices
    since = NOW - dt.timedelta(minutes=5)

    def sweep() -> None:
        with engine.connect() as conn:
            notices.due(conn, NOW, since=since)

    with_ms = best_ms(sweep, args.runs)
    with engine.begin() as conn:
        for name in INDEXES:
            conn.execute(sa.text(f"DROP INDEX {name}"))
    without_ms = best_ms(sweep, args.runs)
    print(f"{engine.dialect.name}, {args.requests:,} decided requests: catch-up sweep {with_ms:.1f} ms with the "
          f"created_at/decided_at indexes, {without_ms:.1f} ms without")
    engine.dispose()
    if schema:
        with sa.create_engine(args.db).begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
