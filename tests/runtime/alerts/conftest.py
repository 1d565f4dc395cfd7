"""A small company with alerts, on a real database, with a real SMTP server and SMS receiver.

    alice (rep, north, owns contracts)   mona (manager, north)   sam (manager, south)
    eve (rep, south: may not read alice's contracts)

`world` builds it on `db_url` (SQLite and PostgreSQL) with a clock the test moves.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.metadata.loader import load_config
from engine.metadata.model import Config
from engine.runtime.actor import SYSTEM
from engine.runtime.alerts import AlertService, Policy
from engine.runtime.alerts.scenario_steps import MailSink, SmsSink, free_port
from engine.runtime.channels.email import SmtpChannel
from engine.runtime.channels.sms import HttpSmsChannel
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users
from ..clock import Clock

TZ = ZoneInfo("Europe/Budapest")

FILES = {
    "crm.yaml": """
company: Teszt Kft.
locales: [hu, en]
currency: HUF
timezone: Europe/Budapest
channels:
  email: {smtp_url: env:CRM_TEST_SMTP_URL, from: "CRM <crm@teszt.hu>"}
  sms: {gateway_url: env:CRM_TEST_SMS_URL, sender: TESZT}
""",
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      contract: {read: own, create: true, update: own, delete: own}
      task:     {read: own, create: true, update: own, delete: own}
      ticket:   {read: own, create: true, update: own, delete: own}
  manager:
    inherits: rep
    entities:
      contract: {read: team, update: team}
      task:     {read: team}
      ticket:   {read: team, update: team}
""",
    "entities/contract.yaml": """
entity: contract
traits: [owned]
fields:
  title: {type: string, required: true}
  end_date: {type: date}
  status: {type: choice, options: [draft, active, ended], default: draft}
  value: {type: money}
""",
    "entities/task.yaml": """
entity: task
traits: [owned, timeline]
fields:
  subject: {type: string, required: true}
  contract: {type: link, entity: contract}
""",
    "entities/ticket.yaml": """
entity: ticket
traits: [owned]
fields:
  subject: {type: string, required: true}
  severity: {type: choice, options: [normal, critical], default: normal}
  overdue: {type: bool, default: false}
  due_at: {type: datetime}
""",
    "alerts/reminder.yaml": """
alert: reminder
entity: ticket
trigger: {date: due_at, before: [2h]}
notify:
  - {to: owner, via: [in_app]}
template: reminder
""",
    "templates/reminder.subject.txt": "Due at {{ record.due_at|datetime }}: {{ record.subject }}",
    "alerts/renewal.yaml": """
alert: renewal
entity: contract
trigger: {date: end_date, before: [60d, 30d, 7d], at: "08:00"}
when: "status == 'active'"
notify:
  - {to: owner, via: [email, sms]}
  - {to: {role: manager, team: same}, via: [in_app]}
  - {to: {user: eve}, via: [email]}
template: renewal
also:
  - {create: task, map: {subject: "'Renew ' + title", contract: id, owner: owner}}
""",
    "alerts/critical.yaml": """
alert: critical
entity: ticket
trigger: {event: updated, fields: [severity]}
when: "severity == 'critical'"
notify:
  - {to: owner, via: [email, in_app]}
template: critical
""",
    "alerts/overdue.yaml": """
alert: overdue
entity: ticket
trigger: {schedule: "daily 07:00"}
when: "overdue"
notify:
  - {to: owner, via: [in_app]}
template: overdue
""",
    "templates/renewal.subject.txt": "Renewal: {{ record.title }} ends {{ record.end_date|date }}",
    "templates/renewal.email.html": "<p>Dear {{ user.full_name }},</p><p><b>{{ record.title }}</b> worth "
                                    "{{ record.value|money }} ends {{ record.end_date|date }}.</p>",
    "templates/renewal.sms.txt": "{{ record.title }} ends {{ record.end_date|date }}",
    "templates/critical.subject.txt": "Critical: {{ record.subject }}",
    "templates/critical.email.html": "<p>{{ record.subject }} is critical</p>",
    "templates/overdue.subject.txt": "Overdue: {{ record.subject }}",
}


@dataclass
class World:
    config: Config
    records: Records
    users: Users
    alerts: AlertService
    clock: Clock
    mail: MailSink
    sms: SmsSink
    ids: dict[str, int]
    db_url: str

    def contract(self, **values: Any) -> int:
        values = {"title": "Frame", "status": "active", "owner": self.ids["alice"], "value": 1000000, **values}
        return int(self.records.create(SYSTEM, "contract", values)["id"])

    def outbox(self, **where: Any) -> list[dict[str, Any]]:
        from sqlalchemy import select
        t = self.records.tables("crm_outbox")
        query = select(t).order_by(t.c.id)
        for k, v in where.items():
            query = query.where(t.c[k] == v)
        with self.records.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def count(self, table: str) -> int:
        from sqlalchemy import func, select
        t = self.records.tables(table)
        with self.records.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)


@pytest.fixture(scope="session")
def mail_server():
    from aiosmtpd.controller import Controller
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.url = f"smtp://127.0.0.1:{port}"   # type: ignore[attr-defined]
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def sms_server():
    sink = SmsSink()
    yield sink
    sink.shutdown()


def make_world(root, db_url: str, mail: MailSink, sms: SmsSink, policy: Policy | None = None,
               smtp_url: str | None = None, fresh: bool = True) -> World:
    """The world on `db_url`; `fresh=False` attaches a second process's services to an existing one."""
    config = load_config(str(root))
    engine = make_engine(db_url)
    tables = build_tables(config)
    if fresh:
        tables.metadata.create_all(engine)
    clock = Clock(dt.datetime(2025, 1, 2, 9, 0, tzinfo=dt.timezone.utc))
    records = Records(config, engine, tables, clock=clock)
    users = Users(config, engine, tables, clock=clock)
    ids = {}
    for name, roles, team, phone in (("alice", ["rep"], "north", "+36301234567"), ("mona", ["manager"], "north", None),
                                     ("sam", ["manager"], "south", None), ("eve", ["rep"], "south", "+36301112222")):
        if fresh:
            users.add(name, roles=roles, team=team, email=f"{name}@example.test", phone=phone)
        ids[name] = users.actor(name).id
    channels = {"email": SmtpChannel(smtp_url or mail.url, "CRM <crm@teszt.hu>"),   # type: ignore[attr-defined]
                "sms": HttpSmsChannel(sms.url, "TESZT")}
    alerts = AlertService(records, clock=clock, lookback=None, channels=channels,
                          policy=policy or Policy(backoff=dt.timedelta(seconds=10)))
    if fresh:
        mail.received.clear()
        sms.received.clear()
        sms.fail_with = None
    return World(config, records, users, alerts, clock, mail, sms, ids, db_url)


@pytest.fixture
def world(db_url, write_config, mail_server, sms_server):
    root = write_config(FILES)
    w = make_world(root, db_url, mail_server, sms_server)
    yield w
    w.records.engine.dispose()


@pytest.fixture
def world_factory(db_url, write_config, mail_server, sms_server):
    """A world over FILES with some files replaced or added."""
    made = []

    def make(files: dict[str, str]) -> World:
        w = make_world(write_config({**FILES, **files}), db_url, mail_server, sms_server)
        made.append(w)
        return w
    yield make
    for w in made:
        w.records.engine.dispose()
