"""UI language: per user, switchable, with catalogs from Babel and formatting to match."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from babel.messages.pofile import read_po
from starlette.responses import HTMLResponse
from starlette.routing import Route
from ui_helpers import page_token

from ui.i18n import LOCALE_DIR, Catalogs, negotiate
from ui.templating import page_context


def switch(client, locale: str):
    return client.post("/preferences/locale", data={"locale": locale, "csrf_token": page_token(client),
                                                    "next": "/"})


def test_the_users_own_language_is_used(site):
    assert "Sign out" in site.signed_in("anna").get("/").text
    hungarian = site.signed_in("mona").get("/").text
    assert "Kijelentkezés" in hungarian and '<html lang="hu">' in hungarian


def test_switching_language_changes_ui_strings_and_is_stored(site):
    client = site.signed_in("anna")
    response = switch(client, "hu")
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = client.get("/").text
    assert "Kijelentkezés" in page and "Sign out" not in page
    assert "Üdvözöljük, Anna Adams!" in page
    assert site.users.actor("anna").locale == "hu"
    switch(client, "en")
    assert "Sign out" in client.get("/").text


def test_switching_language_changes_number_formatting(site):
    app = site.app()
    template = app.state.templates.env.from_string(
        "{{ n|number }}|{{ m|money }}|{{ m|money('EUR') }}|{{ p|percent }}")

    async def numbers(request):
        context = {**page_context(request), "n": Decimal("1234567.5"), "m": Decimal("1234567.456"),
                   "p": Decimal("12.5")}
        return HTMLResponse(template.render(context))
    app.router.routes.append(Route("/numbers", numbers))
    client = site.signed_in("anna", app)
    assert client.get("/numbers").text == "1,234,567.5|HUF1,234,567|€1,234,567.46|12.5%"
    switch(client, "hu")
    nbsp = "\u00a0"
    assert client.get("/numbers").text == (
        f"1{nbsp}234{nbsp}567,5|1{nbsp}234{nbsp}567{nbsp}Ft|1{nbsp}234{nbsp}567,46{nbsp}EUR|12,5%")


def test_a_language_the_company_does_not_use_is_refused(site):
    client = site.signed_in("anna")
    response = switch(client, "de")
    assert response.status_code == 422
    assert "must be one of en, hu" in response.text
    assert site.users.actor("anna").locale == "en"


def test_visitors_get_their_browsers_language_on_the_login_page(site):
    client = site.client()
    assert "Bejelentkezés" in client.get("/login", headers={"Accept-Language": "hu-HU,hu;q=0.9"}).text
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "de-DE"}).text   # default: en


def test_negotiate():
    assert negotiate("de;q=0.9, hu;q=0.8, en;q=0.7", ["en", "hu"], "en") == "hu"
    assert negotiate("en-GB,en;q=0.9", ["hu", "en"], "hu") == "en"
    assert negotiate("", ["hu", "en"], "hu") == "hu"
    assert negotiate("fr, x;q=bad", ["hu", "en"], "hu") == "hu"


def test_every_ui_string_has_a_hungarian_translation():
    with (LOCALE_DIR / "hu" / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale="hu")
    untranslated = [m.id for m in catalog if m.id and not m.string]
    assert untranslated == []


def test_catalogs_are_compiled_in_memory_when_no_mo_is_built(tmp_path: Path):
    folder = tmp_path / "hu" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text('msgid "Sign in"\nmsgstr "Belépés"\n', encoding="utf-8")
    catalogs = Catalogs.load(tmp_path, ["hu", "en"])
    assert catalogs.get("hu").gettext("Sign in") == "Belépés"
    assert catalogs.get("en").gettext("Sign in") == "Sign in"
    assert catalogs.get("de").gettext("Sign in") == "Sign in"
