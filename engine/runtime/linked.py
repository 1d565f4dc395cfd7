"""Values of linked records in a list's own SELECT: link titles and `link.field` columns.

    from_, columns = linked_columns(config, permissions, actor, "deal", table, from_, titles=True,
                                    paths=["account.industry"])

A list shows a link as the linked record's title, and may show a field of the
linked record (`account.industry`). Both come from LEFT JOINs added to the
list's one SELECT (no query per row). The joined record must be readable by
the user: its row filter is part of the JOIN's ON, so a record the user may not
read gives NULL (the list then shows the bare id), never its title. A field
hidden from the user on either side is left out.

Result labels: `<link>__title` for titles, the path itself (`account.industry`)
for path columns.
"""
from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.sql.expression import FromClause

from ..metadata import model as m
from .actor import Actor
from .permissions import Permissions
from .tables import Tables, named_alias

TITLE_SUFFIX = "__title"


def title_label(field: str) -> str:
    return field + TITLE_SUFFIX


def linked_columns(config: m.Config, tables: Tables, permissions: Permissions, actor: Actor, entity: str,
                   table: Table, from_: FromClause, *, titles: bool = False,
                   paths: Sequence[str] = ()) -> tuple[FromClause, list[Any]]:
    """The FROM clause with the needed LEFT JOINs, and the extra labelled columns."""
    ent = config.entities[entity]
    hidden = permissions.hidden(actor, entity)
    wanted: dict[str, list[tuple[str, str]]] = {}      # link field -> [(target field, label)]
    if titles:
        for f in ent.fields.values():
            if f.type in ("link", "user") and f.stored and f.name not in hidden:
                wanted.setdefault(f.name, []).append(("", title_label(f.name)))
    for path in paths:
        head, _, tail = path.partition(".")
        f = ent.fields.get(head)
        if not tail or "." in tail or f is None or f.type not in ("link", "user") or head in hidden:
            continue
        wanted.setdefault(head, []).append((tail, path))
    columns: list[Any] = []
    for name, targets in wanted.items():
        f = ent.fields[name]
        if f.type == "user":
            users = named_alias(tables.users, f"_t_{name}")
            from_ = from_.outerjoin(users, users.c.id == table.c[name])
            for target, label in targets:
                columns.extend(_user_column(users, target, label))
            continue
        target_ent = config.entities.get(f.entity or "")
        if target_ent is None:
            continue
        alias = named_alias(tables.entity(target_ent.name), f"_t_{name}")
        readable = permissions.row_filter(actor, target_ent.name, "read", alias)  # type: ignore[arg-type]
        from_ = from_.outerjoin(alias, sa.and_(alias.c.id == table.c[name], readable))
        target_hidden = permissions.hidden(actor, target_ent.name)
        for target, label in targets:
            field_name = target or target_ent.title
            tf = target_ent.fields.get(field_name)
            if field_name in target_hidden or field_name not in alias.c or (tf is not None and not tf.stored):
                continue
            columns.append(alias.c[field_name].label(label))
    return from_, columns


def _user_column(users: Any, target: str, label: str) -> list[Any]:
    if not target:      # a user's title: the full name, else the username
        return [sa.func.coalesce(sa.func.nullif(users.c.full_name, ""), users.c.username).label(label)]
    if target in ("username", "full_name", "email", "team"):
        return [users.c[target].label(label)]
    return []
