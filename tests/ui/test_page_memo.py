"""Record pages served again while the database is unchanged (ui/page_memo.py): the same bytes
a render gives, each session's own CSRF token, never another user's page, never a page older
than the database (changes by this app or by another process), never a page that shows the time;
on PostgreSQL, and with the memo turned off, every page is rendered."""
from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from record_helpers import SECRET, csrf_token, world, world_with_edits  # noqa: F401  (world is a fixture)
from starlette.testclient import TestClient

from ui.app import create_app


def memo(client: TestClient):
    return client.app.state.services.pages


def sign_in(world, app, username: str) -> TestClient:
    """A new session of `username` on `app` (world.signed_in makes a new app each time)."""
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    world.clients.append(client)
    answer = client.post("/login", data={"username": username, "password": "pw",
                                         "csrf_token": csrf_token(client.get("/login").text)})
    assert answer.status_code == 303, answer.text
    return client


def page(client: TestClient, record_id: int) -> str:
    answer = client.get(f"/records/account/{record_id}")
    assert answer.status_code == 200, answer.text
    return answer.text


def sqlite_only(world) -> None:
    if world.engine.dialect.name != "sqlite":
        pytest.skip("pages are kept on SQLite only (PostgreSQL: test_postgresql_renders_every_page)")


def test_a_kept_page_is_byte_for_byte_the_page_a_render_gives(world):
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME <b>Kft.</b>", revenue="1500000")
    world.create("anna", "contact", name="Carl", account=acme["id"])
    world.create("anna", "activity", subject="Call", account=acme["id"])
    client = world.signed_in("anna")
    first = page(client, acme["id"])
    assert (memo(client).stored, memo(client).hits) == (1, 0)
    again = page(client, acme["id"])
    assert (memo(client).stored, memo(client).hits) == (1, 1)
    assert again == first
    # The same session on an app that renders every page: the same bytes.
    rendering = create_app(world.config, world.engine, secret_key=SECRET, page_memo=False)
    with TestClient(rendering, cookies=dict(client.cookies), follow_redirects=False) as fresh:
        assert page(fresh, acme["id"]) == first
        assert fresh.app.state.services.pages.stored == 0
    assert "ACME &lt;b&gt;Kft.&lt;/b&gt;" in first and csrf_token(first) in first


def test_each_session_gets_its_own_csrf_token_in_a_kept_page(world):
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME")
    one = world.signed_in("anna")
    other = sign_in(world, one.app, "anna")                 # a second sign-in of anna, same app
    mine, theirs = page(one, acme["id"]), page(other, acme["id"])
    assert memo(one).hits == 1                          # the second session was served the kept page
    assert csrf_token(mine) != csrf_token(theirs)
    assert csrf_token(mine) not in theirs and csrf_token(theirs) not in mine
    assert mine.replace(csrf_token(mine), "T") == theirs.replace(csrf_token(theirs), "T")
    # The kept page's token works: a form posted with it is accepted (here: the language switch),
    # and the page then comes in the new language (the user's row changed: rendered again).
    token = csrf_token(theirs)
    assert re.search(rf'name="csrf_token" value="{token}"', theirs)
    assert other.post("/preferences/locale", data={"locale": "hu", "csrf_token": token,
                                                   "next": "/"}).status_code == 303
    assert '<html lang="hu">' in page(other, acme["id"]) and memo(one).hits == 1


def test_a_change_made_through_the_app_shows_on_the_next_request(world):
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("anna")
    page(client, acme["id"])
    assert "ACME" in page(client, acme["id"]) and memo(client).hits == 1
    world.records.update(world.actor("anna"), "account", acme["id"], {"name": "ACME Renamed"}, None)
    assert "ACME Renamed" in page(client, acme["id"])
    world.create("root", "contact", name="Zelda Newcontact", account=acme["id"])   # a related row only
    assert "Zelda Newcontact" in page(client, acme["id"])
    assert memo(client).hits == 1


def test_a_change_committed_by_another_process_shows_on_the_next_request(world):
    """Another worker, `crm import` or the sqlite3 shell: a plain sqlite3 connection in a child process."""
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("anna")
    page(client, acme["id"])
    page(client, acme["id"])
    path = world.engine.url.database
    subprocess.run([sys.executable, "-c",
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute('UPDATE account SET name = ? WHERE id = ?', ('Changed Elsewhere', int(sys.argv[2]))); "
                    "c.commit()", path, str(acme["id"])], check=True, timeout=60)
    assert "Changed Elsewhere" in page(client, acme["id"])
    assert memo(client).hits == 1                       # only the second request above
    assert "Changed Elsewhere" in page(client, acme["id"]) and memo(client).hits == 2


def test_while_another_connection_writes_no_answer_is_older_than_what_was_committed_before_it(world):
    """A writer commits a new name again and again (its own sqlite3 connection, in a thread) while
    requests come in: every page shows at least the last name committed before its request began,
    and some requests in between are still served from the memo."""
    import sqlite3
    import threading
    import time
    sqlite_only(world)
    acme = world.create("anna", "account", name="Name 0")
    client = world.signed_in("anna")
    committed = [0]                      # the last name number whose commit has returned
    stop = threading.Event()
    problems: list[BaseException] = []

    def write() -> None:
        try:
            conn = sqlite3.connect(world.engine.url.database, timeout=30)
            for n in range(1, 10_000):
                if stop.is_set():
                    break
                conn.execute("UPDATE account SET name = ? WHERE id = ?", (f"Name {n}", acme["id"]))
                conn.commit()
                committed[0] = n
                time.sleep(0.05)
            conn.close()
        except BaseException as exc:     # seen by the test, not lost in the thread
            problems.append(exc)
    writer = threading.Thread(target=write, name="page-memo-writer")
    writer.start()
    try:
        deadline = time.monotonic() + 3
        checked = 0
        while time.monotonic() < deadline:
            before = committed[0]
            shown = int(re.search(r"<h1>.*?Name (\d+)</h1>", page(client, acme["id"]), re.S).group(1))
            assert shown >= before, f"page shows Name {shown}, Name {before} was committed before the request"
            checked += 1
    finally:
        stop.set()
        writer.join(timeout=30)
    assert not problems, problems
    assert checked > 20 and committed[0] > 10
    assert 0 < memo(client).hits < checked                  # kept between commits, rendered after them


def test_a_user_never_gets_another_user_s_kept_page(world):
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME")
    anna = world.signed_in("anna")
    # One app for all three: the page anna's request kept is in the memo the others ask.
    ben, vic = sign_in(world, anna.app, "ben"), sign_in(world, anna.app, "vic")
    mine = page(anna, acme["id"])
    assert f'/records/account/{acme["id"]}/edit"' in mine
    assert ben.get(f"/records/account/{acme['id']}").status_code == 404       # ben may not read it
    theirs = page(vic, acme["id"])                                            # vic reads all, edits none
    assert "ACME" in theirs and f'/records/account/{acme["id"]}/edit"' not in theirs and "Vic Viewer" in theirs
    assert "Anna Adams" in mine and "Vic Viewer" not in mine
    assert memo(anna).hits == 0 and memo(anna).stored == 2


def test_a_page_that_shows_the_time_is_rendered_every_time(db_url, monkeypatch, request):
    """A formula with `now()` is built into its entity's statement with the time as a value: a page
    that reads through that statement is not kept, in the same world as one that is."""
    world = world_with_edits(monkeypatch, request, {"entities/site.yaml": (
        "  name:    {type: string, required: true, search: true}\n",
        "  name:    {type: string, required: true, search: true}\n"
        "  seen:    {type: datetime}\n"
        '  past:    {type: formula, expr: "seen != null and seen < now()", result: bool}\n')})
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME")
    site = world.create("anna", "site", name="Plant", account=acme["id"], seen="2030-01-01 10:00")
    carl = world.create("anna", "contact", name="Carl", account=acme["id"], site=site["id"])
    client = world.signed_in("anna")
    for _ in range(2):
        assert client.get(f"/records/site/{site['id']}").status_code == 200
        # The contact page shows the site's title, read through the site's statement: not kept either
        # (the clock is judged per statement, not per column shown).
        assert client.get(f"/records/contact/{carl['id']}").status_code == 200
    assert (memo(client).stored, memo(client).hits) == (0, 0)
    page(client, acme["id"])                   # lists contacts and orders, no site: kept
    page(client, acme["id"])
    assert (memo(client).stored, memo(client).hits) == (1, 1)


def world_with_age(monkeypatch, request):
    """The world with `account.age`, `days_since(founded)` (the company's date only), on the page."""
    return world_with_edits(monkeypatch, request, {"entities/account.yaml": [(
        '  big:       {type: formula, expr: "revenue >= 1000000", result: bool}\n',
        '  big:       {type: formula, expr: "revenue >= 1000000", result: bool}\n'
        '  age:       {type: formula, expr: "days_since(founded)", result: int}\n'), (
        "founded, last_call, big, contract]", "founded, last_call, big, age, contract]")]})


def test_a_page_that_shows_the_date_is_kept_for_that_day(db_url, monkeypatch, request):
    world = world_with_age(monkeypatch, request)
    acme = world.create("anna", "account", name="ACME", founded="2001-02-03")
    client = world.signed_in("anna")
    today = dt.datetime.now(ZoneInfo(world.config.company.timezone)).date()
    first = page(client, acme["id"])
    assert page(client, acme["id"]) == first
    kept = 1 if world.engine.dialect.name == "sqlite" else 0
    assert (memo(client).stored, memo(client).hits) == (kept, kept)
    age = (today - dt.date(2001, 2, 3)).days
    assert re.search(rf'data-field="age">\s*<dt>[^<]*</dt>\s*<dd>\s*{age:,}\s*</dd>', first), first


def test_the_next_company_day_renders_the_page_again(db_url, monkeypatch, request):
    """The key holds the company's date by the records service's clock, the one `today()` reads."""
    from engine.runtime.clock_watch import watched
    world = world_with_age(monkeypatch, request)
    sqlite_only(world)
    acme = world.create("anna", "account", name="ACME", founded="2025-03-01")
    client = world.signed_in("anna")
    records = client.app.state.services.records
    now = [dt.datetime(2025, 3, 10, 22, 59, tzinfo=dt.timezone.utc)]       # 23:59 in Budapest
    records.clock = records.exprs.clock = watched(lambda: now[0])
    assert world.config.company.timezone == "Europe/Budapest"

    def age() -> str:
        return re.search(r'data-field="age">\s*<dt>[^<]*</dt>\s*<dd>\s*(\d+)', page(client, acme["id"])).group(1)
    assert age() == "9" and age() == "9"
    assert (memo(client).stored, memo(client).hits) == (1, 1)
    now[0] += dt.timedelta(minutes=2)                                       # 00:01 the next day
    assert age() == "10" and age() == "10"
    assert (memo(client).stored, memo(client).hits) == (2, 2)


def test_the_language_the_address_and_htmx_each_have_their_own_page(world):
    sqlite_only(world)
    world.users.add("nol", roles=["viewer"], full_name="No Locale", password="pw")
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("nol")
    english = client.get(f"/records/account/{acme['id']}", headers={"Accept-Language": "en"}).text
    hungarian = client.get(f"/records/account/{acme['id']}", headers={"Accept-Language": "hu"}).text
    assert '<html lang="en">' in english and '<html lang="hu">' in hungarian
    assert client.get(f"/records/account/{acme['id']}", headers={"Accept-Language": "hu"}).text == hungarian
    other_host = client.get(f"/records/account/{acme['id']}",
                            headers={"Accept-Language": "en", "Host": "crm.example.test"})
    htmx = client.get(f"/records/account/{acme['id']}", headers={"Accept-Language": "en", "HX-Request": "true"})
    assert other_host.status_code == 200 and htmx.status_code == 200
    assert (memo(client).stored, memo(client).hits) == (4, 1)


def test_the_store_keeps_within_its_count_and_size_and_never_goes_back_an_epoch():
    from ui.page_store import PageMemo
    store = PageMemo(kept=3, chars=100, page_chars=60)
    for key in "abc":
        assert store.put(key, 1, ("x" * 10, "y" * 10))
    assert store.get("a", 1) is not None                   # a is now the most recently used
    assert store.put("d", 1, ("z" * 20,)) and len(store) == 3 and store.get("b", 1) is None
    assert store.get("a", 2) is None                       # another epoch: not served
    assert not store.put("big", 1, ("x" * 61,))            # larger than a page may be
    assert store.put("e", 1, ("x" * 60,)) and store.get("c", 1) is None   # a, d, e: 20 + 20 + 60 <= 100
    assert store.put("f", 1, ("x" * 30,)) and len(store) == 2             # over 100: a and d go
    assert store.get("e", 1) is not None and store.get("a", 1) is None
    assert store.put("e", 5, ("new",)) and not store.put("e", 4, ("older render, finished late",))
    assert store.get("e", 5) == ("new",)


def test_postgresql_renders_every_page(world):
    if world.engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only")
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("anna")
    assert page(client, acme["id"]) == page(client, acme["id"])
    assert (memo(client).stored, memo(client).hits) == (0, 0)


def test_turned_off_every_page_is_rendered(world):
    acme = world.create("anna", "account", name="ACME")
    app = create_app(world.config, world.engine, secret_key=SECRET, page_memo=False)
    signed = world.signed_in("anna")
    with TestClient(app, cookies=dict(signed.cookies), follow_redirects=False) as client:
        assert page(client, acme["id"]) == page(client, acme["id"])
        assert (memo(client).stored, memo(client).hits) == (0, 0)


def test_a_request_for_a_page_that_is_not_there_keeps_nothing(world):
    client = world.signed_in("anna")
    assert client.get("/records/account/987654").status_code == 404
    assert client.get("/records/account/987654").status_code == 404
    assert (memo(client).stored, memo(client).hits) == (0, 0)
