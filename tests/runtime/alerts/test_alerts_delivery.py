"""Delivery: retries with back-off then failure kept for admins; several workers and a killed one
produce neither duplicates nor losses (asserted on what the real SMTP server received)."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from engine.runtime.alerts import Policy
from engine.runtime.alerts.queue import Jobs, make_huey
from engine.runtime.alerts.scenario_steps import free_port
from engine.runtime.channels.email import SmtpChannel

from .conftest import FILES, make_world


def fire_renewals(world, n: int) -> None:
    """n contracts whose 60-days-before moment is due now (each: e-mail + SMS to alice, in-app to mona)."""
    world.clock.local("2025-01-10 10:00")
    with world.records.engine.begin() as conn:      # bulk rows: the delivery is what is tested here
        table = world.records.tables.entity("contract")
        now = world.clock()
        conn.execute(table.insert(), [dict(title=f"C{i}", end_date=dt.date(2025, 3, 20), status="active",
                                           owner=world.ids["alice"], team="north", value=1000, created_at=now,
                                           updated_at=now, version=1) for i in range(n)])
    world.clock.local("2025-01-19 08:01")
    assert world.alerts.run_due().firings == n


def test_smtp_down_is_retried_with_backoff_then_failed_and_kept(db_url, write_config, mail_server, sms_server):
    world = make_world(write_config(FILES), db_url, mail_server, sms_server,
                       policy=Policy(max_attempts=3, backoff=dt.timedelta(minutes=1)),
                       smtp_url=f"smtp://127.0.0.1:{free_port()}")         # nobody listens there
    try:
        fire_renewals(world, 1)
        start = world.clock()
        assert world.alerts.deliver().retried == 1                          # attempt 1 (SMS goes through)
        row = world.outbox(channel="email")[0]
        assert row["status"] == "pending" and row["attempts"] == 1
        assert row["next_attempt_at"] == start + dt.timedelta(minutes=1)
        assert "refused" in row["last_error"].lower() or "connect" in row["last_error"].lower()
        assert world.alerts.deliver().retried == 0                          # not due yet
        world.clock.now = start + dt.timedelta(minutes=1)
        assert world.alerts.deliver().retried == 1                          # attempt 2, next in 2 minutes
        assert world.outbox(channel="email")[0]["next_attempt_at"] == start + dt.timedelta(minutes=3)
        world.clock.now = start + dt.timedelta(minutes=3)
        assert world.alerts.deliver().failed == 1                           # attempt 3: given up
        row = world.outbox(channel="email")[0]
        assert row["status"] == "failed" and row["attempts"] == 3 and row["last_error"]
        assert [r["status"] for r in world.outbox(channel="sms")] == ["sent"]
        world.clock.now = start + dt.timedelta(days=1)
        assert world.alerts.deliver().sent == 0 and world.mail.received == []
        # visible to admins, who can put it back once the server is fixed; nobody else sees it
        from engine.runtime.actor import SYSTEM
        from engine.runtime.alerts.inbox import Inbox
        from engine.runtime.errors import Forbidden
        inbox = Inbox(world.records.engine, world.records.tables, world.records.permissions)
        [failed] = inbox.failed(SYSTEM)
        assert failed["recipient"] == "alice" and failed["channel"] == "email" and failed["attempts"] == 3
        with pytest.raises(Forbidden):
            inbox.failed(world.users.actor("alice"))
        world.alerts.delivery.channels["email"] = SmtpChannel(world.mail.url, "crm@teszt.hu")
        assert inbox.retry(SYSTEM, [failed["id"]], now=world.clock()) == 1
        assert world.alerts.deliver().sent == 1 and len(world.mail.received) == 1
    finally:
        world.records.engine.dispose()


def test_two_workers_on_the_job_queue_send_each_message_once(db_url, write_config, mail_server, sms_server,
                                                             tmp_path):
    world = make_world(write_config(FILES), db_url, mail_server, sms_server, policy=Policy(batch=10))
    second = make_world(write_config(FILES), db_url, mail_server, sms_server, policy=Policy(batch=10), fresh=False)
    try:
        fire_renewals(world, 60)
        # Two "processes": each its own engine, service and huey consumer (2 threads) on one queue
        # (SqliteHuey in a tmp file with SQLite, PostgresHuey in the test's schema with PostgreSQL).
        queue_file = tmp_path / "jobs.sqlite3"
        consumers = []
        for w in (world, second):
            w.clock.now = world.clock.now
            jobs = Jobs(make_huey(queue_file=queue_file, db_url=db_url), w.alerts)   # PostgresHuey on PostgreSQL
            consumer = jobs.huey.create_consumer(workers=2, worker_type="thread", periodic=False,
                                                 initial_delay=0.01, max_delay=0.05)
            consumer.start()
            consumers.append((jobs, consumer))
        for _ in range(8):
            consumers[0][0].deliver()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(r["status"] != "sent" for r in world.outbox(channel="email")):
            time.sleep(0.05)
        for _, consumer in consumers:
            consumer.stop(graceful=True)
        emails = world.outbox(channel="email")
        assert len(emails) == 60 and {r["status"] for r in emails} == {"sent"}
        keys = world.mail.keys()
        assert sorted(keys) == sorted(f"crm-outbox-{r['id']}" for r in emails)    # each once, none lost
        sms_keys = world.sms.keys()
        assert len(sms_keys) == 60 and len(set(sms_keys)) == 60
    finally:
        world.records.engine.dispose()
        second.records.engine.dispose()


WORKER = textwrap.dedent("""
    import sys, datetime as dt
    from engine.metadata.loader import load_config
    from engine.runtime.db import make_engine
    from engine.runtime.tables import build_tables
    from engine.runtime.records import Records
    from engine.runtime.alerts import AlertService, Policy
    from engine.runtime.channels.email import SmtpChannel
    from engine.runtime.channels.sms import HttpSmsChannel
    root, db_url, smtp_url, sms_url = sys.argv[1:5]
    config = load_config(root)
    engine = make_engine(db_url)
    records = Records(config, engine, build_tables(config))
    service = AlertService(records, channels={"email": SmtpChannel(smtp_url, "crm@t.hu"),
                                              "sms": HttpSmsChannel(sms_url, "T")},
                           policy=Policy(batch=20, lease=dt.timedelta(seconds=30)))
    print("ready", flush=True)
    service.deliver()
""")


def start_worker(root, db_url, mail_server, sms_server, tmp_path) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen([sys.executable, str(script), str(root), db_url, mail_server.url, sms_server.url],
                            stdout=subprocess.PIPE, cwd=os.getcwd())


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_worker_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(db_url, write_config, mail_server,
                                                                             sms_server, tmp_path):
    root = write_config(FILES)
    world = make_world(root, db_url, mail_server, sms_server)
    try:
        fire_renewals(world, 40)
        mail_server.delay = 0.02                       # a slow server, so the kill lands mid-batch
        proc = start_worker(root, db_url, mail_server, sms_server, tmp_path)
        wait_for(lambda: len(mail_server.received) >= 15)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        mail_server.delay = 0
        before = {r["status"] for r in world.outbox()}
        assert "claimed" in before                     # the killed worker held claimed rows
        # Another worker, once the lease has run out (its clock 10 minutes on), finishes the job.
        world.clock.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
        world.alerts.deliver()
        emails = world.outbox(channel="email")
        keys = world.mail.keys()
        assert len(keys) == len(set(keys))                                      # nobody got anything twice
        sent = {f"crm-outbox-{r['id']}" for r in emails if r["status"] == "sent"}
        uncertain = [r for r in emails if r["status"] == "uncertain"]
        assert sent <= set(keys) and len(sent) + len(uncertain) == 40           # none lost silently
        assert len(uncertain) <= 1                     # at most the one being handed over when it died
    finally:
        mail_server.delay = 0
        world.records.engine.dispose()


def test_a_worker_killed_after_the_server_took_the_message_never_resends_it(db_url, write_config, mail_server,
                                                                            sms_server, tmp_path):
    """The worst moment: the SMTP server has the message, the worker dies before marking it sent."""
    from engine.runtime.actor import SYSTEM
    from engine.runtime.alerts.inbox import Inbox
    root = write_config(FILES)
    world = make_world(root, db_url, mail_server, sms_server)
    try:
        fire_renewals(world, 5)
        mail_server.answer_delay = 5                   # the server takes the message, then answers late
        proc = start_worker(root, db_url, mail_server, sms_server, tmp_path)
        wait_for(lambda: len(mail_server.received) >= 1)
        proc.send_signal(signal.SIGKILL)               # killed between the hand-off and marking it sent
        proc.wait()
        mail_server.answer_delay = 0
        [taken] = mail_server.keys()
        statuses = {f"crm-outbox-{r['id']}": r["status"] for r in world.outbox(channel="email")}
        assert statuses[taken] == "sending" and set(statuses.values()) == {"sending", "claimed"}
        world.clock.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)    # leases over
        world.alerts.deliver()
        world.alerts.deliver()
        keys = world.mail.keys()
        assert sorted(keys) == sorted(statuses)        # every e-mail arrived, each exactly once
        assert keys.count(taken) == 1
        after = {f"crm-outbox-{r['id']}": r for r in world.outbox(channel="email")}
        assert after[taken]["status"] == "uncertain"
        assert {k: r["status"] for k, r in after.items() if k != taken} == {k: "sent" for k in after if k != taken}
        assert [r["status"] for r in world.outbox(channel="sms")] == ["sent"] * 5
        # the admin sees it as possibly sent, with why, and may send it again by hand
        inbox = Inbox(world.records.engine, world.records.tables, world.records.permissions)
        [row] = inbox.failed(SYSTEM)
        assert f"crm-outbox-{row['id']}" == taken and row["status"] == "uncertain"
        assert "may have been delivered" in row["last_error"]
        assert inbox.retry(SYSTEM, [row["id"]], now=world.clock()) == 1
        world.alerts.deliver()
        assert world.mail.keys().count(taken) == 2     # only because the admin asked for it
    finally:
        mail_server.answer_delay = 0
        world.records.engine.dispose()


def test_the_redis_queue_runs_the_same_tasks(db_url, write_config, mail_server, sms_server):
    import uuid

    import redis
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    world = make_world(write_config(FILES), db_url, mail_server, sms_server)
    try:
        fire_renewals(world, 5)
        jobs = Jobs(make_huey(name=f"crm-test-{uuid.uuid4().hex[:8]}", redis_url="redis://127.0.0.1:6379/0"),
                    world.alerts)
        consumer = jobs.huey.create_consumer(workers=2, periodic=False, initial_delay=0.01, max_delay=0.05)
        consumer.start()
        try:
            jobs.deliver()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(world.mail.received) < 5:
                time.sleep(0.05)
        finally:
            consumer.stop(graceful=True)
            jobs.huey.storage.flush_all()
        assert sorted(world.mail.keys()) == sorted(f"crm-outbox-{r['id']}" for r in world.outbox(channel="email"))
    finally:
        world.records.engine.dispose()
