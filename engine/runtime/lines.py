"""`lines` fields: child rows saved with their parent, in the parent's transaction.

A `lines` value is the complete list of the parent's rows of that field:

    {"items": [{"id": 12, "quantity": 3},        # change row 12
               {"product": 5, "quantity": 1},     # a new row
               {"id": 13, "_delete": True}]}      # remove row 13 (leaving it out does too)

Rows not in the list are deleted. The child's link back to the parent is set
by the engine (and may not be given). Every row is checked like a record of
its own entity (values, defaults, links, rules, the user's permissions on the
child entity); problems are reported as `items.1.quantity`. Nothing is written
unless the parent and every row pass. A change to the rows bumps the parent's
version, so the parent's optimistic lock covers its rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from sqlalchemy import Connection, select

from ..metadata import model as m
from .actor import Actor
from .errors import Forbidden, Problems
from .permissions import Permissions
from .rows import RowWriter
from .saving import Draft, Preparer
from .tables import Tables
from .values import stored_record

ROW_KEYS = ("id", "_delete", "version")


@dataclass(slots=True)
class ChildOp:
    kind: Literal["create", "update", "delete"]
    entity: m.Entity
    link: str                      # the child's link field back to the parent
    draft: Draft | None = None
    record_id: int | None = None
    old: Mapping[str, Any] | None = None


def back_link(config: m.Config, parent: m.Entity, field: m.Field) -> str:
    """The child's link field that points at the parent (the first one)."""
    child = config.entities[field.entity or ""]
    return next(f.name for f in child.links() if f.entity == parent.name)


class Lines:
    """Plans and applies the child-row changes of one save."""

    def __init__(self, config: m.Config, tables: Tables, permissions: Permissions, preparer: Preparer,
                 writer: RowWriter):
        self.config = config
        self.tables = tables
        self.permissions = permissions
        self.preparer = preparer
        self.writer = writer

    def existing(self, conn: Connection, parent: m.Entity, field: m.Field, parent_id: int) -> list[dict[str, Any]]:
        """The stored rows of a lines field (no permission filter: callers apply it)."""
        table = self.tables.entity(field.entity or "")
        link = back_link(self.config, parent, field)
        rows = conn.execute(select(table).where(table.c[link] == parent_id).order_by(table.c.id)).mappings()
        return [dict(r) for r in rows]

    def plan(self, conn: Connection, actor: Actor, parent: Draft, parent_id: int | None, problems: Problems,
             internal: bool) -> list[ChildOp]:
        ops: list[ChildOp] = []
        for name, rows in parent.lines.items():
            field = parent.entity.fields[name]
            child = self.config.entities[field.entity or ""]
            link = back_link(self.config, parent.entity, field)
            current = {r["id"]: r for r in self.existing(conn, parent.entity, field, parent_id)} if parent_id else {}
            kept: set[int] = set()
            for i, row in enumerate(rows):
                prefix = f"{name}.{i}."
                if link in row:
                    problems.field(prefix + link, "is set to the parent by the engine")
                raw = {k: v for k, v in row.items() if k not in ROW_KEYS and k != link}
                row_id = row.get("id")
                if row_id is not None:
                    old = current.get(row_id) if isinstance(row_id, int) else None
                    if old is None:
                        problems.field(prefix + "id", f"is not a row of this {parent.entity.name}")
                        continue
                    kept.add(row_id)
                    if row.get("_delete"):
                        ops.append(self._delete(conn, actor, child, link, old))
                        continue
                    sub = Problems()
                    draft = self.preparer.draft(conn, actor, child.name, raw, sub, current=stored_record(child, old),
                                                internal=internal, parent_link=link)
                    problems.merge(sub, prefix)
                    if draft.changed:     # an unchanged row needs no update permission
                        self._require(conn, actor, child, row_id, "update")
                        ops.append(ChildOp("update", child, link, draft, row_id, old))
                elif not row.get("_delete"):
                    if not self.permissions.may_create(actor, child.name):
                        raise Forbidden(f"you may not create {child.name} rows")
                    sub = Problems()
                    draft = self.preparer.draft(conn, actor, child.name, raw, sub, internal=internal,
                                                parent_link=link)
                    problems.merge(sub, prefix)
                    ops.append(ChildOp("create", child, link, draft))
            for row_id, old in current.items():
                if row_id not in kept:
                    ops.append(self._delete(conn, actor, child, link, old))
        return ops

    def apply(self, conn: Connection, actor: Actor, parent_id: int, ops: list[ChildOp]) -> None:
        for op in ops:
            if op.kind == "create" and op.draft is not None:
                op.draft.values[op.link] = parent_id
                self.writer.insert(conn, actor, op.draft)
            elif op.kind == "update" and op.draft is not None and op.record_id is not None:
                self.writer.update(conn, actor, op.draft, op.record_id, op.old or {})
            elif op.kind == "delete" and op.record_id is not None:
                self.writer.delete(conn, actor, op.entity, op.record_id, op.old or {})

    def delete_all(self, conn: Connection, actor: Actor, parent: m.Entity, parent_id: int) -> None:
        """Removes (with audit) every lines row of a record about to be deleted."""
        for field in parent.fields.values():
            if field.type != "lines":
                continue
            child = self.config.entities[field.entity or ""]
            for old in self.existing(conn, parent, field, parent_id):
                self.writer.delete(conn, actor, child, old["id"], old)

    def _delete(self, conn: Connection, actor: Actor, child: m.Entity, link: str,
                old: Mapping[str, Any]) -> ChildOp:
        self._require(conn, actor, child, old["id"], "delete")
        return ChildOp("delete", child, link, record_id=old["id"], old=old)

    def _require(self, conn: Connection, actor: Actor, child: m.Entity, row_id: int, action: str) -> None:
        table = self.tables.entity(child.name)
        allowed = conn.execute(select(table.c.id).where(
            table.c.id == row_id, self.permissions.row_filter(actor, child.name, action, table))).first()  # type: ignore[arg-type]
        if allowed is None:
            raise Forbidden(f"you may not {action} {child.name} {row_id}")

