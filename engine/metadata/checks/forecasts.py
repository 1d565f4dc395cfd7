"""Forecasts (a pipeline's `forecast:`), forecast widgets and dashboard digests.

    forecast: {amount: net_amont}            # CRM-E201 'net_amont' is not a field of deal (did you mean 'net_amount'?)
    forecast: {close_date: name}             # CRM-E218 'name' is a string field; close_date needs a date
    forecast: {quota: revenue_quota.wom}     # CRM-E205 'wom' is not a target of quota revenue_quota
    widgets: [{forecast: salse}]             # CRM-E205 'salse' is not a forecast
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..expressions.periods import NAMED as PERIOD_NAMES, period_problem
from ..forecasts import AMOUNT_TYPES, DATE_TYPES, forecasts, infer_amount, infer_close_date, split_quota
from ..model import Config, Entity, Pipeline
from .common import error

REPORT_SPACES = ("reports", "kpis", "quotas", "dashboards")


def check_forecasts(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for pipeline in config.pipelines.values():
        entity = config.entities.get(pipeline.entity)
        if pipeline.forecast is None or entity is None:
            continue
        errors += _fields(pipeline, entity)
        errors += _quota(config, pipeline)
        for space in REPORT_SPACES:
            if pipeline.name in getattr(config, space):
                errors.append(error(pipeline.source, ("forecast",), "CRM-E216",
                                    f"the forecast is named after its pipeline, '{pipeline.name}', which is "
                                    f"already a {space[:-1]}; rename one of them", at_key=True))
    return errors


def _fields(pipeline: Pipeline, entity: Entity) -> list[ConfigError]:
    spec, doc, errors = pipeline.forecast, pipeline.source, []
    assert spec is not None
    wanted = (("amount", spec.amount, AMOUNT_TYPES, "a money (or number) field", infer_amount),
              ("close_date", spec.close_date, DATE_TYPES, "a date field", infer_close_date),
              ("owner", spec.owner, frozenset({"user"}), "a user field", None))
    for key, name, types, what, infer in wanted:
        at = ("forecast", key)
        if name is None:
            if infer is not None and infer(entity) is None:
                errors.append(error(doc, ("forecast",), "CRM-E201",
                                    f"{entity.name} has no field to use as the forecast's {key}; "
                                    f"name {what} in forecast.{key}", at_key=True))
            continue
        field = entity.fields.get(name)
        if field is None:
            errors.append(error(doc, at, "CRM-E201", f"'{name}' is not a field of {entity.name}",
                                did_you_mean(name, entity.fields)))
        elif field.value_type not in types:
            errors.append(error(doc, at, "CRM-E218", f"'{name}' is a {field.value_type} field; "
                                                     f"the forecast's {key} needs {what}"))
    return errors


def _quota(config: Config, pipeline: Pipeline) -> list[ConfigError]:
    spec, doc = pipeline.forecast, pipeline.source
    assert spec is not None
    quota, target = split_quota(spec.quota)
    if quota is None:
        return []
    at = ("forecast", "quota")
    if quota not in config.quotas:
        return [error(doc, at, "CRM-E205", f"'{quota}' is not a quota", did_you_mean(quota, config.quotas))]
    targets = config.quotas[quota].targets
    if target is None and len(targets) != 1:
        return [error(doc, at, "CRM-E205", f"quota {quota} has several targets; name one: "
                                           + ", ".join(f"{quota}.{t}" for t in targets))]
    if target is not None and target not in targets:
        return [error(doc, at, "CRM-E205", f"'{target}' is not a target of quota {quota}",
                      did_you_mean(target, targets))]
    return []


def check_dashboard_extensions(config: Config) -> list[ConfigError]:
    """`{forecast: name}` widgets name a forecast; a digest's period is a period."""
    errors: list[ConfigError] = []
    names = forecasts(config)
    for board in config.dashboards.values():
        for i, widget in enumerate(board.widgets):
            if widget.kind == "forecast" and widget.name not in names:
                hint = (f"pipeline {widget.name} has no forecast: add `forecast:` to it"
                        if widget.name in config.pipelines else did_you_mean(widget.name, names))
                errors.append(error(board.source, ("widgets", i, "forecast"), "CRM-E205",
                                    f"'{widget.name}' is not a forecast", hint))
        if board.digest is not None and board.digest.period is not None:
            problem = period_problem(board.digest.period)
            if problem:
                errors.append(error(board.source, ("digest", "period"), "CRM-E222", problem,
                                    did_you_mean(board.digest.period, PERIOD_NAMES)))
        if board.digest is not None and not board.roles:
            errors.append(error(board.source, ("digest",), "CRM-E204",
                                "a digest is sent to the users of the dashboard's roles; list them in `roles`",
                                at_key=True))
    return errors


CHECKS = [check_forecasts, check_dashboard_extensions]
