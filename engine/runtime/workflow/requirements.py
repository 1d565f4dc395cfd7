"""A stage's `requires` (spec section 6), checked against one record inside the save's transaction.

    missing = Requirements(config, tables, approvals).missing(conn, stage, "deal", record)
    # [Missing("approval", "big_discount", "pending"), Missing("field", "lost_reason")]

- `fields`: the value is not empty (a `file` field needs an attachment, a
  `lines` field a row);
- `activities`: records of a `timeline` entity with a `kind` field, linked to
  the record through any of its links to the record's entity, with that kind;
- `related`: records of the named entity linking to the record (any link);
- `approvals`: approved, or not required for this record (see approvals.py).

Counts are facts about the record, not about what the mover may read: a
requirement is met by a meeting a colleague logged, and "0 of 1" tells
nobody anything the record page would not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Connection, func, or_, select

from ...metadata import model as m
from ..actor import Actor
from ..tables import Tables
from . import messages

if TYPE_CHECKING:
    from .approvals import Approvals


@dataclass(frozen=True, slots=True)
class Missing:
    """One requirement that does not hold: kind (field/activity/related/approval), name, detail."""

    kind: str
    name: str
    detail: str = ""
    label: str = ""
    via: str | None = None           # the skipped stage whose requirement this is

    def describe(self, locale: str) -> str:
        word = messages.text(locale, self.kind)
        extra = [x for x in (self.detail,) if x]
        if self.via:
            extra.append(messages.text(locale, "via skipped", stage=self.via))
        tail = f" ({', '.join(extra)})" if extra else ""
        if locale == "en" or word == self.kind:
            shown = f" \"{self.label}\"" if self.label and self.label != self.name else ""
            return f"{self.kind} {self.name}{shown}{tail}"
        # Other languages: the translated words, then the configuration reference, which is the same everywhere.
        return f"{word} „{self.label or self.name}” [{self.kind} {self.name}]{tail}"


class Requirements:
    """Checks `requires` of stages for one configuration."""

    def __init__(self, config: m.Config, tables: Tables, approvals: "Approvals"):
        self.config = config
        self.tables = tables
        self.approvals = approvals

    def missing(self, conn: Connection, actor: Actor, stage: m.Stage, entity: str,
                record: Mapping[str, Any], locale: str, via: str | None = None) -> list[Missing]:
        """Every requirement of `stage` the record does not meet, in the order the stage lists them."""
        ent = self.config.entities[entity]
        req = stage.requires
        out: list[Missing] = []
        for name in req.fields:
            f = ent.fields.get(name)
            if f is not None and not self._has_value(conn, ent, f, record):
                out.append(Missing("field", name, label=messages.label(f.label, name, locale, self.config),
                                   via=via))
        for act in req.activities:
            found = self._activities(conn, entity, record.get("id"), act.kind)
            if found < act.min:
                out.append(Missing("activity", act.kind, messages.text(locale, "found", found=found, min=act.min),
                                   via=via))
        for rel in req.related:
            found = self._related(conn, entity, record.get("id"), rel.entity)
            if found < rel.min:
                target = self.config.entities.get(rel.entity)
                out.append(Missing("related", rel.entity, messages.text(locale, "found", found=found, min=rel.min),
                                   label=messages.label(target.label if target else None, rel.entity, locale,
                                                        self.config), via=via))
        for name in req.approvals:
            state = self.approvals.state(conn, actor, name, entity, record)
            if state not in ("approved", "not_required"):
                approval = self.config.approvals.get(name)
                out.append(Missing("approval", name, messages.text(locale, state),
                                   label=messages.label(approval.label if approval else None, name, locale,
                                                        self.config), via=via))
        return out

    # -- counts --------------------------------------------------------------------------------
    def _has_value(self, conn: Connection, ent: m.Entity, f: m.Field, record: Mapping[str, Any]) -> bool:
        if f.type == "file":
            if record.get("id") is None:
                return False
            att = self.tables("crm_attachments")
            return bool(conn.execute(select(func.count()).select_from(att).where(
                att.c.entity == ent.name, att.c.record_id == record["id"], att.c.field == f.name)).scalar())
        if f.type == "lines":
            return self._related(conn, ent.name, record.get("id"), f.entity or "") > 0
        return record.get(f.name) not in (None, "", [], ())

    def _links_to(self, source: str, target: str) -> list[str]:
        ent = self.config.entities[source]
        return [f.name for f in ent.fields.values() if f.type in ("link",) and f.entity == target]

    def _activities(self, conn: Connection, entity: str, record_id: int | None, kind: str) -> int:
        if record_id is None:
            return 0
        total = 0
        for other in self.config.entities.values():
            links = self._links_to(other.name, entity)
            if "timeline" not in other.traits or "kind" not in other.fields or not links:
                continue
            t = self.tables.entity(other.name)
            total += conn.execute(select(func.count()).select_from(t).where(
                or_(*[t.c[name] == record_id for name in links]), t.c.kind == kind)).scalar() or 0
        return total

    def _related(self, conn: Connection, entity: str, record_id: int | None, related: str) -> int:
        if record_id is None or related not in self.config.entities:
            return 0
        links = self._links_to(related, entity)
        if not links:
            return 0
        t = self.tables.entity(related)
        return conn.execute(select(func.count()).select_from(t).where(
            or_(*[t.c[name] == record_id for name in links]))).scalar() or 0
