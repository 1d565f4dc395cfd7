"""The report pages over a real database: numbers, htmx refresh, access, exports, drill-down, record charts."""
from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import openpyxl
from report_ui_helpers import rworld  # noqa: F401  (fixture)

from engine.runtime.reports import Reports


def _table_rows(html: str) -> list[list[str]]:
    body = html.split('<table class="report-table">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_report_page_shows_what_run_report_gives(rworld):
    w = rworld
    result = Reports(w.config, w.engine, w.records.tables).run_report(w.actor("mona"), "deals_by_kind")
    html = w.signed_in("mona").get("/reports/deals_by_kind").text
    rows = _table_rows(html)
    assert [r[:3] for r in rows] == [[row.groups[0].label, row.formatted["total"], row.formatted["deals"]]
                                     for row in result.rows]
    assert rows[0][:3] == ["New business", result.rows[0].formatted["total"], "2"]
    assert rows[0][1] == "HUF1,100"                          # English locale, the company currency
    spec = json.loads(re.search(r'data-chart-spec="([^"]+)"', html).group(1).replace("&#34;", '"'))
    assert spec["type"] == "bar" and spec["labels"] == ["New business", "Renewal"]
    assert spec["datasets"][0]["data"] == [1100.0, 50.0]
    assert 'hx-push-url="true"' in html and "<script>" not in html


def test_rep_sees_only_own_numbers_and_params_refresh_as_partial(rworld):
    client = rworld.signed_in("anna")
    rows = _table_rows(client.get("/reports/deals_by_kind").text)
    assert [r[2] for r in rows] == ["1", "1"]                 # anna's two deals, not ben's
    part = client.get("/reports/deals_by_kind?period=last_year&owner=", headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<section id="report-result"') and "<html" not in part.text
    assert "No data for these parameters." in part.text      # nothing closed last year
    custom = client.get("/reports/deals_by_kind?period=custom&period__from=2000-01-01&period__to=2100-01-01",
                        headers={"HX-Request": "true"})
    assert len(_table_rows(custom.text)) == 2


def test_forbidden_and_bad_params(rworld):
    assert rworld.signed_in("vic").get("/reports/deals_by_kind").status_code == 403
    client = rworld.signed_in("anna")
    bad = client.get("/reports/deals_by_kind?period=someday")
    assert bad.status_code == 422 and "period" in bad.text
    assert client.get("/reports/deals_by_kind?colour=red").status_code == 422
    assert client.get("/reports/nope").status_code == 404


def test_csv_and_xlsx_exports_with_formula_guard(rworld):
    w = rworld
    w.create("mona", "deal", name="x", amount=5, kind="renewal", close_date="2026-01-02")
    client = w.signed_in("mona")
    response = client.get("/reports/deals_by_kind.csv?period=this_year")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == ["Kind", "Total", "Deals"] and rows[1][0] == "New business" and rows[1][2] == "2"
    xlsx = client.get("/reports/deals_by_kind.xlsx?period=this_year")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0] == ["Kind", "Total", "Deals"] and values[1][0] == "New business"
    assert client.get("/reports/deals_by_kind.pdf").status_code == 404
    assert w.signed_in("vic").get("/reports/deals_by_kind.csv").status_code == 403


def test_csv_export_guards_formula_labels(rworld):
    w = rworld
    w.users.add("eve", roles=["manager"], full_name="=cmd|calc", password="pw")
    w.create("eve", "deal", name="f", amount=1, kind="new")
    body = w.signed_in("mona").get("/reports/deals_by_owner.csv").content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(body)))
    assert ["'=cmd|calc", "1"] in rows and ["Anna Adams", "2"] in rows
    assert not any(line.startswith("=") for line in body.splitlines())


def test_drill_down_lists_only_the_rows_records_the_user_may_read(rworld):
    w = rworld
    mona = w.signed_in("mona")
    html = mona.get("/reports/deals_by_kind").text
    drills = re.findall(r'<a class="drill" href="([^"]+)"', html)
    assert len(drills) == 2
    first = mona.get(drills[0].replace("&amp;", "&")).text
    assert "A-new" in first and "B-new" in first and "A-renew" not in first
    anna = w.signed_in("anna")
    url = drills[0].replace("&amp;", "&")
    assert parse_qs(urlsplit(url).query)["row"] == ['["new"]']
    mine = anna.get(url).text
    assert "A-new" in mine and "B-new" not in mine            # the row filter holds on the drill path too
    assert anna.get("/reports/deals_by_kind/drill?row=notjson").status_code == 422
    assert w.signed_in("vic").get(url).status_code == 403


def test_record_chart_slot_shows_that_records_data_only(rworld):
    w = rworld
    client = w.signed_in("mona")
    page = client.get(f"/records/account/{w.acme['id']}").text
    assert f'/reports/deals_by_kind/chart?record=account:{w.acme["id"]}' in page
    slot = client.get(f"/reports/deals_by_kind/chart?record=account:{w.acme['id']}").text
    rows = _table_rows(slot)
    assert [r[0] for r in rows] == ["New business", "Renewal"] and [r[2] for r in rows] == ["1", "1"]
    assert "1,100" not in slot and "HUF100" in slot          # ben's deal is on Beta
    # anna may not read Beta: the slot says so instead of breaking
    denied = w.signed_in("anna").get(f"/reports/deals_by_kind/chart?record=account:{w.beta['id']}")
    assert denied.status_code == 200 and 'class="chart-error"' in denied.text


def test_hungarian_user_gets_translated_form_and_numbers(rworld):
    rworld.users.add("hanna", roles=["manager"], full_name="Hanna Horváth", locale="hu", password="pw")
    html = rworld.signed_in("hanna").get("/reports/deals_by_kind").text
    assert "Üzletek fajtánként" in html and ">Idei év</option>" in html and "Egyéni dátumok…" in html
    rows = _table_rows(html)
    assert rows[0][0] == "Új üzlet" and rows[0][1].replace("\xa0", " ") == "1 100 Ft"
