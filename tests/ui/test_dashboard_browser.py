"""One real-Chromium run: the manager's dashboard draws its chart, the report's period changes through htmx,
a click on a bar opens the records behind it, and no console or CSP error happens on the way."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from browser import console_errors, launch, needs_chromium, served, sign_in
from report_ui_helpers import build_world

playwright_api = pytest.importorskip("playwright.sync_api")

DRAWN = "canvas[data-chart-drawn]"


@pytest.fixture
def server(tmp_path: Path, write_config: Callable[[dict[str, str]], Path], cheap_argon2: None) -> Iterator[str]:
    world = build_world(f"sqlite:///{tmp_path / 'browser.sqlite3'}", write_config, tmp_path)
    with served(world.config, world.engine) as url:
        yield url
    world.engine.dispose()


@needs_chromium
def test_dashboard_chart_period_and_drill_in_a_real_browser(server: str) -> None:
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        problems = console_errors(page)
        sign_in(page, server, "mona")
        page.wait_for_selector(f"[data-widget=deals_by_kind] {DRAWN}")          # the home page is her dashboard
        page.goto(server + "/dashboards/team_board")
        canvas = page.locator(f"[data-widget=deals_by_kind] {DRAWN}")
        canvas.wait_for()
        assert page.evaluate("c => !!Chart.getChart(c)", canvas.element_handle())
        page.click("[data-widget=deals_by_kind] h2 a")                          # to the full report
        page.wait_for_url(server + "/reports/deals_by_kind")
        page.locator(DRAWN).wait_for()
        page.select_option("#param-period", "last_year")                       # htmx refresh, URL kept in sync
        page.wait_for_selector("text=No data for these parameters.")
        assert "period=last_year" in page.url
        page.select_option("#param-period", "this_year")
        page.locator(DRAWN).wait_for()
        assert "period=this_year" in page.url
        point = page.evaluate("""c => { const chart = Chart.getChart(c);
                                         const bar = chart.getDatasetMeta(0).data[0];
                                         return {x: bar.x, y: (bar.y + bar.base) / 2}; }""",
                              page.locator(DRAWN).element_handle())
        page.locator(DRAWN).click(position=point)                                # the "New business" bar
        page.wait_for_url("**/reports/deals_by_kind/drill?**")
        body = page.inner_text("main")
        assert "A-new" in body and "B-new" in body and "A-renew" not in body
        assert problems == []
        browser.close()
