"""Whether a submitted `lines` value changes the stored rows (approval locks on `items`).

A form submits the whole list of rows on every save; only a real change (a
row added, removed, or a value that differs once converted) counts.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, select

from ...metadata import model as m
from ..lines import back_link
from ..tables import Tables
from ..values import ValueContext, convert, stored_record


def lines_changed(config: m.Config, tables: Tables, conn: Connection, parent: m.Entity, field: m.Field,
                  parent_id: int, rows: Sequence[Mapping[str, Any]], ctx: ValueContext) -> bool:
    child = config.entities[field.entity or ""]
    table = tables.entity(child.name)
    link = back_link(config, parent, field)
    stored = {r["id"]: stored_record(child, r) for r in
              conn.execute(select(table).where(table.c[link] == parent_id)).mappings()}
    seen: set[int] = set()
    for row in rows:
        row_id = row.get("id")
        if row_id is None or row.get("_delete") or int(row_id) not in stored:
            return True
        seen.add(int(row_id))
        before = stored[int(row_id)]
        for name, value in row.items():
            f = child.fields.get(name)
            if name in ("id", "_delete", "version") or f is None or not f.stored:
                continue
            converted, errors = convert(f, value, ctx)
            if errors or converted != before.get(name):
                return True
    return seen != set(stored)
