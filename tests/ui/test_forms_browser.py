"""Record forms in a real browser (Chromium via Playwright): inline validation, pickers, the lines grid.

uvicorn serves the real app on a loopback port over a SQLite file; the browser
is Debian's /usr/bin/chromium. What TestClient cannot show is checked here:
that htmx really swaps the error slots, the picker options and the grid, and
that nothing trips the Content-Security-Policy.
"""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import uvicorn
from record_helpers import FILES, PASSWORD, SECRET

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.tables import build_tables
from ui.app import create_app
from ui.services import build_services

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(config, engine, secret_key=SECRET), host="127.0.0.1",
                                       port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", svc
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_inline_validation_picker_and_lines_grid_in_a_real_browser(server) -> None:
    url, svc = server
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto(url + "/login")
        page.fill("input[name=username]", "root")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(url + "/")

        # Inline validation: leaving a field swaps its error slot in.
        page.goto(url + "/records/account/new")
        assert page.evaluate("document.activeElement.id") == "f-name"          # autofocus
        page.fill("#f-email", "not-an-address")
        page.press("#f-email", "Tab")
        expect(page.locator("#err-email")).to_contain_text("is not an e-mail address")
        page.fill("#f-email", "ok@example.com")
        page.press("#f-email", "Tab")
        expect(page.locator("#err-email")).to_have_text("")

        # The order form: pick an account by typing, add two rows, see the totals, save.
        page.goto(url + "/records/order/new")
        page.fill("#f-name", "Browser order")
        page.fill("#f-account-search", "acm")
        # The focus already listed every account; the typed text narrows the options down.
        expect(page.locator("#f-account-options label:has-text('Other Zrt.')")).to_have_count(0)
        expect(page.locator("#f-account-options label:has-text('ACME Kft.')")).to_have_count(1)
        page.check("#f-account-options label:has-text('ACME Kft.') input")
        for _ in range(2):
            count = page.locator("#f-items tbody tr").count()
            page.click("#f-items button:has-text('Add row')")
            expect(page.locator("#f-items tbody tr")).to_have_count(count + 1)
        page.fill("[name='items.0.description']", "Chair")
        page.fill("[name='items.0.quantity']", "2")
        page.fill("[name='items.0.price']", "1500")
        page.fill("[name='items.1.description']", "Desk")
        page.fill("[name='items.1.quantity']", "1")
        page.fill("[name='items.1.price']", "20000")
        page.press("[name='items.1.price']", "Tab")
        expect(page.locator("#totals-items [data-total=line_total]")).to_have_text("HUF23,000")
        page.click("button[type=submit]:has-text('Save')")
        page.wait_for_url("**/records/order/*")
        assert "ACME Kft." in page.inner_text("[data-field=account]")
        assert page.locator("[data-field=items] tbody tr").count() == 2
        browser.close()
    orders = svc.records.list(SYSTEM, "order").rows
    assert [o["name"] for o in orders] == ["Browser order"]
    assert problems == []
