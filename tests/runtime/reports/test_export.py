"""Report results as CSV and XLSX: labels, plain numbers, the formula guard."""
from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook

from engine.runtime.reports.export import export_result


def test_csv_and_xlsx_hold_labels_numbers_and_guarded_text(world):
    w = world
    evil = w.insert("account", name="=HYPERLINK(\"http://x\")", industry="it", by=w.alice)
    w.deal(account=evil, amount=1500.5, by=w.alice)
    w.deal(account=evil, amount=None, by=w.alice)
    result = w.reports.run_report(w.admin, "deals_of_account", locale="en")

    text = io.StringIO()
    assert export_result(result, text, fmt="csv") == 1
    rows = list(csv.reader(io.StringIO(text.getvalue())))
    assert rows == [["Account / Industry", "Account", "Total"], ["IT", "'=HYPERLINK(\"http://x\")", "1500.5"]]

    binary = io.BytesIO()
    export_result(result, binary, fmt="xlsx")
    sheet = load_workbook(io.BytesIO(binary.getvalue())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][1] == "'=HYPERLINK(\"http://x\")" and float(values[1][2]) == 1500.5
    assert sheet.title == "deals_of_account"


def test_a_null_measure_is_an_empty_cell_and_buckets_are_named(world):
    w = world
    w.deal(stage="won", close_date=dt.date(2025, 3, 3), by=w.alice)
    result = w.reports.run_report(w.admin, "pipeline", locale="en")
    text = io.StringIO()
    export_result(result, text, fmt="csv")
    assert text.getvalue().splitlines()[1] == "Won,Mar 2025,,1,"


def test_covering_indexes_follow_the_report_definitions(write_config):
    from engine.metadata.loader import load_config
    from engine.runtime.reports.indexes import covering_indexes

    from .conftest import FILES
    found = covering_indexes(load_config(write_config(FILES)))
    # pipeline: close month first, then stage, then what the measures and filters read.
    assert ("close_date", "stage", "amount", "owner", "name") in found["deal"]
    assert ("close_date",) in found["deal"]                            # by_close_week
    assert not any("account" in cols for cols in found["deal"])          # deals_of_account reads a link: none


def test_crm_report_prints_a_table_writes_csv_and_refuses_bad_params(world, db_url, tmp_path, capsys):
    from engine.cli import main
    w = world
    w.deal(stage="won", amount=12, close_date=dt.date(2025, 3, 3), by=w.alice)
    base = ["report", "pipeline", "--config", w.config.root, "--db", db_url, "--locale", "en"]
    assert main(base + ["--param", "period=2025-03-01..2025-03-31"]) == 0
    out = capsys.readouterr().out
    assert "Pipeline" in out and "Won" in out and "Mar 2025" in out
    target = tmp_path / "p.csv"
    assert main(base + ["--format", "csv", "--out", str(target), "--as", "alice"]) == 0
    assert target.read_text(encoding="utf-8").splitlines()[1].startswith("Won,Mar 2025,12,1,")
    assert main(base + ["--param", "period=someday"]) == 1
    assert "period: 'someday' is not a period" in capsys.readouterr().err
    assert main(base + ["--as", "carol"]) == 1
    assert "none of your roles lists it" in capsys.readouterr().err
