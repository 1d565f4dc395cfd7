"""The list page `/records/{entity}`: columns, sort, filters, segments, search, paging, bulk actions.

Runs on SQLite and PostgreSQL (`db_url`), migrated the way `crm migrate` does
(plan + apply, then the search indexes), through a real Starlette app and
signed-in sessions.
"""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from ui_helpers import PASSWORD, SECRET, page_token, sign_in

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.migrate import migrate
from engine.runtime.plan import plan_migration
from engine.runtime.records import Records
from engine.runtime.search import ensure_search_index
from engine.runtime.users import Users
from ui.app import create_app
from ui.services import build_services

XSS = '<script>alert("x")</script>'
FILES = {
    "crm.yaml": "company: Lista Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account: {read: team, create: true, update: own}
      deal:    {read: own, create: true, update: own}
    hidden_fields: [deal.secret]
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
  name:     {type: string, required: true, search: true}
  industry: {type: choice, options: {retail: {en: Retail, hu: Kiskereskedelem}, it: IT}}
""",
    "entities/deal.yaml": """
entity: deal
label: {en: Deal, hu: Üzlet}
plural: {en: Deals, hu: Üzletek}
title: name
traits: [owned]
fields:
  name:        {type: string, required: true, search: true}
  description: {type: text, search: true}
  secret:      {type: string, search: true}
  account:     {type: link, entity: account}
  amount:      {type: money, min: 0}
  discount:    {type: percent}
  close_date:  {type: date}
  stage:       {type: stage, pipeline: sales}
  tags:        {type: multichoice, options: [strategic, upsell]}
  hot:         {type: bool}
  net:         {type: formula, expr: "amount * (1 - coalesce(discount, 0) / 100)", result: money}
views:
  list:
    columns: [name, account, account.industry, owner, stage, amount, discount, close_date, tags, hot, net, secret]
    sort: -amount
    filters: [stage, owner, account.industry, close_date, hot, tags, amount, account, secret]
    page_size: 3
segments:
  my_open: {label: {en: My open deals, hu: Nyitott üzleteim}, filter: "owner == current_user and stage.open"}
  big:     {label: Big deals, filter: "amount >= 1000"}
""",
    "pipelines/sales.yaml": """
pipeline: sales
entity: deal
stages:
  - {key: new, label: {en: New, hu: Új}, probability: 10}
  - {key: won, label: {en: Won, hu: Megnyert}, probability: 100, closed: won}
  - {key: lost, probability: 0, closed: lost}
""",
}


class World:
    def __init__(self, config, engine, records: Records, users: Users):
        self.config, self.engine, self.records, self.users = config, engine, records, users
        self.app = create_app(config, engine, secret_key=SECRET)
        self.clients: list[TestClient] = []
        self.ids: dict[str, int] = {}

    def deal(self, key: str, **values) -> int:
        record = self.records.create(SYSTEM, "deal", values, internal=True)
        self.ids[key] = record["id"]
        return record["id"]

    def browser(self, username: str) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        client.__enter__()
        self.clients.append(client)
        assert sign_in(client, username).status_code == 303
        return client


@pytest.fixture
def world(db_url: str, write_config: Callable[[dict[str, str]], Path], cheap_argon2: None) -> Iterator[World]:
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    migrate(engine, config)
    ensure_search_index(engine, config)
    services = build_services(config, engine)
    users = services.users
    users.add("anna", roles=["rep"], team="north", full_name="Anna Adams", locale="en", password=PASSWORD)
    users.add("bela", roles=["rep"], team="north", full_name="Béla Bodnár", locale="hu", password=PASSWORD)
    users.add("mona", roles=["manager"], team="north", full_name="Mona Molnár", locale="en", password=PASSWORD)
    users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    assert plan_migration(engine, config).empty          # the search indexes are not a schema change
    w = World(config, engine, services.records, users)
    acme = services.records.create(SYSTEM, "account", {"name": "ACME Kft.", "industry": "retail", "owner": "anna"})
    byte = services.records.create(SYSTEM, "account", {"name": "Byte Zrt.", "industry": "it", "owner": "bela"})
    w.ids["acme"], w.ids["byte"] = acme["id"], byte["id"]
    w.deal("big", name="Big order", account=acme["id"], amount="5000", discount="10", close_date="2025-03-14",
           stage="new", tags=["strategic"], hot=True, owner="anna", description="Raktárbővítés tervezése",
           secret="classified-alpha")
    w.deal("small", name="Small order", account=acme["id"], amount="100", close_date="2025-05-01",
           stage="won", hot=False, owner="anna")
    w.deal("bytes", name="Server upgrade", account=byte["id"], amount="2500", close_date="2025-04-02",
           stage="new", tags=["upsell"], owner="bela")
    w.deal("nulls", name="Empty one", owner="anna", stage="lost")
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    engine.dispose()


def names(html: str) -> list[str]:
    """The deal names in the table, in order (the title column links to the record)."""
    return re.findall(r'<a href="/records/deal/\d+">([^<]*)</a>', html)


def test_columns_show_titles_formatted_values_and_links(world: World) -> None:
    html = world.browser("root").get("/records/deal").text
    assert names(html) == ["Big order", "Server upgrade", "Small order"]      # -amount, page of 3
    row = html[html.index(f'data-id="{world.ids["big"]}"'):]
    row = row[:row.index("</tr>")]
    assert f'<a href="/records/account/{world.ids["acme"]}">ACME Kft.</a>' in row   # title, not the id
    assert "Retail" in row and "Anna Adams" in row and "New" in row
    assert "5,000" in row and "HUF" in row and "10%" in row and "Mar 14, 2025" in row
    assert "Strategic" in row and "✓" in row
    assert "4,500" in row                                                   # the formula, as money
    assert 'href="/records/deal/new"' in html


def test_hungarian_user_sees_labels_and_numbers_in_hungarian(world: World) -> None:
    world.users.add("hugo", roles=["admin"], locale="hu", password=PASSWORD)
    html = world.browser("hugo").get("/records/deal").text
    assert "Kiskereskedelem" in html and "Új" in html and "Üzletek" in html
    assert "5000\xa0Ft" in html or "5\xa0000\xa0Ft" in html


def test_the_owner_field_the_engine_adds_is_labelled_in_the_users_language(world: World) -> None:
    world.users.add("hugo", roles=["admin"], locale="hu", password=PASSWORD)
    client = world.browser("hugo")
    listing = client.get("/records/deal").text
    header = listing[listing.index("<thead>"):listing.index("</thead>")]
    assert ">Felelős" in header and "Owner" not in header                # the column
    assert '>Felelős</label>' in listing and '>Owner</label>' not in listing  # the filter
    record = client.get(f"/records/deal/{world.ids['big']}").text
    assert "<dt>Felelős</dt>" in record and "<dt>Owner</dt>" not in record
    assert "<dt>Owner</dt>" in world.browser("root").get(f"/records/deal/{world.ids['big']}").text   # English
    form = client.get(f"/records/deal/{world.ids['big']}/edit").text
    assert "<legend>Felelős <span" in form and "Owner" not in form                          # the form


def test_date_range_filters_say_the_format_to_type(world: World) -> None:
    english = world.browser("root").get("/records/deal").text
    assert re.search(r'type="date" placeholder="YYYY-MM-DD" name="close_date__from"', english)
    assert re.search(r'type="date" placeholder="YYYY-MM-DD" name="close_date__to"', english)
    assert not re.search(r'type="number"[^>]*placeholder', english)          # amount's range: numbers only
    hungarian = world.browser("bela").get("/records/deal").text
    assert re.search(r'type="date" placeholder="ÉÉÉÉ-HH-NN" name="close_date__from"', hungarian)


def test_sort_by_header_both_ways_and_unknown_sort_is_ignored(world: World) -> None:
    client = world.browser("root")
    asc = client.get("/records/deal?sort=amount").text
    assert names(asc)[:3] == ["Small order", "Server upgrade", "Big order"]
    assert 'data-sort="-amount"' in asc                      # the header now offers descending
    desc = client.get("/records/deal?sort=-amount").text
    assert names(desc)[:3] == ["Big order", "Server upgrade", "Small order"]
    by_name = client.get("/records/deal?sort=name").text
    assert names(by_name) == ["Big order", "Empty one", "Server upgrade"]
    for bad in ("account", "nope", "tags", "amount;DROP TABLE deal", "--amount", "amount-"):
        response = client.get("/records/deal", params={"sort": bad})
        assert response.status_code == 200
        assert names(response.text) == ["Big order", "Server upgrade", "Small order"]


def test_each_filter_kind(world: World) -> None:
    client = world.browser("root")
    anna = world.users.actor("anna").id
    assert set(names(client.get("/records/deal?stage=won").text)) == {"Small order"}
    owned = names(client.get(f"/records/deal?owner={anna}&sort=name").text)
    assert owned == ["Big order", "Empty one", "Small order"]
    assert set(names(client.get("/records/deal?account.industry=it").text)) == {"Server upgrade"}
    dated = client.get("/records/deal?close_date__from=2025-03-14&close_date__to=2025-04-02").text
    assert set(names(dated)) == {"Big order", "Server upgrade"}
    assert set(names(client.get("/records/deal?hot=true").text)) == {"Big order"}
    assert set(names(client.get("/records/deal?hot=false").text)) == {"Small order"}
    assert set(names(client.get("/records/deal?tags=upsell").text)) == {"Server upgrade"}
    assert set(names(client.get("/records/deal?amount__from=200&amount__to=3000").text)) == {"Server upgrade"}
    assert set(names(client.get("/records/deal?account=byte").text)) == {"Server upgrade"}
    # The page shows the filters with the chosen values selected.
    page = client.get("/records/deal?stage=won").text
    assert '<option value="won" selected>' in page


def test_malformed_and_hostile_filter_values_are_ignored_or_harmless(world: World) -> None:
    client = world.browser("root")
    everyone = names(client.get("/records/deal").text)
    hostile = ["won' OR '1'='1", "1; DROP TABLE deal; --", "\" OR 1=1 --", "%", "_", "\\"]
    for value in hostile:
        for param in ("stage", "owner", "hot", "tags", "close_date__from", "amount__to", "page", "segment"):
            response = client.get("/records/deal", params={param: value})
            assert response.status_code == 200, (param, value)
            assert names(response.text) == everyone, (param, value)
        response = client.get("/records/deal", params={"account": value})
        assert response.status_code == 200 and names(response.text) == []      # a title containing it
        response = client.get("/records/deal", params={"q": value})
        assert response.status_code == 200 and "Big order" not in names(response.text)
    response = client.get("/records/deal", params={"zzz": "1", "filter": "1 == 1", "columns": "secret"})
    assert response.status_code == 200 and names(response.text) == everyone
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM deal")).scalar() == 4      # still there


def test_segments_are_tabs_and_current_user_works(world: World) -> None:
    client = world.browser("anna")
    page = client.get("/records/deal").text
    assert 'data-segment="my_open"' in page and "My open deals" in page
    mine = client.get("/records/deal?segment=my_open").text
    assert names(mine) == ["Big order"]                   # anna's, open (Empty one is lost, Small won)
    assert 'aria-current="page">My open deals' in mine
    mona = world.browser("mona")
    assert names(mona.get("/records/deal?segment=my_open").text) == []
    assert set(names(mona.get("/records/deal?segment=big").text)) == {"Big order", "Server upgrade"}


def test_search_uses_the_index_and_follows_changes(world: World) -> None:
    client = world.browser("root")
    assert names(client.get("/records/deal?q=upgrade").text) == ["Server upgrade"]
    assert names(client.get("/records/deal?q=RAKTÁRBŐV").text) == ["Big order"]       # description, any case
    assert names(client.get("/records/deal?q=order big").text) == ["Big order"]        # every word
    if world.engine.dialect.name == "sqlite":
        with world.engine.connect() as conn:
            hits = conn.execute(sa.text("SELECT rowid FROM crm_fts_deal WHERE crm_fts_deal MATCH '\"upgrade\"'"))
            assert [r[0] for r in hits] == [world.ids["bytes"]]
    else:
        with world.engine.connect() as conn:
            indexes = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'deal' "
                                           "AND indexdef LIKE '%gin_trgm_ops%'")).scalars().all()
            assert {"crm_trgm_deal_name", "crm_trgm_deal_description"} <= set(indexes)
    # The list's own query goes through the index (SQLite: MATCH on the FTS table; PostgreSQL: the
    # trigram GIN index serves `lower(name) LIKE '%...%'`).
    statements: list[str] = []
    listener = lambda conn, cur, stmt, *a: statements.append(stmt)  # noqa: E731
    sa.event.listen(world.engine, "before_cursor_execute", listener)
    client.get("/records/deal?q=upgrade")
    sa.event.remove(world.engine, "before_cursor_execute", listener)
    if world.engine.dialect.name == "sqlite":
        assert any('"crm_fts_deal" MATCH' in s and "FROM deal" in s for s in statements)
    else:
        with world.engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(conn.execute(sa.text(
                "EXPLAIN SELECT id FROM deal WHERE lower(name) LIKE '%upgrade%'")).scalars())
            assert "crm_trgm_deal_name" in plan
    new_id = world.deal("fresh", name="Quantum widget", owner="anna")
    assert names(client.get("/records/deal?q=quantum").text) == ["Quantum widget"]
    world.records.update(SYSTEM, "deal", new_id, {"name": "Photon widget"}, expected_version=None)
    assert names(client.get("/records/deal?q=quantum").text) == []
    assert names(client.get("/records/deal?q=photon").text) == ["Photon widget"]
    world.records.delete(SYSTEM, "deal", new_id)
    assert names(client.get("/records/deal?q=photon").text) == []


def test_search_respects_permissions_and_hidden_fields(world: World) -> None:
    anna = world.browser("anna")
    assert names(anna.get("/records/deal?q=upgrade").text) == []        # bela's deal
    assert names(anna.get("/records/deal?q=classified").text) == []     # a hidden field is not searched
    assert names(world.browser("root").get("/records/deal?q=classified").text) == ["Big order"]


def test_paging_without_count_and_capped_total(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    client = world.browser("root")
    first = client.get("/records/deal").text
    assert "1–3" in first and "of 4" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = client.get("/records/deal?page=2").text
    assert names(second) == ["Empty one"] and "4–4" in second and 'rel="prev"' in second
    assert 'rel="next"' not in second
    from ui.pages import lists
    monkeypatch.setattr(lists, "COUNT_CAP", 3)           # counted no further than the cap + 1
    assert "1–3 of more than 3" in client.get("/records/deal").text
    monkeypatch.undo()
    past = client.get("/records/deal?page=9").text
    assert 'data-empty="past-end"' in past
    statements: list[str] = []
    sa.event.listen(world.engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: statements.append(stmt))
    client.get("/records/deal?page=2")
    deal_queries = [s for s in statements if "FROM deal" in s]
    assert deal_queries and not any("count(" in s.lower() for s in deal_queries)   # no COUNT on page 2


def test_permissions_rep_sees_own_records_and_no_hidden_fields(world: World) -> None:
    anna = world.browser("anna")
    html = anna.get("/records/deal?sort=name").text
    assert names(html) == ["Big order", "Empty one", "Small order"]
    assert "classified-alpha" not in html and 'name="secret"' not in html
    assert "Server upgrade" not in html
    # A hidden field cannot be sorted or filtered on either.
    assert names(anna.get("/records/deal?secret=classified&sort=name").text) == names(html)
    token = page_token(anna, "/records/deal")
    export = anna.post("/records/deal/bulk", data={"action": "export_csv", "csrf_token": token})
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert "secret" not in rows[0] and "classified-alpha" not in export.text
    assert sorted(r[rows[0].index("name")] for r in rows[1:]) == ["Big order", "Empty one", "Small order"]
    # Bela's account title is not shown to a user who may not read it (team north reads it, so use a rep
    # of another team).
    world.users.add("xena", roles=["rep"], team="south", password=PASSWORD)
    xena_deal = world.deal("xena", name="Xena deal", account=world.ids["acme"], owner="xena")
    xena = world.browser("xena")
    page = xena.get("/records/deal").text
    assert names(page) == ["Xena deal"] and "ACME Kft." not in page and f"#{world.ids['acme']}" in page
    assert xena_deal


def test_xss_is_escaped_and_export_guards_formulas(world: World) -> None:
    world.deal("evil", name=XSS, description="=HYPERLINK(\"http://evil\")", owner="anna", amount="999999")
    world.deal("plus", name="+cmd|' /C calc'!A0", owner="anna", amount="999998")
    world.deal("at", name="@SUM(1+1)", owner="anna", amount="999997")
    client = world.browser("root")
    html = client.get("/records/deal").text
    assert XSS not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    token = page_token(client, "/records/deal")
    ids = [str(world.ids[k]) for k in ("evil", "plus", "at")]
    export = client.post("/records/deal/bulk", data={"action": "export_csv", "ids": ids, "csrf_token": token})
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    cells = {r[rows[0].index("name")] for r in rows[1:]}
    assert cells == {"'" + XSS if XSS.startswith(("=", "+", "-", "@")) else XSS,
                     "'+cmd|' /C calc'!A0", "'@SUM(1+1)"}
    assert any(r[rows[0].index("description")] == "'=HYPERLINK(\"http://evil\")" for r in rows[1:])
    assert len(rows) == 4                                         # only the chosen three
    xlsx = client.post("/records/deal/bulk", data={"action": "export_xlsx", "ids": ids, "csrf_token": token})
    from openpyxl import load_workbook
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert "'+cmd|' /C calc'!A0" in values and not any(isinstance(v, str) and v.startswith("=") for v in values)


def test_bulk_owner_change_reports_each_record(world: World) -> None:
    mona = world.browser("mona")
    bela = world.users.actor("bela").id
    token = page_token(mona, "/records/deal")
    ids = [world.ids["big"], world.ids["bytes"], 999999]
    response = mona.post("/records/deal/bulk", data={"action": "owner", "owner": str(bela), "ids": ids,
                                                      "state": "sort=name", "csrf_token": token},
                         headers={"HX-Request": "true", "HX-Target": "list-results"})
    assert response.status_code == 200
    assert "<html" not in response.text and 'data-bulk-result' in response.text
    assert "Owner changed on 2 records." in response.text
    assert 'data-record="999999"' in response.text                  # not found: reported, not fatal
    assert world.records.get(SYSTEM, "deal", world.ids["big"])["owner"] == bela
    # A rep may not give away what they may not update: a per-record error, nothing changed.
    anna = world.browser("anna")
    token = page_token(anna, "/records/deal")
    response = anna.post("/records/deal/bulk", data={"action": "owner", "owner": str(bela),
                                                      "ids": [world.ids["small"], world.ids["bytes"]],
                                                      "csrf_token": token})
    assert "Owner changed on 1 records." in response.text and f'data-record="{world.ids["bytes"]}"' in response.text
    assert world.records.get(SYSTEM, "deal", world.ids["bytes"])["owner"] == bela
    history = world.records.history(SYSTEM, "deal", world.ids["small"])
    assert any(e.field == "owner" for e in history)                 # through Records.update: audited
    missing = anna.post("/records/deal/bulk", data={"action": "owner", "owner": str(bela), "csrf_token": token})
    assert "Select the records first." in missing.text


def test_htmx_gets_the_partial_and_a_full_load_the_same_state(world: World) -> None:
    client = world.browser("root")
    url = "/records/deal?sort=name&stage=new"
    partial = client.get(url, headers={"HX-Request": "true", "HX-Target": "list-results"})
    assert partial.status_code == 200 and "<html" not in partial.text and "<table" in partial.text
    assert "hx-push-url" in partial.text and 'name="sort" value="name"' in partial.text
    full = client.get(url).text
    assert "<html" in full and names(full) == names(partial.text) == ["Big order", "Server upgrade"]
    assert '<option value="new" selected>' in full
    assert "Vary" in partial.headers and "HX-Request" in partial.headers["Vary"]


def test_empty_states_say_what_to_do(world: World) -> None:
    client = world.browser("root")
    nothing = client.get("/records/deal?q=zzzzzz").text
    assert 'data-empty="filtered"' in nothing and "No deals match these filters" in nothing
    assert "clear filters" in nothing
    world.users.add("newbie", roles=["rep"], team="east", password=PASSWORD)
    empty = world.browser("newbie").get("/records/deal").text
    assert 'data-empty="none"' in empty and "No deals yet" in empty and "create one" in empty


def test_unknown_entity_and_unreadable_entity(world: World) -> None:
    client = world.browser("anna")
    assert client.get("/records/nope").status_code == 404
    world.users.add("nobody", roles=[], password=PASSWORD)
    assert world.browser("nobody").get("/records/deal").status_code == 403
