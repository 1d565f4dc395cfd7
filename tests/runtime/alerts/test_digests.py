"""Dashboard digests on both databases: sent at the scheduled moment through the outbox to a real SMTP
server, exactly once per recipient, each with the numbers their own permissions give."""
from __future__ import annotations

import email
from email import policy

import sqlalchemy as sa

from engine.runtime.alerts.digests import Digests

DIGEST_FILES = {
    "reports/contract_values.yaml": """
report: contract_values
label: {en: Contract values, hu: Szerződések értéke}
entity: contract
group_by: [status]
measures:
  total: {expr: "sum(value)", format: money, label: {en: Total, hu: Összesen}}
""",
    "reports/contract_total.yaml": """
kpi: contract_total
label: {en: Contract total, hu: Szerződések összesen}
entity: contract
value: "sum(value)"
format: money
""",
    "reports/board.yaml": """
dashboard: board
label: {en: Managers' board, hu: Vezetői tábla}
roles: [manager]
digest: {schedule: "weekly monday 07:00"}
widgets:
  - {kpi: contract_total}
  - {report: contract_values}
""",
}


def parts(message: bytes) -> tuple[str, str]:
    parsed = email.message_from_bytes(message, policy=policy.default)
    return parsed.get_body(("plain",)).get_content(), parsed.get_body(("html",)).get_content()


def test_a_digest_reaches_each_recipient_once_with_their_own_numbers(world_factory, monkeypatch):
    monkeypatch.setenv("CRM_PUBLIC_URL", "https://crm.example.test/")
    world = world_factory(DIGEST_FILES)
    world.contract(title="North frame", value=1000000)                        # alice's: team north
    world.contract(title="South frame", value=250000, owner=world.ids["eve"])  # eve's: team south
    digests = Digests(world.alerts)
    world.clock.local("2025-01-06 06:59")                                      # a Monday, before 07:00
    assert digests.run_due().claimed == 0
    world.clock.local("2025-01-06 07:05")
    run = digests.run_due()
    assert (run.claimed, run.queued) == (2, 2)                                # mona and sam (managers)
    assert digests.run_due().claimed == 0                                     # the same moment: claimed
    world.clock.local("2025-01-06 08:30")
    assert digests.run_due().claimed == 0
    assert world.alerts.deliver().sent == 2
    assert world.alerts.deliver().sent == 0
    received = {tuple(m["to"]): m for m in world.mail.received}
    assert set(received) == {("mona@example.test",), ("sam@example.test",)}
    mona_text, mona_html = parts(received[("mona@example.test",)].raw)
    sam_text, sam_html = parts(received[("sam@example.test",)].raw)
    assert "1\xa0000\xa0000\xa0Ft" in mona_text and "250\xa0000" not in mona_text    # north only
    assert "250\xa0000\xa0Ft" in sam_text and "1\xa0000\xa0000" not in sam_text        # south only
    assert "<table>" in mona_html and "Vezetői tábla" in received[("mona@example.test",)]["subject"]
    assert 'href="https://crm.example.test/dashboards/board"' in mona_html
    firings = world.records.tables("crm_alert_firings")
    with world.records.engine.connect() as conn:
        keys = conn.execute(sa.select(firings.c.alert, firings.c.record_id, firings.c.moment)
                            .where(firings.c.entity == "crm_digest")).all()
    assert sorted(k[1] for k in keys) == sorted([world.ids["mona"], world.ids["sam"]])
    assert {k[2] for k in keys} == {"digest@2025-01-06T06:00Z"}               # 07:00 Budapest
    world.clock.local("2025-01-13 07:00")                                     # next week: a new moment
    assert digests.run_due().claimed == 2


def test_a_moment_missed_by_more_than_a_day_is_not_sent_late(world_factory):
    world = world_factory(DIGEST_FILES)
    digests = Digests(world.alerts)
    world.clock.local("2025-01-08 09:00")                     # Wednesday: too late for Monday's digest
    assert digests.run_due().claimed == 0
    world.clock.local("2025-01-07 06:00")                     # (a worker whose clock says Tuesday: in time)
    assert digests.run_due().claimed == 2


def test_the_digest_task_in_the_real_huey_worker_mails_each_recipient_once(world_factory, tmp_path):
    """The periodic `crm.digests` task run twice (two worker threads, possibly at once) on the real queue
    (SqliteHuey, PostgresHuey on PostgreSQL) and delivered by its `crm.deliver` task to a real SMTP server."""
    import time

    from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR

    from engine.runtime.alerts.queue import Jobs, make_huey
    world = world_factory(DIGEST_FILES)
    world.contract(title="North frame", value=1000000)
    world.clock.local("2025-01-06 07:05")                                      # the Monday 07:00 moment is due
    jobs = Jobs(make_huey(queue_file=tmp_path / "jobs.sqlite3", db_url=world.db_url), world.alerts)
    assert "crm.digests" in {t.name for t in jobs.huey._registry.periodic_tasks}
    finished: list[tuple[str, str]] = []       # huey keeps no results of periodic tasks: its signals tell

    @jobs.huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)
    def seen(signal, task, *args):
        finished.append((signal, task.name))
    consumer = jobs.huey.create_consumer(workers=2, worker_type="thread", periodic=False,
                                         initial_delay=0.01, max_delay=0.05)
    consumer.start()
    try:
        jobs.digests()
        jobs.digests()                                  # the same moment again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                finished.count((SIGNAL_COMPLETE, "crm.digests")) < 2 or len(world.mail.received) < 2
                or any(r["status"] != "sent" for r in world.outbox(channel="email"))):
            time.sleep(0.05)
        time.sleep(0.5)                                 # room for a wrong second e-mail to arrive
    finally:
        consumer.stop(graceful=True)
    assert [f for f in finished if f[1] == "crm.digests"] == [(SIGNAL_COMPLETE, "crm.digests")] * 2
    assert (SIGNAL_ERROR, "crm.deliver") not in finished
    recipients = sorted(tuple(m["to"]) for m in world.mail.received)
    assert recipients == [("mona@example.test",), ("sam@example.test",)]     # the managers, each once
    assert all("Vezetői tábla" in m["subject"] or "Managers' board" in m["subject"] for m in world.mail.received)
    rows = world.outbox(alert="board")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"sent"}
