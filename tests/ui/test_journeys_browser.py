"""A sales rep's day on the default company, end to end in a real browser (Chromium via Playwright).

One server and one demo data set (`engine/runtime/demo` at a small scale, on a
SQLite file migrated like `crm demo` does) serve the whole journey, in order:
sign in as `rep1`; find an account by the search box and a filter; open its 360
page (related lists, timeline); create a deal with two lines and watch the
grid's running total; be refused for a too big discount, fix it, save; edit the
deal in two sessions and see the conflict view keep both changes; switch the UI
language. Every page is watched for console errors (CSP violations land there).
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from browser import console_errors, launch, needs_chromium, sign_in

from engine.runtime.actor import SYSTEM
from engine.runtime.demo.people import DEMO_PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = needs_chromium

WAIT = 20_000          # ms; generous, the whole suite shares two busy cores
REP = "rep1"


def _journey_account(svc: Any) -> dict[str, Any]:
    """An account the rep reads that has a segment, deals and activities: one with a full 360 page."""
    rep = svc.users.actor(REP)
    deals = svc.records.list(rep, "deal", limit=200).rows
    with_deals = {d["account"] for d in deals}
    acts = svc.records.list(rep, "activity", limit=500).rows
    with_acts = {a.get("account") for a in acts}
    for account in svc.records.list(rep, "account", limit=200).rows:
        if account["segment"] and account["id"] in with_deals and account["id"] in with_acts:
            return account
    raise AssertionError("the demo gave rep1 no account with a segment, deals and activities")


# htmx wires swapped-in content up only after its settle delay: typing into a grid row before
# that would fire no lookup. The pages count settles so a step can wait for the next one.
COUNT_SETTLES = "document.addEventListener('htmx:afterSettle', () => { window.__settles = (window.__settles || 0) + 1; });"


@contextmanager
def _settling(page: Any) -> Iterator[None]:
    """Runs the block's action and waits until htmx has settled the content it swapped in."""
    before = page.evaluate("window.__settles || 0")
    yield
    deadline = time.monotonic() + WAIT / 1000
    # Polled from here: wait_for_function evaluates a string, which the page's CSP (no eval) refuses.
    while page.evaluate("window.__settles || 0") <= before:
        assert time.monotonic() < deadline, "htmx never settled the swapped content"
        page.wait_for_timeout(20)


def _search(page: Any, box: str, text: str) -> None:
    """Types into a picker's search box and waits for the lookup of that text (not the one focus sent)."""
    typed = "__search=" + quote(text, safe="-_.!~*'()")       # as encodeURIComponent writes it
    with page.expect_response(lambda r: "/lookup?" in r.url and r.url.endswith(typed), timeout=WAIT):
        page.fill(box, text)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_a_reps_day_in_a_real_browser(demo_site: tuple[str, Any]) -> None:
    url, svc = demo_site
    account = _journey_account(svc)
    products = [p for p in svc.records.list(SYSTEM, "product", limit=50).rows if p["active"]][:2]
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        first = browser.new_context(viewport={"width": 1280, "height": 800})
        first.add_init_script(COUNT_SETTLES)
        page = first.new_page()
        problems = console_errors(page)
        failed: list[tuple[int, str, str]] = []
        first.on("response", lambda r: failed.append((r.status, r.request.method, r.url)) if r.status >= 400 else None)

        # (a) Sign in with the demo login; the rep's language is the company's first (Hungarian).
        sign_in(page, url, REP, DEMO_PASSWORD)
        expect(page.locator("html")).to_have_attribute("lang", "hu")

        # (b) The accounts list: one word of the name in the search box, then the segment filter.
        page.goto(url + "/records/account")
        word = max(account["name"].split(), key=len)
        page.fill("#list-q", word)
        page.wait_for_url(re.compile(r"q="), timeout=WAIT)
        page.select_option("#list-filters select[name=segment]", account["segment"])
        page.wait_for_url(re.compile(r"segment=" + account["segment"]), timeout=WAIT)
        rows = page.locator("table.list-table tbody tr")
        expect(rows.filter(has_text=account["name"])).to_have_count(1, timeout=WAIT)
        for text in rows.all_inner_texts():
            assert word.lower() in text.lower()            # the search narrowed the rows down

        # (c) Its 360 page: sections, related deals and activities, the timeline.
        rows.filter(has_text=account["name"]).locator("a", has_text=account["name"]).click()
        page.wait_for_url(f"{url}/records/account/{account['id']}", timeout=WAIT)
        expect(page.locator("h1")).to_contain_text(account["name"])
        expect(page.locator("[data-related=deal] tbody tr").first).to_be_visible()
        expect(page.locator("[data-related=activity] tbody tr").first).to_be_visible()
        expect(page.locator("#timeline li").first).to_be_visible()

        # (d) A new deal with two lines; the grid's running total follows the typing.
        page.goto(url + "/records/deal/new")
        page.fill("#f-name", "Browser journey deal")
        _search(page, "#f-account-search", word)
        option = page.locator("#f-account-options label", has_text=account["name"]).locator("input")
        expect(option).to_have_count(1, timeout=WAIT)
        option.check()
        for rows_after in (1, 2):
            with _settling(page):
                page.click("#f-items button.button--secondary >> nth=-1")     # "Sor hozzáadása" (add row)
            expect(page.locator("#f-items tbody tr:not([hidden])")).to_have_count(rows_after)
        for row, (product, qty, price) in enumerate(zip(products, ("2", "1"), ("1500", "20000"))):
            _search(page, f"#f-items-{row}-product-search", product["name"][:6])
            choice = page.locator(f"#f-items-{row}-product-options label", has_text=product["name"])
            expect(choice).to_have_count(1, timeout=WAIT)
            choice.locator("input").check()
            page.fill(f"[name='items.{row}.quantity']", qty)
            page.fill(f"[name='items.{row}.unit_price']", price)
        page.press("[name='items.1.unit_price']", "Tab")
        total = page.locator("#totals-items [data-total=line_total]")
        expect(total).to_have_text(re.compile(r"23\s000\s*Ft"), timeout=WAIT)

        # (e) A discount over the rule's 40 % is refused with the rule's message; the lines survive.
        page.fill("#f-discount_pct", "50")
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/records/deal/new"),
                                  timeout=WAIT) as refused:
            page.click("form button[type=submit].button--primary")
        assert refused.value.status == 422
        page.wait_for_load_state()
        expect(page.locator("body")).to_contain_text("Legfeljebb 40% engedmény adható", timeout=WAIT)
        assert page.url.endswith("/records/deal/new")
        expect(page.locator("#f-items tbody tr:not([hidden])")).to_have_count(2)
        assert _digits(page.locator("#totals-items [data-total=line_total]").inner_text()) == "23000"
        page.fill("#f-discount_pct", "10")
        page.click("form button[type=submit].button--primary")
        page.wait_for_url(re.compile(r"/records/deal/\d+$"), timeout=WAIT)
        deal_id = int(page.url.rsplit("/", 1)[1])
        deal = svc.records.get(SYSTEM, "deal", deal_id)
        assert (deal["name"], deal["account"], int(deal["discount_pct"])) == ("Browser journey deal", account["id"], 10)
        assert sorted(int(line["unit_price"]) for line in deal["items"]) == [1500, 20000]
        assert int(deal["items_total"]) == 23000

        # (f) Two sessions edit the deal: the second saves first, the first then sees the conflict view.
        second = browser.new_context(viewport={"width": 1280, "height": 800})
        second.on("response", lambda r: failed.append((r.status, r.request.method, r.url)) if r.status >= 400 else None)
        other = second.new_page()
        problems_other = console_errors(other)
        sign_in(other, url, REP, DEMO_PASSWORD)
        page.goto(f"{url}/records/deal/{deal_id}/edit")
        other.goto(f"{url}/records/deal/{deal_id}/edit")
        other.fill("#f-next_step", "Call the buyer on Monday")
        other.click("form button[type=submit].button--primary")
        other.wait_for_url(f"{url}/records/deal/{deal_id}", timeout=WAIT)
        page.fill("#f-description", "Needs pallets on site")
        page.click("form button[type=submit].button--primary")
        conflict = page.locator("section.conflict")
        expect(conflict).to_be_visible(timeout=WAIT)
        expect(conflict.locator("tr[data-conflict=next_step][data-kept=theirs]")).to_contain_text("Call the buyer on Monday")
        expect(page.locator("#f-next_step")).to_have_value("Call the buyer on Monday")   # theirs merged in
        expect(page.locator("#f-description")).to_have_value("Needs pallets on site")    # mine kept
        assert svc.records.get(SYSTEM, "deal", deal_id)["description"] is None            # nothing written yet
        page.click("form button[type=submit].button--primary")
        page.wait_for_url(f"{url}/records/deal/{deal_id}", timeout=WAIT)
        saved = svc.records.get(SYSTEM, "deal", deal_id)
        assert (saved["next_step"], saved["description"]) == ("Call the buyer on Monday", "Needs pallets on site")
        assert len(saved["items"]) == 2

        # (g) The user menu switches the language; the navigation and headings follow.
        page.goto(url + "/records/account")
        expect(page.locator("h1")).to_have_text("Ügyfelek")
        page.click("summary.user-menu__name")
        page.select_option("#locale-select", "en")
        page.click(".user-menu__form button.button >> nth=0")
        page.wait_for_url(url + "/records/account", timeout=WAIT)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("h1")).to_have_text("Accounts")
        expect(page.locator("nav [data-nav=notifications]")).to_contain_text("Notifications")
        page.click("summary.user-menu__name")
        page.select_option("#locale-select", "hu")
        page.click(".user-menu__form button.button >> nth=0")
        expect(page.locator("h1")).to_have_text("Ügyfelek", timeout=WAIT)
        expect(page.locator("nav [data-nav=notifications]")).to_contain_text("Értesítések")
        browser.close()

    # The only failed responses are the two the journey provokes: the refused save and the conflict.
    assert failed == [(422, "POST", url + "/records/deal/new"), (409, "POST", f"{url}/records/deal/{deal_id}/edit")]
    # Chrome logs those two as "Failed to load resource"; a newer lookup replaces one still in
    # flight (hx-sync), which htmx reports as an error event. Nothing else may show up.
    noise = ("htmx:sendAbort", "htmx:afterRequest", "Failed to load resource: the server responded with a status of 4")
    errors = [e for e in problems + problems_other if not e.startswith(noise)]
    assert errors == [], "\n".join(errors)
