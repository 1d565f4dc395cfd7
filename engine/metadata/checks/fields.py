"""Field definitions: reserved names, traits, lines, and options that make sense.

    entity: deal
    traits: [owned]
    fields:
      owner: {type: user}                        # CRM-E216: `owned` adds it
      discount: {type: percent, min: 50, max: 10} # CRM-E214: min above max
      code: {type: autonumber, format: "D-{YYYY}"} # CRM-E213: no {seq}
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError, did_you_mean
from ..model import SYSTEM_COLUMNS, Config, Entity, Field
from ..schema_entity import COMMON_FIELD_KEYS, FIELD_TYPE_KEYS, RESULT_TYPES
from .common import error, links_to, quoted

RESERVED_ENTITIES = ("user", "team")
# Words of the expression language: a field with one of these names could not be written in one.
EXPRESSION_WORDS = ("and", "or", "not", "in", "if", "else", "true", "false", "null", "current_user", "old")

# The keys each field type takes: one table, shared with the JSON Schema of entities.
_COMMON_OPTIONS = frozenset(COMMON_FIELD_KEYS)
TYPE_OPTIONS: dict[str, frozenset[str]] = {t: frozenset(keys) for t, keys in FIELD_TYPE_KEYS.items()}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FORMAT_PARTS = re.compile(r"^(?:YYYY|YY|MM|DD|seq(?::\d+)?)$")   # as runtime/autonumber.py fills in

# trait -> (field, allowed types) it needs
TRAIT_FIELDS: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "calendar": (("start", frozenset({"datetime"})), ("end", frozenset({"datetime"}))),
    "task": (("due", frozenset({"datetime"})), ("assignee", frozenset({"user"})), ("done", frozenset({"bool"}))),
}
# trait -> a field type the entity needs at least one of
TRAIT_ANY_TYPE: dict[str, str] = {"survey": "rating", "document_library": "file"}


def check_reserved_names(config: Config) -> list[ConfigError]:
    """Names the engine uses itself: built-in tables, system columns, `owned`'s fields, language words."""
    errors = []
    for entity in config.entities.values():
        doc = entity.source
        if entity.name in RESERVED_ENTITIES or entity.name.startswith("crm_"):
            errors.append(error(doc, ("entity",), "CRM-E216", f"the entity name '{entity.name}' is reserved",
                                "users and teams are built in; names starting 'crm_' are the engine's tables"))
        for field in entity.fields.values():
            at = ("fields", field.name)
            if field.name in SYSTEM_COLUMNS:
                errors.append(error(doc, at, "CRM-E216", f"'{field.name}' is a system column of every entity",
                                    f"system columns: {', '.join(SYSTEM_COLUMNS)}", at_key=True))
            elif field.name in ("owner", "team") and "owned" in entity.traits and not field.system:
                errors.append(error(doc, at, "CRM-E216",
                                    f"the 'owned' trait adds the field '{field.name}'; it cannot be declared too",
                                    "remove the field, or drop 'owned' from traits", at_key=True))
            elif field.name in EXPRESSION_WORDS:
                errors.append(error(doc, at, "CRM-E216",
                                    f"'{field.name}' is a word of the expression language", at_key=True))
    return errors


def check_traits(config: Config) -> list[ConfigError]:
    errors = []
    for entity in config.entities.values():
        traits = entity.source.get(("traits",)) or []
        for i, trait in enumerate(traits if isinstance(traits, list) else [traits]):
            at = ("traits", i)
            for name, types in TRAIT_FIELDS.get(trait, ()):
                field = entity.fields.get(name)
                wanted = " or ".join(sorted(types))
                if field is None:
                    errors.append(error(entity.source, at, "CRM-E211",
                                        f"the '{trait}' trait needs a {wanted} field '{name}'",
                                        f"add '{name}: {{type: {sorted(types)[0]}}}' to fields"))
                elif field.type not in types:
                    errors.append(error(entity.source, at, "CRM-E211",
                                        f"the '{trait}' trait needs '{name}' to be a {wanted} field, "
                                        f"not {field.type}"))
            wanted_type = TRAIT_ANY_TYPE.get(trait)
            if wanted_type and not any(f.type == wanted_type for f in entity.fields.values()):
                errors.append(error(entity.source, at, "CRM-E211",
                                    f"the '{trait}' trait needs at least one {wanted_type} field"))
    return errors


def check_lines_link_back(config: Config) -> list[ConfigError]:
    """A `lines` field's entity has a link back to the parent, so its rows know their parent."""
    errors = []
    for entity in config.entities.values():
        for field in entity.fields.values():
            child = config.entities.get(field.entity or "") if field.type == "lines" else None
            if child is not None and not links_to(child, entity.name):
                errors.append(error(entity.source, ("fields", field.name, "entity"), "CRM-E212",
                                    f"entity '{child.name}' has no link field to '{entity.name}', "
                                    "so it cannot hold its lines",
                                    f"add '{entity.name}: {{type: link, entity: {entity.name}}}' "
                                    f"to {child.name}'s fields"))
    return errors


def check_field_options(config: Config) -> list[ConfigError]:
    """Options that belong to the field's type, with valid values, that agree with each other."""
    errors: list[ConfigError] = []
    for entity in config.entities.values():
        for field in entity.fields.values():
            if field.system:
                continue
            errors += _misplaced_options(entity, field)
            errors += _option_values(entity, field)
            errors += _consistency(entity, field)
    return errors


def _misplaced_options(entity: Entity, field: Field) -> list[ConfigError]:
    spec = entity.source.get(("fields", field.name))
    allowed = TYPE_OPTIONS.get(field.type)
    if not isinstance(spec, dict) or allowed is None:
        return []
    errors = []
    for key in spec:
        if key in _COMMON_OPTIONS or key in allowed:
            continue
        owners = sorted(t for t, keys in TYPE_OPTIONS.items() if key in keys)
        hint = did_you_mean(key, allowed | _COMMON_OPTIONS) or (
            f"'{key}' is an option of {', '.join(owners)} fields" if owners else None)
        errors.append(error(entity.source, ("fields", field.name, key), "CRM-E213",
                            f"'{key}' is not an option of {_a(field.type)} field", hint, at_key=True))
    if field.type not in {"formula", "rollup", "lines", "file"}:
        return errors
    for key in ("unique", "index"):
        if spec.get(key):
            errors.append(error(entity.source, ("fields", field.name, key), "CRM-E213",
                                f"a {field.type} field has no column, so it cannot be {key}" +
                                ("d" if key == "index" else ""), at_key=True))
    return errors


def _option_values(entity: Entity, field: Field) -> list[ConfigError]:
    doc, at = entity.source, ("fields", field.name)
    errors = []
    if field.currency is not None and not _CURRENCY.match(str(field.currency)):
        errors.append(error(doc, at + ("currency",), "CRM-E213",
                            f"'{field.currency}' is not a currency code", "write an ISO 4217 code such as EUR or HUF"))
    if field.pattern is not None:
        try:
            re.compile(str(field.pattern))
        except re.error as exc:
            errors.append(error(doc, at + ("pattern",), "CRM-E213",
                                f"the pattern is not a valid regular expression: {exc}"))
    if field.type == "autonumber" and field.format is not None:
        parts = _PLACEHOLDER.findall(str(field.format))
        wrong = [p for p in parts if not _FORMAT_PARTS.match(p)]
        if wrong:
            errors.append(error(doc, at + ("format",), "CRM-E213",
                                f"the format has the unknown placeholder '{{{wrong[0]}}}'",
                                "placeholders: {YYYY}, {YY}, {MM}, {DD}, {seq} or {seq:05}"))
        elif not any(p.startswith("seq") for p in parts):
            errors.append(error(doc, at + ("format",), "CRM-E213",
                                "the format has no {seq} placeholder, so every record would get the same number",
                                "add {seq} or {seq:05}"))
    if field.result is not None and field.result not in RESULT_TYPES:
        errors.append(error(doc, at + ("result",), "CRM-E213", f"'{field.result}' cannot be a {field.type}'s result",
                            did_you_mean(field.result, RESULT_TYPES) or f"results: {quoted(RESULT_TYPES)}"))
    return errors


def _consistency(entity: Entity, field: Field) -> list[ConfigError]:
    doc, at = entity.source, ("fields", field.name)
    errors = []
    lo, hi = _number(field.min), _number(field.max)
    if lo is not None and hi is not None and lo > hi:
        errors.append(error(doc, at + ("min",), "CRM-E214", f"min ({field.min}) is above max ({field.max})"))
    if field.type == "percent":
        if lo is not None and lo < 0 or hi is not None and hi > 100:
            errors.append(error(doc, at + ("min",) if lo is not None and lo < 0 else at + ("max",), "CRM-E214",
                                "a percent lies between 0 and 100"))
    if field.type == "rating" and hi is not None and hi < 1:
        errors.append(error(doc, at + ("max",), "CRM-E214", f"a rating's max must be at least 1, not {field.max}"))
    if field.max_length is not None and _number(field.max_length) is not None and field.max_length < 1:
        errors.append(error(doc, at + ("max_length",), "CRM-E214", "max_length must be at least 1"))
    if field.type in ("choice", "multichoice") and not field.options:
        errors.append(error(doc, at + ("type",), "CRM-E214", f"a {field.type} field needs options",
                            "add options: [first, second]"))
    if field.type == "link" and field.required and field.on_delete == "set_null":
        errors.append(error(doc, at + ("on_delete",), "CRM-E214",
                            "a required link cannot be set to null when its record is deleted",
                            "use on_delete: restrict or cascade, or make the link optional"))
    errors += _default(entity, field, lo, hi)
    return errors


def _default(entity: Entity, field: Field, lo: float | None, hi: float | None) -> list[ConfigError]:
    at = ("fields", field.name, "default")
    default = field.default
    if default is None:
        return []
    if field.type in ("choice", "multichoice") and field.options:
        values = default if isinstance(default, list) else [default]
        wrong = [str(v) for v in values if str(v) not in field.options]
        if wrong:
            return [error(entity.source, at, "CRM-E214", f"the default '{wrong[0]}' is not one of the options",
                          did_you_mean(wrong[0], field.options) or f"options: {quoted(field.options)}")]
    value = _number(default)
    if value is not None and field.type in ("int", "decimal", "money", "percent", "rating"):
        low = 1 if field.type == "rating" and lo is None else lo
        if low is not None and value < low or hi is not None and value > hi:
            return [error(entity.source, at, "CRM-E214",
                          f"the default {default} is outside the field's range {_range(low, hi)}")]
    return []


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _range(lo: float | None, hi: float | None) -> str:
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


CHECKS = [check_reserved_names, check_traits, check_lines_link_back, check_field_options]
