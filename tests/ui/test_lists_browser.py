"""The list page in a real browser (Chromium via Playwright): htmx swaps, pushed URLs, the back button.

The server is uvicorn on a loopback port serving the real app over a SQLite
file; the browser is Debian's /usr/bin/chromium.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from browser import console_errors, launch, needs_chromium, served, sign_in
from test_lists import FILES
from ui_helpers import PASSWORD

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.migrate import migrate
from engine.runtime.search import ensure_search_index
from ui.services import build_services

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium



@pytest.fixture
def server(tmp_path: Path, write_config: Callable[[dict[str, str]], Path], cheap_argon2: None) -> Iterator[str]:
    config = load_config(write_config(FILES))
    engine = make_engine(f"sqlite:///{tmp_path / 'browser.sqlite3'}")
    migrate(engine, config)
    ensure_search_index(engine, config)
    svc = build_services(config, engine)
    svc.users.add("root", roles=["admin"], full_name="Root Admin", locale="en", password=PASSWORD)
    for name, amount in (("Alpha deal", 300), ("Beta upgrade", 100), ("Gamma deal", 200)):
        svc.records.create(SYSTEM, "deal", {"name": name, "amount": amount, "stage": "new"}, internal=True)
    with served(config, engine) as url:
        yield url
    engine.dispose()


def test_sort_search_and_back_button_in_a_real_browser(server: str) -> None:
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        problems = console_errors(page)
        sign_in(page, server, "root")
        page.goto(server + "/records/deal")
        rows = lambda: page.locator("table.list-table tbody tr td:nth-child(2)").all_inner_texts()  # noqa: E731
        assert rows() == ["Alpha deal", "Gamma deal", "Beta upgrade"]          # -amount
        page.evaluate("window.__sameDocument = true")                          # gone after a full load
        page.click("th a[data-sort='amount']")
        page.wait_for_url("**/records/deal?sort=amount")
        page.wait_for_function("document.querySelector('th a[data-sort=\"-amount\"]') !== null")
        assert rows() == ["Beta upgrade", "Gamma deal", "Alpha deal"]
        assert page.evaluate("window.__sameDocument === true")                 # swapped by htmx, not reloaded
        page.fill("#list-q", "upgrade")
        page.wait_for_url("**q=upgrade**")
        page.wait_for_function("document.querySelectorAll('table.list-table tbody tr').length === 1")
        assert rows() == ["Beta upgrade"]
        assert "sort=amount" in page.url                                       # the sort survived the search
        page.go_back()
        page.wait_for_url("**/records/deal?sort=amount")
        page.wait_for_function("document.querySelectorAll('table.list-table tbody tr').length === 3")
        assert rows() == ["Beta upgrade", "Gamma deal", "Alpha deal"]
        page.reload()
        assert rows() == ["Beta upgrade", "Gamma deal", "Alpha deal"]           # a full load: the same state
        assert [p for p in problems if "Content Security Policy" in p] == []
        browser.close()
