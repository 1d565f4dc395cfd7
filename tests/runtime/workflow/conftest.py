"""A small company for the workflow tests: deals in a pipeline, approvals, leads, tickets, orders.

`wf` builds it on the test's database (SQLite and PostgreSQL through `db_url`)
with a settable clock, the records service and the `Workflow` wired into it:

    alice, bob  rep in team north         carol  rep in team south
    mona        manager in team north     sam    manager in team south
    dora        director (team hq)        s1, s2 reps in team inside
    x1          rep in team export        a1, a2 agents in team support
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
from sqlalchemy import select

from engine.metadata.loader import load_config
from engine.metadata.model import Config
from engine.runtime.actor import SYSTEM, Actor
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import Tables, build_tables
from engine.runtime.users import Users
from engine.runtime.workflow import Workflow
from ..clock import Clock

FILES = {
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account:   {read: all, create: true, update: own}
      deal:      {read: team, create: true, update: own}
      deal_line: {read: team, create: true, update: own, delete: own}
      activity:  {read: all, create: true, update: own}
      quote:     {read: all, create: true, update: own}
      lead:      {read: all, create: true, update: own}
      case:      {read: all, create: true, update: own}
      ticket:    {read: all, create: true, update: own}
      order:     {read: all, create: true, update: all}
  manager:
    inherits: rep
    entities:
      deal: {read: all, update: team}
  director:
    inherits: manager
  agent:
    inherits: rep
""",
    "entities/account.yaml": """
entity: account
title: name
traits: [owned]
fields:
  name:       {type: string, required: true, max_length: 60}
  tax_number: {type: string, unique: true}
""",
    "entities/deal.yaml": """
entity: deal
title: name
traits: [owned]
fields:
  name:         {type: string, required: true, max_length: 100}
  account:      {type: link, entity: account, on_delete: restrict}
  amount:       {type: money, min: 0}
  discount_pct: {type: percent, default: 0}
  net_amount:   {type: formula, expr: "amount * (1 - discount_pct / 100)", result: money}
  close_date:   {type: date}
  lost_reason:  {type: choice, options: [price, competitor, timing]}
  notes:        {type: text}
  stage:        {type: stage, pipeline: sales}
  items:        {type: lines, entity: deal_line}
  lead:         {type: link, entity: lead, readonly: true, on_delete: set_null}
validations:
  - rule: "name != 'FAIL - deal'"
    message: {en: This name is refused, hu: Ez a név nem megengedett}
""",
    "entities/deal_line.yaml": """
entity: deal_line
title: product
fields:
  deal:     {type: link, entity: deal, required: true, on_delete: cascade}
  product:  {type: string, required: true}
  quantity: {type: int, default: 1}
""",
    "entities/activity.yaml": """
entity: activity
title: subject
traits: [owned, timeline]
fields:
  subject: {type: string, required: true}
  kind:    {type: choice, options: [call, meeting, email]}
  deal:    {type: link, entity: deal, on_delete: cascade}
""",
    "entities/quote.yaml": """
entity: quote
title: title
traits: [owned]
fields:
  title: {type: string, required: true}
  deal:  {type: link, entity: deal, on_delete: cascade}
""",
    "entities/lead.yaml": """
entity: lead
title: company
traits: [owned]
fields:
  company:    {type: string, required: true, max_length: 60}
  tax_number: {type: string}
  source:     {type: choice, options: [web, referral, fair], default: web}
  size:       {type: int}
  email:      {type: email}
  country:    {type: choice, options: [hu, at, de], default: hu}
  score:      {type: int, readonly: true, default: 0}
  status:     {type: choice, options: [new, qualified, converted], default: new}
scoring:
  field: score
  rules:
    - {when: "source == 'referral'", points: 30}
    - {when: "size >= 50", points: 20}
    - {when: "email.endswith('@gmail.com')", points: -10}
assignment:
  strategy: by_rule
  among: {team: inside}
  rules:
    - {when: "country == 'at'", to: {team: export}}
    - {when: "country == 'de'", to: {team: nobody_here}}
conversion:
  to_deal:
    label: {en: Convert to deal, hu: Üzletté alakítás}
    when: "status == 'qualified'"
    create:
      - {entity: account, match_on: [tax_number], map: {name: company, tax_number: tax_number, owner: owner}}
      - {entity: deal, map: {name: "company + ' - deal'", account: $account, lead: id, owner: owner}}
    then: {set: {status: converted}}
""",
    "entities/case.yaml": """
entity: case
title: title
traits: [owned]
fields:
  title: {type: string, required: true}
assignment:
  strategy: round_robin
  among: {team: inside}
""",
    "entities/ticket.yaml": """
entity: ticket
title: title
traits: [owned]
fields:
  title: {type: string, required: true}
  stage: {type: stage, pipeline: support}
assignment:
  strategy: least_loaded
  among: {role: agent}
""",
    "entities/order.yaml": """
entity: order
title: ref
fields:
  ref:    {type: string, required: true}
  packer: {type: string}
  stage:  {type: stage, pipeline: fulfil}
""",
    "pipelines/sales.yaml": """
pipeline: sales
entity: deal
stages:
  - {key: new, label: {en: New, hu: Új}, probability: 10}
  - {key: qualified, probability: 25, requires: {fields: [amount, close_date]}}
  - {key: proposal, probability: 50, requires: {activities: [{kind: meeting, min: 1}], related: [{entity: quote, min: 1}]}}
  - {key: negotiation, probability: 75, requires: {activities: [{kind: call, min: 2}]}}
  - {key: won, label: {en: Won, hu: Megnyert}, probability: 100, closed: won, requires: {approvals: [big_discount]}}
  - {key: lost, label: {en: Lost, hu: Elvesztett}, probability: 0, closed: lost, requires: {fields: [lost_reason]}}
follow_up:
  - {when: "stage.open", max_idle: 14d}
""",
    "pipelines/support.yaml": """
pipeline: support
entity: ticket
stages:
  - {key: open}
  - {key: working}
  - {key: solved, closed: won}
transitions: any
""",
    "pipelines/fulfil.yaml": """
pipeline: fulfil
entity: order
stages:
  - {key: placed}
  - {key: packed, requires: {fields: [packer]}}
  - {key: shipped, closed: won}
  - {key: cancelled, closed: lost}
transitions:
  - {from: placed, to: [packed, shipped, cancelled]}
  - {from: packed, to: shipped}
""",
    "approvals/big_discount.yaml": """
approval: big_discount
label: {en: Big discount approval, hu: Nagy engedmény jóváhagyása}
entity: deal
when: "discount_pct > 15"
steps:
  - {approvers: {role: manager, team: same}}
  - {approvers: {role: director}, when: "discount_pct > 30"}
locks: [discount_pct, amount, items]
expires: 5d
""",
}


@dataclass
class World:
    config: Config
    engine: Any
    tables: Tables
    records: Records
    workflow: Workflow
    users: Users
    clock: Clock
    people: dict[str, Actor]

    def __getattr__(self, name: str) -> Actor:       # wf.alice, wf.mona, ...
        try:
            return self.__dict__["people"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def admin(self) -> Actor:
        return SYSTEM

    def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        t = self.tables(table)
        with self.engine.connect() as conn:
            query = select(t).where(*[t.c[k] == v for k, v in where.items()]).order_by(t.c[t.primary_key.columns.keys()[0]])
            return [dict(r) for r in conn.execute(query).mappings()]


@pytest.fixture
def make_wf(db_url: str, write_config) -> Callable[..., World]:
    engines = []

    def make(files: dict[str, str] | None = None) -> World:
        config = load_config(write_config({**FILES, **(files or {})}))
        engine = make_engine(db_url)
        engines.append(engine)
        tables = build_tables(config)
        tables.metadata.create_all(engine)
        clock = Clock()
        users = Users(config, engine, tables, clock=clock)
        people = {
            "alice": users.add("alice", roles=["rep"], team="north"),
            "bob": users.add("bob", roles=["rep"], team="north"),
            "carol": users.add("carol", roles=["rep"], team="south"),
            "mona": users.add("mona", roles=["manager"], team="north", locale="hu"),
            "sam": users.add("sam", roles=["manager"], team="south"),
            "dora": users.add("dora", roles=["director"], team="hq"),
            "s1": users.add("s1", roles=["rep"], team="inside"),
            "s2": users.add("s2", roles=["rep"], team="inside"),
            "x1": users.add("x1", roles=["rep"], team="export"),
            "a1": users.add("a1", roles=["agent"], team="support"),
            "a2": users.add("a2", roles=["agent"], team="support"),
        }
        records = Records(config, engine, tables, clock=clock)
        workflow = Workflow(config, engine, tables, records)
        return World(config, engine, tables, records, workflow, users, clock, people)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def wf(make_wf) -> World:
    return make_wf()
