"""`crm report NAME`: run a report, KPI or quota from the command line, as a user.

    crm report pipeline_by_stage --param period=last_quarter --param owner=7
    crm report pipeline_by_stage --format xlsx --out pipeline.xlsx --as mona
    crm report win_rate                      # a KPI: current vs previous period, per user
    crm report activity_norms                # a quota: attainment per user
    crm report sales --param period=this_year   # a forecast (a pipeline's): totals, by month, by owner

Thin like the other commands: parse, call the service, print. Refusals
(403, 404, a bad parameter's 422) print on stderr with exit status 1.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..admin import _open, _run
from ..errors import ValidationFailed


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="run a report, KPI or quota as a user; print a table, CSV or XLSX")
    p.add_argument("name", help="a report, KPI or quota name")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a report parameter (period=last_month, period=2025-01-01..2025-03-31, owner=7)")
    p.add_argument("--format", choices=("table", "csv", "xlsx"), default="table")
    p.add_argument("--out", default=None, metavar="FILE", help="default: standard output")
    p.add_argument("--locale", default=None)
    p.add_argument("--config", default="configs", help="configuration folder (default: configs)")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--as", dest="as_user", default=None, metavar="USER",
                   help="act as this user (default: the built-in administrator)")
    p.set_defaults(func=cmd_report)


@_run
def cmd_report(args: argparse.Namespace) -> int:
    from ..transfer_cli import _actor, _output
    from .export import export_result
    from .kpis import kpi_values
    from .quotas import quota_attainment
    from .service import Reports
    config, engine, tables = _open(args)
    reports = Reports(config, engine, tables)
    actor = _actor(config, engine, tables, args.as_user)
    params = _params(args.param)
    if args.name in config.kpis:
        kpi = kpi_values(reports, actor, args.name, locale=args.locale)
        print(f"{kpi.label}: {kpi.formatted or '—'} (previous {kpi.formatted_previous or '—'}, {kpi.trend or 'n/a'})")
        for u in kpi.by_user:
            print(f"  {u.label}: {u.current} (previous {u.previous}, {u.trend or 'n/a'})")
        return 0
    if args.name in config.quotas:
        quota = quota_attainment(reports, actor, args.name, locale=args.locale)
        print(f"{quota.label} {quota.period_start} .. {quota.period_end}")
        for line in quota.lines:
            print(f"  {line.target_name} {line.user_label}: {line.formatted_actual} / {line.formatted_target}"
                  f" = {line.formatted_attainment}")
        return 0
    from ...metadata.forecasts import forecasts
    if args.name in forecasts(config):
        _forecast(reports, actor, args.name, params, args.locale)
        return 0
    result = reports.run_report(actor, args.name, params, locale=args.locale)
    if args.format == "table":
        _table(result)
        return 0
    with _output(args.out, binary=args.format == "xlsx") as out:
        count = export_result(result, out, fmt=args.format)
    print(f"{args.name}: {count} rows" + (f" written to {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def _params(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValidationFailed({name: ["write parameters as NAME=VALUE"]})
        out[name.strip()] = value
    return out


def _table(result: Any) -> None:
    header = [c.label for c in result.columns]
    lines = [[c.label for c in row.groups] + [row.formatted[c.key] for c in result.measure_columns]
             for row in result.rows]
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]
    print(result.label)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)))


def _forecast(reports: Any, actor: Any, name: str, params: dict[str, Any], locale: str | None) -> None:
    from .forecast import forecast
    unknown = set(params) - {"period"}
    if unknown:
        raise ValidationFailed({n: ["a forecast takes only period"] for n in sorted(unknown)})
    result = forecast(reports, actor, name, period=params.get("period"), locale=locale)
    keys = ("won", "commit", "weighted", "best_case", "expected")
    keys += ("quota", "attainment") if result.has_quota else ()
    print(f"{result.label} {result.period.start} .. {result.period.end}")
    print("  " + ", ".join(f"{k}: {result.total.formatted[k] or '—'}" for k in keys))
    for title, lines in (("by close month", result.by_month), ("by owner", result.by_owner)):
        print(title)
        for line in lines:
            print(f"  {line.label}: " + ", ".join(f"{k} {line.formatted[k] or '—'}" for k in keys
                                                   if k in line.formatted and (k not in ("quota", "attainment")
                                                                               or line.quota is not None)))
