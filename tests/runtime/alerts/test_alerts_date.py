"""Date triggers: each offset fires once at 08:00 Budapest time across DST; catch-up; re-planning."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.metadata.errors import ConfigInvalid
from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM

from .conftest import FILES


def firings(world) -> list[dict]:
    t = world.records.tables("crm_alert_firings")
    with world.records.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.id)).mappings()]


def test_renewal_60_30_7_days_fires_each_once_across_dst(world):
    # End 2025-04-20: 60d before = Feb 19 (CET), 30d = Mar 21 (CET), 7d = Apr 13 (CEST, after Mar 30).
    world.clock.local("2025-01-10 10:00")
    cid = world.contract(end_date="2025-04-20")
    moment = dt.datetime(2025, 1, 10, 23, 0, tzinfo=dt.timezone.utc)
    while moment < dt.datetime(2025, 4, 21, tzinfo=dt.timezone.utc):   # a scan every 23 hours for 100 days
        world.clock.now = moment
        world.alerts.run_due()
        moment += dt.timedelta(hours=23)
    world.alerts.run_due()                                             # and once more at the same instant
    world.alerts.deliver()
    # 08:00 local each time: 07:00Z in winter, 06:00Z in summer time
    assert sorted(f["moment"] for f in firings(world)) == [
        "b30d@2025-03-21T07:00Z", "b60d@2025-02-19T07:00Z", "b7d@2025-04-13T06:00Z"]
    assert {f["record_id"] for f in firings(world)} == {cid}
    alice, mona = world.ids["alice"], world.ids["mona"]
    assert [r["status"] for r in world.outbox(recipient_id=alice, channel="email")] == ["sent"] * 3
    assert [r["status"] for r in world.outbox(recipient_id=alice, channel="sms")] == ["sent"] * 3
    assert [r["status"] for r in world.outbox(recipient_id=mona, channel="in_app")] == ["sent"] * 3
    received = world.mail.received
    assert len(received) == 3 and {m["to"][0] for m in received} == {"alice@example.test"}
    assert len(set(world.mail.keys())) == 3
    assert {m["to"] for m in world.sms.received} == {"+36301234567"}
    assert world.count("crm_notifications") == 3          # mona's bell; sam is in another team
    tasks = world.records.list(SYSTEM, "task").rows
    assert len(tasks) == 3 and {t["contract"] for t in tasks} == {cid}


def test_email_is_html_with_text_alternative_in_the_recipients_locale(world):
    world.clock.local("2025-01-10 10:00")
    world.contract(end_date="2025-03-20", title="Keret <2025>")
    world.clock.local("2025-01-19 08:01")
    world.alerts.run_due()
    world.alerts.deliver()
    mail = world.mail.received[0]["mail"]
    assert mail["Subject"] == "Renewal: Keret <2025> ends 2025. márc. 20."
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Keret <2025>" in text and "1\u00a0000\u00a0000\u00a0Ft" in text
    assert "<b>Keret &lt;2025&gt;</b>" in html            # autoescaped
    assert mail["Message-ID"].startswith("<crm-outbox-")


def test_missed_moment_fires_late_once_but_past_moments_never(world):
    world.clock.local("2025-03-01 10:00")
    # 60d (Jan 19) and 30d (Feb 18) before were already past when the record got its date
    cid = world.contract(end_date="2025-03-20")
    world.clock.local("2025-03-16 12:00")       # the 7d moment (Mar 13 08:00) was missed: no worker ran
    world.alerts.run_due()
    world.clock.local("2025-03-17 12:00")
    world.alerts.run_due()
    assert [f["moment"] for f in firings(world)] == ["b7d@2025-03-13T07:00Z"]
    assert firings(world)[0]["record_id"] == cid


def test_changing_the_date_replans_future_moments(world):
    world.clock.local("2025-01-01 10:00")
    cid = world.contract(end_date="2025-04-01")
    world.clock.local("2025-01-31 09:00")            # 60d before Apr 1 = Jan 31
    world.alerts.run_due()
    world.clock.local("2025-02-05 09:00")
    world.records.update(SYSTEM, "contract", cid, {"end_date": "2025-07-01"}, expected_version=None)
    for day in ("2025-03-02 09:00", "2025-05-02 09:00", "2025-06-01 09:00"):
        world.clock.local(day)
        world.alerts.run_due()
    # Mar 2 (30d before the old date) no longer fires; May 2 (60d before the new one) and Jun 1 do
    assert [f["moment"] for f in firings(world)] == [
        "b60d@2025-01-31T07:00Z", "b60d@2025-05-02T06:00Z", "b30d@2025-06-01T06:00Z"]


def test_a_recipient_who_may_not_read_the_record_gets_nothing(world):
    world.clock.local("2025-01-10 10:00")
    world.contract(end_date="2025-03-20")
    world.clock.local("2025-01-19 08:01")
    fired = world.alerts.run_due()
    assert fired.firings == 1
    assert world.outbox(recipient_id=world.ids["eve"]) == []      # {user: eve}, but eve reads only her own
    assert world.outbox(recipient_id=world.ids["sam"]) == []      # manager of another team
    assert len(world.outbox(recipient_id=world.ids["alice"])) == 2


def test_when_false_at_the_moment_fires_nothing(world):
    world.clock.local("2025-01-10 10:00")
    world.contract(end_date="2025-03-20", status="draft")
    world.clock.local("2025-01-19 08:01")
    assert world.alerts.run_due().firings == 0


def test_a_template_error_is_a_load_time_error(write_config):
    root = write_config({**FILES, "templates/renewal.sms.txt": "{{ record.title }"})
    with pytest.raises(ConfigInvalid) as info:
        load_config(str(root))
    assert "renewal.sms.txt" in str(info.value) and "template" in str(info.value)


def test_a_datetime_field_fires_at_the_exact_instant_before_it(world):
    world.clock.local("2025-03-29 12:00")
    # 2025-03-30 03:30 CEST is 01:30Z; two hours before is 23:30Z the day before, across the DST change
    world.records.create(SYSTEM, "ticket", {"subject": "Call", "owner": world.ids["alice"],
                                            "due_at": "2025-03-30T01:30:00+00:00"})
    world.clock.now = dt.datetime(2025, 3, 29, 23, 29, tzinfo=dt.timezone.utc)
    assert world.alerts.run_due().firings == 0
    world.clock.now = dt.datetime(2025, 3, 29, 23, 31, tzinfo=dt.timezone.utc)
    assert world.alerts.run_due().firings == 1
    [row] = world.outbox(alert="reminder")
    assert row["subject"] == "Due at 2025. márc. 30. 3:30:00: Call"
    assert [f["moment"] for f in firings(world)] == ["b2h@2025-03-29T23:30Z"]
