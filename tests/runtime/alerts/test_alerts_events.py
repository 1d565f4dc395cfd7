"""Event triggers fire after the commit only; schedule triggers once until `when` turns false."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.runtime.actor import SYSTEM
from engine.runtime.errors import ValidationFailed


def ticket(world, **values) -> int:
    return int(world.records.create(SYSTEM, "ticket", {"subject": "Broken", "owner": world.ids["alice"],
                                                       **values})["id"])


def test_event_fires_after_commit_and_a_rolled_back_save_fires_nothing(world):
    tid = ticket(world)
    seen_in_transaction = []

    def check(conn, actor, draft, current, problems):
        firings = world.records.tables("crm_alert_firings")
        seen_in_transaction.append(conn.execute(select(func.count()).select_from(firings)).scalar())
        if draft.values.get("subject") == "refuse":
            problems.field("subject", "refused by the test")

    world.records.checks.append(check)
    with pytest.raises(ValidationFailed):
        world.records.update(SYSTEM, "ticket", tid, {"severity": "critical", "subject": "refuse"},
                             expected_version=None)
    assert world.count("crm_alert_firings") == 0 and world.outbox() == []
    world.records.update(SYSTEM, "ticket", tid, {"severity": "critical"}, expected_version=None)
    assert seen_in_transaction == [0, 0]          # nothing fired while the save was still open
    rows = world.outbox(recipient_id=world.ids["alice"])
    assert sorted(r["channel"] for r in rows) == ["email", "in_app"]
    world.alerts.deliver()
    assert [m["subject"] for m in world.mail.received] == ["Critical: Broken"]
    # an update of another field does not fire; neither does a change that leaves `when` false
    world.records.update(SYSTEM, "ticket", tid, {"subject": "Still broken"}, expected_version=None)
    world.records.update(SYSTEM, "ticket", tid, {"severity": "normal"}, expected_version=None)
    assert world.count("crm_alert_firings") == 1


def test_event_delivery_is_enqueued_on_the_job_queue(world):
    from engine.runtime.alerts.queue import Jobs, make_huey
    huey = make_huey(immediate=True)          # the queue is not what this test is about
    Jobs(huey, world.alerts)
    tid = ticket(world)
    world.records.update(SYSTEM, "ticket", tid, {"severity": "critical"}, expected_version=None)
    assert [r["status"] for r in world.outbox(channel="email")] == ["sent"]
    assert len(world.mail.received) == 1


def test_schedule_trigger_fires_once_until_when_turns_false(world):
    tid = ticket(world, overdue=True)
    other = ticket(world)

    def check_at(local: str) -> int:
        world.clock.local(local)
        return world.alerts.run_due().firings

    assert check_at("2025-01-03 07:05") == 1          # the 07:00 check: overdue
    assert check_at("2025-01-03 12:00") == 0          # no check since
    assert check_at("2025-01-04 07:01") == 0          # still overdue: not told again
    world.records.update(SYSTEM, "ticket", tid, {"overdue": False}, expected_version=None)
    assert check_at("2025-01-05 07:01") == 0          # false at a check: the period ends
    world.records.update(SYSTEM, "ticket", tid, {"overdue": True}, expected_version=None)
    world.records.update(SYSTEM, "ticket", other, {"overdue": True}, expected_version=None)
    assert check_at("2025-01-06 07:01") == 2          # a new period for tid, a first one for other
    notes = world.outbox(channel="in_app")
    assert sorted(n["record_id"] for n in notes) == sorted([tid, tid, other])
    assert world.count("crm_notifications") == 3


def test_inbox_shows_a_user_only_their_notifications_and_marks_them_read(world):
    from engine.runtime.alerts.inbox import Inbox
    tid = ticket(world)
    world.records.update(SYSTEM, "ticket", tid, {"severity": "critical"}, expected_version=None)
    inbox = Inbox(world.records.engine, world.records.tables, world.records.permissions)
    alice = world.users.actor("alice")
    mona = world.users.actor("mona")
    assert inbox.unread_count(alice) == 1 and inbox.unread_count(mona) == 0
    [note] = inbox.latest(alice)
    assert note.title == "Critical: Broken" and note.link == f"/records/ticket/{tid}"
    assert inbox.mark_read(mona, [note.id]) == 0                  # not hers
    assert inbox.mark_read(alice, [note.id]) == 1 and inbox.unread_count(alice) == 0
    messages = inbox.record_messages(alice, "ticket", tid)
    assert sorted(m["channel"] for m in messages) == ["email", "in_app"]
    with pytest.raises(Exception):
        inbox.record_messages(world.users.actor("eve"), "ticket", tid)   # eve may not read the ticket


def test_a_refused_also_action_does_not_stop_the_alert(world_factory, caplog):
    from .conftest import FILES
    world = world_factory({"alerts/renewal.yaml": FILES["alerts/renewal.yaml"].replace(
        "map: {subject: \"'Renew ' + title\"", "map: {subject: \"null\"")})     # task.subject is required
    world.clock.local("2025-01-10 10:00")
    world.contract(end_date="2025-03-20")
    world.clock.local("2025-01-19 08:01")
    assert world.alerts.run_due().firings == 1
    assert len(world.outbox(recipient_id=world.ids["alice"])) == 2            # still told
    assert world.records.list(SYSTEM, "task").rows == []
    assert "also create task refused" in caplog.text and "subject" in caplog.text
