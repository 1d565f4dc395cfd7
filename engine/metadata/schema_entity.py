"""The JSON Schema of an entity file (`entities/<name>.yaml`, spec section 4).

Fields are the largest part of the language: every field takes the common
keys, and each type adds its own (`max_length` only for string and text,
`options` only for choice and multichoice, ...). The schema lists the union
of all keys under `properties` (so editors complete and explain them), and an
`allOf` of `if type == X then <keys X takes>` narrows them per type, which
keeps messages short: "'max_length' does not apply to an int field".
"""
from __future__ import annotations

from .schema_parts import (
    AUTONUMBER, CURRENCY, FIELD_PATH, FILE_EXTENSION, FILE_SIZE, NAME, SORT, Schema, any_value, choice, closed, expression, field_path, flag, integer, label, list_of,
    map_of, map_value, name, names, patterned, text, when_equals,
)

FIELD_TYPES: tuple[str, ...] = (
    "string", "text", "int", "decimal", "money", "percent", "bool", "date", "datetime",
    "choice", "multichoice", "email", "phone", "url", "link", "user", "lines", "file",
    "formula", "rollup", "autonumber", "stage", "rating",
)

# Types a formula or rollup may compute: the value types, not references.
RESULT_TYPES: tuple[str, ...] = (
    "string", "text", "int", "decimal", "money", "percent", "bool", "date", "datetime")

TRAITS: tuple[str, ...] = (
    "owned", "timeline", "calendar", "task", "commentable", "attachments", "document_library", "survey")

COMMON_FIELD_KEYS: tuple[str, ...] = (
    "type", "label", "required", "default", "help", "unique", "index", "search", "readonly",
    "renamed_from")

# Keys each type takes beyond the common ones, and the ones it cannot do without.
FIELD_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "string": ("max_length", "pattern"),
    "text": ("max_length",),
    "int": ("min", "max"),
    "decimal": ("min", "max", "scale"),
    "money": ("min", "max", "currency"),
    "percent": ("min", "max"),
    "bool": (),
    "date": ("min", "max"),
    "datetime": ("min", "max"),
    "choice": ("options",),
    "multichoice": ("options",),
    "email": (),
    "phone": (),
    "url": (),
    "link": ("entity", "on_delete", "filter"),
    "user": (),
    "lines": ("entity",),
    "file": ("multiple", "max_size", "accept"),
    "formula": ("expr", "result"),
    "rollup": ("of", "expr", "filter", "result"),
    "autonumber": ("format",),
    "stage": ("pipeline",),
    "rating": ("max",),
}
FIELD_TYPE_REQUIRED: dict[str, tuple[str, ...]] = {
    "choice": ("options",), "multichoice": ("options",), "link": ("entity",), "lines": ("entity",),
    "formula": ("expr",), "rollup": ("of", "expr"), "autonumber": ("format",), "stage": ("pipeline",),
}

_NUMERIC = ("int", "decimal", "money", "percent")


def _options() -> Schema:
    return {
        "title": "Options",
        "type": ["array", "object"],
        "items": patterned(NAME, ""),
        "minItems": 1,
        "uniqueItems": True,
        "propertyNames": {"pattern": NAME},
        "additionalProperties": label(),
        "minProperties": 1,
        "description": "The keys a value may take: a list of keys, or a map from key to label.",
    }


def _field_keys() -> dict[str, Schema]:
    return {
        "type": choice(FIELD_TYPES, "Field type", "What the field stores."),
        "label": label(),
        "required": flag("A record cannot be saved without a value."),
        "default": any_value("The value of a new record: a literal for text-like fields, numbers and "
                             "bools; for other types a text default is an expression (today() + days(30))."),
        "help": label("Help text shown under the input."),
        "unique": flag("No two records may have the same value."),
        "index": flag("Add a database index (for fields often filtered or sorted on)."),
        "search": flag("Included in the entity's full-text search."),
        "readonly": flag("Shown but not editable in forms."),
        "renamed_from": name("The field's previous name: its data moves with it."),
        "max_length": integer("Longest value in characters (string: default 255).", minimum=1),
        "pattern": text("A regular expression the value must match."),
        "min": {"type": ["number", "string"], "title": "Bound",
                "description": "Smallest value (for dates: a date or an expression such as today())."},
        "max": {"type": ["number", "string"], "title": "Bound",
                "description": "Largest value (for dates: a date or an expression); "
                               "for rating, the top score (default 5)."},
        "scale": integer("Digits after the decimal point (default 2).", minimum=0, maximum=10),
        "currency": patterned(CURRENCY, "Currency of the amount (default: crm.yaml's currency)."),
        "options": _options(),
        "entity": name("The entity this field links to (link) or whose rows it holds (lines)."),
        "on_delete": choice(("restrict", "cascade", "set_null"), "On-delete rule",
                            "What happens to this record when the linked record is deleted "
                            "(default restrict)."),
        "filter": expression("Limits the choices (link; $name is a field of the record being edited) "
                             "or the rows aggregated (rollup)."),
        "multiple": flag("Allows several attachments."),
        "max_size": patterned(FILE_SIZE, "Largest accepted file (10MB)."),
        "accept": list_of(patterned(FILE_EXTENSION, ""), "Accepted file extensions ([pdf, pptx, png]).",
                          min_items=1, unique=True),
        "expr": expression("What the field computes (formula), or the aggregate over the rows "
                           "(rollup: sum(line_total), count(), max(due_on))."),
        "result": choice(RESULT_TYPES, "Result type", "The type of the computed value "
                                                      "(inferred from the expression when omitted)."),
        "of": patterned(FIELD_PATH, "The rows to aggregate: a lines field, an entity linking here, "
                                    "or entity.link_field."),
        "format": patterned(AUTONUMBER, "The number's format: {YYYY}, {MM} and {seq:05} are filled in."),
        "pipeline": name("The pipeline whose current stage this field holds."),
    }


def _per_type(field_type: str) -> Schema:
    """What a field of `field_type` may and must contain."""
    allowed = COMMON_FIELD_KEYS + FIELD_TYPE_KEYS[field_type]
    noun = f"{'an' if field_type[0] in 'aeiou' else 'a'} {field_type} field"
    then: Schema = {"propertyNames": {"title": noun, "enum": list(allowed)}}
    required = FIELD_TYPE_REQUIRED.get(field_type)
    if required:
        then["required"] = list(required)
    if field_type in _NUMERIC:
        then["properties"] = {"min": {"type": "number"}, "max": {"type": "number"}}
    elif field_type in ("date", "datetime"):
        bound = {"type": "string", "minLength": 1}
        then["properties"] = {"min": bound, "max": bound}
    elif field_type == "rating":
        then["properties"] = {"max": {"type": "integer", "minimum": 2, "maximum": 10}}
    return when_equals("type", field_type, then, noun=noun)


def field_schema() -> Schema:
    """One field definition (`amount: {type: money, min: 0}`)."""
    return closed(_field_keys(), required=["type"], title="Field",
                  description="A field: its type, and the keys the type takes.",
                  allOf=[_per_type(t) for t in FIELD_TYPES])


def _views() -> Schema:
    list_view = closed({
        "columns": list_of(field_path(""), "Columns of the list, in order.", min_items=1),
        "sort": patterned(SORT, "Default sort: a field, with - for descending (-amount)."),
        "filters": list_of(field_path(""), "Fields offered as filters above the list.", unique=True),
        "page_size": integer("Rows per page (default 50).", minimum=1, maximum=500),
    }, description="The list page.")
    section = closed({
        "label": label(),
        "fields": names("Fields in this section, in order.", min_items=1),
    }, required=["fields"])
    form_view = closed({
        "sections": list_of(section, "Sections of the form, in order.", min_items=1),
    }, required=["sections"], description="The create/edit form.")
    detail_view = closed({
        "related": names("Related lists on the record page: entities linking here."),
        "charts": names("Reports shown on the record page, filtered to this record."),
    }, description="The record page.")
    return closed({"list": list_view, "form": form_view, "detail": detail_view},
                  description="How records are listed, edited and shown.")


def _target(description: str) -> Schema:
    """Who gets assigned: a team, a role, or one user."""
    return closed({
        "team": name("A team."),
        "role": name("A role."),
        "user": text("A username."),
    }, description=description, minProperties=1)


def _scoring() -> Schema:
    rule = closed({
        "when": expression("Condition on the record."),
        "points": integer("Points added when the condition holds (negative subtracts)."),
    }, required=["when", "points"])
    return closed({
        "field": name("The int field the score is stored in (default score)."),
        "rules": list_of(rule, "Scoring rules; the points of every matching rule are added.", min_items=1),
    }, required=["rules"], description="Lead scoring, recomputed on every save.")


def _assignment() -> Schema:
    rule = closed({
        "when": expression("Condition on the new record."),
        "to": _target("Where matching records go."),
    }, required=["when", "to"])
    return closed({
        "strategy": choice(("round_robin", "least_loaded", "by_rule"), "Assignment strategy",
                           "How the owner of a new record is chosen."),
        "among": _target("The people to choose from (round_robin, least_loaded)."),
        "rules": list_of(rule, "For by_rule: the first matching rule wins.", min_items=1),
    }, required=["strategy"], description="Who owns a record created without an owner.",
        allOf=[when_equals("strategy", "by_rule", {"required": ["rules"]}, noun="the by_rule strategy")])


def _conversion() -> Schema:
    step = closed({
        "entity": name("The entity of the record to make."),
        "match_on": names("Reuse an existing record whose listed fields equal the mapped values.",
                          min_items=1),
        "map": map_of(map_value(""), "Field of the new record -> expression ($name: a record made "
                                     "earlier in this conversion)."),
    }, required=["entity", "map"])
    action = closed({
        "label": label("The button's label."),
        "when": expression("The button shows only when this holds."),
        "create": list_of(step, "Records to make, in order.", min_items=1),
        "then": closed({
            "set": map_of(map_value(""), "Field -> new value (expression)."),
        }, description="What changes on this record afterwards."),
    }, required=["create"])
    return map_of(action, "Buttons that make other records from this one.")


def _documents() -> Schema:
    document = closed({
        "template": text("The template in templates/ (quote.html)."),
        "format": choice(("pdf", "html"), "Document format", "The output format (default pdf)."),
        "filename": text("File name of the stored attachment; {field} is filled in."),
        "label": label(),
    }, required=["template"])
    return map_of(document, "Documents generated from templates, stored as attachments.")


def entity_properties() -> dict[str, Schema]:
    """The top-level keys of an entity file."""
    return {
        "entity": name("The entity's name; also its file's stem."),
        "label": label(),
        "plural": label("The plural label (lists, menus)."),
        "title": name("The field used as the record's title in links and lists."),
        "renamed_from": name("The entity's previous name: its table and data move with it."),
        "traits": list_of(choice(TRAITS, "Trait", ""), "Engine behaviours to switch on (section 4.3).",
                          unique=True),
        "fields": map_of(field_schema(), "The entity's fields, by name."),
        "validations": list_of(closed({
            "rule": expression("Must hold for the record to be saved."),
            "message": label("Shown when the rule does not hold."),
        }, required=["rule"]), "Rules checked on every save."),
        "views": _views(),
        "segments": map_of(closed({
            "label": label(),
            "filter": expression("Which records the tab shows."),
        }, required=["filter"]), "Saved filters shown as tabs on the list."),
        "indexes": list_of(names("", min_items=1), "Extra database indexes, each a list of fields."),
        "scoring": _scoring(),
        "assignment": _assignment(),
        "conversion": _conversion(),
        "documents": _documents(),
    }
