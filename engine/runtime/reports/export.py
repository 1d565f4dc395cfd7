"""A report result as CSV or XLSX: one header row, then one row per result row.

    result = reports.run_report(actor, "pipeline_by_stage", params)
    export_result(result, out, fmt="csv")         # out: text file for csv, binary for xlsx

Group columns hold the labels the page shows (stage and option labels,
record titles, user names, bucket names); measures hold plain numbers
(a division by zero is an empty cell), so a spreadsheet can sum them.
Text that a spreadsheet would run as a formula (= + - @) gets a leading
single quote, as in record exports (csvio.safe_cell).
"""
from __future__ import annotations

from typing import IO, Any

from ..csvio import safe_cell
from ..exporter import FORMATS, _CsvSink, _XlsxSink
from .formats import plain
from .service import ReportResult


def export_result(result: ReportResult, out: IO[Any], *, fmt: str = "csv") -> int:
    """Writes the result to `out`; returns the number of data rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (csv or xlsx)")
    sink = _CsvSink(out) if fmt == "csv" else _XlsxSink(out, result.name)
    sink.row([safe_cell(c.label) for c in result.columns])
    measures = result.measure_columns
    for row in result.rows:
        sink.row([safe_cell(c.label) for c in row.groups] + [plain(row.values[c.key]) for c in measures])
    sink.close()
    return len(result.rows)
