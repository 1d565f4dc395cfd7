"""Alerts: the entity, the trigger's field or stage, recipients, templates per
channel, and the records `also` creates.

    alert: contract_renewal
    entity: contract
    trigger: {date: end_dat}          # CRM-E201 (did you mean 'end_date'?)
    notify: [{to: owner, via: [sms]}] # CRM-E208 when templates/contract_renewal.sms.txt is missing
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..model import Alert, Config, DateTrigger, Entity, EventTrigger
from .common import DATE_TYPES, error, known_fields, unknown_entity, unknown_field

# channel -> the template files it needs, as suffixes of the alert's template name
CHANNEL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "email": ("subject.txt", "email.html"),
    "in_app": ("subject.txt",),
    "sms": ("sms.txt",),
}


def check_alerts(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for alert in config.alerts.values():
        entity = config.entities.get(alert.entity)
        if entity is None:
            errors.append(unknown_entity(config, alert.source, ("entity",), alert.entity))
        else:
            errors += _trigger(config, alert, entity)
            errors += _recipient_fields(alert, entity)
        errors += _recipient_roles(config, alert)
        errors += _templates(config, alert)
        errors += _also(config, alert)
    return errors


def _trigger(config: Config, alert: Alert, entity: Entity) -> list[ConfigError]:
    doc, trigger = alert.source, alert.trigger
    fields = known_fields(entity)
    errors = []
    if isinstance(trigger, DateTrigger):
        field = fields.get(trigger.date)
        if field is None:
            errors.append(unknown_field(entity, doc, ("trigger", "date"), trigger.date))
        elif field.value_type not in DATE_TYPES:
            errors.append(error(doc, ("trigger", "date"), "CRM-E218",
                                f"'{trigger.date}' is a {field.value_type} field; a date trigger needs a date "
                                "or datetime field"))
    if isinstance(trigger, EventTrigger):
        for i, name in enumerate(trigger.fields):
            if name not in fields:
                errors.append(unknown_field(entity, doc, ("trigger", "fields", i), name))
        if trigger.stage is not None:
            errors += _trigger_stage(config, alert, entity, trigger.stage)
    return errors


def _trigger_stage(config: Config, alert: Alert, entity: Entity, stage: str) -> list[ConfigError]:
    at = ("trigger", "stage")
    pipeline = config.pipeline_for(entity.name)
    if pipeline is None:
        return [error(alert.source, at, "CRM-E202", f"entity '{entity.name}' has no pipeline, so it has no stages")]
    if pipeline.stage(stage) is None:
        keys = [s.key for s in pipeline.stages]
        return [error(alert.source, at, "CRM-E203", f"'{stage}' is not a stage of pipeline '{pipeline.name}'",
                      did_you_mean(stage, keys))]
    return []


def _recipient_fields(alert: Alert, entity: Entity) -> list[ConfigError]:
    """`to: owner` names a user field of the record."""
    fields = known_fields(entity)
    users = [name for name, f in fields.items() if f.value_type == "user"]
    errors = []
    for i, recipient in enumerate(alert.notify):
        name = recipient.field
        if name is None:
            continue
        at = ("notify", i, "to")
        field = fields.get(name)
        if field is None:
            hint = did_you_mean(name, users) or (
                "add 'owned' to the entity's traits" if name == "owner" else
                f"user fields: {', '.join(sorted(users))}" if users else None)
            errors.append(error(alert.source, at, "CRM-E201",
                                f"'{name}' is not a field of entity '{entity.name}'", hint))
        elif field.value_type != "user":
            errors.append(error(alert.source, at, "CRM-E218",
                                f"'{name}' is a {field.value_type} field; a recipient is a user field"))
    return errors


def _recipient_roles(config: Config, alert: Alert) -> list[ConfigError]:
    errors = []
    for i, recipient in enumerate(alert.notify):
        role = recipient.target.role if recipient.target else None
        if role and role not in config.roles:
            errors.append(error(alert.source, ("notify", i, "to", "role"), "CRM-E204", f"'{role}' is not a role",
                                did_you_mean(role, config.roles)))
    return errors


def _templates(config: Config, alert: Alert) -> list[ConfigError]:
    """Each channel the alert uses needs its template files; one error per missing file."""
    doc = alert.source
    missing: dict[str, tuple] = {}     # file -> where to point
    for i, recipient in enumerate(alert.notify):
        written = doc.get(("notify", i, "via"))
        for j, channel in enumerate(recipient.via):
            place: tuple = ("notify", i, "via", j) if isinstance(written, list) else (
                ("notify", i, "via") if written is not None else ("notify", i))
            for suffix in CHANNEL_TEMPLATES.get(channel, ()):
                name = f"{alert.template}.{suffix}"
                if name not in config.templates:
                    missing.setdefault(name, place)
    explicit = doc.get(("template",)) is not None
    stems = {name.split(".")[0] for name in config.templates}
    hint = None if alert.template in stems else did_you_mean(alert.template, stems)
    return [error(doc, ("template",) if explicit else place, "CRM-E208",
                  f"templates/{name} does not exist; the alert's {_channel_of(name)} needs it", hint)
            for name, place in missing.items()]


def _channel_of(template: str) -> str:
    if template.endswith(".sms.txt"):
        return "sms"
    if template.endswith(".email.html"):
        return "e-mail"
    return "e-mail subject or in-app title"


def _also(config: Config, alert: Alert) -> list[ConfigError]:
    errors = []
    for i, action in enumerate(alert.also):
        target = config.entities.get(action.entity)
        if target is None:
            errors.append(unknown_entity(config, alert.source, ("also", i, "create"), action.entity))
            continue
        for name in action.map:
            if name not in target.fields:
                errors.append(unknown_field(target, alert.source, ("also", i, "map", name), name, at_key=True,
                                            choices=target.fields))
    return errors


CHECKS = [check_alerts]
