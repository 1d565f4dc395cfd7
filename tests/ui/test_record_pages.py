"""The record page: sections, related lists, timeline, history, charts; 404 for what a user may not read."""
from __future__ import annotations

import re

import pytest
from record_helpers import token, world, world_with_edits  # noqa: F401  (world is a fixture)

from engine.runtime.actor import SYSTEM

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def page_statements(monkeypatch):
    """Collects the SQL a page runs, as `page_statements(world)` -> the live list.

    Left out, because they are not the page's: the live-reload watcher's background
    check of `crm_revisions`. And the signed-in user's cached answer is kept for the
    whole test (a loaded machine could otherwise let its 1 s bound lapse between the
    warm-up request and the counted one, adding one read). Pages are not kept
    (ui/page_memo.py): these tests count what reading and rendering a page asks."""
    from sqlalchemy import event

    from engine.runtime import users
    from ui import page_memo
    monkeypatch.setattr(users, "SIGNED_IN_TTL", 3600.0)
    monkeypatch.setattr(page_memo, "change_epoch", lambda engine: None)

    def start(world) -> list[str]:
        statements: list[str] = []

        def collect(conn, cursor, statement, *rest) -> None:
            if "crm_revisions" not in statement:
                statements.append(statement)
        event.listen(world.engine, "before_cursor_execute", collect)
        return statements
    return start

def section(html: str, marker: str) -> str:
    start = html.index(marker)
    return html[start:html.index("</section>", start)]


def field_text(html: str, name: str) -> str:
    match = re.search(rf'data-field="{name}">\s*<dt>[^<]*</dt>\s*<dd>(.*?)</dd>', html, re.S)
    assert match, f"no field {name} on the page"
    return re.sub(r"\s+", " ", match.group(1)).strip()


def test_sections_show_formatted_values_and_linked_titles(world):
    acme = world.create("anna", "account", name="ACME Kft.", revenue="1500000", growth="12.5", industry="retail",
                        tags=["strategic", "upsell"], founded="2001-02-03", last_call="2025-01-15 09:30",
                        active=True, satisfaction=4, notes="first\nsecond")
    carl = world.create("anna", "contact", name="Carl", account=acme["id"], email="carl@acme.hu")
    client = world.signed_in("anna")
    html = client.get(f"/records/account/{acme['id']}").text
    assert '<h2 id="section-1">General</h2>' in html and '<h2 id="section-3">Numbers</h2>' in html
    assert field_text(html, "revenue") == "HUF1,500,000" and field_text(html, "growth") == "12.5%"
    assert field_text(html, "industry") == "Retail" and field_text(html, "tags") == "Strategic, Upsell"
    assert field_text(html, "founded") == "Feb 3, 2001" and field_text(html, "last_call") == "Jan 15, 2025, 9:30 AM"
    assert field_text(html, "active") == "Yes" and field_text(html, "owner") == "Anna Adams"
    assert field_text(html, "satisfaction") == "★★★★☆ (4/5)" and field_text(html, "big") == "Yes"
    assert '<span class="multiline">first\nsecond</span>' in html
    contact = client.get(f"/records/contact/{carl['id']}").text
    assert f'<a href="/records/account/{acme["id"]}">ACME Kft.</a>' in field_text(contact, "account")
    assert '<a href="mailto:carl@acme.hu">carl@acme.hu</a>' in contact
    hungarian = world.signed_in("root")
    assert "Edit" in hungarian.get(f"/records/account/{acme['id']}").text


def test_related_lists_are_permission_filtered_and_paged(world):
    acme = world.create("root", "account", name="ACME", owner=world.actor("anna").id)
    for i in range(12):
        world.create("root", "contact", name=f"Contact {i:02}", account=acme["id"])
    world.create("root", "order", name="Anna's order", account=acme["id"], owner=world.actor("anna").id)
    world.create("root", "order", name="Ben's order", account=acme["id"], owner=world.actor("ben").id)
    client = world.signed_in("anna")
    html = client.get(f"/records/account/{acme['id']}").text
    contacts = section(html, 'data-related="contact"')
    assert contacts.count("<tr>") == 1 + 10                      # header + first page
    more = re.search(r'hx-get="([^"]+)"', contacts).group(1)
    assert more == f"/records/account/{acme['id']}/related/contact?offset=10"
    rest = client.get(more, headers={"HX-Request": "true"}).text
    assert rest.count("<tr>") == 2 and "Show more" not in rest
    orders = section(html, 'data-related="order"')
    assert "Anna&#39;s order" in orders and "Ben&#39;s order" not in orders
    root_orders = section(world.signed_in("root").get(f"/records/account/{acme['id']}").text, 'data-related="order"')
    assert "Ben&#39;s order" in root_orders


def test_the_timeline_is_newest_first_and_paged(world):
    acme = world.create("anna", "account", name="ACME")
    for i in range(12):
        world.create("anna", "activity", subject=f"Call {i:02}", account=acme["id"], kind="call")
    client = world.signed_in("anna")
    html = client.get(f"/records/account/{acme['id']}").text
    timeline = html[html.index('<ol class="timeline"'):html.index("</ol>")]
    subjects = re.findall(r">(Call \d\d)</a>", timeline)
    assert subjects == [f"Call {i:02}" for i in range(11, 1, -1)]
    more = re.search(r'hx-get="([^"]+)"', timeline).group(1)
    rest = client.get(more, headers={"HX-Request": "true"}).text
    assert re.findall(r">(Call \d\d)</a>", rest) == ["Call 01", "Call 00"]
    assert "Anna Adams" in timeline and '<span class="badge">Activity</span>' in timeline


def test_history_shows_every_change_newest_first(world):
    acme = world.create("anna", "account", name="ACME", revenue="100")
    world.records.update(world.actor("anna"), "account", acme["id"], {"revenue": "250"}, expected_version=1)
    html = world.signed_in("anna").get(f"/records/account/{acme['id']}").text
    start = html.index('<details class="record-section history">')
    history = html[start:html.index("</details>", start)]
    rows = re.findall(r'<tr data-action="(\w+)">(.*?)</tr>', history, re.S)
    assert [action for action, _ in rows] == ["update", "create"]
    change = re.sub(r"<[^>]+>|\s+", " ", rows[0][1])
    assert "Revenue" in change and "HUF100" in change and "HUF250" in change and "Anna Adams" in change


def test_chart_slots_name_their_report(world):
    acme = world.create("anna", "account", name="ACME")
    html = world.signed_in("anna").get(f"/records/account/{acme['id']}").text
    assert '<figure class="chart-slot" data-chart="account_orders">' in html
    assert "Chart Orders per month — loading…" in html     # filled by /reports/{name}/chart (reports-ui.md)
    assert f'hx-get="/reports/account_orders/chart?record=account:{acme["id"]}"' in html
    hungarian = world.signed_in("ben")
    mine = world.create("ben", "account", name="Bé")
    assert "Rendelések havonta diagram" in hungarian.get(f"/records/account/{mine['id']}").text


def test_another_reps_record_is_404_like_a_missing_one(world):
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("ben")
    for path in (f"/records/account/{acme['id']}", f"/records/account/{acme['id']}/edit",
                 f"/records/account/{acme['id']}/delete", f"/records/account/{acme['id']}/related/contact",
                 f"/records/account/{acme['id']}/timeline", "/records/account/99999", "/records/nothing/1"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "ACME" not in response.text
    post = client.post(f"/records/account/{acme['id']}/edit", data={"csrf_token": token(client), "name": "Mine"})
    assert post.status_code == 404
    assert world.records.get(SYSTEM, "account", acme["id"])["name"] == "ACME"


def test_edit_and_delete_buttons_only_when_permitted(world):
    acme = world.create("anna", "account", name="ACME")
    owner_page = world.signed_in("anna").get(f"/records/account/{acme['id']}").text
    assert f'href="/records/account/{acme["id"]}/edit"' in owner_page
    assert f'href="/records/account/{acme["id"]}/delete"' in owner_page
    viewer = world.signed_in("vic")
    page = viewer.get(f"/records/account/{acme['id']}").text
    assert "ACME" in page and "/edit" not in page and "/delete" not in page
    assert viewer.get(f"/records/account/{acme['id']}/edit").status_code == 403


def test_html_in_every_field_is_escaped_on_the_page_and_the_timeline(world):
    acme = world.create("anna", "account", name=XSS[:100], notes=XSS, email="x@example.com",
                        website="https://example.com/?q=<script>")
    world.create("anna", "activity", subject=XSS, account=acme["id"], kind="call")
    world.create("anna", "contact", name=XSS, account=acme["id"])
    client = world.signed_in("anna")
    pages = [client.get(f"/records/account/{acme['id']}").text,
             client.get(f"/records/account/{acme['id']}/edit").text,
             client.get(f"/records/account/{acme['id']}/timeline?offset=0", headers={"HX-Request": "true"}).text,
             client.get(f"/records/account/{acme['id']}/related/contact", headers={"HX-Request": "true"}).text]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or "&lt;script&gt;" in html
    timeline = pages[0][pages[0].index('<ol class="timeline"'):]
    assert "&lt;img src=x onerror=alert(1)&gt;" in timeline


def account_with_one_of_each(world) -> dict:
    """ACME (anna's) with a contact, an order and an activity: every part of its page has a row."""
    acme = world.create("root", "account", name="ACME", owner=world.actor("anna").id)
    world.create("root", "contact", name="Carl", account=acme["id"])
    world.create("root", "order", name="First", account=acme["id"], owner=world.actor("anna").id)
    world.create("root", "activity", subject="Call 0", account=acme["id"])
    return acme


def test_the_page_asks_the_database_the_same_number_of_times_however_many_rows_it_shows(
        world, page_statements):
    """Related rows, the timeline and their links' titles and owners come in the lists' own SELECTs."""
    acme = account_with_one_of_each(world)
    client = world.signed_in("root")
    statements = page_statements(world)

    def count() -> int:
        statements.clear()
        assert client.get(f"/records/account/{acme['id']}").status_code == 200
        return len(statements)
    count()                         # warm: the first request may read what later ones keep
    few = count()
    for i in range(9):
        world.create("root", "contact", name=f"Contact {i}", account=acme["id"])
        world.create("root", "order", name=f"Order {i}", account=acme["id"],
                     owner=world.actor("anna" if i % 2 else "ben").id)
        world.create("root", "activity", subject=f"Call {i + 1}", account=acme["id"])
    many = count()
    html = client.get(f"/records/account/{acme['id']}").text
    assert section(html, 'data-related="order"').count("<tr>") == 1 + 10
    assert few == many, statements
    # The record; its attachments (with the read check in the same statement); contacts, orders, the
    # activity timeline; the user names; the history and the messages (each with the read check in
    # its own statement). The signed-in user comes from the auth middleware's memory; an admin's
    # update and delete scopes are `all`, so no question is asked about them either.
    assert few == 8, "\n".join(statements)
    # The page's own title is known from the record it shows: no query asks for it again.
    assert not [s for s in statements if re.search(r"FROM account\b.*\baccount\.id IN \(", s, re.S)]



def test_an_entity_both_listed_and_on_the_timeline_is_read_once_while_it_fits_a_page(
        db_url, monkeypatch, request, page_statements):
    """`detail.related` lists activities too: with no more than a page of them the related list's read
    (the user's row filter and all) gives the timeline its rows; with more, each reads its own."""
    world = world_with_edits(monkeypatch, request, {
        "entities/account.yaml": ("related: [contact, order]", "related: [contact, order, activity]"),
        "entities/activity.yaml": ("list: {columns: [subject, kind]}",
                                   "list: {columns: [subject, kind], sort: subject}")})
    acme = world.create("anna", "account", name="ACME")
    world.create("ben", "account", name="Theirs")
    client = world.signed_in("anna")
    statements = page_statements(world)

    def page() -> str:
        statements.clear()
        answer = client.get(f"/records/account/{acme['id']}")
        assert answer.status_code == 200
        return answer.text

    def subjects(html: str, start: str, end: str) -> list[str]:
        part = html[html.index(start):]
        return re.findall(r">(Call \d\d)</a>", part[:part.index(end)])
    for i in range(10):
        world.create("anna", "activity", subject=f"Call {i:02}", account=acme["id"])
    page()                                                   # warm
    html = page()
    activity_reads = [s for s in statements if re.search(r"FROM activity\b", s)]
    assert len(activity_reads) == 1 and len(statements) == 8, "\n".join(statements)
    assert subjects(html, 'data-related="activity"', "</section>") == [f"Call {i:02}" for i in range(10)]
    assert subjects(html, '<ol class="timeline"', "</ol>") == [f"Call {i:02}" for i in range(9, -1, -1)]
    world.create("anna", "activity", subject="Call 10", account=acme["id"])     # more than a page now
    html = page()
    assert len([s for s in statements if re.search(r"FROM activity\b", s)]) == 2 and len(statements) == 9
    assert subjects(html, 'data-related="activity"', "</section>") == [f"Call {i:02}" for i in range(10)]
    assert subjects(html, '<ol class="timeline"', "</ol>") == [f"Call {i:02}" for i in range(10, 0, -1)]
    assert "Show more" in section(html, 'data-related="activity"')

def test_a_rep_s_page_decides_edit_and_delete_from_the_owner_in_hand(world, page_statements):
    """`own` scopes are answered from the record's owner: the rep's page asks no more than the admin's."""
    mine = world.create("anna", "account", name="Mine")
    world.create("anna", "contact", name="Carl", account=mine["id"])
    statements = page_statements(world)

    def page(client, record_id: int) -> tuple[int, str]:
        client.get(f"/records/account/{record_id}")          # warm (the signed-in user is read once)
        statements.clear()
        answer = client.get(f"/records/account/{record_id}")
        return answer.status_code, answer.text
    anna, root, ben = world.signed_in("anna"), world.signed_in("root"), world.signed_in("ben")
    status, html = page(anna, mine["id"])
    assert status == 200 and len(statements) == 8, "\n".join(statements)
    assert f'href="/records/account/{mine["id"]}/edit"' in html         # anna owns it: may edit
    assert not [s for s in statements if re.search(r"SELECT account\.id\s+FROM account\s+WHERE", s)]
    status, html = page(root, mine["id"])
    assert status == 200 and len(statements) == 8
    # Another rep still gets a 404, from the page's own read (history and messages are not reached).
    assert page(ben, mine["id"])[0] == 404 and len(statements) == 1


def test_a_readable_linked_record_with_an_empty_title_keeps_its_link(db_url, monkeypatch, request):
    """A joined title is NULL both for a record the user may not read and for an empty optional
    title: the related row still links to a readable one (as `#id`)."""
    world = world_with_edits(monkeypatch, request, {
        "entities/site.yaml": ("name:    {type: string, required: true, search: true}",
                               "name:    {type: string, search: true}"),
        "entities/contact.yaml": ("list: {columns: [name, account, email]}",
                                  "list: {columns: [name, account, site, email]}")})
    acme = world.create("root", "account", name="ACME")
    site = world.create("root", "site", account=acme["id"])
    world.create("root", "contact", name="Carl", account=acme["id"], site=site["id"])
    html = world.signed_in("root").get(f"/records/account/{acme['id']}").text
    related = html[html.index('data-related="contact"'):]
    assert f'href="/records/site/{site["id"]}"' in related[:related.index("</section>")]


def test_a_page_s_reads_share_one_pooled_connection(world, page_statements):
    """Records.reading(): the record, its attachments, the related lists, the timeline, the history,
    the messages and the workflow panel read through one connection taken from the pool once; the
    user names (Users.names, another service) take their own."""
    import threading

    from sqlalchemy import event
    acme = account_with_one_of_each(world)
    client = world.signed_in("root")
    statements = page_statements(world)
    assert client.get(f"/records/account/{acme['id']}").status_code == 200       # warm
    checkouts: list[str] = []

    def checkout(*_) -> None:
        if threading.current_thread().name != "crm-config-watcher":
            checkouts.append(threading.current_thread().name)
    event.listen(world.engine, "checkout", checkout)
    statements.clear()
    assert client.get(f"/records/account/{acme['id']}").status_code == 200
    event.remove(world.engine, "checkout", checkout)
    assert len(statements) == 8, "\n".join(statements)
    assert len(checkouts) == 2, checkouts
