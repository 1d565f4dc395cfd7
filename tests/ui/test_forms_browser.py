"""Record forms in a real browser (Chromium via Playwright): inline validation, pickers, the lines grid.

uvicorn serves the real app on a loopback port over a SQLite file; the browser
is Debian's /usr/bin/chromium. What TestClient cannot show is checked here:
that htmx really swaps the error slots, the picker options and the grid, and
that nothing trips the Content-Security-Policy.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from browser import console_errors, launch, needs_chromium, served, sign_in
from record_helpers import FILES, PASSWORD

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.tables import build_tables
from ui.services import build_services

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
WAIT = 20_000          # ms; generous, the whole suite shares two busy cores
pytestmark = needs_chromium



@pytest.fixture
def server(tmp_path: Path, write_config: Callable[[dict[str, str]], Path], cheap_argon2: None,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, object]]:
    monkeypatch.setenv("CRM_FILES_DIR", str(tmp_path / "files"))
    config = load_config(write_config(FILES))
    engine = make_engine(f"sqlite:///{tmp_path / 'browser.sqlite3'}")
    build_tables(config).metadata.create_all(engine)
    svc = build_services(config, engine)
    svc.users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    svc.records.create(SYSTEM, "account", {"name": "ACME Kft."})
    svc.records.create(SYSTEM, "account", {"name": "Other Zrt."})
    with served(config, engine) as url:
        yield url, svc
    engine.dispose()


def test_inline_validation_picker_and_lines_grid_in_a_real_browser(server) -> None:
    url, svc = server
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        problems = console_errors(page)
        sign_in(page, url, "root")

        # Inline validation: leaving a field swaps its error slot in.
        page.goto(url + "/records/account/new")
        assert page.evaluate("document.activeElement.id") == "f-name"          # autofocus
        page.fill("#f-email", "not-an-address")
        page.press("#f-email", "Tab")
        expect(page.locator("#err-email")).to_contain_text("is not an e-mail address", timeout=WAIT)
        page.fill("#f-email", "ok@example.com")
        page.press("#f-email", "Tab")
        expect(page.locator("#err-email")).to_have_text("", timeout=WAIT)

        # The order form: pick an account by typing, add two rows, see the totals, save.
        page.goto(url + "/records/order/new")
        page.fill("#f-name", "Browser order")
        page.fill("#f-account-search", "acm")
        # The focus already listed every account; the typed text narrows the options down.
        expect(page.locator("#f-account-options label:has-text('Other Zrt.')")).to_have_count(0, timeout=WAIT)
        expect(page.locator("#f-account-options label:has-text('ACME Kft.')")).to_have_count(1, timeout=WAIT)
        page.press("#f-account-search", "Enter")            # moves to the first option, submits nothing
        assert page.url.endswith("/records/order/new")
        assert page.evaluate("document.activeElement.name") == "account"
        page.check("#f-account-options label:has-text('ACME Kft.') input")
        for _ in range(2):
            count = page.locator("#f-items tbody tr").count()
            page.click("#f-items button:has-text('Add row')")
            expect(page.locator("#f-items tbody tr")).to_have_count(count + 1, timeout=WAIT)
        page.fill("[name='items.0.description']", "Chair")
        page.fill("[name='items.0.quantity']", "2")
        page.fill("[name='items.0.price']", "1500")
        page.fill("[name='items.1.description']", "Desk")
        page.fill("[name='items.1.quantity']", "1")
        page.fill("[name='items.1.price']", "20000")
        page.press("[name='items.1.price']", "Tab")
        expect(page.locator("#totals-items [data-total=line_total]")).to_have_text("HUF23,000", timeout=WAIT)
        # Each row's line total follows its quantity and price (the server's formula, swapped in by htmx).
        expect(page.locator("#f-items-0-line_total")).to_have_text("HUF3,000", timeout=WAIT)
        expect(page.locator("#f-items-1-line_total")).to_have_text("HUF20,000", timeout=WAIT)
        rows = page.locator("#f-items tbody tr").count()
        page.fill("[name='items.0.quantity']", "3")
        page.press("[name='items.0.quantity']", "Tab")
        expect(page.locator("#f-items-0-line_total")).to_have_text("HUF4,500", timeout=WAIT)
        expect(page.locator("#totals-items [data-total=line_total]")).to_have_text("HUF24,500", timeout=WAIT)
        assert page.locator("#f-items tbody tr").count() == rows         # the rows stayed, nothing was redrawn
        assert page.input_value("[name='items.0.description']") == "Chair"
        page.fill("[name='items.0.quantity']", "2")
        page.press("[name='items.0.quantity']", "Tab")
        expect(page.locator("#f-items-0-line_total")).to_have_text("HUF3,000", timeout=WAIT)
        page.click("button[type=submit]:has-text('Save')")
        page.wait_for_url("**/records/order/*")
        assert "ACME Kft." in page.inner_text("[data-field=account]")
        assert page.locator("[data-field=items] tbody tr").count() == 2
        browser.close()
    orders = svc.records.list(SYSTEM, "order").rows
    assert [o["name"] for o in orders] == ["Browser order"]
    # A newer lookup replaces one still in flight (hx-sync); htmx reports that abort as an error event.
    problems = [p for p in problems if not p.startswith(("htmx:sendAbort", "htmx:afterRequest"))]
    assert problems == [], problems[:6]
