"""Benchmark: the date-trigger scan over N contracts, and outbox delivery throughput.

1. Scan: N contracts (end dates spread over 3 years, 90% active) on SQLite;
   the renewal alert (60/30/7 days before, `when: status == 'active'`) scanned
   for one day's window: ONE statement (UNION ALL of the offsets over the
   end_date index). Prints the query plan, the statement's time and rows, and
   the time of the whole firing (claim + recipients + render + outbox).
2. Delivery: M e-mails already in the outbox, sent to a local aiosmtpd server
   by W workers (threads, each its own engine connection pool, claiming
   batches from the same SQLite outbox). Prints messages per second.

    .venv/bin/python bench/alerts_scan.py [--contracts 1000000] [--messages 10000] [--workers 2]
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from engine.metadata.loader import load_config  # noqa: E402
from engine.runtime.alerts import AlertService, Policy  # noqa: E402
from engine.runtime.alerts.delivery import Delivery  # noqa: E402
from engine.runtime.alerts.scenario_steps import MailSink, free_port  # noqa: E402
from engine.runtime.channels.email import SmtpChannel  # noqa: E402
from engine.runtime.db import make_engine  # noqa: E402
from engine.runtime.records import Records  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402
from engine.runtime.users import Users  # noqa: E402

FILES = {
    "crm.yaml": "company: Bench Kft.\nlocales: [hu, en]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
    "roles.yaml": "roles:\n  admin: {all: true}\n  rep:\n    entities:\n      contract: {read: own, create: true}\n",
    "entities/contract.yaml": ("entity: contract\ntraits: [owned]\nfields:\n  title: {type: string}\n"
                               "  end_date: {type: date}\n  status: {type: choice, options: [draft, active]}\n"
                               "  value: {type: money}\n"),
    "alerts/renewal.yaml": ("alert: renewal\nentity: contract\ntrigger: {date: end_date, before: [60d, 30d, 7d], "
                            "at: \"08:00\"}\nwhen: \"status == 'active'\"\nnotify:\n  - {to: owner, via: [email, in_app]}\n"
                            "template: renewal\n"),
    "templates/renewal.subject.txt": "{{ record.title }} ends {{ record.end_date|date }}",
    "templates/renewal.email.html": "<p>{{ record.title }}: {{ record.value|money }}</p>",
}
UTC = dt.timezone.utc


def setup(folder: Path, contracts: int):
    root = folder / "cfg"
    for rel, body in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    config = load_config(str(root))
    engine = make_engine(f"sqlite:///{folder / 'bench.sqlite3'}")
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    clock_now = [dt.datetime(2025, 1, 1, 6, 0, tzinfo=UTC)]
    records = Records(config, engine, tables, clock=lambda: clock_now[0])
    users = Users(config, engine, tables)
    for i in range(20):
        users.add(f"rep{i}", roles=["rep"], team="north", email=f"rep{i}@bench.test")
    first = users.actor("rep0").id
    t0 = time.perf_counter()
    table = tables.entity("contract")
    start, created = dt.date(2025, 1, 1), dt.datetime(2024, 12, 1, tzinfo=UTC)
    chunk = 50_000
    with engine.begin() as conn:
        for base in range(0, contracts, chunk):
            conn.execute(table.insert(), [
                dict(title=f"Contract {i}", end_date=start + dt.timedelta(days=i % 1095),
                     status="draft" if i % 10 == 0 else "active", value=1_000_000 + i, owner=first + i % 20,
                     team="north", created_at=created, updated_at=created, version=1)
                for i in range(base, min(contracts, base + chunk))])
    print(f"setup: {contracts:,} contracts inserted in {time.perf_counter() - t0:.1f} s")
    return config, engine, tables, records, clock_now


def bench_scan(folder: Path, contracts: int) -> None:
    config, engine, tables, records, clock_now = setup(folder, contracts)
    service = AlertService(records, clock=lambda: clock_now[0], channels={})
    alert = config.alerts["renewal"]
    since = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    until = since + dt.timedelta(days=1)
    statement = service.scanner.date_statement(alert, since, until)
    with engine.connect() as conn:
        compiled = statement.compile(conn, compile_kwargs={"literal_binds": True})
        plan = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        print("query plan:\n  " + "\n  ".join(str(r[-1]) for r in plan))
        timings = []
        for _ in range(5):
            t0 = time.perf_counter()
            rows = conn.execute(statement).all()
            timings.append(time.perf_counter() - t0)
    print(f"scan statement over {contracts:,} contracts, one day's window: {len(rows)} due rows, "
          f"best {min(timings) * 1000:.1f} ms (median {sorted(timings)[2] * 1000:.1f} ms)")
    # The whole scan with firing: the first scan of the alert, catching up one day.
    with engine.begin() as conn:
        conn.execute(tables("crm_alert_scans").insert().values(alert="renewal", last_scan=since))
    clock_now[0] = until
    t0 = time.perf_counter()
    fired = service.run_due()
    print(f"run_due (scan + claim + recipients + render + outbox + in-app): {fired.firings} firings, "
          f"{fired.messages} messages in {time.perf_counter() - t0:.2f} s")
    engine.dispose()


def smtp_server(port: int, ready, stop, result) -> None:
    """The aiosmtpd server, in a process of its own (in-process it would share the GIL with the workers)."""
    from aiosmtpd.controller import Controller
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    keys = sink.keys()
    result.put((len(keys), len(set(keys))))


def delivery_worker(db_url: str, root: str, port: int) -> None:
    config = load_config(root)
    engine = make_engine(db_url)
    channel = {"email": SmtpChannel(f"smtp://127.0.0.1:{port}", "crm@bench.test")}
    Delivery(engine, build_tables(config), channel, lambda: dt.datetime.now(UTC), Policy(batch=100)).run()
    engine.dispose()


def bench_delivery(folder: Path, messages: int, workers: int) -> None:
    import multiprocessing as mp
    config, engine, tables, records, clock_now = setup(folder / "d", 1)
    port = free_port()
    ready, stop, result = mp.Event(), mp.Event(), mp.Queue()
    server = mp.Process(target=smtp_server, args=(port, ready, stop, result))
    server.start()
    ready.wait(30)
    now = dt.datetime.now(UTC)
    user = Users(config, engine, tables).actor("rep0")
    firings, outbox = tables("crm_alert_firings"), tables("crm_outbox")
    with engine.begin() as conn:
        conn.execute(firings.insert(), [dict(id=i + 1, alert="renewal", entity="contract", record_id=1,
                                             moment=f"bench{i}", fired_at=now) for i in range(messages)])
        conn.execute(outbox.insert(), [dict(firing_id=i + 1, alert="renewal", entity="contract", record_id=1,
                                            recipient_id=user.id, channel="email", address="rep0@bench.test",
                                            status="pending", attempts=0, next_attempt_at=now, created_at=now,
                                            subject=f"Message {i}", body="Hello", html="<p>Hello</p>")
                                       for i in range(messages)])
    t0 = time.perf_counter()
    procs = [mp.Process(target=delivery_worker, args=(str(engine.url), str(folder / "d" / "cfg"), port))
             for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    stop.set()
    received, distinct = result.get(timeout=30)
    server.join()
    print(f"delivery: {received:,} e-mails ({distinct:,} distinct) to aiosmtpd (own process) with {workers} "
          f"worker processes in {elapsed:.2f} s = {received / elapsed:,.0f} msgs/s (incl. worker start-up)")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crm-bench-alerts-") as folder:
        (Path(folder) / "d").mkdir()
        bench_scan(Path(folder), args.contracts)
        bench_delivery(Path(folder), args.messages, args.workers)


if __name__ == "__main__":
    main()
