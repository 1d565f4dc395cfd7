"""A report definition + parameters + the acting user -> one SQLAlchemy SELECT.

    compiled = compile_report(config, tables, permissions, report, params, actor,
                              dialect="sqlite", now=clock())
    rows = conn.execute(compiled.statement).all()     # (g0, g1, ..., m_total, m_deals)

The statement is `SELECT groups, measures FROM entity LEFT JOIN links...
WHERE permission AND filter AND where_params [AND record] GROUP BY groups`
(sorted afterwards, see `GroupColumn.sort_key`), built by the expression language's SqlCompiler, so link
paths become the same joins the lists use and aggregates run in the
database. Its WHERE clause (`compiled.where`) is kept apart for drill-down.

Rules (docs/reports.md):
- the user's read row filter of the report's entity is always in the WHERE,
  and that of every entity the report reaches: a link path (`account.industry`
  grouped, filtered or measured) joins a record the user may not read as NULL,
  a rollup aggregates only child rows the user may read (`visible_rows`);
- a report that reads a field hidden from the user (on any hop of a path, in
  any of filter, where_params, group_by, measures) is refused (403): a sum or
  a grouping would show what the mask hides;
- parameters are bound values; comparisons with a null parameter are dropped;
- stage and choice groups sort in their configured order, others by value, nulls last.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ...metadata import model as m
from ...metadata.expressions import (BOOL, ExpressionError, Resolved, SqlCompiler, parse, resolve_path,
                                     type_of_param)
from ...metadata.expressions.nodes import Aggregate, walk
from ..actor import Actor
from ..errors import Forbidden, ValidationFailed
from ..exprs import user_row
from ..hidden_reads import hidden_reads as find_hidden_reads
from ..permissions import Permissions
from ..tables import Tables
from .buckets import bucket_group
from .links import record_path


@dataclass(frozen=True, slots=True)
class GroupColumn:
    """One grouping of a report: where its value comes from and how to label it."""

    key: str                    # column label in the statement: g0, g1, ...
    path: str                   # the field path as written (`account.segment`)
    bucket: str | None
    resolved: Resolved
    order: tuple[str, ...] = ()  # configured order of stage and choice keys

    @property
    def kind(self) -> str:
        return self.resolved.type.kind

    def sort_key(self, value: Any) -> tuple[Any, ...]:
        """Configured keys in their order, other values by value, null last."""
        if value is None:
            return (2, 0)
        if self.order:
            return (0, self.order.index(value)) if value in self.order else (1, str(value))
        return (0, value)


@dataclass(frozen=True, slots=True)
class CompiledReport:
    report: m.Report
    statement: sa.Select
    where: ColumnElement[bool]          # permission, filter, params, record: the rows behind the report
    from_clause: Any
    groups: tuple[GroupColumn, ...]
    group_values: tuple[ColumnElement, ...]   # the (bucketed) group expressions, for drill-down
    measures: tuple[m.Measure, ...]
    compiler: SqlCompiler


def measure_key(measure: m.Measure) -> str:
    return "m_" + measure.name


def compile_report(config: m.Config, tables: Tables, permissions: Permissions, report: m.Report,
                   params: Mapping[str, Any], actor: Actor, *, dialect: str, now: dt.datetime,
                   record: tuple[str, int] | None = None) -> CompiledReport:
    """The report's SELECT for this user; raises Forbidden for hidden fields, ValidationFailed for bad SQL."""
    refuse_hidden(config, permissions, actor, report)
    param_types = {name: type_of_param(p.type, config) for name, p in report.params.items()}
    sc = SqlCompiler(config, report.entity, tables, params=params, param_types=param_types,
                     current_user=user_row(actor), now=now, drop_null_params=True,
                     visible=permissions.visible_rows(actor))
    table = sc.root
    conditions: list[ColumnElement[bool]] = [
        permissions.row_filter(actor, report.entity, "read", table)]  # type: ignore[arg-type]
    try:
        if report.filter:
            conditions.append(sc.compile(report.filter, expected=BOOL))
        if report.where_params:
            conditions.append(sc.compile(report.where_params, expected=BOOL))
        if record is not None:
            conditions.append(_record_condition(config, sc, report, record))
        groups, values, keys = _groups(config, sc, report, dialect)
        measures = tuple(report.measures.values())
        measure_columns = [_measure(sc, measure).label(measure_key(measure)) for measure in measures]
    except ExpressionError as exc:
        raise ValidationFailed(messages=[f"report {report.name}: {exc.message}"]) from exc
    where = sa.and_(*conditions)
    from_clause = sc.from_clause()
    statement = (sa.select(*[v.label(g.key) for g, v in zip(groups, values)], *measure_columns)
                 .select_from(from_clause).where(where))
    if values:
        # No ORDER BY: the rows are sorted in Python (service.py, a few rows), so the database
        # does no second sort after grouping, and NULLs sort last on both databases.
        statement = statement.group_by(*keys)
    return CompiledReport(report, statement, where, from_clause, groups, tuple(values), measures, sc)


def _groups(config: m.Config, sc: SqlCompiler, report: m.Report,
            dialect: str) -> tuple[tuple[GroupColumn, ...], list[ColumnElement], list[ColumnElement]]:
    """The group columns, their selected values and their GROUP BY keys (the same unless bucketed)."""
    groups, values, keys = [], [], []
    for i, group in enumerate(report.group_by):
        resolved = resolve_path(config, report.entity, tuple(group.field.split(".")))
        value = key = sc.compile(group.field)
        if group.bucket:
            key, value = bucket_group(value, group.bucket, column_kind=resolved.type.kind, dialect=dialect,
                                      company=config.company)
        order = () if group.bucket else _configured_order(config, resolved)
        groups.append(GroupColumn(f"g{i}", group.field, group.bucket, resolved, order))
        values.append(value)
        keys.append(key)
    return tuple(groups), values, keys


def _configured_order(config: m.Config, resolved: Resolved) -> tuple[str, ...]:
    """Stages in pipeline order, choices in option order (empty: by value)."""
    f = resolved.field
    if f is None or resolved.attribute is not None:
        return ()
    if f.type == "stage":
        pipeline = config.pipelines.get(f.pipeline or "")
        return tuple(s.key for s in pipeline.stages) if pipeline else ()
    if f.type == "choice":
        return tuple(f.options)
    return ()


def _measure(sc: SqlCompiler, measure: m.Measure) -> ColumnElement:
    tree = parse(measure.expr)
    if not any(isinstance(n, Aggregate) for n in walk(tree)):
        raise ExpressionError("CRM-E303", f"measure '{measure.name}' must aggregate its rows "
                                          "(sum, count, avg, min, max)")
    return sc.compile(tree)


def _record_condition(config: m.Config, sc: SqlCompiler, report: m.Report,
                      record: tuple[str, int]) -> ColumnElement[bool]:
    entity, record_id = record
    path = record_path(config, report.entity, entity)
    if path is None:
        raise ValidationFailed(messages=[
            f"report {report.name} cannot be shown on a {entity} record: {report.entity} has no link to {entity}"])
    column = sc.root.c.id if path == "id" else sc.compile(path)
    return column == sa.literal(int(record_id), sa.Integer())


def report_texts(report: m.Report) -> list[tuple[str, str]]:
    """(place, expression text) of everything the report reads."""
    texts = [("filter", report.filter), ("where_params", report.where_params)]
    texts += [(f"group_by.{g.field}", g.field) for g in report.group_by]
    texts += [(f"measures.{m_.name}", m_.expr) for m_ in report.measures.values()]
    return [(place, text) for place, text in texts if text]


def refuse_hidden(config: m.Config, permissions: Permissions, actor: Actor, report: m.Report) -> None:
    """Forbidden (403) when any part of the report reads a field hidden from the user."""
    hidden = hidden_reads(config, permissions, actor, report.entity, report_texts(report))
    if hidden:
        raise Forbidden(f"report {report.name} reads {', '.join(hidden)}, hidden from you")


def hidden_reads(config: m.Config, permissions: Permissions, actor: Actor, entity: str,
                 texts: list[tuple[str, str]]) -> list[str]:
    """`entity.field` names hidden from the user that the expressions read (see runtime/hidden_reads.py)."""
    if permissions.is_admin(actor):
        return []
    return find_hidden_reads(config, lambda e: permissions.configured_hidden(actor, e), entity,
                             [text for _place, text in texts])