"""A small company for the runtime tests: accounts, contacts, deals with lines, products.

`crm` builds it on the test's database (both SQLite and PostgreSQL through
`db_url`) with a fixed clock and five users:

    alice, bob  rep in team north        carol  rep in team south
    mona        manager in team north    vic    viewer (reads nothing)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from engine.metadata.loader import load_config
from engine.metadata.model import Config
from engine.runtime.actor import SYSTEM, Actor
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import Tables, build_tables
from engine.runtime.users import Users
from .clock import Clock

FILES = {
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account:   {read: team, create: true, update: own, delete: none}
      contact:   {read: all, create: true, update: all, delete: all}
      deal:      {read: own, create: true, update: own, delete: own}
      deal_line: {read: own, create: true, update: own, delete: own}
      product:   {read: all}
      note:      {read: own, create: true, update: own}
    hidden_fields: [account.revenue]
  manager:
    inherits: rep
    entities:
      account:   {read: all, update: team}
      deal:      {read: team, update: team, delete: team}
      deal_line: {read: team, update: team, delete: team}
      note:      {read: team}
  viewer:
    entities:
      product: {read: all}
""",
    "entities/account.yaml": """
entity: account
title: name
traits: [owned]
fields:
  name:       {type: string, required: true, max_length: 50, search: true}
  code:       {type: autonumber, format: "A-{YYYY}-{seq:04}"}
  tax_number: {type: string, pattern: '\\d{8}-\\d-\\d{2}', unique: true}
  email:      {type: email}
  phone:      {type: phone}
  website:    {type: url}
  city:       {type: string, max_length: 40, search: true}
  employees:  {type: int, min: 0, max: 100000}
  revenue:    {type: money, min: 0}
  segment:    {type: choice, options: [a, b, c]}
  tags:       {type: multichoice, options: [strategic, upsell, renewal]}
  status:     {type: choice, options: [prospect, customer], default: prospect}
  renewal:    {type: date, default: "today() + days(30)"}
  active:     {type: bool, default: true}
  founded:    {type: date, min: "today() - days(365)", max: "today()"}
""",
    "entities/contact.yaml": """
entity: contact
title: name
fields:
  name:    {type: string, required: true}
  account: {type: link, entity: account, required: true, on_delete: cascade}
  email:   {type: email}
""",
    "entities/product.yaml": """
entity: product
title: name
fields:
  name:       {type: string, required: true}
  list_price: {type: money, min: 0}
  active:     {type: bool, default: true}
""",
    "entities/deal.yaml": """
entity: deal
title: name
traits: [owned]
fields:
  code:         {type: autonumber, format: "D-{YYYY}-{seq:05}"}
  name:         {type: string, required: true, max_length: 100, search: true}
  account:      {type: link, entity: account, required: true, on_delete: restrict}
  contact:      {type: link, entity: contact, filter: "account == $account", on_delete: set_null}
  amount:       {type: money, min: 0, required: true}
  discount_pct: {type: percent, default: 0}
  net_amount:   {type: formula, expr: "amount * (1 - discount_pct / 100)", result: money}
  close_date:   {type: date}
  reviewer:     {type: user, default: current_user}
  items:        {type: lines, entity: deal_line}
  items_total:  {type: rollup, of: items, expr: "sum(line_total)", result: money}
  item_count:   {type: rollup, of: items, expr: "count()", result: int}
validations:
  - rule: "discount_pct <= 40"
    message: {en: The discount can be at most 40%, hu: Legfeljebb 40% engedmény adható}
  - rule: "close_date == null or close_date >= created_at.date()"
    message: {en: Close date cannot be before creation, hu: A zárás dátuma nem lehet a létrehozás előtti}
""",
    "entities/deal_line.yaml": """
entity: deal_line
title: description
fields:
  deal:        {type: link, entity: deal, required: true, on_delete: cascade}
  product:     {type: link, entity: product, required: true, filter: "active"}
  description: {type: string, max_length: 100}
  quantity:    {type: decimal, scale: 3, min: 0, default: 1, required: true}
  unit_price:  {type: money, min: 0, default: "product.list_price"}
  line_total:  {type: formula, expr: "quantity * unit_price", result: money}
""",
    "entities/note.yaml": """
entity: note
title: body
fields:
  body: {type: string, required: true}
""",
}


@dataclass
class World:
    config: Config
    engine: object
    tables: Tables
    records: Records
    users: Users
    clock: Clock
    people: dict[str, Actor]

    def __getattr__(self, name: str) -> Actor:       # crm.alice, crm.mona, ...
        try:
            return self.__dict__["people"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def admin(self) -> Actor:
        return SYSTEM


@pytest.fixture
def make_world(db_url: str, write_config) -> Callable[..., World]:
    engines = []

    def make(extra: dict[str, str] | None = None) -> World:
        config = load_config(write_config({**FILES, **(extra or {})}))
        engine = make_engine(db_url)
        engines.append(engine)
        tables = build_tables(config)
        tables.metadata.create_all(engine)
        clock = Clock()
        users = Users(config, engine, tables, clock=clock)
        people = {
            "alice": users.add("alice", roles=["rep"], team="north", email="alice@example.test"),
            "bob": users.add("bob", roles=["rep"], team="north"),
            "carol": users.add("carol", roles=["rep"], team="south"),
            "mona": users.add("mona", roles=["manager"], team="north", locale="hu"),
            "vic": users.add("vic", roles=["viewer"], team="south"),
        }
        return World(config, engine, tables, Records(config, engine, tables, clock=clock), users, clock, people)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def base_files() -> dict[str, str]:
    """The company's files, to vary in a test (pass the changed ones to `make_world`)."""
    return dict(FILES)


@pytest.fixture
def crm(make_world) -> World:
    return make_world()
