"""Approval notices (spec 7 `notify`) through the alerts' outbox: approvers of the current step are
told of a request, the requester of the outcome; once each, after the commit, in the recipient's
language; expiry runs as a periodic task of the real huey worker and is reported."""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.alerts import AlertService, Policy
from engine.runtime.alerts.queue import Jobs, make_huey
from engine.runtime.channels.email import SmtpChannel
from engine.runtime.channels.sms import HttpSmsChannel
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users
from engine.runtime.workflow import Workflow

from ..clock import Clock
from ..workflow.conftest import FILES as WORKFLOW_FILES

FILES = {
    **WORKFLOW_FILES,
    "crm.yaml": ("company: Teszt Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n"
                 "channels:\n  email: {smtp_url: env:CRM_TEST_SMTP_URL, from: \"CRM <crm@teszt.hu>\"}\n"),
    "approvals/big_discount.yaml": WORKFLOW_FILES["approvals/big_discount.yaml"]
    + "notify: {via: [in_app, email]}\n",
}
ALERT = "approval:big_discount"


class World:
    def __init__(self, root, db_url: str, mail, sms, *, follow: bool = True):
        self.config = load_config(str(root))
        self.engine = make_engine(db_url)
        self.tables = build_tables(self.config)
        self.tables.metadata.create_all(self.engine)
        self.clock = Clock()
        self.users = Users(self.config, self.engine, self.tables, clock=self.clock)
        self.people = {}
        for name, role, team, locale in (("alice", "rep", "north", None), ("mona", "manager", "north", "hu"),
                                         ("sam", "manager", "south", None), ("dora", "director", "hq", None)):
            self.people[name] = self.users.add(name, roles=[role], team=team, locale=locale,
                                               email=f"{name}@example.test", full_name=name.title())
        self.records = Records(self.config, self.engine, self.tables, clock=self.clock)
        self.workflow = Workflow(self.config, self.engine, self.tables, self.records)
        self.alerts = AlertService(self.records, clock=self.clock, lookback=None,
                                   channels={"email": SmtpChannel(mail.url, "CRM <crm@teszt.hu>"),
                                             "sms": HttpSmsChannel(sms.url, "T")},
                                   policy=Policy(backoff=dt.timedelta(seconds=10)))
        if follow:
            self.alerts.follow_approvals(self.workflow.approvals)
        self.mail = mail
        mail.received.clear()

    def deal(self, pct: int, who: str = "alice") -> int:
        return int(self.records.create(self.people[who], "deal", {"name": f"Deal {pct}", "amount": 1000,
                                                                 "discount_pct": pct})["id"])

    def told(self, **where: Any) -> list[tuple[str, str, str]]:
        """(recipient, channel, subject) of the approval's outbox rows, in order."""
        o, u = self.tables("crm_outbox"), self.tables.users
        query = (select(u.c.username, o.c.channel, o.c.subject).join(u, u.c.id == o.c.recipient_id)
                 .where(o.c.alert == ALERT, *[o.c[k] == v for k, v in where.items()]).order_by(o.c.id))
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def firings(self) -> int:
        f = self.tables("crm_alert_firings")
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(f)).scalar() or 0)


@pytest.fixture
def world(db_url, write_config, mail_server, sms_server):
    w = World(write_config(FILES), db_url, mail_server, sms_server)
    yield w
    w.engine.dispose()


def test_approvers_of_each_step_then_the_requester_are_told_once_in_their_language(world):
    deal = world.deal(35)                                   # two steps: north's manager, then a director
    assert world.told() == [("mona", "in_app", "Jóváhagyás kell: Nagy engedmény jóváhagyása – „Deal 35”"),
                            ("mona", "email", "Jóváhagyás kell: Nagy engedmény jóváhagyása – „Deal 35”")]
    world.alerts.deliver()
    [mail] = world.mail.received
    assert mail["to"] == ["mona@example.test"] and mail["subject"].startswith("Jóváhagyás kell")
    body = mail["mail"].get_body(preferencelist=("plain",)).get_content()
    assert "Alice jóváhagyást kér" in body and "1. lépés / 2" in body
    # told once: the listener again, and the worker's catch-up scan, add nothing
    firings = world.firings()
    world.alerts.on_approvals("deal", [deal])
    world.alerts.run_due()
    assert world.firings() == firings and len(world.told()) == 2

    world.workflow.approve(world.people["mona"], "big_discount", deal)
    assert world.told()[2:] == [("dora", "in_app", 'Approval needed: Big discount approval for "Deal 35"'),
                                ("dora", "email", 'Approval needed: Big discount approval for "Deal 35"')]
    world.workflow.approve(world.people["dora"], "big_discount", deal)
    assert world.told()[4:] == [("alice", "in_app", 'Approved: Big discount approval for "Deal 35"'),
                                ("alice", "email", 'Approved: Big discount approval for "Deal 35"')]
    world.alerts.deliver()
    assert sorted(m["to"][0] for m in world.mail.received) == ["alice@example.test", "dora@example.test",
                                                              "mona@example.test"]
    assert len(set(world.mail.keys())) == 3
    # the bell: mona's notification links to the inbox
    notes = world.tables("crm_notifications")
    with world.engine.connect() as conn:
        links = conn.execute(select(notes.c.link).where(notes.c.user_id == world.people["mona"].id)).scalars().all()
    assert links == ["/approvals"]


def test_a_rejection_tells_the_requester_with_the_reason(world):
    deal = world.deal(20)
    world.workflow.reject(world.people["mona"], "big_discount", deal, "Túl sok")
    [in_app, email] = world.told(recipient_id=world.people["alice"].id)
    assert in_app == ("alice", "in_app", 'Rejected: Big discount approval for "Deal 20"')
    world.alerts.deliver()
    [to_alice] = [m for m in world.mail.received if m["to"] == ["alice@example.test"]]
    body = to_alice["mail"].get_body(preferencelist=("plain",)).get_content()
    assert "Mona rejected Big discount approval" in body and "Reason: Túl sok" in body


def test_a_commit_whose_notice_was_never_sent_is_caught_up_by_the_worker_scan(db_url, write_config, mail_server,
                                                                               sms_server):
    world = World(write_config(FILES), db_url, mail_server, sms_server, follow=False)   # a process that died
    try:
        world.deal(20)
        assert world.told() == []
        world.alerts.run_due()
        assert [t[:2] for t in world.told()] == [("mona", "in_app"), ("mona", "email")]
        world.alerts.run_due()
        assert len(world.told()) == 2
    finally:
        world.engine.dispose()


def test_expiry_is_a_periodic_task_of_the_worker_and_the_requester_is_told(world, db_url, tmp_path):
    first, second = world.deal(20), world.deal(25)
    world.alerts.deliver()
    world.mail.received.clear()
    world.clock.now += dt.timedelta(days=6)                 # past `expires: 5d`
    huey = make_huey(queue_file=tmp_path / "jobs.sqlite3", db_url=db_url)      # PostgresHuey on PostgreSQL
    jobs = Jobs(huey, world.alerts)
    due = {task.name for task in huey.read_periodic(dt.datetime(2025, 3, 16, 10, 0))}
    assert "crm.expire_approvals" in due                    # scheduled every minute next to the scans
    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False, initial_delay=0.01,
                                    max_delay=0.05)
    consumer.start()
    requests = world.tables("crm_approval_requests")

    def statuses() -> set[str]:
        with world.engine.connect() as conn:
            return set(conn.execute(select(requests.c.status)).scalars())
    try:
        jobs.expire_approvals()         # what the scheduler enqueues every minute (huey keeps no result for it)
        deadline = time.monotonic() + 30
        while (len(world.mail.received) < 2 or statuses() != {"expired"}) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        consumer.stop(graceful=True)
    assert statuses() == {"expired"}
    assert [e.action for e in world.records.history(SYSTEM, "deal", first)].count("expire") == 1
    assert sorted(m["subject"] for m in world.mail.received) == [
        'Expired: Big discount approval for "Deal 20"', 'Expired: Big discount approval for "Deal 25"']
    assert {m["to"][0] for m in world.mail.received} == {"alice@example.test"}
    assert [e.action for e in world.records.history(SYSTEM, "deal", second)].count("expire") == 1


SCENARIO = """
test: the manager is told of the request, the rep of the approval
given:
  - {user: rep1, roles: [rep], team: north, email: rep1@example.test}
  - {user: boss, roles: [manager], team: north, email: boss@example.test}
  - {entity: deal, as: d, as_user: rep1, values: {name: Big, amount: 1000, discount_pct: 20}}
when:
  - {approve: big_discount, record: $d, as_user: boss}
expect:
  - {notified: {user: boss, alert: big_discount, via: email, count: 1}}
  - {notified: {user: boss, alert: big_discount, via: in_app, count: 1}}
  - {notified: {user: rep1, alert: big_discount, via: email, count: 1}}
"""


def test_approval_notices_in_scenario_tests(write_config):
    from engine.runtime.scenarios import run_tests
    config = load_config(str(write_config({**FILES, "tests/notices.yaml": SCENARIO})))
    [outcome] = run_tests(config)
    assert outcome.passed, outcome.reason


LONG = "a" * 40         # the longest approval name: `approval:<name>` is cut to the 40-character column


def test_a_long_approval_name_is_told_once(db_url, write_config, mail_server, sms_server):
    files = {**FILES, f"approvals/{LONG}.yaml": (f"approval: {LONG}\nentity: deal\nwhen: \"discount_pct > 90\"\n"
                                                 "steps:\n  - {approvers: {role: manager, team: same}}\n")}
    world = World(write_config(files), db_url, mail_server, sms_server)
    try:
        world.deal(95)
        world.alerts.run_due()
        world.alerts.run_due()
        o = world.tables("crm_outbox")
        with world.engine.connect() as conn:
            alerts = sorted(conn.execute(select(o.c.alert).where(o.c.channel == "in_app")).scalars())
        assert alerts == [f"approval:{LONG}"[:40], ALERT]
    finally:
        world.engine.dispose()


SWEEP_INDEXES = {"ix_crm_approval_requests_created_at", "ix_crm_approval_requests_decided_at"}


def sweep_plan(world: World, since: dt.datetime) -> str:
    """The database's plan of the catch-up sweep's real SELECT (`due(since=)`), as text."""
    import sqlalchemy as sa
    postgres = world.engine.dialect.name == "postgresql"

    def explain(conn, cursor, statement, parameters, context, executemany):
        return ("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + statement, parameters
    with world.engine.connect() as conn:
        if postgres:
            conn.execute(sa.text("ANALYZE crm_approval_requests"))
        else:
            conn.exec_driver_sql("ANALYZE")
        sa.event.listen(conn, "before_cursor_execute", explain, retval=True)
        try:
            rows = conn.execute(world.alerts.notices.due_query(since + dt.timedelta(minutes=5), since=since)).all()
        finally:
            sa.event.remove(conn, "before_cursor_execute", explain)
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


def test_the_catch_up_sweep_reads_indexes_that_crm_migrate_adds_to_an_existing_database(
        db_url, write_config, mail_server, sms_server):
    import sqlalchemy as sa

    from engine.cli import main
    root = write_config(FILES)
    world = World(root, db_url, mail_server, sms_server)
    try:
        old = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        with world.engine.begin() as conn:          # a year of decided requests the sweep must not scan
            conn.execute(world.tables("crm_approval_requests").insert(), [
                dict(approval="big_discount", entity="deal", record_id=i, status="approved", step=0,
                     steps='[{"role": "manager"}]', created_at=old + dt.timedelta(minutes=i),
                     decided_at=old + dt.timedelta(minutes=i, seconds=30)) for i in range(1, 4001)])
            for name in SWEEP_INDEXES:              # a database made before the indexes existed
                conn.execute(sa.text(f"DROP INDEX {name}"))
        names = {ix["name"] for ix in sa.inspect(world.engine).get_indexes("crm_approval_requests")}
        assert not names & SWEEP_INDEXES
        assert main(["migrate", "--config", str(root), "--db", db_url]) == 0
        names = {ix["name"] for ix in sa.inspect(world.engine).get_indexes("crm_approval_requests")}
        assert SWEEP_INDEXES <= names
        plan = sweep_plan(world, dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc))
        assert all(name in plan for name in SWEEP_INDEXES), plan
        assert main(["migrate", "--config", str(root), "--db", db_url]) == 0      # nothing left to do
    finally:
        world.engine.dispose()
