"""Reports, KPIs and quotas (spec section 9): one SQL statement per report, run for one user.

    from engine.runtime.reports import Reports
    reports = Reports(config, engine, tables)
    result = reports.run_report(actor, "pipeline_by_stage", {"period": "this_quarter"})

Modules: `params` (checking parameters), `buckets` (date buckets per dialect),
`compiler` (report -> SELECT), `labels` and `formats` (what the user reads),
`service` (access, running, drill-down), `export` (CSV/XLSX), `kpis`, `quotas`.
See docs/reports.md for the decisions the spec leaves open.
"""
from .service import Cell, Column, ReportResult, ReportRow, Reports

__all__ = ["Cell", "Column", "ReportResult", "ReportRow", "Reports"]
