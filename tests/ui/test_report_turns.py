"""Report work takes turns (ui/report_turns.py): at most N reports, dashboards, forecasts run at once per process."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest
from report_ui_helpers import rworld  # noqa: F401  (fixture)
from test_forecast_ui import fworld  # noqa: F401  (fixture)

from engine.runtime.reports import Reports
from ui import report_turns


def test_the_limit_comes_from_the_environment_or_the_cpus_the_process_may_use():
    assert report_turns.reports_at_once({"CRM_REPORTS_AT_ONCE": "3"}) == 3
    assert report_turns.reports_at_once({}) == len(__import__("os").sched_getaffinity(0))
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ValueError, match="CRM_REPORTS_AT_ONCE"):
            report_turns.reports_at_once({"CRM_REPORTS_AT_ONCE": bad})


@pytest.mark.parametrize("at_once", [1, 3])
def test_concurrent_report_pages_run_at_most_the_limit_at_once(rworld, monkeypatch, at_once):
    monkeypatch.setattr(report_turns, "_TURNS", anyio.CapacityLimiter(at_once))
    running, peak, lock = [0], [0], threading.Lock()
    real = Reports.run_report

    def counted(self, *args, **kwargs):          # the real report, with a count of how many run right now
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.1)                      # long enough for the other requests to arrive meanwhile
            return real(self, *args, **kwargs)
        finally:
            with lock:
                running[0] -= 1
    monkeypatch.setattr(Reports, "run_report", counted)
    client = rworld.signed_in("mona")
    urls = ["/reports/deals_by_kind", "/reports/deals_by_kind.csv", "/reports/deals_by_owner",
            "/reports/deals_by_kind"] * 2
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(client.get, urls))
    assert [a.status_code for a in answers] == [200] * len(urls)
    assert answers[0].text == answers[3].text and "report-table" in answers[0].text
    assert peak[0] == at_once if at_once == 1 else 1 < peak[0] <= at_once


def test_dashboards_and_forecasts_take_the_same_turns_as_reports(fworld, monkeypatch):
    """Dashboard widgets (also on the home page), the forecast page and its drill wait with the reports."""
    from ui.pages import dashboards, forecasts
    monkeypatch.setattr(report_turns, "_TURNS", anyio.CapacityLimiter(2))
    mona = fworld.signed_in("mona")
    month = re.search(r'href="(/forecasts/sales/drill\?[^"]*by=month[^"]*)"',
                      mona.get("/forecasts/sales?period=this_year").text).group(1).replace("&amp;", "&")
    inside, peak, lock = set(), [0], threading.Lock()   # threads inside report work now (a dashboard runs reports)

    def counted(real):
        def work(*args, **kwargs):
            me = threading.get_ident()
            with lock:
                outermost = me not in inside
                inside.add(me)
                peak[0] = max(peak[0], len(inside))
            try:
                time.sleep(0.1)                  # long enough for the other requests to arrive meanwhile
                return real(*args, **kwargs)
            finally:
                if outermost:
                    with lock:
                        inside.discard(me)
        return work
    monkeypatch.setattr(Reports, "run_report", counted(Reports.run_report))
    monkeypatch.setattr(dashboards, "dashboard", counted(dashboards.dashboard))
    monkeypatch.setattr(forecasts, "forecast", counted(forecasts.forecast))
    monkeypatch.setattr(forecasts, "forecast_drill", counted(forecasts.forecast_drill))
    urls = ["/dashboards/team_board", "/forecasts/sales?period=this_year", month, "/", "/reports/deals_by_kind"] * 2
    with ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(mona.get, urls))
    assert [a.status_code for a in answers] == [200] * len(urls)
    assert 'data-widget="sales"' in answers[0].text and 'data-widget="sales"' in answers[3].text
    assert "A-new" in answers[2].text and answers[1].text == answers[6].text
    assert peak[0] == 2                          # 10 requests, never more than 2 at once
