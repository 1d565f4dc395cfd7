"""A sales manager's look at the numbers in a real Chromium, on the default company with demo data:
sign in, open the manager dashboard, change its period (htmx, URL kept in sync), drill into a bar of the
forecast report widget (the filtered list of deals), then open the forecast page from the navigation and
change its period. No console or CSP error on the way."""
from __future__ import annotations

from typing import Any

import pytest
from browser import console_errors, launch, needs_chromium, sign_in

from engine.runtime.demo.people import DEMO_PASSWORD
from engine.runtime.reports.forecast import forecast
from ui.pages.reports import reports_for

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = needs_chromium

WAIT = 20_000
MANAGER = "sales_manager1"
DRAWN = "canvas[data-chart-drawn]"


def test_manager_dashboard_period_drill_and_forecast(demo_site: tuple[str, Any]) -> None:
    url, svc = demo_site
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.set_default_timeout(WAIT)
        problems = console_errors(page)
        sign_in(page, url, MANAGER, DEMO_PASSWORD)
        page.goto(url + "/dashboards/sales_manager")
        page.locator(f"[data-widget=sales_forecast] {DRAWN}").wait_for()
        # the period control re-renders the widgets through htmx and puts the period in the address
        page.select_option("#dashboard-period", "this_year")
        page.wait_for_selector("#dashboard-widgets[data-period=this_year]")
        assert page.url.endswith("/dashboards/sales_manager?period=this_year")
        chart = page.locator(f"[data-widget=sales_forecast] {DRAWN}")
        chart.wait_for()
        point = page.evaluate("""c => { const chart = Chart.getChart(c);
            for (let d = 0; d < chart.data.datasets.length; d++) {
              const meta = chart.getDatasetMeta(d);
              for (let i = 0; i < meta.data.length; i++) {
                const v = chart.data.datasets[d].data[i];
                if (v !== null && v > 0) { const bar = meta.data[i];
                  return {x: bar.x, y: (bar.y + bar.base) / 2}; } } }
            return null; }""", chart.element_handle())
        assert point is not None, "the forecast report widget has no bar for this year"
        chart.click(position=point)                          # a bar: the deals behind it
        page.wait_for_url("**/reports/sales_forecast/drill?**")
        assert "period=this_year" in page.url
        rows = page.locator("main table tbody tr")
        assert rows.count() >= 1
        # the forecast page, from the navigation
        page.click("nav [data-nav=forecasts] a")
        page.wait_for_url(url + "/forecasts/sales")
        expected = forecast(reports_for(svc), svc.users.actor(MANAGER), "sales")
        won = page.inner_text("[data-measure=won]").strip()
        assert won == (expected.total.formatted["won"] or "—")
        assert page.locator("table.forecast-accuracy tbody tr").count() == 6
        page.select_option("#forecast-period", "this_year")
        page.wait_for_url("**/forecasts/sales?period=this_year")
        yearly = forecast(reports_for(svc), svc.users.actor(MANAGER), "sales", period="this_year")
        page.wait_for_function("t => document.querySelector('[data-measure=best_case]').innerText.trim() == t",
                               arg=yearly.total.formatted["best_case"] or "—")
        if yearly.by_month:
            page.locator(f"#forecast-result {DRAWN}").wait_for()
        assert problems == []
        browser.close()
