"""`run_alerts` and `notified` in `crm test`, against the real SMTP server and SMS receiver it starts;
follow-up rules raise their alert once per idle period."""
from __future__ import annotations

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.scenarios import run_tests

from .conftest import FILES

SCENARIOS = """
test: renewal is told by e-mail, SMS and in-app, once per offset
given:
  - {at: "2025-01-10 10:00"}
  - {user: al, roles: [rep], team: north, phone: "+36301234567"}
  - {user: mo, roles: [manager], team: north}
  - {user: eve, roles: [rep], team: south}
  - {entity: contract, as: k, values: {title: Frame, end_date: "2025-03-20", status: active, owner: al}}
when:
  - {at: "2025-01-19 08:05"}
  - {run_alerts: true}
  - {run_alerts: true}
  - {at: "2025-02-18 09:00"}
  - {run_alerts: true}
expect:
  - {notified: {user: al, alert: renewal, via: email, count: 2}}
  - {notified: {user: al, alert: renewal, via: sms, count: 2}}
  - {notified: {user: mo, alert: renewal, via: in_app, count: 2}}
  - {notified: {user: eve, alert: renewal, via: email, count: 0}}
  - {count: {entity: task, filter: "contract == $k", equals: 2}}
---
test: a wrong expectation fails with the count
given:
  - {user: al, roles: [rep], team: north}
  - {entity: ticket, as: t, values: {subject: X, owner: al}}
when:
  - {update: $t, values: {severity: critical}}
expect:
  - {notified: {user: al, alert: critical, via: email, count: 2}}
"""

PIPELINE = """
pipeline: support
entity: ticket
stages: [{key: open, probability: 0}, {key: done, probability: 100, closed: won}]
follow_up:
  - {when: "stage.open", max_idle: 3d, alert: overdue}
"""


def test_run_alerts_and_notified_in_scenarios(write_config):
    config = load_config(str(write_config({**FILES, "tests/alerts.yaml": SCENARIOS})))
    outcomes = run_tests(config)
    assert outcomes[0].passed, outcomes[0].reason
    assert not outcomes[1].passed
    assert "al got 1 email message(s) of alert critical, expected 2" in outcomes[1].reason


def test_follow_up_rule_raises_its_alert_once_per_idle_period(world_factory):
    world = world_factory({"pipelines/support.yaml": PIPELINE,
                           "entities/ticket.yaml": FILES["entities/ticket.yaml"] + "  stage: {type: stage, pipeline: support}\n",
                           "entities/task.yaml": FILES["entities/task.yaml"] + "  ticket: {type: link, entity: ticket}\n"})
    world.clock.local("2025-02-01 10:00")
    tid = int(world.records.create(SYSTEM, "ticket", {"subject": "Quiet", "owner": world.ids["alice"]})["id"])
    world.clock.local("2025-02-03 10:00")
    assert world.alerts.run_due().firings == 0            # idle for 2 days only
    world.clock.local("2025-02-04 10:01")
    assert world.alerts.run_due().firings == 1            # idle for 3 days: told
    world.clock.local("2025-02-05 10:01")
    assert world.alerts.run_due().firings == 0            # same idle period: not again
    world.records.create(SYSTEM, "task", {"subject": "Called", "ticket": tid, "owner": world.ids["alice"]})
    world.clock.local("2025-02-06 10:01")
    assert world.alerts.run_due().firings == 0            # activity ended the period
    world.clock.local("2025-02-08 10:30")
    assert world.alerts.run_due().firings == 1            # idle again for 3 days: a new period
    assert len(world.outbox(recipient_id=world.ids["alice"], channel="in_app")) == 2


def test_stage_entered_fires_when_the_stage_changes_to_it(world_factory):
    world = world_factory({
        "pipelines/support.yaml": PIPELINE,
        "entities/ticket.yaml": FILES["entities/ticket.yaml"] + "  stage: {type: stage, pipeline: support}\n",
        "alerts/solved.yaml": ("alert: solved\nentity: ticket\ntrigger: {event: stage_entered, stage: done}\n"
                               "notify:\n  - {to: owner, via: [in_app]}\ntemplate: solved\n"),
        "templates/solved.subject.txt": "Solved: {{ record.subject }}"})
    tid = int(world.records.create(SYSTEM, "ticket", {"subject": "Fixed", "owner": world.ids["alice"]})["id"])
    world.records.update(SYSTEM, "ticket", tid, {"subject": "Fixed it"}, expected_version=None, internal=True)
    assert world.count("crm_notifications") == 0
    world.records.update(SYSTEM, "ticket", tid, {"stage": "done"}, expected_version=None, internal=True)
    [row] = world.outbox(alert="solved")
    assert row["subject"] == "Solved: Fixed it" and row["status"] == "sent"


STALE = {
    "pipelines/support.yaml": PIPELINE.replace("alert: overdue", "alert: stale"),
    "entities/ticket.yaml": FILES["entities/ticket.yaml"] + "  stage: {type: stage, pipeline: support}\n",
    "entities/task.yaml": FILES["entities/task.yaml"] + "  ticket: {type: link, entity: ticket}\n",
    "alerts/stale.yaml": ("alert: stale\nentity: ticket\ntrigger: {date: due_at, after: [1d]}\nwhen: \"stage.open\"\n"
                          "notify:\n  - {to: owner, via: [email, in_app]}\ntemplate: stale\n"),
    "templates/stale.subject.txt": "Idle: {{ record.subject }}",
    "templates/stale.email.html": "<p>{{ record.subject }} has had no activity.</p>",
}


def test_follow_up_rule_is_raised_by_the_worker_and_delivered_once_per_idle_period(world_factory, tmp_path):
    """End to end: the worker's periodic tick (scan + delivery) on the real queue, a real SMTP server."""
    import time

    from engine.runtime.alerts.queue import Jobs, make_huey
    world = world_factory(STALE)
    huey = make_huey(queue_file=tmp_path / "jobs.sqlite3", db_url=world.db_url)   # PostgresHuey on PostgreSQL
    jobs = Jobs(huey, world.alerts)
    assert "crm.tick" in {t.name for t in huey.read_periodic(world.clock())}      # every minute
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False, initial_delay=0.01,
                                    max_delay=0.05)
    consumer.start()

    def tick_until(emails: int) -> None:
        jobs.tick()                    # what the scheduler enqueues every minute
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                len(world.mail.received) < emails or any(r["status"] != "sent" for r in world.outbox())):
            time.sleep(0.05)
        time.sleep(0.2)                # let a wrong second message show up, if there were one

    try:
        world.clock.local("2025-02-01 10:00")
        tid = int(world.records.create(SYSTEM, "ticket", {"subject": "Quiet", "owner": world.ids["alice"]})["id"])
        world.clock.local("2025-02-04 10:01")          # idle for 3 days
        tick_until(1)
        tick_until(1)                                  # the same idle period: not again
        assert [m["subject"] for m in world.mail.received] == ["Idle: Quiet"]
        assert world.mail.received[0]["to"] == ["alice@example.test"]
        assert sorted(r["channel"] for r in world.outbox(alert="stale")) == ["email", "in_app"]
        world.records.create(SYSTEM, "task", {"subject": "Called", "ticket": tid, "owner": world.ids["alice"]})
        world.clock.local("2025-02-04 10:02")          # the next minute's tick sees the activity: period over
        tick_until(1)
        world.clock.local("2025-02-08 10:30")          # idle again for 3 days after the call: a new period
        tick_until(2)
        assert [m["subject"] for m in world.mail.received] == ["Idle: Quiet", "Idle: Quiet"]
        assert len(set(world.mail.keys())) == 2
        assert {r["status"] for r in world.outbox(alert="stale")} == {"sent"}
    finally:
        consumer.stop(graceful=True)
