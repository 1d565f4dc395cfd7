"""A small sales company for the report tests, on each database (`db_url`).

    alice, bob  rep in team north (reports: pipeline, win_rate_by_owner, kpis, quota)
    carol       clerk in team south (no reports)
    mona        manager in team north (reads all deals)

Weeks start on Sunday and the fiscal year on 1 July, so buckets and periods
that ignore crm.yaml show up. Rows are written straight into the tables the
engine made (`world.deal(...)`): these tests are about reading.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from engine.metadata.loader import load_config
from engine.metadata.model import Config
from engine.runtime.actor import SYSTEM, Actor
from engine.runtime.db import make_engine
from engine.runtime.reports import Reports
from engine.runtime.tables import Tables, build_tables
from engine.runtime.users import Users

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 3, 12, 10, 0, tzinfo=UTC)      # a Wednesday; fiscal Q3 of FY2024 (July start)

FILES = {
    "crm.yaml": ("company: Teszt Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n"
                 "week_starts: sunday\nfiscal_year_start: \"07-01\"\n"),
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account:  {read: team, create: true, update: own}
      deal:     {read: own, create: true, update: own}
      activity: {read: own, create: true, update: own}
    reports: [pipeline, win_rate_by_owner, win_rate, calls_made, activity_norms, by_close_week, secret_sums,
              margins]
    hidden_fields: [deal.cost]
  manager:
    inherits: rep
    entities:
      deal:     {read: all}
      activity: {read: all}
    hidden_fields: []
  clerk:
    entities:
      deal: {read: all}
""",
    "entities/account.yaml": """
entity: account
title: name
traits: [owned]
fields:
  name:     {type: string, required: true}
  industry: {type: choice, options: {it: IT, retail: {en: Retail, hu: Kiskereskedelem}}}
views:
  detail:
    charts: [deals_of_account]
""",
    "entities/deal.yaml": """
entity: deal
title: name
traits: [owned]
fields:
  name:       {type: string, required: true}
  account:    {type: link, entity: account}
  stage:      {type: stage, pipeline: sales}
  amount:     {type: money, min: 0}
  cost:       {type: money}
  margin:     {type: formula, expr: "amount - cost", result: money}
  close_date: {type: date}
  closed_at:  {type: datetime}
  lost_reason: {type: choice, options: [price, timing]}
""",
    "entities/activity.yaml": """
entity: activity
title: subject
traits: [owned]
fields:
  subject: {type: string, required: true}
  kind:    {type: choice, options: [call, meeting]}
  done:    {type: bool, default: false}
""",
    "pipelines/sales.yaml": """
pipeline: sales
entity: deal
stages:
  - {key: new, probability: 10, label: {en: New, hu: Új}}
  - {key: proposal, probability: 50}
  - {key: won, probability: 100, closed: won}
  - {key: lost, probability: 0, closed: lost}
""",
    "reports/pipeline.yaml": """
report: pipeline
label: {en: Pipeline, hu: Pipeline}
entity: deal
params:
  owner:  {type: user, default: null}
  period: {type: period, default: null}
  name:   {type: string, default: null}
where_params: "owner == $owner and close_date in $period and name == $name"
group_by: [stage, {field: close_date, bucket: month}]
measures:
  total: {expr: "sum(amount)", format: money}
  deals: {expr: "count()", format: int}
  weighted: {expr: "sum(amount * stage.probability / 100)", format: money}
chart: {type: bar, x: close_date, y: total, series: stage}
""",
    "reports/win_rate_by_owner.yaml": """
report: win_rate_by_owner
entity: deal
group_by: [owner]
measures:
  win_rate: {expr: "count(stage.won) / count(stage.closed)", format: percent}
  deals:    {expr: "count()"}
""",
    "reports/by_close_week.yaml": """
report: by_close_week
entity: deal
group_by: [{field: close_date, bucket: week}]
measures:
  deals: {expr: "count()"}
""",
    "reports/by_close_quarter.yaml": """
report: by_close_quarter
entity: deal
group_by: [{field: close_date, bucket: quarter}, {field: close_date, bucket: year}]
measures:
  deals: {expr: "count()"}
""",
    "reports/by_fiscal.yaml": """
report: by_fiscal
entity: deal
group_by: [{field: close_date, bucket: fiscal_quarter}, {field: close_date, bucket: fiscal_year}]
measures:
  deals: {expr: "count()"}
""",
    "reports/closed_by_day.yaml": """
report: closed_by_day
entity: deal
filter: "closed_at != null"
group_by: [{field: closed_at, bucket: day}, {field: closed_at, bucket: month}]
measures:
  deals: {expr: "count()"}
""",
    "reports/deals_of_account.yaml": """
report: deals_of_account
entity: deal
group_by: [account.industry, account]
measures:
  total: {expr: "sum(amount)", format: money}
""",
    "reports/secret_sums.yaml": """
report: secret_sums
entity: deal
group_by: [stage]
measures:
  cost: {expr: "sum(cost)", format: money}
""",
    "reports/margins.yaml": """
report: margins
entity: deal
group_by: [stage]
measures:
  margin: {expr: "sum(margin)", format: money}
""",
    "reports/win_rate.yaml": """
kpi: win_rate
entity: deal
value: "count(stage.won) / count(stage.closed)"
format: percent
period: month
by: owner
""",
    "reports/calls_made.yaml": """
kpi: calls_made
entity: activity
value: "count(kind == 'call' and done)"
period: week
by: owner
""",
    "reports/activity_norms.yaml": """
quota: activity_norms
period: week
targets:
  calls: {kpi: calls_made, target: 4}
""",
}


@dataclass
class World:
    config: Config
    engine: sa.Engine
    tables: Tables
    reports: Reports
    people: dict[str, Actor]
    ids: Any

    def __getattr__(self, name: str) -> Actor:
        try:
            return self.__dict__["people"][name]
        except KeyError:
            raise AttributeError(name) from None

    admin = SYSTEM

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, entity: str, **values: Any) -> int:
        table = self.tables.entity(entity)
        owner = values.pop("by", None)
        at = values.pop("created_at", NOW)
        row = {"created_at": at, "updated_at": values.pop("updated_at", at), "version": 1, **values}
        if owner is not None:
            row.setdefault("owner", owner.id)
            row.setdefault("team", owner.team)
        with self.engine.begin() as conn:
            return conn.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()

    def deal(self, **values: Any) -> int:
        values.setdefault("name", f"deal {next(self.ids)}")
        if "amount" in values and values["amount"] is not None:
            values["amount"] = Decimal(str(values["amount"]))
        return self.insert("deal", **values)

    def entered(self, deal_id: int, stage: str, at: dt.datetime) -> None:
        history = self.tables("crm_stage_history")
        with self.engine.begin() as conn:
            conn.execute(history.insert().values(entity="deal", record_id=deal_id, to_stage=stage, at=at))


@pytest.fixture
def make_world(db_url: str, write_config) -> Callable[..., World]:
    engines: list[sa.Engine] = []

    def make(extra: dict[str, str] | None = None, clock: Callable[[], dt.datetime] = lambda: NOW) -> World:
        config = load_config(write_config({**FILES, **(extra or {})}))
        engine = make_engine(db_url)
        engines.append(engine)
        tables = build_tables(config)
        tables.metadata.create_all(engine)
        users = Users(config, engine, tables, clock=clock)
        people = {
            "alice": users.add("alice", roles=["rep"], team="north", full_name="Alice A"),
            "bob": users.add("bob", roles=["rep"], team="north", full_name="Bob B"),
            "carol": users.add("carol", roles=["clerk"], team="south"),
            "mona": users.add("mona", roles=["manager"], team="north", locale="hu"),
        }
        reports = Reports(config, engine, tables, clock=clock)
        return World(config, engine, tables, reports, people, itertools.count(1))

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def world(make_world) -> World:
    return make_world()
