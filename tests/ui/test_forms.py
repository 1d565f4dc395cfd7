"""Record forms: every widget, validation in the user's language, lines, conflicts, files, lookup, CSRF."""
from __future__ import annotations

import datetime as dt
import html as html_module
import re
from decimal import Decimal

from record_helpers import token, world  # noqa: F401  (world is a fixture)

from engine.runtime.actor import SYSTEM


def slot(html: str, name: str) -> str:
    """The text of a field's error slot."""
    match = re.search(rf'<div id="err-{re.escape(name)}" class="field__errors"[^>]*>(.*?)</div>', html, re.S)
    assert match, f"no error slot for {name}"
    return html_module.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_create_with_every_widget_type(world):
    client = world.signed_in("anna")
    form = client.get("/records/account/new").text
    assert 'type="email"' in form and 'type="tel"' in form and 'type="url"' in form
    assert 'type="datetime-local"' in form and 'type="date"' in form and 'type="number"' in form
    assert 'name="tags" value="strategic"' in form and 'name="satisfaction" value="5"' in form
    assert 'type="file" id="f-contract"' in form and 'accept=".pdf,.txt"' in form
    assert 'enctype="multipart/form-data"' in form
    assert '<span class="field__unit">(HUF)</span>' in form          # money shows its currency
    assert 'id="f-name"' in form and 'autofocus' in form.split('id="f-name"')[1].split(">")[0]
    data = {"csrf_token": token(client), "name": "ACME Kft.", "website": "acme.hu", "email": "info@acme.hu",
            "phone": "06 30 123 4567", "industry": "it", "tags": ["strategic", "upsell"], "employees": "42",
            "revenue": "1500000", "growth": "12.5", "ratio": "0.125", "founded": "2001-02-03",
            "last_call": "2025-01-15T09:30", "active": "true", "satisfaction": "4", "notes": "line 1\nline 2",
            "owner": str(world.actor("anna").id), "owner__search": ""}
    response = client.post("/records/account/new", data=data,
                           files={"contract": ("terms.txt", b"hello", "text/plain")})
    assert response.status_code == 303, response.text
    record_id = int(response.headers["location"].rsplit("/", 1)[1])
    saved = world.records.get(SYSTEM, "account", record_id)
    assert saved["website"] == "https://acme.hu" and saved["phone"] == "+36301234567"
    assert saved["tags"] == ["strategic", "upsell"] and saved["employees"] == 42
    assert saved["revenue"] == Decimal("1500000") and saved["growth"] == Decimal("12.5")
    assert saved["founded"] == dt.date(2001, 2, 3) and saved["active"] is True and saved["satisfaction"] == 4
    assert saved["last_call"] == dt.datetime(2025, 1, 15, 8, 30, tzinfo=dt.timezone.utc)   # 09:30 in Budapest
    assert saved["owner"] == world.actor("anna").id and saved["code"] == "A-0001"
    # The edit form shows the values back in their inputs, the time in the company's zone.
    edit = client.get(f"/records/account/{record_id}/edit").text
    assert 'value="2025-01-15T09:30"' in edit and 'value="2001-02-03"' in edit
    assert 'value="upsell" id="f-tags-2" checked' in edit.replace('\n', ' ') or 'value="upsell" id="f-tags-2"' in edit
    assert re.search(r'name="satisfaction" value="4" id="f-satisfaction-4" checked', edit)
    assert re.search(r'id="f-active" name="active" value="true" checked', edit)
    assert "terms.txt" in edit and "A-0001" in edit
    page = client.get(f"/records/account/{record_id}").text
    assert "HUF1,500,000" in page and "12.5%" in page and "Jan 15, 2025, 9:30" in page


def test_date_inputs_say_the_format_to_type_in_the_users_language(world):
    """Shown only where the browser has no date picker (then the input is a text box)."""
    english = world.signed_in("anna").get("/records/account/new").text
    assert re.search(r'<input type="date" id="f-founded"[^>]* placeholder="YYYY-MM-DD"', english)
    assert re.search(r'<input type="datetime-local" id="f-last_call"[^>]* placeholder="YYYY-MM-DD HH:MM"', english)
    hungarian = world.signed_in("ben").get("/records/account/new").text
    assert re.search(r'<input type="date" id="f-founded"[^>]* placeholder="ÉÉÉÉ-HH-NN"', hungarian)
    assert re.search(r'<input type="datetime-local" id="f-last_call"[^>]* placeholder="ÉÉÉÉ-HH-NN ÓÓ:PP"', hungarian)
    assert not re.search(r'<input type="(?:text|number|email)"[^>]* placeholder="', english)   # dates only


def test_validation_errors_are_shown_per_field_in_the_users_language(world):
    client = world.signed_in("ben")          # Hungarian
    data = {"csrf_token": token(client), "name": "", "email": "nope", "revenue": "-1", "employees": "12"}
    response = client.post("/records/account/new", data=data)
    assert response.status_code == 422
    html = response.text
    assert slot(html, "name") == "kötelező"
    assert slot(html, "revenue") == "legalább 0 kell legyen"
    assert "nem e-mail-cím" in slot(html, "email")
    assert 'value="nope"' in html and 'value="12"' in html           # what was typed is kept
    assert re.search(r'id="f-name" name="name" aria-describedby="err-name" aria-invalid="true" autofocus', html)
    assert 'href="#f-email"' in html                                  # the summary links to the field
    response = client.post("/records/account/new", data={"csrf_token": token(client), "name": "X",
                                                         "employees": "200000"})
    assert response.status_code == 422 and slot(response.text, "employees") == "Túl sok alkalmazott"
    assert world.records.list(SYSTEM, "account").rows == []


def test_inline_validation_swaps_the_fields_errors_without_saving(world):
    client = world.signed_in("anna")
    headers = {"HX-Request": "true", "X-CSRF-Token": token(client)}
    response = client.post("/records/account/validate?field=email", data={"name": "", "email": "bad"},
                           headers=headers)
    assert response.status_code == 200
    assert response.text.startswith('<div id="err-email"')
    assert "is not an e-mail address" in slot(response.text, "email")
    ok = client.post("/records/account/validate?field=name", data={"name": "Fine", "email": "a@b.hu"},
                     headers=headers)
    assert slot(ok.text, "name") == ""
    rule = client.post("/records/account/validate?field=employees", data={"name": "X", "employees": "999999"},
                       headers=headers)
    assert slot(rule.text, "employees") == "Too many employees"             # next to the field its rule reads
    assert world.records.list(SYSTEM, "account").rows == []            # a dry run writes nothing


def test_lines_grid_create_and_edit_with_totals(world):
    client = world.signed_in("anna")
    csrf = token(client)
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    rows = {"items.0.description": "Chair", "items.0.quantity": "2", "items.0.price": "1500",
            "items.1.description": "Desk", "items.1.quantity": "1", "items.1.price": "20000"}
    grid = client.post("/records/order/lines/items?op=add", data=rows, headers=headers).text
    assert 'name="items.2.description"' in grid and 'value="Desk"' in grid
    totals = client.post("/records/order/lines/items?op=totals", data=rows, headers=headers).text
    assert 'data-total="quantity"><strong>3</strong>' in totals
    assert 'data-total="line_total"><strong>HUF23,000</strong>' in totals        # 2 x 1500 + 20000
    # ... and each row's line total, by the entity's own formula, swapped in by id (out of band)
    assert '<output id="f-items-0-line_total" class="field__readonly" hx-swap-oob="true">HUF3,000</output>' in totals
    assert '<output id="f-items-1-line_total" class="field__readonly" hx-swap-oob="true">HUF20,000</output>' in totals
    assert 'id="f-items-0-line_total"' in grid                   # the ids the grid's cells really have
    response = client.post("/records/order/new", data={"csrf_token": csrf, "name": "First order", **rows,
                                                       "items.2.description": "", "items.2.quantity": ""})
    assert response.status_code == 303, response.text
    order_id = int(response.headers["location"].rsplit("/", 1)[1])
    saved = world.records.get(SYSTEM, "order", order_id)
    assert [(r["description"], r["quantity"]) for r in saved["items"]] == [("Chair", 2), ("Desk", 1)]
    edit = client.get(f"/records/order/{order_id}/edit").text
    assert 'value="Chair"' in edit and 'data-total="line_total"><strong>HUF23,000</strong>' in edit
    chair, desk = saved["items"]
    removed = client.post("/records/order/lines/items?op=remove&row=0",
                          data={"_record_id": str(order_id), "items.0.id": str(chair["id"]),
                                "items.0.description": "Chair", "items.0.quantity": "2", "items.0.price": "1500",
                                "items.1.id": str(desk["id"]), "items.1.description": "Desk",
                                "items.1.quantity": "1", "items.1.price": "20000"}, headers=headers).text
    assert 'name="items.0._delete" value="true"' in removed
    assert 'data-total="line_total"><strong>HUF20,000</strong>' in removed
    response = client.post(f"/records/order/{order_id}/edit", data={
        "csrf_token": csrf, "_version": str(saved["version"]), "name": "First order",
        "items.0.id": str(chair["id"]), "items.0._delete": "true", "items.0.description": "Chair",
        "items.1.id": str(desk["id"]), "items.1.description": "Desk", "items.1.quantity": "3",
        "items.1.price": "20000", "items.2.description": "Lamp", "items.2.quantity": "1", "items.2.price": "900"})
    assert response.status_code == 303, response.text
    after = world.records.get(SYSTEM, "order", order_id)
    assert [(r["description"], r["quantity"]) for r in after["items"]] == [("Desk", 3), ("Lamp", 1)]
    bad = client.post(f"/records/order/{order_id}/edit", data={
        "csrf_token": csrf, "_version": str(after["version"]), "name": "First order",
        "items.0.id": str(after["items"][0]["id"]), "items.0.description": "Desk", "items.0.quantity": "0",
        "items.1.id": str(after["items"][1]["id"]), "items.1.description": "Lamp", "items.1.quantity": "1"})
    assert bad.status_code == 422 and "must be at least 1" in slot(bad.text, "items-0-quantity")


def edit_fields(html: str) -> dict[str, str]:
    """The form's text inputs and hidden fields as a browser would send them back (no checkboxes)."""
    out = {}
    for name, value in re.findall(r'<input type="(?:hidden|text|url|email|tel|number|date|datetime-local)"'
                                  r'[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', html):
        out[name] = html_module.unescape(value)
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        out[name] = html_module.unescape(value)
    for name, key in re.findall(r'<select id="f-[^"]+" name="([^"]+)"[^>]*>(?:(?!</select>).)*?'
                                r'<option value="([^"]*)" selected', html, re.S):
        out[name] = key
    return out


def test_a_stale_edit_merges_and_shows_the_conflict_and_overwrites_nothing(world):
    acme = world.create("anna", "account", name="ACME", revenue="100", industry="it")
    client = world.signed_in("anna")
    edit = client.get(f"/records/account/{acme['id']}/edit").text
    assert 'name="_version" value="1"' in edit and 'name="_orig.revenue" value="100"' in edit
    sent = edit_fields(edit)
    # Meanwhile root changes the revenue (which anna changes too) and the industry (which she does not).
    world.records.update(SYSTEM, "account", acme["id"], {"revenue": "300", "industry": "retail"},
                         expected_version=1)
    response = client.post(f"/records/account/{acme['id']}/edit", data={**sent, "revenue": "200"})
    assert response.status_code == 409
    html = response.text
    assert "Someone changed this record while you edited — here is what changed" in html
    revenue = re.search(r'<tr data-conflict="revenue" data-kept="yours">(.*?)</tr>', html, re.S).group(1)
    assert "HUF200" in revenue and "HUF300" in revenue                      # yours and theirs
    industry = re.search(r'<tr data-conflict="industry" data-kept="theirs">(.*?)</tr>', html, re.S).group(1)
    assert "IT" in industry and "Retail" in industry
    assert re.search(r'id="f-revenue" name="revenue"[^>]*value="200"', html)  # the user's input is kept
    assert '<option value="retail" selected>' in html                     # their change is taken over
    assert 'name="_version" value="2"' in html
    stored = world.records.get(SYSTEM, "account", acme["id"])
    assert stored["revenue"] == Decimal("300") and stored["industry"] == "retail"   # nothing overwritten
    again = client.post(f"/records/account/{acme['id']}/edit", data=edit_fields(html))
    assert again.status_code == 303
    saved = world.records.get(SYSTEM, "account", acme["id"])
    assert saved["revenue"] == Decimal("200") and saved["industry"] == "retail"


def test_uploads_too_big_or_of_the_wrong_type_are_refused(world):
    client = world.signed_in("anna")
    big = client.post("/records/account/new", data={"csrf_token": token(client), "name": "ACME"},
                      files={"contract": ("offer.pdf", b"x" * 2048, "application/pdf")})
    assert big.status_code == 422
    assert "'offer.pdf' is 2 KB, more than the 1 KB allowed" in slot(big.text, "contract")
    wrong = client.post("/records/account/new", data={"csrf_token": token(client), "name": "ACME"},
                        files={"contract": ("run.exe", b"MZ", "application/octet-stream")})
    assert wrong.status_code == 422 and "not one of the accepted file types (pdf, txt)" in slot(wrong.text, "contract")
    assert world.records.list(SYSTEM, "account").rows == []
    assert not world.files_dir.exists() or not any(world.files_dir.rglob("*.*"))


def test_downloads_check_read_permission(world):
    client = world.signed_in("anna")
    response = client.post("/records/account/new", data={"csrf_token": token(client), "name": "ACME"},
                           files={"contract": ("terms.txt", b"the terms", "text/plain")})
    record_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/records/account/{record_id}").text
    link = re.search(r'<a href="(/files/\d+)">terms.txt', page).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.content == b"the terms"
    assert download.headers["content-disposition"].startswith("attachment")
    assert world.signed_in("ben").get(link).status_code == 404            # not his account
    assert world.signed_in("root").get(link).status_code == 200
    assert client.get("/files/99999").status_code == 404


def test_lookup_honours_the_link_filter_and_permissions(world):
    mine = world.create("anna", "account", name="Alpha")
    other = world.create("anna", "account", name="Beta")
    bens = world.create("ben", "account", name="Gamma")
    for account, name in ((mine, "North site"), (mine, "South site"), (other, "Beta site"), (bens, "Gamma site")):
        world.create("root", "site", name=name, account=account["id"])
    client = world.signed_in("anna")
    accounts = client.get("/records/contact/lookup?field=account&q=").text
    assert "Alpha" in accounts and "Beta" in accounts and "Gamma" not in accounts
    assert "Alpha" not in client.get("/records/contact/lookup?field=account&q=bet").text
    sites = client.get(f"/records/contact/lookup?field=site&account={mine['id']}").text
    assert re.findall(r'name="site" value="\d+"[^>]*> ([^<]+)', sites) == ["South site", "North site"] or \
        sorted(re.findall(r'name="site" value="\d+"[^>]*> ([^<]+)', sites)) == ["North site", "South site"]
    assert "Gamma site" not in client.get(f"/records/contact/lookup?field=site&account={bens['id']}").text
    users = client.get("/records/account/lookup?field=owner&q=ben").text
    assert "Ben Bíró" in users and "Anna Adams" not in users
    assert client.get("/records/contact/lookup?field=name").status_code == 404
    # Saving checks the same filter: a site of another account is refused next to the field.
    sites_of = {r["name"]: r["id"] for r in world.records.list(SYSTEM, "site").rows}
    wrong = client.post("/records/contact/new", data={"csrf_token": token(client), "name": "Carl",
                                                      "account": str(mine["id"]), "site": str(sites_of["Beta site"])})
    assert wrong.status_code == 422
    assert slot(wrong.text, "site") == "the chosen record is not allowed here (account == $account)"
    assert 'value="' + str(sites_of["Beta site"]) + '" checked' in wrong.text          # the choice is kept
    right = client.post("/records/contact/new", data={"csrf_token": token(client), "name": "Carl",
                                                      "account": str(mine["id"]), "site": str(sites_of["North site"])})
    assert right.status_code == 303
    page = client.get(right.headers["location"]).text
    assert ">North site</a>" in page and ">Alpha</a>" in page
    # The picker sends its current choice and the fields its filter reads, never the whole form.
    form = client.get("/records/contact/new").text
    assert 'hx-include="#f-site-options, [name=&#39;account&#39;]"' in form


def test_delete_asks_first_and_shows_restrict_errors(world):
    acme = world.create("anna", "account", name="ACME")
    world.create("anna", "contact", name="Carl", account=acme["id"])
    lone = world.create("anna", "account", name="Lone")
    client = world.signed_in("anna")
    confirm = client.get(f"/records/account/{lone['id']}/delete").text
    assert "Delete Account “Lone”?" in confirm
    response = client.post(f"/records/account/{lone['id']}/delete", data={"csrf_token": token(client)})
    assert response.status_code == 303 and response.headers["location"] == "/records/account"
    refused = client.post(f"/records/account/{acme['id']}/delete", data={"csrf_token": token(client)})
    assert refused.status_code == 409
    assert "This record cannot be deleted." in refused.text and "contact.account" in refused.text
    assert world.signed_in("ben").get(f"/records/account/{acme['id']}/delete").status_code == 404


def test_every_post_needs_the_csrf_token(world):
    acme = world.create("anna", "account", name="ACME")
    client = world.signed_in("anna")
    for path in ("/records/account/new", f"/records/account/{acme['id']}/edit", "/records/account/validate",
                 f"/records/account/{acme['id']}/delete", "/records/order/lines/items?op=add"):
        response = client.post(path, data={"name": "Hacked", "_version": "1"})
        assert response.status_code == 403, path
    assert world.records.get(SYSTEM, "account", acme["id"])["name"] == "ACME"
    assert len(world.records.list(SYSTEM, "account").rows) == 1
