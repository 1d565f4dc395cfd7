"""Reports, KPIs, quotas and dashboards: entities, grouping fields, charts,
parameters, and the names they give each other.

    report: pipeline_by_stage
    group_by: [{field: name, bucket: month}]   # CRM-E218: only dates have buckets
    chart: {type: bar, x: stage, y: totl}      # CRM-E201 (did you mean 'total'?)
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..expressions.periods import NAMED as PERIOD_NAMES, period_problem
from ..model import Config, Report
from .common import DATE_TYPES, error, path_error, resolve_path, unknown_entity

KIND_WORDS = {"reports": "report", "kpis": "KPI", "quotas": "quota", "dashboards": "dashboard"}


def check_reports(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for report in config.reports.values():
        doc = report.source
        entity = config.entities.get(report.entity)
        if entity is None:
            errors.append(unknown_entity(config, doc, ("entity",), report.entity))
        else:
            for i, group in enumerate(report.group_by):
                at: tuple = ("group_by", i) + (("field",) if isinstance(doc.get(("group_by", i)), dict) else ())
                errors += path_error(config, entity, doc, at, group.field)
                value_type = resolve_path(config, entity, group.field)
                if group.bucket and isinstance(value_type, str) and value_type not in DATE_TYPES:
                    errors.append(error(doc, ("group_by", i, "bucket"), "CRM-E218",
                                        f"'{group.field}' is a {value_type} field; only date and datetime "
                                        "fields are grouped in buckets"))
        errors += _chart(report)
        errors += _params(config, report)
    return errors


def _chart(report: Report) -> list[ConfigError]:
    chart, doc = report.chart, report.source
    if chart is None:
        return []
    groups = [g.field for g in report.group_by]
    errors = []
    for axis in ("x", "series"):
        name = getattr(chart, axis)
        if name is not None and name not in groups:
            errors.append(error(doc, ("chart", axis), "CRM-E201",
                                f"'{name}' is not one of the report's group_by fields",
                                did_you_mean(name, groups) or (f"group_by: {', '.join(groups)}" if groups else None)))
    if chart.y is not None and chart.y not in report.measures:
        errors.append(error(doc, ("chart", "y"), "CRM-E201", f"'{chart.y}' is not one of the report's measures",
                            did_you_mean(chart.y, report.measures)
                            or (f"measures: {', '.join(report.measures)}" if report.measures else None)))
    return errors


def _params(config: Config, report: Report) -> list[ConfigError]:
    """A period parameter's default is a period; a link parameter names an entity.

    The model's Param keeps no `entity`, so that one is read from the source.
    """
    errors = []
    for param in report.params.values():
        at = ("params", param.name)
        if param.type == "period" and param.default is not None:
            problem = period_problem(param.default)
            if problem is not None:
                errors.append(error(report.source, at + ("default",), "CRM-E222", problem,
                                    did_you_mean(str(param.default), PERIOD_NAMES)))
        target = report.source.get(at + ("entity",))
        if param.type == "link" and target is not None and target not in config.entities:
            errors.append(unknown_entity(config, report.source, at + ("entity",), target))
    return errors


def check_kpis(config: Config) -> list[ConfigError]:
    errors = []
    for kpi in config.kpis.values():
        entity = config.entities.get(kpi.entity)
        if entity is None:
            errors.append(unknown_entity(config, kpi.source, ("entity",), kpi.entity))
        elif kpi.by is not None:
            errors += path_error(config, entity, kpi.source, ("by",), kpi.by, frozenset({"user"}),
                                 "a KPI's 'by'")
    return errors


def check_quotas(config: Config) -> list[ConfigError]:
    errors = []
    for quota in config.quotas.values():
        for target in quota.targets.values():
            if target.kpi not in config.kpis:
                errors.append(error(quota.source, ("targets", target.name, "kpi"), "CRM-E205",
                                    f"'{target.kpi}' is not a KPI", _other_kind(config, target.kpi, "kpis")))
    return errors


def check_dashboards(config: Config) -> list[ConfigError]:
    errors = []
    for dashboard in config.dashboards.values():
        doc = dashboard.source
        for i, role in enumerate(dashboard.roles):
            if role not in config.roles:
                errors.append(error(doc, ("roles", i), "CRM-E204", f"'{role}' is not a role",
                                    did_you_mean(role, config.roles)))
        for i, widget in enumerate(dashboard.widgets):
            if widget.kind == "forecast":       # checked with the forecasts (checks/forecasts.py)
                continue
            space = widget.kind + "s"
            if widget.name not in getattr(config, space):
                errors.append(error(doc, ("widgets", i, widget.kind), "CRM-E205",
                                    f"'{widget.name}' is not a {KIND_WORDS[space]}",
                                    _other_kind(config, widget.name, space, widget=True)))
    return errors


def _other_kind(config: Config, name: str, space: str, widget: bool = False) -> str | None:
    """"'x' is a report" when the name exists in another space, else a did-you-mean."""
    for other in ("reports", "kpis", "quotas", "dashboards"):
        if other != space and name in getattr(config, other):
            kind = other[:-1]
            tail = f"; write {{{kind}: {name}}}" if widget and other != "dashboards" else ""
            return f"'{name}' is a {KIND_WORDS[other]}{tail}"
    return did_you_mean(name, getattr(config, space))


CHECKS = [check_reports, check_kpis, check_quotas, check_dashboards]
