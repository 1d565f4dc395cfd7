"""What a name or dotted path in an expression refers to.

One resolver shared by the checker and both back ends, so they cannot
disagree on what `account.owner.team` means:

- a field of the entity (`amount`), or a system column (`id`, `created_at`,
  `created_by`, `updated_at`, `updated_by`, `version`);
- through a `link` field, the fields of the linked entity (`account.industry`);
- through a `user` field (or `created_by`/`updated_by`), the user's
  attributes (`owner.team`, `owner.email`);
- on a `stage` field, `open`, `won`, `lost`, `closed` (bool) and
  `probability` (int); the bare field is the stage key (text).

`x.id` on a link or user is the link's own value, with no join.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import did_you_mean
from ..model import Config, Entity, Field
from .nodes import ExpressionError
from .types import ANY, BOOL, DATETIME, INT, TEXT, USER, Type, type_of_field

USERS = "crm_users"
USER_COLUMNS: dict[str, Type] = {
    "id": INT, "username": TEXT, "full_name": TEXT, "email": TEXT, "phone": TEXT,
    "locale": TEXT, "team": TEXT, "active": BOOL,
}
SYSTEM_TYPES: dict[str, Type] = {
    "id": INT, "created_at": DATETIME, "created_by": USER, "updated_at": DATETIME,
    "updated_by": USER, "version": INT,
}
STAGE_ATTRIBUTES: dict[str, Type] = {
    "open": BOOL, "won": BOOL, "lost": BOOL, "closed": BOOL, "probability": INT,
}


@dataclass(frozen=True, slots=True)
class Hop:
    """One link followed: from a row of `source`, through column `field`, to a row of `target`."""

    source: str
    field: str
    target: str           # an entity name, or USERS


@dataclass(frozen=True, slots=True)
class Resolved:
    """Where a path's value lives: column `name` of `table`, reached through `hops`."""

    hops: tuple[Hop, ...]
    table: str            # entity name, or USERS
    name: str             # column (or computed field) name
    field: Field | None   # the entity's field; None for system and user columns
    attribute: str | None # a stage attribute applied to the field (open, won, ...)
    type: Type


def resolve_path(config: Config, entity: str, parts: tuple[str, ...], offset: int = 0) -> Resolved:
    """Resolve `parts` starting at `entity`; raises ExpressionError CRM-E301/E303."""
    table, hops = entity, []
    for i, name in enumerate(parts):
        at = offset + sum(len(p) + 1 for p in parts[:i])
        last = i == len(parts) - 1
        if table == USERS:
            if name not in USER_COLUMNS:
                raise ExpressionError("CRM-E301", f"a user has no attribute '{name}'", at,
                                      did_you_mean(name, USER_COLUMNS))
            if not last:
                raise ExpressionError("CRM-E301", f"'{name}' of a user has no parts", at)
            if name == "id" and hops:
                return _link_itself(config, hops)
            return Resolved(tuple(hops), USERS, name, None, None, USER_COLUMNS[name])
        ent = _entity(config, table, at)
        field = ent.fields.get(name)
        if field is None and name in SYSTEM_TYPES:
            kind = SYSTEM_TYPES[name]
            if last:
                if name == "id" and hops:
                    return _link_itself(config, hops)
                return Resolved(tuple(hops), table, name, None, None, kind)
            if kind.kind == "user":
                hops.append(Hop(table, name, USERS))
                table = USERS
                continue
            raise ExpressionError("CRM-E301", f"'{name}' has no parts", at)
        if field is None:
            raise ExpressionError("CRM-E301", f"{table} has no field '{name}'", at,
                                  did_you_mean(name, [*ent.fields, *SYSTEM_TYPES]))
        kind = computed_type(config, table, field) if field.type in ("formula", "rollup") else type_of_field(field)
        if kind is None:
            raise ExpressionError("CRM-E303", f"'{name}' is a {field.type} field and has no single value here",
                                  at, "use a rollup field to aggregate child rows" if field.type == "lines" else None)
        if last:
            return Resolved(tuple(hops), table, name, field, None, kind)
        if field.type in ("link", "user"):
            target = field.entity or "" if field.type == "link" else USERS
            hops.append(Hop(table, name, target))
            table = target
            continue
        if field.type == "stage":
            attribute = parts[i + 1]
            if attribute in STAGE_ATTRIBUTES and i + 2 == len(parts):
                return Resolved(tuple(hops), table, name, field, attribute, STAGE_ATTRIBUTES[attribute])
            raise ExpressionError("CRM-E301", f"a stage has no attribute '{attribute}'",
                                  at + len(name) + 1, did_you_mean(attribute, STAGE_ATTRIBUTES))
        raise ExpressionError("CRM-E301", f"'{name}' is a {field.type} field: only link, user and stage "
                              "fields have parts", at)
    raise ExpressionError("CRM-E301", "an empty path", offset)


def computed_type(config: Config, entity: str, field: Field) -> Type:
    """A formula's or rollup's type: its `result`, else what its expression gives."""
    if field.result:
        return type_of_field(field) or ANY
    from .check import infer_computed_type     # the checker resolves paths itself
    return infer_computed_type(config, entity, field.name)


def _entity(config: Config, name: str, at: int) -> Entity:
    ent = config.entities.get(name)
    if ent is None:
        raise ExpressionError("CRM-E301", f"entity '{name}' does not exist", at,
                              did_you_mean(name, config.entities))
    return ent


def _link_itself(config: Config, hops: list[Hop]) -> Resolved:
    """`account.id` is the value of the link `account`: no join needed."""
    last = hops[-1]
    source = config.entities.get(last.source)
    field = source.fields.get(last.field) if source else None
    return Resolved(tuple(hops[:-1]), last.source, last.field, field, None, INT)


def rollup_source(config: Config, entity: str, field: Field) -> tuple[str, str]:
    """The child entity a rollup aggregates and the child's link field back to `entity`.

    `of` is a lines field of `entity`, an entity linking here through its only
    link, or `entity.link_field`. Raises ExpressionError CRM-E301 when it does not resolve.
    """
    of = field.of or ""
    here = config.entities.get(entity)
    if here is not None and of in here.fields and here.fields[of].type == "lines":
        child = here.fields[of].entity or ""
        links = [f.name for f in _entity(config, child, 0).links() if f.entity == entity]
        if links:
            return child, links[0]
        raise ExpressionError("CRM-E301", f"{child} has no link back to {entity}")
    if "." in of:
        child, link = of.split(".", 1)
        target = _entity(config, child, 0).fields.get(link)
        if target is None or target.type != "link" or target.entity != entity:
            raise ExpressionError("CRM-E301", f"'{of}' is not a link from {child} to {entity}")
        return child, link
    links = [f.name for f in _entity(config, of, 0).links() if f.entity == entity]
    if len(links) != 1:
        raise ExpressionError("CRM-E301", f"{of} links to {entity} through {len(links)} fields, not one",
                              0, "write 'entity.link_field'")
    return of, links[0]
