"""Pipelines and approvals: their entity, the fields, stages, approvals, alerts
and roles they name.

    pipeline: sales
    entity: deal
    stages:
      - {key: won, requires: {approvals: [big_discont]}}   # CRM-E206 (did you mean 'big_discount'?)
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..model import Config, Entity, Pipeline, Stage
from .common import error, links_to, raw_list, unknown_entity, unknown_field


def check_pipelines(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for pipeline in config.pipelines.values():
        doc = pipeline.source
        entity = config.entities.get(pipeline.entity)
        if entity is None:
            errors.append(unknown_entity(config, doc, ("entity",), pipeline.entity))
        else:
            errors += _stage_field(config, pipeline, entity)
        seen: set[str] = set()
        for i, stage in enumerate(pipeline.stages):
            if stage.key in seen:
                errors.append(error(doc, ("stages", i, "key"), "CRM-E011",
                                    f"the stage '{stage.key}' is listed twice"))
            seen.add(stage.key)
            if entity is not None:
                errors += _requires(config, pipeline, entity, i, stage)
        errors += _transitions(pipeline)
        errors += _follow_ups(config, pipeline)
    return errors


def _stage_field(config: Config, pipeline: Pipeline, entity: Entity) -> list[ConfigError]:
    """The pipeline's entity keeps the current stage in a stage field naming this pipeline."""
    stages = [f for f in entity.fields.values() if f.type == "stage"]
    if any(f.pipeline == pipeline.name for f in stages):
        return []
    if any(f.pipeline not in config.pipelines for f in stages):
        return []   # the field names a missing pipeline; check_field_targets says so at the field
    hint = (f"'{entity.name}' follows pipeline '{stages[0].pipeline}' through field '{stages[0].name}'; "
            "an entity follows one pipeline") if stages else (
        f"add 'stage: {{type: stage, pipeline: {pipeline.name}}}' to {entity.name}'s fields")
    return [error(pipeline.source, ("entity",), "CRM-E215",
                  f"entity '{entity.name}' has no stage field for pipeline '{pipeline.name}'", hint)]


def _requires(config: Config, pipeline: Pipeline, entity: Entity, i: int, stage: Stage) -> list[ConfigError]:
    doc, at = pipeline.source, ("stages", i, "requires")
    errors = []
    for j, name in enumerate(stage.requires.fields):
        if name not in entity.fields:
            errors.append(unknown_field(entity, doc, at + ("fields", j), name, choices=entity.fields))
    for j, related in enumerate(stage.requires.related):
        where = at + ("related", j, "entity")
        other = config.entities.get(related.entity)
        if other is None:
            errors.append(unknown_entity(config, doc, where, related.entity))
        elif not links_to(other, entity.name):
            errors.append(error(doc, where, "CRM-E201",
                                f"entity '{other.name}' has no link field to '{entity.name}', "
                                "so its records cannot be counted here"))
    for j, activity in enumerate(stage.requires.activities):
        errors += _activity_kind(config, pipeline, entity, at + ("activities", j, "kind"), activity.kind)
    for j, name in enumerate(stage.requires.approvals):
        approval = config.approvals.get(name)
        where = at + ("approvals", j)
        if approval is None:
            errors.append(error(doc, where, "CRM-E206", f"'{name}' is not an approval",
                                did_you_mean(name, config.approvals)))
        elif approval.entity != entity.name:
            errors.append(error(doc, where, "CRM-E206",
                                f"approval '{name}' is over entity '{approval.entity}', not '{entity.name}'"))
    return errors


def _activity_kind(config: Config, pipeline: Pipeline, entity: Entity, at: tuple, kind: str) -> list[ConfigError]:
    """Activities are records of a `timeline` entity linking here, matched on its `kind` field."""
    doc = pipeline.source
    timelines = [e for e in config.entities.values() if "timeline" in e.traits and links_to(e, entity.name)]
    if not timelines:
        return [error(doc, at, "CRM-E200", f"no entity with the timeline trait links to '{entity.name}', "
                      "so there are no activities to count")]
    kinds = [e.fields["kind"] for e in timelines if "kind" in e.fields]
    if not kinds:
        return [error(doc, at, "CRM-E201",
                      f"activities are matched on a 'kind' field, which {_names(timelines)} does not have")]
    options = [f.options for f in kinds if f.type in ("choice", "multichoice")]
    if len(options) == len(kinds) and not any(str(kind) in o for o in options):
        every = sorted({key for o in options for key in o})
        return [error(doc, at, "CRM-E214", f"'{kind}' is not an option of the activity 'kind' field",
                      did_you_mean(str(kind), every) or f"options: {', '.join(every)}")]
    return []


def _names(entities: list[Entity]) -> str:
    names = [f"'{e.name}'" for e in entities]
    return names[0] if len(names) == 1 else "none of " + ", ".join(names)


def _transitions(pipeline: Pipeline) -> list[ConfigError]:
    if isinstance(pipeline.transitions, str):
        return []
    keys = [s.key for s in pipeline.stages]
    errors = []
    for i in range(len(pipeline.transitions)):
        for end in ("from", "to"):
            written = pipeline.source.get(("transitions", i, end))
            for j, key in enumerate(raw_list(pipeline.source, ("transitions", i, end))):
                if key not in keys:
                    at = ("transitions", i, end) + ((j,) if isinstance(written, list) else ())
                    errors.append(error(pipeline.source, at, "CRM-E203",
                                        f"'{key}' is not a stage of pipeline '{pipeline.name}'",
                                        did_you_mean(str(key), keys)))
    return errors


def _follow_ups(config: Config, pipeline: Pipeline) -> list[ConfigError]:
    errors = []
    for i, rule in enumerate(pipeline.follow_up):
        if rule.alert is None:
            continue
        at = ("follow_up", i, "alert")
        alert = config.alerts.get(rule.alert)
        if alert is None:
            errors.append(error(pipeline.source, at, "CRM-E207", f"'{rule.alert}' is not an alert",
                                did_you_mean(rule.alert, config.alerts)))
        elif alert.entity != pipeline.entity:
            errors.append(error(pipeline.source, at, "CRM-E207",
                                f"alert '{alert.name}' is over entity '{alert.entity}', not '{pipeline.entity}'"))
    return errors


def check_approvals(config: Config) -> list[ConfigError]:
    errors = []
    for approval in config.approvals.values():
        doc = approval.source
        entity = config.entities.get(approval.entity)
        if entity is None:
            errors.append(unknown_entity(config, doc, ("entity",), approval.entity))
        else:
            for i, name in enumerate(approval.locks):
                if name not in entity.fields:
                    errors.append(unknown_field(entity, doc, ("locks", i), name, choices=entity.fields))
        for i, step in enumerate(approval.steps):
            role = step.approvers.role
            if role and role not in config.roles:
                errors.append(error(doc, ("steps", i, "approvers", "role"), "CRM-E204", f"'{role}' is not a role",
                                    did_you_mean(role, config.roles)))
    return errors


CHECKS = [check_pipelines, check_approvals]
