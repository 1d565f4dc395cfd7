"""The forecast page, the forecast widget and the dashboard's period control, over a real database."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_ui_helpers import FILES, build_world

from engine.runtime.reports import Reports
from engine.runtime.reports.forecast import forecast

FORECAST_FILES = {
    **FILES,
    "entities/deal.yaml": FILES["entities/deal.yaml"].replace(
        "  close_date: {type: date}\n", "  close_date: {type: date}\n  stage:      {type: stage, pipeline: sales}\n"),
    "pipelines/sales.yaml": """
pipeline: sales
label: {en: Sales, hu: Értékesítés}
entity: deal
stages:
  - {key: new, probability: 10}
  - {key: won, probability: 100, closed: won}
  - {key: lost, probability: 0, closed: lost}
forecast: {quota: sales_quota}
""",
    "roles.yaml": FILES["roles.yaml"].replace("reports: [deals_by_kind]", "reports: [deals_by_kind, sales]"),
    "reports/team_board.yaml": FILES["reports/team_board.yaml"] + "  - {forecast: sales, size: wide}\n",
}


@pytest.fixture
def fworld(db_url: str, write_config, cheap_argon2: None, tmp_path: Path):
    w = build_world(db_url, write_config, tmp_path, FORECAST_FILES)
    yield w
    for client in w.clients:
        client.__exit__(None, None, None)
    w.engine.dispose()


def measure(html: str, key: str) -> str:
    return re.search(rf'data-measure="{key}">(.*?)</dd>', html, re.S).group(1).strip()


def test_the_manager_sees_every_deal_in_the_forecast(fworld):
    mona = fworld.signed_in("mona")
    page = mona.get("/forecasts/sales")
    assert page.status_code == 200 and 'href="/forecasts/sales"' in page.text       # in the navigation too
    expected = forecast(Reports(fworld.config, fworld.engine, fworld.records.tables), fworld.actor("mona"), "sales")
    assert measure(page.text, "best_case") == expected.total.formatted["best_case"]
    assert expected.total.best_case == 1150 and expected.total.weighted == 115        # all three deals, 10 %
    assert "Anna Adams" in page.text and "Ben Bíró" in page.text and "Forecast vs actual" in page.text
    assert "data-chart-spec" in page.text
    partial = mona.get("/forecasts/sales?period=last_year", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="forecast-result"')
    assert measure(partial.text, "best_case") == "—"                                  # nothing closed last year


def test_a_rep_sees_only_their_own_deals_and_others_are_refused(fworld):
    anna = fworld.signed_in("anna").get("/forecasts/sales?period=this_year").text
    own = forecast(Reports(fworld.config, fworld.engine, fworld.records.tables), fworld.actor("anna"), "sales",
                   period="this_year")
    assert own.total.best_case == 150 and measure(anna, "best_case") == own.total.formatted["best_case"]
    assert "Ben Bíró" not in anna
    assert fworld.signed_in("vic").get("/forecasts/sales").status_code == 403          # no role opens it
    assert fworld.signed_in("mona").get("/forecasts/nope").status_code == 404
    assert fworld.signed_in("mona").get("/forecasts/sales?period=someday").status_code == 422


def test_the_dashboard_period_rerenders_widgets_and_keeps_links_in_step(fworld):
    mona = fworld.signed_in("mona")
    page = mona.get("/dashboards/team_board").text
    assert 'id="dashboard-period"' in page and 'hx-push-url="true"' in page
    assert 'data-widget="sales"' in page and 'href="/forecasts/sales"' in page
    last = mona.get("/dashboards/team_board?period=last_year", headers={"HX-Request": "true"})
    assert last.status_code == 200 and last.text.lstrip().startswith('<div id="dashboard-widgets"')
    assert 'data-period="last_year"' in last.text
    report = last.text.split('data-widget="deals_by_kind"', 1)[1].split("</section>", 1)[0]
    assert "No data for these parameters." in report                     # the deals close this year
    assert 'href="/reports/deals_by_kind?period=last_year"' in report
    assert 'href="/forecasts/sales?period=last_year"' in last.text
    this = mona.get("/dashboards/team_board?period=this_year").text
    drills = re.findall(r'href="(/reports/deals_by_kind/drill\?[^"]+)"', this)
    assert drills and all("period=this_year" in d for d in drills)
    kpi = this.split('data-widget="deal_count"', 1)[1].split("</section>", 1)[0]
    assert '<p class="kpi-value">3</p>' in kpi
    assert mona.get("/dashboards/team_board?period=never").status_code == 422


def drill_links(html: str, by: str) -> list[str]:
    found = re.findall(rf'class="drill" href="(/forecasts/sales/drill\?[^"]*by={by}[^"]*)"', html)
    return [m.replace("&amp;", "&") for m in found]


def deal_names(html: str) -> list[str]:
    return sorted(re.findall(r'<td><a href="/records/deal/\d+">([^<]+)</a></td>', html))


def test_each_line_and_bar_drills_into_the_deals_it_counts(fworld):
    import html as htmllib
    import json
    mona = fworld.signed_in("mona")
    page = mona.get("/forecasts/sales?period=this_year").text
    anna_id = fworld.actor("anna").id
    owners = drill_links(page, "owner")
    assert len(owners) == 2 and all("period=this_year" in u for u in owners)
    anna = next(u for u in owners if f"key={anna_id}" in u)
    assert deal_names(mona.get(anna).text) == ["A-new", "A-renew"]
    months = drill_links(page, "month")
    assert len(months) == 1
    listed = mona.get(months[0])
    assert listed.status_code == 200 and deal_names(listed.text) == ["A-new", "A-renew", "B-new"]
    assert 'href="/forecasts/sales?period=this_year"' in listed.text         # back to the forecast
    spec = json.loads(htmllib.unescape(re.search(r'data-chart-spec="([^"]*)"', page).group(1)))
    best = next(ds for ds in spec["datasets"] if ds["label"] == "Best case")
    assert deal_names(mona.get(best["drill"][0]).text) == ["A-new", "A-renew", "B-new"]   # every deal is open
    won = next(ds for ds in spec["datasets"] if ds["label"] == "Won")
    assert "measure=won" in won["drill"][0] and deal_names(mona.get(won["drill"][0]).text) == []
    # anna opening the same month sees her deals only; a crafted owner key shows nothing of ben's
    assert deal_names(fworld.signed_in("anna").get(months[0]).text) == ["A-new", "A-renew"]
    ben = next(u for u in owners if f"key={anna_id}" not in u)
    assert deal_names(fworld.signed_in("anna").get(ben).text) == []
    assert fworld.signed_in("vic").get(months[0]).status_code == 403
    assert mona.get("/forecasts/sales/drill?by=month&key=soon").status_code == 422
