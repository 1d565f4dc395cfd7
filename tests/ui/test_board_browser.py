"""The pipeline board in a real browser (Chromium via Playwright): drag a card to another column.

Uvicorn on a loopback port serves the real app over a SQLite file; SortableJS
and board.js run as they do for users (CSP on, no inline scripts).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from browser import console_errors, launch, needs_chromium, served, sign_in
from workflow_world import World, build_world

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium
expect = playwright_api.expect


@pytest.fixture
def board(tmp_path: Path, write_config: Callable[[dict[str, str]], Path],
          cheap_argon2: None) -> Iterator[tuple[str, World]]:
    world = build_world(f"sqlite:///{tmp_path / 'board.sqlite3'}", write_config)
    with served(world.config, world.engine) as url:
        yield url, world
    world.engine.dispose()


def drag(page, card: str, stage: str) -> None:
    """Press on the card, move in small steps (so SortableJS starts a drag), release over the column."""
    page.wait_for_timeout(400)          # cards still sliding from an earlier move (animation) would be missed
    source = page.locator(card).bounding_box()
    target = page.locator(f'.board-column__cards[data-stage="{stage}"]').bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + 10)
    page.mouse.down()
    page.mouse.move(source["x"] + source["width"] / 2 + 5, source["y"] + 15, steps=3)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] - 10, steps=15)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] - 5, steps=3)
    page.mouse.up()


def test_drag_a_card_to_another_column_and_to_a_refused_stage(board: tuple[str, World]) -> None:
    url, world = board
    alpha, beta = world.ids["alpha"], world.ids["beta"]
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        problems = console_errors(page)
        sign_in(page, url, "anna")
        page.goto(url + "/records/deal/board")
        totals = lambda stage: page.locator(f'[data-totals="{stage}"] [data-count]').inner_text()  # noqa: E731
        assert totals("new") == "3" and totals("qualified") == "0"
        # Alpha has an amount and a close date: the move to Qualified is accepted.
        drag(page, f'[data-card="{alpha}"]', "qualified")
        # Locator assertions poll without eval (the page's CSP forbids wait_for_function's string predicates).
        expect(page.locator('[data-totals="qualified"] [data-count]')).to_have_text("1")
        assert page.locator(f'.board-column__cards[data-stage="qualified"] [data-card="{alpha}"]').count() == 1
        assert totals("new") == "2"
        assert world.stage("alpha") == "qualified"
        # Beta has no close date: refused, the card goes back, and the message says what is missing.
        drag(page, f'[data-card="{beta}"]', "qualified")
        expect(page.locator("#flash")).to_contain_text("close_date")
        assert page.locator(f'.board-column__cards[data-stage="new"] [data-card="{beta}"]').count() == 1
        assert page.locator(f'.board-column__cards[data-stage="qualified"] [data-card="{beta}"]').count() == 0
        assert world.stage("beta") == "new" and totals("new") == "2"
        # The refused POST's 422 is logged by Chromium; anything else (a CSP violation, a script error) is a bug.
        assert [x for x in problems if "status of 422" not in x] == []
        browser.close()
