"""A small company for the workflow UI tests: deals in a pipeline, an approval, leads that convert.

    anna  rep north (English)     bela  rep north (Hungarian)     mona  manager north     root  admin

Deals: "Alpha" (new, 1000, anna), "Beta" (new, 2500, anna, idle for 30 days),
"Gamma" (qualified, 4000, bela), "Discounted" (new, 20% off: a pending approval
for a north manager), and lead "Qualified Kft." (qualified: may convert).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from ui_helpers import PASSWORD, SECRET, csrf_token, sign_in

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.migrate import migrate
from engine.runtime.search import ensure_search_index
from ui.app import create_app
from ui.services import build_services

FILES = {
    "crm.yaml": "company: Folyamat Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account:  {read: all, create: true, update: own}
      deal:     {read: own, create: true, update: own}
      activity: {read: all, create: true, update: own}
      lead:     {read: all, create: true, update: own}
  manager:
    inherits: rep
    entities:
      deal: {read: all, update: team}
""",
    "entities/account.yaml": """
entity: account
label: {en: Account, hu: Ügyfél}
plural: {en: Accounts, hu: Ügyfelek}
title: name
traits: [owned]
fields:
  name: {type: string, required: true}
""",
    "entities/deal.yaml": """
entity: deal
label: {en: Deal, hu: Üzlet}
plural: {en: Deals, hu: Üzletek}
title: name
traits: [owned]
fields:
  name:         {type: string, required: true, search: true}
  amount:       {type: money, min: 0}
  discount_pct: {type: percent, default: 0}
  close_date:   {type: date}
  lost_reason:  {type: choice, options: [price, competitor]}
  stage:        {type: stage, pipeline: sales}
  account:      {type: link, entity: account}
views:
  list:
    columns: [name, stage, amount, owner, close_date]
    filters: [owner, stage]
segments:
  big: {label: {en: Big deals, hu: Nagy üzletek}, filter: "amount >= 2000"}
""",
    "entities/activity.yaml": """
entity: activity
title: subject
traits: [owned, timeline]
fields:
  subject: {type: string, required: true}
  kind:    {type: choice, options: [call, meeting]}
  deal:    {type: link, entity: deal, on_delete: cascade}
""",
    "entities/lead.yaml": """
entity: lead
label: {en: Lead, hu: Érdeklődő}
plural: {en: Leads, hu: Érdeklődők}
title: company
traits: [owned]
fields:
  company: {type: string, required: true}
  status:  {type: choice, options: [new, qualified, converted], default: new}
conversion:
  to_account:
    label: {en: Convert to account, hu: Ügyféllé alakítás}
    when: "status == 'qualified'"
    create:
      - {entity: account, map: {name: company, owner: owner}}
    then: {set: {status: converted}}
""",
    "pipelines/sales.yaml": """
pipeline: sales
entity: deal
stages:
  - {key: new, label: {en: New, hu: Új}, probability: 10}
  - {key: qualified, label: {en: Qualified, hu: Minősített}, probability: 25, requires: {fields: [amount, close_date]}}
  - {key: won, label: {en: Won, hu: Megnyert}, probability: 100, closed: won, requires: {approvals: [big_discount], activities: [{kind: meeting, min: 1}]}}
  - {key: lost, label: {en: Lost, hu: Elvesztett}, probability: 0, closed: lost, requires: {fields: [lost_reason]}}
follow_up:
  - {when: "stage.open", max_idle: 14d}
""",
    "approvals/big_discount.yaml": """
approval: big_discount
label: {en: Big discount approval, hu: Nagy engedmény jóváhagyása}
entity: deal
when: "discount_pct > 15"
steps:
  - {approvers: {role: manager, team: same}}
locks: [discount_pct, amount]
""",
}


class World:
    def __init__(self, config, engine, services):
        self.config, self.engine, self.services = config, engine, services
        self.records = services.records
        self.app = create_app(config, engine, secret_key=SECRET)
        self.clients: list[TestClient] = []
        self.ids: dict[str, int] = {}

    def browser(self, username: str) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        assert sign_in(client, username).status_code == 303
        return client

    def token(self, client: TestClient, path: str = "/") -> str:
        return csrf_token(client.get(path).text)

    def version(self, key: str) -> int:
        return int(self.records.get(SYSTEM, "deal", self.ids[key])["version"])

    def stage(self, key: str) -> str:
        return str(self.records.get(SYSTEM, "deal", self.ids[key])["stage"])


def build_world(db_url: str, write_config: Callable[[dict[str, str]], Path]) -> World:
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    migrate(engine, config)
    ensure_search_index(engine, config)
    services = build_services(config, engine)
    users = services.users
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("bela", roles=["rep"], team="north", full_name="Béla Bodnár", locale="hu", password=PASSWORD)
    users.add("mona", roles=["manager"], team="north", full_name="Mona Molnár", locale="en", password=PASSWORD)
    users.add("sam", roles=["manager"], team="south", full_name="Sam South", locale="en", password=PASSWORD)
    users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    w = World(config, engine, services)
    create = services.records.create
    w.ids["alpha"] = create(SYSTEM, "deal", {"name": "Alpha", "amount": "1000", "stage": "new", "owner": "anna",
                                             "close_date": "2025-06-01"}, internal=True)["id"]
    w.ids["beta"] = create(SYSTEM, "deal", {"name": "Beta", "amount": "2500", "stage": "new", "owner": "anna"},
                           internal=True)["id"]
    w.ids["gamma"] = create(SYSTEM, "deal", {"name": "Gamma", "amount": "4000", "stage": "qualified",
                                             "owner": "bela", "close_date": "2025-06-01"}, internal=True)["id"]
    w.ids["disc"] = create(SYSTEM, "deal", {"name": "Discounted", "amount": "3000", "discount_pct": "20",
                                            "stage": "new", "owner": "anna"}, internal=True)["id"]
    w.ids["lead"] = create(SYSTEM, "lead", {"company": "Qualified Kft.", "status": "qualified",
                                            "owner": "anna"})["id"]
    w.ids["newlead"] = create(SYSTEM, "lead", {"company": "Fresh Bt.", "status": "new", "owner": "anna"})["id"]
    # Beta has had nothing happen for 30 days: the follow-up rule (14 days) makes it idle.
    deal = services.tables.entity("deal")
    with engine.begin() as conn:
        conn.execute(sa.update(deal).where(deal.c.id == w.ids["beta"]).values(
            updated_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)))
    return w


@pytest.fixture
def world(db_url: str, write_config: Callable[[dict[str, str]], Path], cheap_argon2: None) -> Iterator[World]:
    w = build_world(db_url, write_config)
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    w.engine.dispose()
