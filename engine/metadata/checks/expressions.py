"""Every expression in a configuration, type-checked where it is used.

A `when`, `filter` or `rule` must give a condition; a formula any value; a
measure or KPI may aggregate; a link filter may name the edited record's
fields as `$name`; a report's `where_params` its parameters. Each error is
placed inside the expression's text (line and column of the offending part).
"""
from __future__ import annotations

from typing import Iterator, Mapping, NamedTuple

from ..errors import ConfigError
from ..expressions import (BOOL, CheckContext, ExpressionError, Type, check, record, type_of_field,
                           type_of_param)
from ..expressions.paths import rollup_source
from ..model import Config, Entity
from ..yamlsafe import SourceDoc, dotted

TEXT_DEFAULT_TYPES = frozenset({"string", "text", "email", "phone", "url", "choice", "multichoice"})


class Place(NamedTuple):
    """One expression and the context it is checked in."""

    doc: SourceDoc
    path: tuple
    text: str
    entity: str
    expected: Type | None = None
    aggregates: bool = False
    old: bool = False
    params: Mapping[str, Type] = {}


def _entity_places(config: Config, entity: Entity) -> Iterator[Place]:
    doc = entity.source
    own_fields = {n: t for n, f in entity.fields.items() if (t := type_of_field(f)) is not None}
    for name, field in entity.fields.items():
        base = ("fields", name)
        if field.system:
            continue
        if field.type == "formula" and field.expr:
            yield Place(doc, base + ("expr",), field.expr, entity.name)
        if field.type == "rollup" and field.expr:
            child = _rollup_child(config, entity, field)
            if child:
                yield Place(doc, base + ("expr",), field.expr, child, aggregates=True)
                if field.filter:
                    yield Place(doc, base + ("filter",), field.filter, child, BOOL)
        if field.type == "link" and field.filter and field.entity in config.entities:
            yield Place(doc, base + ("filter",), field.filter, field.entity, BOOL, params=own_fields)
        if isinstance(field.default, str) and field.type not in TEXT_DEFAULT_TYPES:
            yield Place(doc, base + ("default",), field.default, entity.name)
        for bound in ("min", "max"):
            value = getattr(field, bound)
            if isinstance(value, str) and field.type in ("date", "datetime"):
                yield Place(doc, base + (bound,), value, entity.name)
    for i, rule in enumerate(entity.validations):
        yield Place(doc, ("validations", i, "rule"), rule.rule, entity.name, BOOL, old=True)
    for key, segment in entity.segments.items():
        yield Place(doc, ("segments", key, "filter"), segment.filter, entity.name, BOOL)
    if entity.scoring:
        for i, rule in enumerate(entity.scoring.rules):
            yield Place(doc, ("scoring", "rules", i, "when"), rule.when, entity.name, BOOL)
    if entity.assignment:
        for i, rule in enumerate(entity.assignment.rules):
            yield Place(doc, ("assignment", "rules", i, "when"), rule.when, entity.name, BOOL)
    for key, conversion in entity.conversions.items():
        if conversion.when:
            yield Place(doc, ("conversion", key, "when"), conversion.when, entity.name, BOOL)
        made: dict[str, Type] = {}
        for i, step in enumerate(conversion.create):
            for target, text in step.map.items():
                yield Place(doc, ("conversion", key, "create", i, "map", target), text, entity.name,
                            params=dict(made))
            made[step.entity] = record(step.entity)


def _rollup_child(config: Config, entity: Entity, field) -> str | None:
    try:
        child, _link = rollup_source(config, entity.name, field)
    except ExpressionError:   # an unresolved `of` is reported by checks/formulas.py
        return None
    return child if child in config.entities else None


def _places(config: Config) -> Iterator[Place]:
    for entity in config.entities.values():
        yield from _entity_places(config, entity)
    for pipeline in config.pipelines.values():
        for i, rule in enumerate(pipeline.follow_up):
            yield Place(pipeline.source, ("follow_up", i, "when"), rule.when, pipeline.entity, BOOL)
    for approval in config.approvals.values():
        yield Place(approval.source, ("when",), approval.when, approval.entity, BOOL, old=True)
        for i, step in enumerate(approval.steps):
            if step.when:
                yield Place(approval.source, ("steps", i, "when"), step.when, approval.entity, BOOL, old=True)
    for alert in config.alerts.values():
        if alert.when:
            yield Place(alert.source, ("when",), alert.when, alert.entity, BOOL, old=True)
        for i, action in enumerate(alert.also):
            for target, text in action.map.items():
                yield Place(alert.source, ("also", i, "map", target), text, alert.entity)
    for report in config.reports.values():
        params = {name: type_of_param(p.type, config) for name, p in report.params.items()}
        if report.filter:
            yield Place(report.source, ("filter",), report.filter, report.entity, BOOL)
        if report.where_params:
            yield Place(report.source, ("where_params",), report.where_params, report.entity, BOOL,
                        params=params)
        for key, measure in report.measures.items():
            yield Place(report.source, ("measures", key, "expr"), measure.expr, report.entity, aggregates=True)
    for kpi in config.kpis.values():
        yield Place(kpi.source, ("value",), kpi.value, kpi.entity, aggregates=True)
        if kpi.filter:
            yield Place(kpi.source, ("filter",), kpi.filter, kpi.entity, BOOL)


def check_expressions(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for place in _places(config):
        if place.entity not in config.entities:
            continue   # the missing entity is reported by the reference checks
        ctx = CheckContext(config, place.entity, allow_aggregates=place.aggregates, params=dict(place.params),
                           allow_old=place.old, expected=place.expected)
        _, problems = check(str(place.text), ctx)
        at = place.doc.inner_loc(place.path)
        errors.extend(p.to_config_error(str(place.text), at, dotted(place.path)) for p in problems)
    return errors


CHECKS = [check_expressions]
