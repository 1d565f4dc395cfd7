"""Configuration errors: where, what, and how to fix it.

Every problem found in a configuration folder becomes one `ConfigError` that
names its file, line and column, a stable code, the dotted path of the value,
a message and (when we can guess) a hint. Checks never raise on the first
problem: they return lists, and the caller prints them all, sorted.

    configs/entities/deal.yaml:14:5: CRM-E012 fields.amount.type: 'monye' is not a field type (did you mean 'money'?)
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A place in a configuration file. Lines and columns count from 1."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class ConfigError:
    location: Location
    code: str
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{self.location}: {self.code} {where}{self.message}{tail}"

    def sort_key(self) -> tuple:
        return (self.location.file, self.location.line, self.location.column, self.code, self.path)


class ConfigInvalid(Exception):
    """Raised by the loader's public entry point when a folder has errors."""

    def __init__(self, errors: Iterable[ConfigError]):
        self.errors = sorted(errors, key=ConfigError.sort_key)
        super().__init__("\n".join(str(e) for e in self.errors))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known word, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# Every error code the engine emits, with the one-line meaning shown in the
# reference docs (docs/errors.md is generated from this table; a test fails
# when a code is used but not listed here).
CODES: dict[str, str] = {
    # reading files (E0xx)
    "CRM-E001": "The file is not valid YAML.",
    "CRM-E002": "The file is not UTF-8 text.",
    "CRM-E003": "The file is empty.",
    "CRM-E004": "The file is larger than the engine accepts (1 MiB).",
    "CRM-E005": "A mapping repeats a key.",
    "CRM-E006": "A YAML tag other than the plain ones is used (for example !!python/object).",
    "CRM-E007": "Anchors and aliases expand into too large a document.",
    "CRM-E008": "A required file or folder is missing.",
    "CRM-E009": "A file holds no document of a known kind, or a document of the wrong kind for its folder.",
    "CRM-E010": "A document's name does not match its file's stem.",
    "CRM-E011": "A name is used twice within its kind.",
    # shape (E1xx): JSON Schema
    "CRM-E100": "A key is not allowed here.",
    "CRM-E101": "A required key is missing.",
    "CRM-E102": "A value has the wrong type.",
    "CRM-E103": "A value is not one of the allowed values.",
    "CRM-E104": "A value does not have the required form (name, duration, locale, ...).",
    "CRM-E105": "A value is out of its allowed range or size.",
    "CRM-E106": "A value fits none of the allowed forms.",
    "CRM-E107": "Keys that go together are incomplete, or keys that exclude each other are both given.",
    "CRM-E108": "A list repeats a value that may appear only once.",
    # meaning (E2xx): cross-references and consistency
    "CRM-E200": "A reference names an entity that does not exist.",
    "CRM-E201": "A reference names a field that does not exist.",
    "CRM-E202": "A reference names a pipeline that does not exist.",
    "CRM-E203": "A reference names a stage that does not exist.",
    "CRM-E204": "A reference names a role that does not exist.",
    "CRM-E205": "A reference names a report, KPI, quota or dashboard that does not exist.",
    "CRM-E206": "A reference names an approval that does not exist.",
    "CRM-E207": "A reference names an alert that does not exist.",
    "CRM-E208": "A template file that is needed does not exist.",
    "CRM-E209": "Role inheritance has a cycle.",
    "CRM-E210": "Formula or rollup fields depend on each other in a cycle.",
    "CRM-E211": "A trait needs fields that the entity does not have (or has with the wrong type).",
    "CRM-E212": "A lines field points at an entity that does not link back.",
    "CRM-E213": "An option is not valid for the field it is used on.",
    "CRM-E214": "A field's options contradict each other (min above max, default out of range, ...).",
    "CRM-E215": "A pipeline's entity has no stage field for it, or two pipelines claim one entity field.",
    "CRM-E216": "A name is reserved by the engine.",
    "CRM-E217": "A link path does not lead through links.",
    "CRM-E218": "A field is referenced where its type is not allowed.",
    "CRM-E219": "A user named in the configuration is not a valid recipient.",
    "CRM-E220": "A scenario test step or check is malformed.",
    "CRM-E221": "A hidden field entry is not of the form entity.field.",
    "CRM-E222": "A duration or date value is not valid.",
    # expressions (E3xx)
    "CRM-E300": "An expression has a syntax error.",
    "CRM-E301": "An expression names an unknown field.",
    "CRM-E302": "An expression calls an unknown function, or calls it with the wrong arguments.",
    "CRM-E303": "An expression mixes types that do not go together.",
    "CRM-E304": "An expression uses a construct the language does not have.",
    "CRM-E305": "An aggregate is used outside a report or KPI.",
    "CRM-E306": "An expression names a parameter or variable that does not exist here.",
    "CRM-E307": "An expression has the wrong result type for where it is used.",
    # templates (E4xx)
    "CRM-E400": "A template has a syntax error.",
    "CRM-E401": "A template could not be read.",
}


@dataclass(slots=True)
class ErrorSink:
    """Collects errors from many checks; `add` mirrors ConfigError's fields."""

    errors: list[ConfigError] = field(default_factory=list)

    def add(self, location: Location, code: str, path: str, message: str, hint: str | None = None) -> None:
        if code not in CODES:  # a programming slip, never a user's
            raise KeyError(f"unknown error code {code}")
        self.errors.append(ConfigError(location, code, path, message, hint))

    def extend(self, errors: Iterable[ConfigError]) -> None:
        self.errors.extend(errors)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def sorted(self) -> list[ConfigError]:
        return sorted(self.errors, key=ConfigError.sort_key)
