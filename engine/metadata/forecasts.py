"""Which fields a pipeline's forecast reads (the `forecast:` extension, docs/reports.md "Forecasting").

    spec = forecast_fields(config, config.pipelines["sales"])
    spec.amount, spec.close_date, spec.owner, spec.quota, spec.target     # 'net_amount', 'close_date', ...

A forecast is named by its pipeline. Names left out are inferred: `amount`
is the entity's first money field (a formula with `result: money` counts),
`close_date` its first date field. The configuration checks report what
cannot be resolved (checks/forecasts.py); the runtime only sees resolved specs.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import model as m

AMOUNT_TYPES = frozenset({"money", "decimal", "int"})
DATE_TYPES = frozenset({"date", "datetime"})


@dataclass(frozen=True, slots=True)
class ForecastFields:
    name: str                 # the pipeline's name
    entity: str
    stage: str                # the entity's stage field
    amount: str
    close_date: str
    owner: str
    commit: int
    quota: str | None         # quota name
    target: str | None        # that quota's target


def infer_amount(entity: m.Entity) -> str | None:
    return next((f.name for f in entity.fields.values() if f.value_type == "money"), None)


def infer_close_date(entity: m.Entity) -> str | None:
    return next((f.name for f in entity.fields.values() if f.value_type in DATE_TYPES), None)


def split_quota(text: str | None) -> tuple[str | None, str | None]:
    """`revenue_quota.won` -> ('revenue_quota', 'won'); `revenue_quota` -> ('revenue_quota', None)."""
    if not text:
        return None, None
    quota, _, target = text.partition(".")
    return quota, target or None


def quota_target(config: m.Config, text: str | None) -> tuple[str | None, str | None]:
    """The quota and target named, the target defaulting to the quota's only one."""
    quota, target = split_quota(text)
    if quota is None or quota not in config.quotas:
        return quota, target
    if target is None and len(config.quotas[quota].targets) == 1:
        target = next(iter(config.quotas[quota].targets))
    return quota, target


def forecast_fields(config: m.Config, pipeline: m.Pipeline) -> ForecastFields | None:
    """The resolved forecast of a pipeline, or None when it has none (or it cannot be resolved)."""
    spec = pipeline.forecast
    entity = config.entities.get(pipeline.entity)
    stage = config.stage_field(pipeline.entity)
    if spec is None or entity is None or stage is None:
        return None
    amount = spec.amount or infer_amount(entity)
    close = spec.close_date or infer_close_date(entity)
    if amount is None or close is None:
        return None
    quota, target = quota_target(config, spec.quota)
    return ForecastFields(pipeline.name, entity.name, stage.name, amount, close, spec.owner, spec.commit,
                          quota, target)


def forecasts(config: m.Config) -> dict[str, ForecastFields]:
    """Every forecast of the configuration, by name (the pipeline's)."""
    out = {}
    for pipeline in config.pipelines.values():
        spec = forecast_fields(config, pipeline)
        if spec is not None:
            out[spec.name] = spec
    return out
