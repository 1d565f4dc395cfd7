"""Editing the configuration in a real browser (Chromium via Playwright): edit -> validate -> review -> apply
-> the new rule is obeyed -> roll back.

Uvicorn on a loopback port serves the real app (live reload on) over a SQLite
file whose configuration is a pushed revision; htmx and config_editor.js run
as they do for users (CSP on, no inline scripts).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from browser import console_errors, launch, needs_chromium, served, sign_in
from config_admin_world import ConfigWorld, build_config_world

from engine.runtime import revisions as rv
from engine.runtime.actor import SYSTEM
from ui.services import build_services

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium
expect = playwright_api.expect

APPROVAL = "approvals/big_discount.yaml"


@pytest.fixture
def site(tmp_path: Path, write_config: Callable[[dict[str, str]], Path],
         cheap_argon2: None) -> Iterator[tuple[str, ConfigWorld, dict[str, int]]]:
    world = build_config_world(f"sqlite:///{tmp_path / 'config.sqlite3'}", write_config)
    records = build_services(rv.active_config(world.engine), world.engine).records
    ids = {name: records.create(SYSTEM, "deal", {"name": name, "amount": "1000", "stage": "new",
                                                 "owner": "root"}, internal=True)["id"]
           for name in ("Before", "After")}
    with served(rv.active_config(world.engine), world.engine) as url:
        yield url, world, ids
    world.engine.dispose()


def set_discount(page, url: str, deal: int, percent: str) -> None:
    page.goto(f"{url}/records/deal/{deal}/edit")
    page.fill("[name='discount_pct']", percent)
    page.click("button[type=submit]:has-text('Save')")
    page.wait_for_url(f"{url}/records/deal/{deal}")


def test_admin_lowers_a_discount_threshold_and_rolls_it_back(site) -> None:
    url, world, ids = site
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        problems = console_errors(page)
        sign_in(page, url, "root")
        # Under the shipped rule (more than 15 %), a 10 % discount needs no approval.
        set_discount(page, url, ids["Before"], "10")
        expect(page.locator("[data-workflow]")).to_be_visible()
        assert page.locator("[data-approval-state]").count() == 0

        page.click("[data-nav=config]")
        page.click(f"[data-config-doc='{APPROVAL}']")
        editor = page.locator("[data-config-text]")
        original = editor.input_value()
        assert 'when: "discount_pct > 15"' in original
        # A mistake while typing: the validator answers under the editor, at the line.
        editor.fill(original.replace('when: "discount_pct > 15"', 'when: "discount_pct > "'))
        error = page.locator("#config-errors [data-line='5']")
        expect(error).to_be_visible()
        expect(page.locator("#config-errors")).to_contain_text("line 5")
        error.click()
        expect(editor).to_be_focused()
        # Fixed: the errors go away.
        editor.fill(original.replace('when: "discount_pct > 15"', 'when: "discount_pct > 5"'))
        expect(page.locator("#config-errors .config-ok")).to_be_visible()
        page.click("[data-review]")

        # Review: the diff, the (empty) migration plan, a reason, apply.
        expect(page.locator("[data-diff]")).to_contain_text('+when: "discount_pct > 5"')
        expect(page.locator("[data-diff]")).to_contain_text('-when: "discount_pct > 15"')
        expect(page.locator("[data-plan-empty]")).to_be_visible()
        page.fill("#apply-reason", "Smaller discounts need a manager too")
        page.click("[data-apply] button[type=submit]")
        expect(page.locator("[data-applied='2']")).to_be_visible()
        assert rv.active(world.engine).files[APPROVAL].count('when: "discount_pct > 5"') == 1

        # The very next request obeys the new threshold: 10 % now asks for an approval.
        set_discount(page, url, ids["After"], "10")
        expect(page.locator("[data-approval-state='pending']")).to_be_visible()

        # Roll back from the history page.
        page.goto(url + "/admin/config/history")
        expect(page.locator("[data-revision='2']")).to_contain_text("Smaller discounts need a manager too")
        page.click("[data-rollback='1']")
        expect(page.locator("[data-diff]")).to_contain_text('+when: "discount_pct > 15"')
        page.fill("#apply-reason", "Back to the agreed threshold")
        page.click("[data-apply] button[type=submit]")
        expect(page.locator("[data-applied='3']")).to_be_visible()
        active = rv.active(world.engine)
        assert active.id == 3 and active.files[APPROVAL] == original and active.author == "root"
        # And the old rule is back: a 10 % discount needs no approval again.
        set_discount(page, url, ids["Before"], "12")
        assert page.locator("[data-approval-state]").count() == 0
        assert problems == []
        browser.close()
