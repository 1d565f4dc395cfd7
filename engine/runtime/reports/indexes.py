"""Covering indexes a report's definition implies (a suggestion; migrations do not add them yet).

    covering_indexes(config)   # {"deal": [("close_date", "stage", "amount")], ...}

For a report whose groupings and measures read only stored columns of its
own entity: the bucketed date first (reports usually restrict it to a
period), then the other groupings, then the columns the measures aggregate
and the filters read.
The database can then answer the report from the index alone. Reports
reading links, formulas or more than five columns get none.
"""
from __future__ import annotations

from ...metadata import model as m
from ...metadata.expressions import parse
from ...metadata.expressions.nodes import Path, walk
from ..exprs import CONTEXT_ROOTS

MAX_COLUMNS = 5


def covering_indexes(config: m.Config) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list[tuple[str, ...]]] = {}
    for report in config.reports.values():
        columns = report_columns(config, report)
        if columns and columns not in out.setdefault(report.entity, []):
            out[report.entity].append(columns)
    return {k: v for k, v in out.items() if v}


def report_columns(config: m.Config, report: m.Report) -> tuple[str, ...] | None:
    ent = config.entities[report.entity]
    dated = [g.field for g in report.group_by if g.bucket]
    plain = [g.field for g in report.group_by if not g.bucket]
    measured: list[str] = []
    texts = [ms.expr for ms in report.measures.values()] + [t for t in (report.filter, report.where_params) if t]
    for text in texts:
        for node in walk(parse(text)):
            if isinstance(node, Path) and node.parts[0] not in CONTEXT_ROOTS:
                # `stage.probability` reads the stage column itself
                measured.append(node.parts[0] if _is_stage_attribute(ent, node.parts) else ".".join(node.parts))
    columns: list[str] = []
    for name in [*dated, *plain, *measured]:
        if name not in columns:
            columns.append(name)
    stored = {f.name for f in ent.fields.values() if f.stored} | {"created_at", "updated_at"}
    if not columns or len(columns) > MAX_COLUMNS or any(c not in stored for c in columns):
        return None
    return tuple(columns)


def _is_stage_attribute(ent: m.Entity, parts: tuple[str, ...]) -> bool:
    f = ent.fields.get(parts[0])
    return f is not None and f.type == "stage" and len(parts) == 2
