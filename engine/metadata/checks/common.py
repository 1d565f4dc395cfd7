"""What every meaning check needs: located errors, known fields, link paths.

    error(entity.source, ("views", "list", "columns", 3), "CRM-E201", "'x' is not a field")
    resolve_path(config, deal, "account.industry")   # -> "choice", or an Unresolved

A check points at the value holding the bad reference by its path in the
document (`obj.source.loc(path)`); a path that was not written (a default the
builder filled in) falls back to its nearest written ancestor.
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple

from ..errors import ConfigError, Location, did_you_mean
from ..model import Config, Entity, Field, label_from_name
from ..yamlsafe import SourceDoc, dotted

Path = tuple[str | int, ...]

# The types of model.SYSTEM_COLUMNS, which every entity has.
SYSTEM_TYPES: dict[str, str] = {
    "id": "int", "created_at": "datetime", "created_by": "user",
    "updated_at": "datetime", "updated_by": "user", "version": "int",
}

# The built-in user record, as far as a path like `owner.team` may follow it
# (the same columns as expressions/paths.py's USER_COLUMNS).
USER_ATTRIBUTES: dict[str, str] = {
    "id": "int", "username": "string", "full_name": "string", "email": "email", "phone": "phone",
    "locale": "string", "team": "string", "active": "bool",
}
# What `stage.<x>` means on a stage field (section 6 of the language).
STAGE_ATTRIBUTES: dict[str, str] = {
    "open": "bool", "won": "bool", "lost": "bool", "closed": "bool", "probability": "int",
}
DATE_TYPES = frozenset({"date", "datetime"})


def error(doc: SourceDoc, path: Path, code: str, message: str, hint: str | None = None,
          *, at_key: bool = False) -> ConfigError:
    """A ConfigError at the value (or, with `at_key`, the key) found at `path` in `doc`.

    A path that was not written (the builder filled in a default) points at the
    key of its nearest written ancestor: `scoring:` rather than its first rule.
    """
    written = tuple(path)
    while written and written not in doc.value_locs:
        written = written[:-1]
    location = doc.key_loc(written) if at_key or written != tuple(path) else doc.loc(written)
    return ConfigError(location, code, dotted(path), message, hint)


def quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in sorted(names))


def raw_list(doc: SourceDoc, path: Path) -> list:
    """The list written at `path`, or [] (a single value counts as a one-item list)."""
    value = doc.get(path)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def known_fields(entity: Entity) -> dict[str, Field]:
    """The entity's declared fields plus the system columns every table has."""
    here = Location(entity.source.file)
    out = {name: Field(name, ftype, label_from_name(name), here, system=True)
           for name, ftype in SYSTEM_TYPES.items()}
    out.update(entity.fields)
    return out


def unknown_entity(config: Config, doc: SourceDoc, path: Path, name: object) -> ConfigError:
    return error(doc, path, "CRM-E200", f"'{name}' is not an entity of this configuration",
                 did_you_mean(str(name), config.entities))


def unknown_field(entity: Entity, doc: SourceDoc, path: Path, name: object, *, at_key: bool = False,
                  choices: Iterable[str] | None = None) -> ConfigError:
    names = list(choices) if choices is not None else list(known_fields(entity))
    return error(doc, path, "CRM-E201", f"'{name}' is not a field of entity '{entity.name}'",
                 did_you_mean(str(name), names), at_key=at_key)


def links_to(entity: Entity, target: str) -> list[Field]:
    """The link fields of `entity` that point at entity `target`."""
    return [f for f in entity.fields.values() if f.type == "link" and f.entity == target]


class Unresolved(NamedTuple):
    code: str
    message: str
    hint: str | None = None


def resolve_path(config: Config, entity: Entity, path: str) -> str | Unresolved | None:
    """The value type a dotted field path ends on (`account.industry` -> its type).

    Every hop but the last must be a link (or a user field, or a stage field).
    None means "cannot tell" (a hop's link points at a missing entity, which
    the link's own check reports), so the caller stays quiet.
    """
    names = str(path).split(".")
    fields: dict[str, str] = {}
    where = f"entity '{entity.name}'"
    current: Entity | None = entity
    for i, name in enumerate(names):
        last = i == len(names) - 1
        if current is not None:
            known = known_fields(current)
            fields = {n: f.value_type for n, f in known.items()}
        if name not in fields:
            return Unresolved("CRM-E201", f"'{name}' is not a field of {where}", did_you_mean(name, fields))
        ftype = fields[name]
        if last:
            return ftype
        if current is not None and ftype == "link":
            target = known[name].entity
            current = config.entities.get(target or "")
            if current is None:
                return None
            where = f"entity '{current.name}'"
        elif ftype == "user":
            current, fields, where = None, USER_ATTRIBUTES, "a user"
        elif current is not None and ftype == "stage":
            current, fields, where = None, STAGE_ATTRIBUTES, "a stage"
        else:
            return Unresolved("CRM-E217", f"'{name}' is a {ftype} field, so '{path}' cannot follow it",
                              "only link and user fields can be followed with '.'")
    return None


def path_error(config: Config, entity: Entity, doc: SourceDoc, at: Path, path: str,
               allowed: frozenset[str] | None = None, usage: str = "here") -> list[ConfigError]:
    """Errors for a field path written at `at`: unknown, not through links, or a type not allowed."""
    result = resolve_path(config, entity, path)
    if isinstance(result, Unresolved):
        return [error(doc, at, result.code, result.message, result.hint)]
    if result is not None and allowed is not None and result not in allowed:
        return [error(doc, at, "CRM-E218", f"'{path}' is a {result} field; {usage} needs {_types(allowed)}")]
    return []


def _types(types: frozenset[str]) -> str:
    names = sorted(types)
    return names[0] + " field" if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1] + " field"


_CHAIN = re.compile(r"""
    (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<chain>\$?[A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)(?P<call>\s*\()?
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def identifier_chains(expr: str | None) -> list[list[str]]:
    """Dotted name chains an expression reads (`account.industry` -> ['account', 'industry']).

    A deliberately simple reading, enough for dependency cycles (typing is the
    expression compiler's job, in expressions/): string literals and `$params`
    are skipped, a name called like a function is not a field, and a chain
    right after `.` (`lower(x).y`) is a method or attribute, not a field.
    """
    chains: list[list[str]] = []
    previous = ""
    for match in _CHAIN.finditer(expr or ""):
        if match.group("string"):
            previous = "'"
            continue
        if match.group("other") is not None:
            if not match.group("other").isspace():
                previous = match.group("other")
            continue
        chain = [part.strip() for part in match.group("chain").split(".")]
        follows_dot = previous == "."
        previous = "name"
        if chain[0].startswith("$") or follows_dot:
            continue
        if match.group("call"):
            chain = chain[:-1]
            previous = "("
        if chain:
            chains.append(chain)
    return chains
