"""A small company for the record page and form tests, on any database (`db_url`).

    rep  anna (team north, English)     rep  ben (team south, Hungarian)
    viewer vic (reads every account and contact, changes nothing)           admin root

Accounts are owned (reps read their own), contacts and activities follow their
account; `activity` is a timeline entity; orders have `items` lines with a
formula total; `account.contract` is a file field (1 KB, pdf/txt).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from engine.metadata.loader import load_config
from engine.metadata.model import Config
from engine.runtime.db import make_engine
from engine.runtime.tables import build_tables
from engine.runtime.actor import Actor
from engine.runtime.records import Records
from engine.runtime.users import Users
from ui.app import create_app
from ui.throttle import LoginThrottle

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "pw"

FILES = {
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account:    {read: own, create: true, update: own, delete: own}
      contact:    {read: own, create: true, update: own, delete: own}
      site:       {read: own, create: true, update: own}
      activity:   {read: own, create: true, update: own}
      order:      {read: own, create: true, update: own}
      order_line: {read: own, create: true, update: own, delete: own}
  viewer:
    entities:
      account: {read: all}
      contact: {read: all}
""",
    "reports/account_orders.yaml": """
report: account_orders
label: {en: Orders per month, hu: Rendelések havonta}
entity: order
group_by: [{field: created_at, bucket: month}]
measures:
  orders: {expr: "count()"}
""",
    "entities/account.yaml": """
entity: account
label: {en: Account, hu: Ügyfél}
plural: {en: Accounts, hu: Ügyfelek}
title: name
traits: [owned]
fields:
  name:      {type: string, required: true, max_length: 100, search: true}
  code:      {type: autonumber, format: "A-{seq:04}"}
  website:   {type: url}
  email:     {type: email}
  phone:     {type: phone}
  industry:  {type: choice, options: {retail: {en: Retail, hu: Kiskereskedelem}, it: IT}}
  tags:      {type: multichoice, options: [strategic, upsell]}
  employees: {type: int, min: 0}
  revenue:   {type: money, min: 0}
  growth:    {type: percent}
  ratio:     {type: decimal, scale: 3}
  founded:   {type: date}
  last_call: {type: datetime}
  active:    {type: bool}
  satisfaction: {type: rating, max: 5}
  notes:     {type: text}
  big:       {type: formula, expr: "revenue >= 1000000", result: bool}
  contract:  {type: file, max_size: 1KB, accept: [pdf, txt]}
validations:
  - rule: "employees == null or employees < 100000"
    message: {en: Too many employees, hu: Túl sok alkalmazott}
views:
  form:
    sections:
      - {label: {en: General, hu: Általános}, fields: [name, code, owner, industry, tags, active, satisfaction]}
      - {label: {en: Contact, hu: Elérhetőség}, fields: [website, email, phone, notes]}
      - {label: {en: Numbers, hu: Számok}, fields: [employees, revenue, growth, ratio, founded, last_call, big, contract]}
  detail:
    related: [contact, order]
    charts: [account_orders]
""",
    "entities/site.yaml": """
entity: site
title: name
fields:
  name:    {type: string, required: true, search: true}
  account: {type: link, entity: account, required: true, on_delete: cascade}
""",
    "entities/contact.yaml": """
entity: contact
label: {en: Contact, hu: Kapcsolattartó}
plural: {en: Contacts, hu: Kapcsolattartók}
title: name
fields:
  name:    {type: string, required: true, search: true}
  account: {type: link, entity: account, required: true, on_delete: restrict}
  site:    {type: link, entity: site, filter: "account == $account"}
  email:   {type: email}
views:
  list: {columns: [name, account, email]}
""",
    "entities/activity.yaml": """
entity: activity
title: subject
traits: [timeline]
fields:
  subject: {type: string, required: true}
  account: {type: link, entity: account, required: true, on_delete: cascade}
  kind:    {type: choice, options: [call, meeting]}
views:
  list: {columns: [subject, kind]}
""",
    "entities/order.yaml": """
entity: order
title: name
traits: [owned]
fields:
  name:    {type: string, required: true}
  account: {type: link, entity: account}
  items:   {type: lines, entity: order_line}
""",
    "entities/order_line.yaml": """
entity: order_line
title: description
fields:
  order:       {type: link, entity: order, required: true, on_delete: cascade}
  description: {type: string, required: true}
  quantity:    {type: int, min: 1}
  price:       {type: money, min: 0}
  line_total:  {type: formula, expr: "quantity * price", result: money}
views:
  form:
    sections:
      - {fields: [description, quantity, price, line_total]}
""",
}


@dataclass
class World:
    """The company, its database and users, and signed-in browsers on it."""

    config: Config
    engine: Any
    users: Users
    records: Records
    files_dir: Any
    clients: list[TestClient] = field(default_factory=list)

    def actor(self, name: str) -> Actor:
        actor = self.users.actor(name)
        assert actor is not None
        return actor

    def app(self):
        return create_app(self.config, self.engine, secret_key=SECRET,
                          login_throttle=LoginThrottle(sleep=_no_sleep))

    def signed_in(self, username: str) -> TestClient:
        client = TestClient(self.app(), follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        token = csrf_token(client.get("/login").text)
        response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 303, response.text
        return client

    def create(self, username: str, entity: str, **values: Any) -> dict[str, Any]:
        return self.records.create(self.actor(username), entity, values)


async def _no_sleep(seconds: float) -> None:
    return None


def csrf_token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta tag in the page"
    return match.group(1)


def token(client: TestClient) -> str:
    return csrf_token(client.get("/").text)


@pytest.fixture
def world(db_url: str, write_config, tmp_path: Path, cheap_argon2: None, monkeypatch: pytest.MonkeyPatch):
    """The company on `db_url` (SQLite and PostgreSQL), files under the test's tmp dir."""
    files_dir = tmp_path / "files"
    monkeypatch.setenv("CRM_FILES_DIR", str(files_dir))
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    users = Users(config, engine, tables)
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("ben", roles=["rep"], team="south", full_name="Ben Bíró", locale="hu", password=PASSWORD)
    users.add("vic", roles=["viewer"], full_name="Vic Viewer", locale="en", password=PASSWORD)
    users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    w = World(config, engine, users, Records(config, engine, tables), files_dir)
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    engine.dispose()


def world_with_edits(monkeypatch, request, edits: dict[str, tuple[str, str] | list[tuple[str, str]]]):
    """The `world` fixture over record_helpers.FILES with each (old, new) text replaced in its file
    (one pair, or a list of them); an edit that finds nothing fails, so a drifted fixture cannot
    silently test the plain world."""
    import record_helpers
    files = dict(record_helpers.FILES)
    for path, pairs in edits.items():
        for old, new in ([pairs] if isinstance(pairs, tuple) else pairs):
            assert old in files[path], (path, old)
            files[path] = files[path].replace(old, new)
    monkeypatch.setattr(record_helpers, "FILES", files)
    return request.getfixturevalue("world")
