"""The shape check: one YAML document against its kind's JSON Schema.

jsonschema finds the problems; this module says them the way a consultant
reads them. Every error becomes a `ConfigError` placed on the offending value
(or, for a key that is not allowed, on the key itself), with a stable code, the
dotted path and a short message free of schema words:

    entities/deal.yaml:6:22: CRM-E103 fields.amount.type: 'monye' is not a field type (did you mean 'money'?)

Alternatives (`anyOf`: a test step is one of eleven forms) are reported
against the one form the consultant evidently meant, never as a list of every
form's complaints.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from . import shape_fast
from .errors import ConfigError, Location, did_you_mean
from .schema_parts import FORMS, NAME
from .model import FIELD_TYPES
from .schema_entity import _per_type
from .schemas import KINDS, schema_for
from .yamlsafe import Path_, SourceDoc, dotted

# Words YAML 1.1 read as bools; our YAML 1.2 reader keeps them as text.
_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false"}
_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number",
               "boolean": "true or false", "array": "a list", "object": "a mapping", "null": "null"}
_LISTED_AT_MOST = 25  # longer lists of allowed words are left to the reference docs


@lru_cache(maxsize=None)
def _validator(kind: str) -> Draft202012Validator:
    # Compiling a validator costs far more than running it: once per kind.
    schema = schema_for(kind)
    if kind == "entity":
        # The per-type rules of a field are an allOf of one if/then per field
        # type; evaluating all of them for every field was most of the time
        # spent validating a folder. They are applied per field instead, picking
        # the one rule that matches the field's type (`_field_type_errors`).
        schema = copy.deepcopy(schema)
        schema["properties"]["fields"]["additionalProperties"].pop("allOf", None)
    return Draft202012Validator(schema)


@lru_cache(maxsize=None)
def _field_type_validator(field_type: str) -> Draft202012Validator:
    return Draft202012Validator({"allOf": [_per_type(field_type)]})


def _field_type_errors(data: object) -> Iterator[ValidationError]:
    fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(fields, dict):
        return
    for name, spec in fields.items():
        if isinstance(spec, dict) and spec.get("type") in FIELD_TYPES:
            for error in _field_type_validator(spec["type"]).iter_errors(spec):
                error.path.extendleft(reversed(("fields", name)))
                yield error


def check_shape(doc: SourceDoc, kind: str) -> list[ConfigError]:
    """Every shape problem of `doc` read as a document of `kind`, sorted by place."""
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    # Unknown keys first, so that when a key is both unknown and not allowed for
    # its field type the clearer "unknown key" message is the one kept.
    if shape_fast.is_valid(doc.data, kind):
        return []
    found = list(_validator(kind).iter_errors(doc.data))
    if kind == "entity":
        found.extend(_field_type_errors(doc.data))
    raw = sorted(found, key=lambda e: e.validator != "additionalProperties")
    kept: dict[tuple[str, ...], ConfigError] = {}
    for error in raw:
        for problem in _explain(doc, error):
            same = (problem.code, problem.path) if problem.code == "CRM-E100" else (
                problem.code, problem.path, problem.message)
            kept.setdefault(same, problem)
    return sorted(kept.values(), key=ConfigError.sort_key)


# ---------------------------------------------------------------- dispatch

def _explain(doc: SourceDoc, error: ValidationError) -> list[ConfigError]:
    path: Path_ = tuple(error.absolute_path)
    schema_path = error.relative_schema_path
    if len(schema_path) >= 2 and schema_path[-2] == "propertyNames":
        return [_bad_key(doc, path, error)]
    handler = _HANDLERS.get(str(error.validator), _unexpected)
    return handler(doc, path, error)


def _problem(location: Location, code: str, path: Path_, message: str, hint: str | None = None) -> ConfigError:
    return ConfigError(location, code, dotted(path), message, hint)


# ---------------------------------------------------------------- keys

def _unknown_keys(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    allowed = list(error.schema.get("properties", {}))
    return [_problem(doc.key_loc(path + (key,)), "CRM-E100", path + (key,), f"unknown key '{key}'",
                     did_you_mean(key, allowed) or _listing("allowed here", allowed))
            for key in error.instance if key not in allowed]


def _bad_key(doc: SourceDoc, path: Path_, error: ValidationError) -> ConfigError:
    """A key rejected by `propertyNames`: a bad name, or a key its field type does not take."""
    key = str(error.instance)
    where, at = doc.key_loc(path + (key,)), path + (key,)
    if error.validator == "enum":
        noun = error.schema.get("title")
        message = f"'{key}' does not apply to {noun}" if noun else f"unknown key '{key}'"
        return _problem(where, "CRM-E100", at, message, did_you_mean(key, error.validator_value))
    if error.validator == "pattern":
        return _problem(where, "CRM-E104", at, *_form_message(key, str(error.validator_value)))
    return _problem(where, "CRM-E104", at, f"'{key}' is not allowed as a key here")


def _missing(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    instance, schema = error.instance, error.schema
    # A titled schema without properties is a conditional case ("a link field").
    noun = schema.get("title") if "properties" not in schema else None
    problems = []
    for key in error.validator_value:
        if key in instance:
            continue
        message = f"{noun} needs '{key}'" if noun else f"'{key}' is missing"
        about = schema.get("properties", {}).get(key, {}).get("description")
        problems.append(_problem(doc.loc(path), "CRM-E101", path, message, _as_hint(key, about)))
    return problems


def _needs_together(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    return [_problem(doc.key_loc(path + (key,)), "CRM-E107", path + (key,), f"'{key}' needs '{other}' as well")
            for key, others in error.validator_value.items() if key in error.instance
            for other in others if other not in error.instance]


def _excluded(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    keys = error.validator_value.get("required", []) if isinstance(error.validator_value, dict) else []
    if len(keys) == 2 and set(keys) <= set(error.instance):
        first, second = keys
        return [_problem(doc.key_loc(path + (second,)), "CRM-E107", path + (second,),
                         f"'{first}' and '{second}' cannot be used together", "keep one of them")]
    return [_problem(doc.loc(path), "CRM-E106", path, "this combination of keys is not allowed")]


# ---------------------------------------------------------------- values

def _wrong_type(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    return [_type_problem(doc, path, error.instance, expected, error.schema)]


def _type_problem(doc: SourceDoc, path: Path_, value: Any, expected: list[str],
                  schema: dict[str, Any] | None = None) -> ConfigError:
    message = f"expected {_joined([_TYPE_WORDS.get(t, t) for t in expected], 'or')}, got {_show(value)}"
    hint = None
    if "boolean" in expected and isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
        hint = "write true or false"
    elif {"integer", "number"} & set(expected) and isinstance(value, str) and _is_number(value):
        hint = "write the number without quotes"
    elif "array" in expected and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        hint = f"write a list: [{value}]"
    elif expected == ["object"] and schema:
        hint = _shorthand_hint(value, schema)
    return _problem(doc.loc(path), "CRM-E102", path, message, hint)


def _shorthand_hint(value: Any, schema: dict[str, Any]) -> str | None:
    """`amount: money` for `amount: {type: money}`: name the key the word belongs to."""
    for key, sub in schema.get("properties", {}).items():
        if isinstance(sub, dict) and value in sub.get("enum", ()):
            return f"write {{{key}: {value}}}"
    return None


def _not_allowed_value(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    value, allowed = error.instance, list(error.validator_value)
    noun = error.schema.get("title")
    message = f"{_show(value)} is not {_a(noun.lower())}" if noun else f"{_show(value)} is not allowed here"
    words = [str(a) for a in allowed]
    hint = did_you_mean(str(value), words) or _listing("one of", words)
    return [_problem(doc.loc(path), "CRM-E103", path, message, hint)]


def _not_constant(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    return [_problem(doc.loc(path), "CRM-E103", path, f"must be {_show(error.validator_value)}")]


def _bad_form(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    return [_problem(doc.loc(path), "CRM-E104", path, *_form_message(error.instance, str(error.validator_value)))]


def _form_message(value: Any, pattern: str) -> tuple[str, str | None]:
    form = FORMS.get(pattern)
    if form is None:  # a consultant's own regex never reaches here; ours are all in FORMS
        return f"{_show(value)} does not have the expected form", None
    hint = did_you_mean(str(value), form.choices) if form.choices else None
    if pattern == NAME:
        hint = _name_hint(str(value))
    return f"{_show(value)} is not {form.noun}: {form.explain}", hint


def _name_hint(value: str) -> str | None:
    if len(value) > 40:
        return "names are at most 40 characters"
    better = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")
    return f"try '{better}'" if better != value and re.match(NAME, better) else None


def _out_of_range(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    limit, value = error.validator_value, error.instance
    messages: dict[str, str] = {
        "minimum": f"{_show(value)} is below the minimum of {limit}",
        "maximum": f"{_show(value)} is above the maximum of {limit}",
        "exclusiveMinimum": f"{_show(value)} must be more than {limit}",
        "exclusiveMaximum": f"{_show(value)} must be less than {limit}",
        "minLength": "must not be empty" if limit == 1 else f"must be at least {limit} characters long",
        "maxLength": f"must be at most {limit} characters long",
        "minItems": "the list must not be empty" if limit == 1 else f"the list needs at least {limit} items",
        "maxItems": f"the list may have at most {limit} items",
        "minProperties": "must not be empty" if limit == 1 else f"needs at least {limit} entries",
        "maxProperties": f"may have at most {limit} entries",
    }
    return [_problem(doc.loc(path), "CRM-E105", path, messages[str(error.validator)])]


def _repeated(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    seen: list[Any] = []
    for index, item in enumerate(error.instance):
        if item in seen:
            return [_problem(doc.loc(path + (index,)), "CRM-E108", path + (index,),
                             f"{_show(item)} is listed twice", "remove one of them")]
        seen.append(item)
    return []


def _unexpected(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    # Only reached if a schema uses a keyword this module has no words for.
    return [_problem(doc.loc(path), "CRM-E106", path, "this value is not valid here")]


# ---------------------------------------------------------------- alternatives

def _alternatives(doc: SourceDoc, path: Path_, error: ValidationError) -> list[ConfigError]:
    """`anyOf`/`oneOf`: report on the form that was meant, or say which keys tell forms apart."""
    if not error.context:
        return [_problem(doc.loc(path), "CRM-E106", path, "fits more than one of the allowed forms")]
    forms: list[dict[str, Any]] = error.validator_value
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    fitting = {i: errs for i, errs in branches.items() if not any(_other_type(e) for e in errs)}
    if not fitting:
        expected = [t for form in forms for t in _types(form)]
        return [_type_problem(doc, path, error.instance, list(dict.fromkeys(expected)))]
    if all(e.validator == "required" and not e.relative_path for errs in fitting.values() for e in errs):
        keys = [k for i in fitting for k in forms[i].get("required", [])]
        return [_problem(doc.loc(path), "CRM-E101", path, f"needs one of {_joined(_quoted(keys), 'or')}")]
    if isinstance(error.instance, dict):
        leads = {i: _leading_key(forms[i]) for i in fitting}
        meant = {i: errs for i, errs in fitting.items() if leads[i] in error.instance}
        if not meant and all(leads.values()):
            return [_no_form_meant(doc, path, error, [k for k in leads.values() if k])]
        fitting = meant or fitting
    best = min(fitting, key=lambda i: (len(fitting[i]), -max(len(e.path) for e in fitting[i]), i))
    return [problem for sub in fitting[best] for problem in _explain(doc, sub)]


def _no_form_meant(doc: SourceDoc, path: Path_, error: ValidationError, keys: list[str]) -> ConfigError:
    noun = error.schema.get("title")
    subject = f"{_a(noun.lower())} needs" if noun else "needs"
    hint = next(filter(None, (did_you_mean(str(k), keys) for k in error.instance)), None)
    return _problem(doc.loc(path), "CRM-E106", path, f"{subject} one of the keys {', '.join(keys)}", hint)


def _other_type(error: ValidationError) -> bool:
    """Did this branch fail only because the value is of another type than it takes?"""
    if error.relative_path:
        return False
    if error.validator == "type":
        return True
    if error.validator in ("enum", "const"):
        allowed = error.validator_value if error.validator == "enum" else [error.validator_value]
        return _json_type(error.instance) not in {_json_type(a) for a in allowed}
    return False


def _leading_key(form: dict[str, Any]) -> str | None:
    required = form.get("required")
    return required[0] if required else None


def _types(form: dict[str, Any]) -> list[str]:
    declared = form.get("type")
    if declared:
        return declared if isinstance(declared, list) else [declared]
    values = form.get("enum", [form["const"]] if "const" in form else [])
    return [_json_type(v) for v in values]


# ---------------------------------------------------------------- words

def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _show(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"
    return "a list" if isinstance(value, list) else "a mapping"


def _a(noun: str) -> str:
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _quoted(words: Iterable[str]) -> list[str]:
    return [f"'{w}'" for w in words]


def _joined(words: list[str], last: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def _listing(lead: str, words: list[str]) -> str | None:
    return f"{lead}: {', '.join(words)}" if 0 < len(words) <= _LISTED_AT_MOST else None


def _as_hint(key: str, description: str | None) -> str | None:
    if not description:
        return None
    text = description.rstrip(".")
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    return f"{key}: {text}"


def _is_number(text: str) -> bool:
    return re.fullmatch(r"[-+]?[0-9]+(\.[0-9]+)?", text.strip()) is not None


_Handler = Callable[[SourceDoc, Path_, ValidationError], list[ConfigError]]
_HANDLERS: dict[str, _Handler] = {
    "additionalProperties": _unknown_keys,
    "required": _missing,
    "dependentRequired": _needs_together,
    "not": _excluded,
    "type": _wrong_type,
    "enum": _not_allowed_value,
    "const": _not_constant,
    "pattern": _bad_form,
    "format": _bad_form,
    "uniqueItems": _repeated,
    "anyOf": _alternatives,
    "oneOf": _alternatives,
    **{keyword: _out_of_range for keyword in (
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
        "minItems", "maxItems", "minProperties", "maxProperties")},
}
