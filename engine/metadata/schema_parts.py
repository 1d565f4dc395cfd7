"""Building blocks for the configuration language's JSON Schemas.

Small functions returning schema fragments (a name, a label, a duration, a
closed mapping, ...) so that `schemas.py` and `schema_entity.py` read like the
language reference. Each fragment carries a `title` saying what kind of value
it is and a `description` saying what it means: editors show both, the shape
layer builds its messages from them and the reference docs are rendered from
them, so a consultant meets the same words everywhere.

    closed({"entity": name("The entity this link points to.")}, required=["entity"])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

Schema = dict[str, Any]

_NAME = r"[a-z][a-z0-9_]{0,39}"
NAME = rf"^{_NAME}$"
FIELD_PATH = rf"^{_NAME}(\.{_NAME})*$"
FIELD_OF_ENTITY = rf"^{_NAME}\.{_NAME}$"
SORT = rf"^-?{_NAME}(\.{_NAME})*$"
RECORD_REF = rf"^\${_NAME}$"
DURATION = r"^[0-9]+[dwhm]$"
LOCALE = r"^[a-z]{2,3}([_-][A-Za-z0-9]{2,8})?$"
CURRENCY = r"^[A-Z]{3}$"
TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE = rf"^{_DATE}$"
DATE_OR_DATETIME = rf"^{_DATE}( ([01][0-9]|2[0-3]):[0-5][0-9])?$"
MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
FILE_SIZE = r"^[1-9][0-9]* ?(KB|MB|GB)$"
FILE_EXTENSION = r"^[a-z0-9]{1,10}$"
AUTONUMBER = r"\{seq(:[0-9]+)?\}"  # searched, not anchored: the rest of the format is free text
_WEEKDAY = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
SCHEDULE = (rf"^(daily|weekdays|{_WEEKDAY}|weekly {_WEEKDAY}|monthly ([1-9]|1[0-9]|2[0-8]))"
            r"( ([01][0-9]|2[0-3]):[0-5][0-9])?$")
FIXED_PERIODS = ("today", "this_week", "last_week", "this_month", "last_month", "this_quarter",
                 "last_quarter", "this_year", "last_year", "this_fiscal_year", "last_fiscal_year")
PERIOD = rf"^({'|'.join(FIXED_PERIODS)}|(last|next)_[1-9][0-9]*_(days|months))$"


@dataclass(frozen=True, slots=True)
class Form:
    """How a patterned text value is named in messages and docs."""

    short: str    # "duration": the value column of the reference
    noun: str     # "a duration": "'30x' is not a duration: ..."
    explain: str  # what a good value looks like
    choices: tuple[str, ...] = ()  # known words, for "did you mean"


# Every pattern used in the schemas, keyed by the pattern itself, so the shape
# layer can explain a mismatch in words instead of printing a regex.
FORMS: dict[str, Form] = {
    NAME: Form("name", "a valid name", "lower-case letters, digits and _, starting with a letter"),
    FIELD_PATH: Form("field path", "a field path",
                     "field names joined with dots, like amount or account.industry"),
    FIELD_OF_ENTITY: Form("entity.field", "of the form entity.field", "like account.annual_revenue"),
    SORT: Form("sort field", "a sort field", "a field path, with a leading - for descending (-amount)"),
    RECORD_REF: Form("record reference", "a record reference",
                     "$ followed by the name given with as earlier in the test ($acme)"),
    DURATION: Form("duration", "a duration", "a number and a unit d, w, h or m (30d, 2w, 12h, 45m)"),
    LOCALE: Form("locale", "a locale code", "a language code like en, hu or pt_BR"),
    CURRENCY: Form("currency", "a currency code", "three capital letters from ISO 4217, like HUF or EUR"),
    TIME: Form("time", "a time of day", "HH:MM on a 24-hour clock, in quotes (\"08:00\")"),
    DATE: Form("date", "a date", "YYYY-MM-DD, like 2025-03-31"),
    DATE_OR_DATETIME: Form("date or date-time", "a date or a date and time",
                           "YYYY-MM-DD or \"YYYY-MM-DD HH:MM\" in the company's timezone"),
    MONTH_DAY: Form("MM-DD", "a month and day", "MM-DD in quotes, like \"01-01\" or \"07-01\""),
    FILE_SIZE: Form("file size", "a file size", "a whole number and KB, MB or GB, like 10MB"),
    FILE_EXTENSION: Form("file extension", "a file extension", "lower-case, without the dot: pdf, png"),
    AUTONUMBER: Form("autonumber format", "an autonumber format",
                     "text containing {seq} or {seq:05}, optionally {YYYY} and {MM}: D-{YYYY}-{seq:05}"),
    SCHEDULE: Form("schedule", "a schedule",
                   "daily, weekdays, a weekday name, weekly <day> or monthly <1-28>, then a time: "
                   "\"daily 07:00\", \"monday 09:30\", \"monthly 1 08:00\""),
    PERIOD: Form("period", "a period",
                 "this_month, last_quarter, last_30_days, next_3_months, ...",
                 FIXED_PERIODS),
}


def _with(schema: Schema, description: str | None, title: str | None = None) -> Schema:
    if title:
        schema = {"title": title, **schema}
    if description:
        schema["description"] = description
    return schema


def text(description: str, *, title: str | None = None) -> Schema:
    """Free text (not empty)."""
    return _with({"type": "string", "minLength": 1}, description, title)


def patterned(pattern: str, description: str) -> Schema:
    """Text of one of the `FORMS`; its title is the form's short name."""
    return _with({"type": "string", "pattern": pattern}, description, FORMS[pattern].short.capitalize())


def name(description: str) -> Schema:
    """A name: of an entity, field, stage, role, report, ..."""
    return patterned(NAME, description)


def names(description: str, *, min_items: int = 0) -> Schema:
    """A list of distinct names."""
    return list_of(patterned(NAME, ""), description, min_items=min_items, unique=True)


def field_path(description: str) -> Schema:
    return patterned(FIELD_PATH, description)


def record_ref(description: str) -> Schema:
    return patterned(RECORD_REF, description)


def expression(description: str) -> Schema:
    """An expression of section 11; its meaning is checked by the expression compiler."""
    return _with({"type": "string", "minLength": 1}, description, "Expression")


def map_value(description: str) -> Schema:
    """A value in a `map` or `set`: an expression, or a plain number, bool or null."""
    return _with({"type": ["string", "number", "boolean", "null"]}, description, "Expression")


def label(description: str = "Shown to users; text, or a map from locale to text.") -> Schema:
    """A label: text, or a map locale -> text (`{en: Deal, hu: Üzlet}`)."""
    return _with({
        "type": ["string", "object"],
        "minLength": 1,
        "minProperties": 1,
        "propertyNames": {"pattern": LOCALE},
        "additionalProperties": {"type": "string", "minLength": 1},
    }, description, "Label")


def duration(description: str) -> Schema:
    return patterned(DURATION, description)


def durations(description: str) -> Schema:
    """One duration or a list of them (`30d` or `[60d, 30d, 7d]`)."""
    return one_or_many(DURATION, description)


def one_or_many(pattern: str, description: str) -> Schema:
    """One value of a form, or a list of them (`won` or `[won, lost]`)."""
    return _with({
        "type": ["string", "array"],
        "pattern": pattern,
        "items": patterned(pattern, ""),
        "minItems": 1,
        "uniqueItems": True,
    }, description, f"{FORMS[pattern].short.capitalize()}s")


def text_or(pattern: str, mapping: Schema, title: str, description: str) -> Schema:
    """Text of a form, or a mapping (`owner` or `{role: sales_manager}`).

    One schema with two types rather than an `anyOf`: `pattern` only looks at
    text and the mapping keywords only at mappings, so a mistake is reported
    once, against the form that was written.
    """
    merged: Schema = {"type": ["string", "object"], "pattern": pattern}
    merged.update({k: v for k, v in mapping.items() if k not in ("type", "title", "description")})
    return _with(merged, description, title)


def choice(values: Iterable[Any], title: str, description: str) -> Schema:
    """One of a fixed set of words; `title` names the set in messages ("a field type")."""
    return _with({"enum": list(values)}, description, title)


def flag(description: str) -> Schema:
    return _with({"type": "boolean"}, description)


def integer(description: str, *, minimum: int | None = None, maximum: int | None = None) -> Schema:
    return _with(_bounded({"type": "integer"}, minimum, maximum), description)


def number(description: str, *, minimum: float | None = None, maximum: float | None = None) -> Schema:
    return _with(_bounded({"type": "number"}, minimum, maximum), description)


def _bounded(schema: Schema, minimum: float | None, maximum: float | None) -> Schema:
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def closed(properties: dict[str, Schema], required: Iterable[str] = (), *,
           description: str | None = None, title: str | None = None, **extra: Any) -> Schema:
    """A mapping with exactly these keys: anything else is an unknown key."""
    schema: Schema = {"type": "object", "properties": properties}
    req = list(required)
    if req:
        schema["required"] = req
    schema["additionalProperties"] = False
    schema.update(extra)
    return _with(schema, description, title)


def map_of(value: Schema, description: str, *, keys: str = NAME, min_entries: int = 0) -> Schema:
    """A mapping keyed by user-chosen names (fields, roles, segments, ...)."""
    schema: Schema = {"type": "object", "propertyNames": {"pattern": keys}, "additionalProperties": value}
    if min_entries:
        schema["minProperties"] = min_entries
    return _with(schema, description)


def list_of(item: Schema, description: str, *, min_items: int = 0, unique: bool = False) -> Schema:
    schema: Schema = {"type": "array", "items": item}
    if min_items:
        schema["minItems"] = min_items
    if unique:
        schema["uniqueItems"] = True
    return _with(schema, description)


def any_value(description: str) -> Schema:
    """A literal of any YAML type but a mapping (defaults, test values)."""
    return _with({"type": ["string", "number", "boolean", "null", "array"]}, description, "Value")


def needs_one_of(*keys: str) -> Schema:
    """At least one of `keys` must be given (an `anyOf` of `required`)."""
    return {"anyOf": [{"required": [key]} for key in keys]}


def exclusive(*keys: str) -> list[Schema]:
    """No two of `keys` together: one `not: {required: [a, b]}` per pair.

    The `type: object` inside keeps the rule from refusing a text value where
    a schema takes text or a mapping (`to: owner`).
    """
    return [{"not": {"type": "object", "required": [a, b]}} for i, a in enumerate(keys) for b in keys[i + 1:]]


def when_equals(key: str, value: Any, then: Schema, *, noun: str | None = None) -> Schema:
    """`then` applies when `key` is given and equals `value`.

    `noun` names the case in messages ("a link field needs 'entity'"); it is
    stored as the `then` schema's title.
    """
    if noun:
        then = {"title": noun, **then}
    return {"if": {"properties": {key: {"const": value}}, "required": [key]}, "then": then}


def one_of_forms(title: str, description: str, forms: list[Schema]) -> Schema:
    """Alternative shapes (test steps, checks). Each form's first required key
    tells them apart, which is how the shape layer picks the form to report on."""
    return _with({"anyOf": forms}, description, title)
