"""Dashboards, the home page's role dashboard and quota target editing over a real database."""
from __future__ import annotations

import re

from report_ui_helpers import csrf_token, rworld  # noqa: F401  (fixture)

from engine.runtime.reports import Reports
from engine.runtime.reports.kpis import kpi_values


def _widget(html: str, name: str) -> str:
    return html.split(f'data-widget="{name}"', 1)[1].split("</section>", 1)[0]


def test_dashboard_widgets_kpi_report_and_quota(rworld):
    w = rworld
    html = w.signed_in("mona").get("/dashboards/team_board").text
    assert "Team board" in html and 'class="dashboard-grid"' in html
    kpi = _widget(html, "deal_count")
    expected = kpi_values(Reports(w.config, w.engine, w.records.tables), w.actor("mona"), "deal_count")
    assert f'<p class="kpi-value">{expected.formatted}</p>' in kpi and expected.formatted == "3"
    assert "▲" in kpi and "up" in kpi                          # 3 this month against 0 last month
    assert "Anna Adams" in kpi and "Ben Bíró" in kpi            # the per-user table (`by: owner`)
    report = _widget(html, "deals_by_kind")
    assert "widget--wide" in html.split('data-widget="deals_by_kind"', 1)[0].rsplit("<section", 1)[1]
    assert 'href="/reports/deals_by_kind"' in report and "data-chart-spec" in report
    quota = _widget(html, "sales_quota")
    anna = re.search(r'<tr class="quota-line (quota--\w+)"><td>Anna Adams</td>(.*?)</tr>', quota, re.S)
    ben = re.search(r'<tr class="quota-line (quota--\w+)"><td>Ben Bíró</td>(.*?)</tr>', quota, re.S)
    assert anna.group(1) == "quota--over" and "100%" in anna.group(2).replace("\xa0", "").replace(" ", "")
    assert "target reached" in anna.group(2)
    assert ben.group(1) == "quota--under" and "50%" in ben.group(2).replace("\xa0", "").replace(" ", "")
    assert "below target" in ben.group(2)
    assert "Edit targets" not in quota                          # only admins edit targets


def test_dashboard_access(rworld):
    assert rworld.signed_in("anna").get("/dashboards/team_board").status_code == 403
    assert rworld.signed_in("root").get("/dashboards/team_board").status_code == 200
    assert rworld.signed_in("mona").get("/dashboards/nope").status_code == 404


def test_home_shows_the_role_dashboard(rworld):
    home = rworld.signed_in("mona").get("/").text
    assert 'class="dashboard-grid"' in home and 'data-widget="deal_count"' in home
    assert "Welcome, Mona Molnár!" in home
    plain = rworld.signed_in("anna").get("/").text             # no dashboard for reps here
    assert 'class="dashboard-grid"' not in plain and "Welcome, Anna Adams!" in plain


def test_quota_targets_admin_only_and_used(rworld):
    w = rworld
    mona = w.signed_in("mona")
    assert mona.get("/quotas/sales_quota/targets").status_code == 403
    token = csrf_token(mona.get("/").text)
    ben_id = w.actor("ben").id
    refused = mona.post("/quotas/sales_quota/targets",
                        data={"csrf_token": token, "user_id": ben_id, "target": "deals", "value": "1"})
    assert refused.status_code == 403
    root = w.signed_in("root")
    page = root.get("/quotas/sales_quota/targets")
    assert page.status_code == 200 and "Monthly deals" in page.text
    token = csrf_token(page.text)
    saved = root.post("/quotas/sales_quota/targets",
                      data={"csrf_token": token, "user_id": ben_id, "target": "deals", "value": "1"})
    assert saved.status_code == 303
    quota = _widget(mona.get("/dashboards/team_board").text, "sales_quota")
    ben = re.search(r'<tr class="quota-line (quota--\w+)"><td>Ben Bíró</td>', quota)
    assert ben.group(1) == "quota--over"                       # 1 of a target of 1
    bad = root.post("/quotas/sales_quota/targets",
                    data={"csrf_token": token, "user_id": ben_id, "target": "deals", "value": "-3"})
    assert bad.status_code == 422
