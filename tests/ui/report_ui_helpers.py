"""A small company for the reports/dashboards UI tests, on any database (`db_url`).

    anna  rep (team north)   ben  rep (team south)   mona  manager   vic  viewer (no reports)   root admin

Reps read their own deals and accounts; the manager reads all. Deals: anna's
"new" 100 and "renewal" 50 (account ACME), ben's "new" 1000 (account Beta),
all closed today and created now.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from record_helpers import PASSWORD, World, csrf_token  # noqa: F401

from engine.metadata.loader import load_config
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users

FILES = {
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account: {read: own, create: true, update: own}
      deal:    {read: own, create: true, update: own}
    reports: [deals_by_kind]
  manager:
    entities:
      account: {read: all, create: true}
      deal:    {read: all, create: true, update: all}
    reports: [deals_by_kind, deals_by_owner, deal_count, sales_quota]
  viewer:
    entities:
      account: {read: all}
""",
    "entities/account.yaml": """
entity: account
label: {en: Account, hu: Ügyfél}
plural: {en: Accounts, hu: Ügyfelek}
title: name
traits: [owned]
fields:
  name: {type: string, required: true}
views:
  detail:
    charts: [deals_by_kind]
""",
    "entities/deal.yaml": """
entity: deal
label: {en: Deal, hu: Üzlet}
plural: {en: Deals, hu: Üzletek}
title: name
traits: [owned]
fields:
  name:       {type: string, required: true}
  account:    {type: link, entity: account}
  amount:     {type: money, min: 0}
  kind:       {type: choice, options: {new: {en: New business, hu: Új üzlet}, renewal: {en: Renewal, hu: Megújítás}}}
  close_date: {type: date}
views:
  list:
    columns: [name, account, amount, kind]
""",
    "reports/deals_by_kind.yaml": """
report: deals_by_kind
label: {en: Deals by kind, hu: Üzletek fajtánként}
entity: deal
params:
  period: {type: period, default: this_year, label: {en: Closed in, hu: Zárás időszaka}}
  owner:  {type: user, default: null, label: {en: Owner, hu: Felelős}}
where_params: "close_date in $period and owner == $owner"
group_by: [kind]
measures:
  total: {expr: "sum(amount)", format: money, label: {en: Total, hu: Összesen}}
  deals: {expr: "count()", label: {en: Deals, hu: Darab}}
chart: {type: bar, x: kind, y: total}
""",
    "reports/deals_by_owner.yaml": """
report: deals_by_owner
label: {en: Deals by owner, hu: Üzletek felelősönként}
entity: deal
group_by: [owner]
measures:
  deals: {expr: "count()", label: {en: Deals, hu: Darab}}
chart: {type: pie, x: owner, y: deals}
""",
    "reports/deal_count.yaml": """
kpi: deal_count
label: {en: New deals, hu: Új üzletek}
entity: deal
value: "count()"
period: month
by: owner
""",
    "reports/sales_quota.yaml": """
quota: sales_quota
label: {en: Monthly deals, hu: Havi üzletek}
period: month
targets:
  deals: {kpi: deal_count, target: 2}
""",
    "reports/team_board.yaml": """
dashboard: team_board
label: {en: Team board, hu: Csapat}
roles: [manager]
widgets:
  - {kpi: deal_count}
  - {report: deals_by_kind, size: wide}
  - {quota: sales_quota, size: full}
""",
}


@pytest.fixture
def rworld(db_url: str, write_config, cheap_argon2: None, tmp_path: Path):
    w = build_world(db_url, write_config, tmp_path)
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    w.engine.dispose()


def build_world(db_url: str, write_config: Any, tmp_path: Path, files: dict[str, str] | None = None) -> World:
    config = load_config(write_config(files or FILES))
    engine = make_engine(db_url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    users = Users(config, engine, tables)
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("ben", roles=["rep"], team="south", full_name="Ben Bíró", locale="en", password=PASSWORD)
    users.add("mona", roles=["manager"], team="north", full_name="Mona Molnár", locale="en", password=PASSWORD)
    users.add("vic", roles=["viewer"], full_name="Vic Viewer", locale="en", password=PASSWORD)
    users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    w = World(config, engine, users, Records(config, engine, tables), tmp_path / "files")
    today = dt.date.today().isoformat()
    acme = w.create("anna", "account", name="ACME")
    beta = w.create("ben", "account", name="Beta")
    w.create("anna", "deal", name="A-new", account=acme["id"], amount=100, kind="new", close_date=today)
    w.create("anna", "deal", name="A-renew", account=acme["id"], amount=50, kind="renewal", close_date=today)
    w.create("ben", "deal", name="B-new", account=beta["id"], amount=1000, kind="new", close_date=today)
    w.acme, w.beta = acme, beta     # type: ignore[attr-defined]
    return w
