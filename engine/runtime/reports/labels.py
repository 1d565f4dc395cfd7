"""Labels of a report's group values: stage and option labels, record titles, user names, buckets.

Looked up once per report run for the distinct values of the result (a
handful of rows), never per record. A linked record's title is shown only
when the user may read that record (the same row filter as everywhere);
otherwise its id stands in, as in exports.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy import Connection

from ...metadata import model as m
from ..actor import Actor
from ..permissions import Permissions
from ..tables import Tables
from .compiler import GroupColumn
from .formats import bucket_label

NONE_LABEL = "—"


class GroupLabels:
    """Labels for the values of each group column of one result."""

    def __init__(self, config: m.Config, tables: Tables, permissions: Permissions, actor: Actor, locale: str):
        self.config, self.tables, self.permissions = config, tables, permissions
        self.actor, self.locale = actor, locale

    def for_group(self, conn: Connection, group: GroupColumn, values: Iterable[Any]) -> Mapping[Any, str]:
        values = {v for v in values if v is not None}
        labels: dict[Any, str] = {None: NONE_LABEL}
        if group.bucket:
            labels.update({v: bucket_label(v, group.bucket, self.locale, self.config.company) for v in values})
            return labels
        resolved, kind = group.resolved, group.kind
        f = resolved.field if resolved.attribute is None else None
        if kind == "user":
            labels.update(self.users(conn, values))
        elif kind == "record":
            target = f.entity if f is not None else None
            labels.update(self._titles(conn, target, values) if target else {})
        elif f is not None and f.type == "stage":
            pipeline = self.config.pipelines.get(f.pipeline or "")
            names = {s.key: s.label for s in pipeline.stages} if pipeline else {}
            labels.update({v: self._text(names.get(v), v) for v in values})
        elif f is not None and f.type == "choice":
            labels.update({v: self._text(f.options.get(v), v) for v in values})
        for v in values:
            labels.setdefault(v, _plain_text(v))
        return labels

    def _text(self, label: m.Label | None, value: Any) -> str:
        if label is None:
            return _plain_text(value)
        return label.text(self.locale, self.config.company.default_locale)

    def users(self, conn: Connection, ids: set[Any]) -> dict[Any, str]:
        if not ids:
            return {}
        users = self.tables.users
        rows = conn.execute(sa.select(users.c.id, users.c.full_name, users.c.username)
                            .where(users.c.id.in_(list(ids)))).all()
        return {i: (full or name) for i, full, name in rows}

    def _titles(self, conn: Connection, entity: str, ids: set[Any]) -> dict[Any, str]:
        ent = self.config.entities.get(entity)
        if ent is None or not ids:
            return {}
        title = ent.fields.get(ent.title)
        if title is None or not title.stored or title.name in self.permissions.hidden(self.actor, entity):
            return {}
        table = self.tables.entity(entity)
        rows = conn.execute(sa.select(table.c.id, table.c[title.name]).where(
            table.c.id.in_(list(ids)), self.permissions.row_filter(self.actor, entity, "read", table))).all()
        return {i: str(t) for i, t in rows if t is not None}


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["GroupLabels", "NONE_LABEL"]
