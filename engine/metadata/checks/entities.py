"""Entity references: links, title, views, indexes, scoring, assignment,
conversions and documents each name things that must exist.

    fields:
      account: {type: link, entity: acount}   # CRM-E200 ... (did you mean 'account'?)
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..model import Config, Entity
from .common import error, known_fields, links_to, path_error, quoted, unknown_entity, unknown_field


def check_field_targets(config: Config) -> list[ConfigError]:
    """`link`/`lines` name an entity; a `stage` field names a pipeline over its own entity."""
    errors: list[ConfigError] = []
    for entity in config.entities.values():
        doc = entity.source
        stage_fields = []
        for field in entity.fields.values():
            at = ("fields", field.name)
            if field.type in ("link", "lines") and field.entity and field.entity not in config.entities:
                errors.append(unknown_entity(config, doc, at + ("entity",), field.entity))
            if field.type != "stage" or not field.pipeline:
                continue
            stage_fields.append(field)
            pipeline = config.pipelines.get(field.pipeline)
            if pipeline is None:
                errors.append(error(doc, at + ("pipeline",), "CRM-E202",
                                    f"'{field.pipeline}' is not a pipeline of this configuration",
                                    did_you_mean(field.pipeline, config.pipelines)))
            elif pipeline.entity != entity.name:
                errors.append(error(doc, at + ("pipeline",), "CRM-E215",
                                    f"pipeline '{pipeline.name}' is over entity '{pipeline.entity}', "
                                    f"not '{entity.name}'"))
        for extra in stage_fields[1:]:
            errors.append(error(doc, ("fields", extra.name), "CRM-E215",
                                f"entity '{entity.name}' already has the stage field '{stage_fields[0].name}'",
                                "an entity follows one pipeline", at_key=True))
    return errors


def check_title(config: Config) -> list[ConfigError]:
    errors = []
    for entity in config.entities.values():
        if entity.title not in known_fields(entity):
            errors.append(unknown_field(entity, entity.source, ("title",), entity.title))
    return errors


def check_views(config: Config) -> list[ConfigError]:
    """List columns, sort and filters (link paths allowed), form fields, related lists, charts."""
    errors: list[ConfigError] = []
    for entity in config.entities.values():
        doc, view = entity.source, entity.views
        base = ("views", "list")
        # Columns and form sections not written are derived from the fields, so always valid.
        columns = view.list.columns if doc.get(base + ("columns",)) is not None else ()
        for i, column in enumerate(columns):
            errors += path_error(config, entity, doc, base + ("columns", i), column)
        if view.list.sort:
            errors += path_error(config, entity, doc, base + ("sort",), view.list.sort.lstrip("-"))
        for i, name in enumerate(view.list.filters):
            errors += path_error(config, entity, doc, base + ("filters", i), name)
        own = known_fields(entity)
        for s, section in enumerate(view.form):
            for j, name in enumerate(section.fields):
                if name not in own:
                    errors.append(unknown_field(entity, doc, ("views", "form", "sections", s, "fields", j), name))
        errors += _related(config, entity)
        errors += _charts(config, entity)
    return errors


def _related(config: Config, entity: Entity) -> list[ConfigError]:
    errors = []
    for i, name in enumerate(entity.views.related):
        at = ("views", "detail", "related", i)
        other = config.entities.get(name)
        if other is None:
            errors.append(unknown_entity(config, entity.source, at, name))
        elif not links_to(other, entity.name):
            linking = [e.name for e in config.entities.values() if links_to(e, entity.name)]
            errors.append(error(entity.source, at, "CRM-E201",
                                f"entity '{name}' has no link field to '{entity.name}', "
                                "so it has no related list here",
                                did_you_mean(name, linking) or (f"entities linking here: {quoted(linking)}"
                                                                if linking else None)))
    return errors


def _charts(config: Config, entity: Entity) -> list[ConfigError]:
    errors = []
    for i, name in enumerate(entity.views.charts):
        at = ("views", "detail", "charts", i)
        report = config.reports.get(name)
        if report is None:
            other = "a KPI" if name in config.kpis else "a quota" if name in config.quotas else (
                "a dashboard" if name in config.dashboards else None)
            hint = f"'{name}' is {other}; charts show reports" if other else did_you_mean(name, config.reports)
            errors.append(error(entity.source, at, "CRM-E205", f"'{name}' is not a report", hint))
            continue
        over = config.entities.get(report.entity)
        if over is not None and over.name != entity.name and not links_to(over, entity.name):
            errors.append(error(entity.source, at, "CRM-E201",
                                f"report '{name}' is over entity '{over.name}', which has no link field to "
                                f"'{entity.name}', so it cannot be filtered to this record"))
    return errors


def check_indexes(config: Config) -> list[ConfigError]:
    errors = []
    for entity in config.entities.values():
        fields = known_fields(entity)
        for i, index in enumerate(entity.indexes):
            for j, name in enumerate(index):
                at = ("indexes", i, j)
                if name not in fields:
                    errors.append(unknown_field(entity, entity.source, at, name))
                elif not fields[name].stored:
                    errors.append(error(entity.source, at, "CRM-E218",
                                        f"'{name}' is a {fields[name].type} field, which has no column to index"))
    return errors


def check_scoring(config: Config) -> list[ConfigError]:
    """The score is stored in a field the entity declares, as an int or decimal."""
    errors = []
    for entity in config.entities.values():
        if entity.scoring is None:
            continue
        at = ("scoring", "field")
        name = entity.scoring.field
        field = entity.fields.get(name)
        if field is None:
            errors.append(error(entity.source, at, "CRM-E201",
                                f"the score is stored in field '{name}', which entity '{entity.name}' does not have",
                                did_you_mean(name, entity.fields) or f"add '{name}: {{type: int}}' to fields"))
        elif field.type not in ("int", "decimal"):
            errors.append(error(entity.source, at, "CRM-E218",
                                f"the score field '{name}' is a {field.type} field; it must be int or decimal"))
    return errors


def check_assignment(config: Config) -> list[ConfigError]:
    """Assignment sets the owner, so it needs `owned`; the roles it names exist (teams are data)."""
    errors = []
    for entity in config.entities.values():
        assignment, doc = entity.assignment, entity.source
        if assignment is None:
            continue
        if "owned" not in entity.traits:
            errors.append(error(doc, ("assignment",), "CRM-E211",
                                f"assignment sets the owner, but entity '{entity.name}' is not owned",
                                "add 'owned' to traits", at_key=True))
        targets = [(("assignment", "among"), assignment.among)]
        targets += [(("assignment", "rules", i, "to"), rule.to) for i, rule in enumerate(assignment.rules)]
        for at, target in targets:
            if target is not None and target.role and target.role not in config.roles:
                errors.append(error(doc, at + ("role",), "CRM-E204", f"'{target.role}' is not a role",
                                    did_you_mean(target.role, config.roles)))
    return errors


def check_conversions(config: Config) -> list[ConfigError]:
    """Each `create` names an entity and its fields; `then.set` names this entity's fields."""
    errors: list[ConfigError] = []
    for entity in config.entities.values():
        doc = entity.source
        for conversion in entity.conversions.values():
            base = ("conversion", conversion.name)
            for i, step in enumerate(conversion.create):
                at = base + ("create", i)
                target = config.entities.get(step.entity)
                if target is None:
                    errors.append(unknown_entity(config, doc, at + ("entity",), step.entity))
                    continue
                for name in step.map:
                    if name not in target.fields:
                        errors.append(unknown_field(target, doc, at + ("map", name), name, at_key=True,
                                                    choices=target.fields))
                for j, name in enumerate(step.match_on):
                    if name not in target.fields:
                        errors.append(unknown_field(target, doc, at + ("match_on", j), name, choices=target.fields))
            for name, value in conversion.then_set.items():
                at = base + ("then", "set", name)
                field = entity.fields.get(name)
                if field is None:
                    errors.append(unknown_field(entity, doc, at, name, at_key=True, choices=entity.fields))
                elif field.type == "choice" and field.options and str(value) not in field.options:
                    errors.append(error(doc, at, "CRM-E214", f"'{value}' is not an option of field '{name}'",
                                        did_you_mean(str(value), field.options)))
    return errors


def check_documents(config: Config) -> list[ConfigError]:
    errors = []
    for entity in config.entities.values():
        for spec in entity.documents.values():
            if spec.template not in config.templates:
                errors.append(error(entity.source, ("documents", spec.name, "template"), "CRM-E208",
                                    f"templates/{spec.template} does not exist",
                                    did_you_mean(spec.template, config.templates)))
    return errors


CHECKS = [check_field_targets, check_title, check_views, check_indexes, check_scoring, check_assignment,
          check_conversions, check_documents]
