"""roles.yaml: the entities, reports and hidden fields a role names, and an
inheritance that ends.

    roles:
      rep: {inherits: manager}
      manager: {inherits: rep}     # CRM-E209, reported once for the cycle

The model's Role holds inheritance already applied, so these checks read what
each role itself wrote from its source document.
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..model import Config, Role
from ..forecasts import forecasts
from .common import error, known_fields, raw_list

REPORT_SPACES = ("reports", "kpis", "quotas", "dashboards")


def check_role_references(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for role in config.roles.values():
        doc, base = role.source, ("roles", role.name)
        if role.inherits is not None and role.inherits not in config.roles:
            errors.append(error(doc, base + ("inherits",), "CRM-E204", f"'{role.inherits}' is not a role",
                                did_you_mean(role.inherits, [r for r in config.roles if r != role.name])))
        entities = doc.get(base + ("entities",)) or {}
        for name in entities if isinstance(entities, dict) else ():
            if name not in config.entities:
                errors.append(error(doc, base + ("entities", name), "CRM-E200",
                                    f"'{name}' is not an entity of this configuration",
                                    did_you_mean(name, config.entities), at_key=True))
        names = [n for space in REPORT_SPACES for n in getattr(config, space)] + list(forecasts(config))
        for i, name in enumerate(raw_list(doc, base + ("reports",))):
            if str(name) not in names:
                errors.append(error(doc, base + ("reports", i), "CRM-E205",
                                    f"'{name}' is not a report, KPI, quota, dashboard or forecast",
                                    did_you_mean(str(name), names)))
        errors += _hidden_fields(config, role)
    return errors


def _hidden_fields(config: Config, role: Role) -> list[ConfigError]:
    doc, base = role.source, ("roles", role.name, "hidden_fields")
    errors = []
    for i, item in enumerate(raw_list(doc, base)):
        at = base + (i,)
        entity_name, dot, field_name = str(item).partition(".")
        if not dot or not entity_name or not field_name or "." in field_name:
            errors.append(error(doc, at, "CRM-E221", f"'{item}' is not of the form entity.field",
                                "e.g. account.annual_revenue"))
            continue
        entity = config.entities.get(entity_name)
        if entity is None:
            errors.append(error(doc, at, "CRM-E200", f"'{entity_name}' is not an entity of this configuration",
                                did_you_mean(entity_name, config.entities)))
        elif field_name not in known_fields(entity):
            errors.append(error(doc, at, "CRM-E201", f"'{field_name}' is not a field of entity '{entity_name}'",
                                did_you_mean(field_name, entity.fields)))
    return errors


def check_role_cycles(config: Config) -> list[ConfigError]:
    """One error per inheritance cycle, at the `inherits` of its first role by name."""
    parent = {r.name: r.inherits for r in config.roles.values() if r.inherits in config.roles}
    reported: set[str] = set()
    errors = []
    for start in sorted(parent):
        trail: list[str] = []
        node: str | None = start
        while node is not None and node not in trail and node not in reported:
            trail.append(node)
            node = parent.get(node)
        if node is None or node in reported:
            reported.update(trail)
            continue
        cycle = trail[trail.index(node):]
        reported.update(trail)
        first = min(cycle)
        loop = cycle[cycle.index(first):] + cycle[:cycle.index(first)] + [first]
        role = config.roles[first]
        errors.append(error(role.source, ("roles", first, "inherits"), "CRM-E209",
                            f"role inheritance goes round in a cycle: {' -> '.join(loop)}",
                            "one of these roles must not inherit"))
    return errors


CHECKS = [check_role_references, check_role_cycles]
