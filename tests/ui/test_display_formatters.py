"""Display.formatter and Display.titler: a field's formatting decided once per request gives what
the page shows for each kind of value (Display.value goes through them too)."""
from __future__ import annotations

from decimal import Decimal

from record_helpers import world  # noqa: F401  (world is a fixture)

from ui.display import EMPTY, Display, Shown
from ui.formatting import Formatter
from ui.services import build_services


def display(world, username: str, locale: str) -> Display:
    svc = build_services(world.config, world.engine)
    company = world.config.company
    return Display(svc, world.actor(username), Formatter(locale, company.currency, company.timezone), locale,
                   "/crm", {"Yes": "Igen", "No": "Nem"}.get if locale == "hu" else str)


def test_every_kind_is_formatted_as_the_page_shows_it(world):
    account = world.config.entities["account"]
    fields = account.fields
    for locale in ("en", "hu"):
        shown = display(world, "anna", locale)
        fmt = shown.fmt
        show = shown.formatter
        assert show(fields["industry"])("retail") == Shown("Kiskereskedelem" if locale == "hu" else "Retail")
        assert show(fields["industry"])("it") == Shown("IT")
        assert show(fields["industry"])("gone") == Shown("gone")        # a key the options no longer have
        assert show(fields["revenue"])(Decimal("1234567.5")) == Shown(fmt.money(Decimal("1234567.5")))
        assert show(fields["revenue"])("12.5") == Shown(fmt.money(Decimal("12.5")))
        assert show(fields["employees"])(1234) == Shown(fmt.number(1234))
        assert show(fields["ratio"])(Decimal("2.125")) == Shown(fmt.number(Decimal("2.125")))
        assert show(fields["growth"])(Decimal("12.5")) == Shown(fmt.percent(Decimal("12.5")))
        assert show(fields["tags"])(["strategic", "upsell"]) == Shown("Strategic, Upsell")
        assert show(fields["active"])(True) == Shown("Igen" if locale == "hu" else "Yes")
        assert show(fields["website"])("javascript:x") == Shown("javascript:x")
        assert show(fields["email"])("a@b.c") == Shown("a@b.c", "mailto:a@b.c")
        assert show(fields["notes"])("two\nlines") == Shown("two\nlines", multiline=True)
        assert show(fields["name"])(7) == Shown("7")
        for empty in (None, "", []):
            assert show(fields["industry"])(empty) is EMPTY and shown.value(fields["revenue"], empty) is EMPTY


def test_a_formatter_is_chosen_once_and_an_option_is_one_shown_value(world):
    shown = display(world, "anna", "en")
    industry = world.config.entities["account"].fields["industry"]
    assert shown.formatter(industry) is shown.formatter(industry)
    assert shown.formatter(industry)("retail") is shown.value(industry, "retail")
    assert display(world, "anna", "hu").value(industry, "retail").text == "Kiskereskedelem"


def test_links_users_and_titles_follow_what_the_user_may_read(world):
    mine = world.create("anna", "account", name="Anna's <Co>")
    theirs = world.create("ben", "account", name="Ben's")
    nameless_site = world.create("anna", "site", name="Main", account=mine["id"])
    contact = world.config.entities["contact"]
    shown = display(world, "anna", "en")
    link = shown.formatter(contact.fields["account"])
    assert link(mine["id"]) == Shown("Anna's <Co>", f"/crm/records/account/{mine['id']}")
    assert link(theirs["id"]) == Shown(f"#{theirs['id']}")          # not readable by anna: no title
    owner = world.config.entities["account"].fields.get("owner")
    if owner is not None:
        assert shown.formatter(owner)(world.actor("ben").id) == Shown("Ben Bíró")
    account = world.config.entities["account"]
    titled = shown.titler(account)
    assert titled(mine) == "Anna's <Co>" == shown.title_of(account, mine)
    assert titled({"id": 5, "name": ""}) == "#5" and titled({"id": 6}) == "#6"
    site = world.config.entities["site"]
    assert shown.titler(site)(nameless_site) == "Main"
