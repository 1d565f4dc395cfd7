"""The parts of the record page, as plain data for the templates.

Sections (the configured form sections, read-only), related lists, the
timeline and the history. Every query goes through the records service with
the user, so permissions filter each part; paging fetches one row more than
it shows to know whether "more" is needed (no COUNT).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field as dc_field
from typing import Any, Mapping

from markupsafe import Markup

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.files import Attachment, human_size
from engine.runtime.lines import back_link

from . import urls
from .display import Display, Shown
from .services import Services

PAGE_SIZE = 10
MAX_COLUMNS = 6
SKIPPED_IN_SECTIONS = frozenset({"lines", "file"})


@dataclass(frozen=True, slots=True)
class Cell:
    label: str
    shown: Shown


@dataclass(slots=True)
class Item:
    """One field of a section: a value, a table of lines rows, or a list of files."""

    name: str
    label: str
    kind: str                                   # value | lines | files
    shown: Shown = Shown("")
    columns: list[str] = dc_field(default_factory=list)
    rows: list[list[Shown]] = dc_field(default_factory=list)
    files: list[Shown] = dc_field(default_factory=list)


@dataclass(slots=True)
class Section:
    label: str
    items: list[Item]


@dataclass(frozen=True, slots=True)
class RelatedSpec:
    entity: m.Entity
    link: str
    label: str
    columns: tuple[m.Field, ...]


@dataclass(slots=True)
class Row:
    id: int
    url: str
    title: str
    cells: list[Shown]
    entity_label: str = ""
    at: dt.datetime | None = None
    by: str = ""

    # The cells as HTML in one piece (every part escaped by Shown.html): one lookup per row in
    # the template instead of a loop per cell, which was a sixth of a record page's time.
    @property
    def cells_html(self) -> Markup:
        """As `<td>` cells of a related list's row."""
        return Markup("".join(f"<td>{v.html()}</td>" for v in self.cells))

    @property
    def details_html(self) -> Markup:
        """As the details of a timeline entry (empty values left out)."""
        return Markup("".join(f'<span class="timeline__detail">{v.html()}</span>' for v in self.cells if v.text))


@dataclass(slots=True)
class RowPage:
    rows: list[Row]
    more_url: str | None
    # Every record of the list, as read, when this first page holds them all (else None): the
    # timeline over the same entity and link then needs no read of its own (`timeline_page`).
    every_record: list[Mapping[str, Any]] | None = None


def _columns(svc: Services, actor: Actor, entity: m.Entity, skip: set[str]) -> tuple[m.Field, ...]:
    hidden = svc.permissions.hidden(actor, entity.name)
    names = [c for c in entity.views.list.columns if c in entity.fields]
    out = [entity.fields[c] for c in names
           if c not in hidden and c not in skip and c != entity.title
           and entity.fields[c].type not in SKIPPED_IN_SECTIONS]
    return tuple(out[:MAX_COLUMNS])


def _row(svc: Services, shown: Display, entity: m.Entity, record: Mapping[str, Any],
         columns: tuple[m.Field, ...]) -> Row:
    return Row(id=record["id"], url=shown.root_path + urls.record(entity.name, record["id"]),
               title=shown.title_of(entity, record),
               cells=[shown.value(f, record.get(f.name)) for f in columns])


# -- sections -------------------------------------------------------------------------------------
def section_rows(svc: Services, actor: Actor, shown: Display, entity: m.Entity, record: Mapping[str, Any],
                 files: Mapping[str | None, list[Attachment]]) -> list[Section]:
    """The form sections with the values the user may see (hidden fields are simply absent)."""
    out = []
    for section in entity.views.form:
        items = []
        for name in section.fields:
            f = entity.fields.get(name)
            if f is None:
                continue
            label = shown.label(f.label)
            if f.type == "lines":
                if name in record:
                    items.append(_lines_item(svc, actor, shown, entity, f, label, record.get(name) or []))
            elif f.type == "file":
                if name not in svc.permissions.hidden(actor, entity.name):
                    items.append(Item(name, label, "files", files=[
                        Shown(f"{a.filename} ({human_size(a.size)})", shown.root_path + urls.file(a.id))
                        for a in files.get(name, [])]))
            elif name in record:
                items.append(Item(name, label, "value", shown=shown.value(f, record.get(name))))
        out.append(Section(shown.label(section.label), items))
    return out


def _lines_item(svc: Services, actor: Actor, shown: Display, parent: m.Entity, f: m.Field, label: str,
                rows: list[Mapping[str, Any]]) -> Item:
    child = svc.config.entities[f.entity or ""]
    columns = line_columns(svc, actor, parent, f)
    shown.prepare(child, rows)
    return Item(f.name, label, "lines", columns=[shown.label(c.label) for c in columns],
                rows=[[shown.value(c, r.get(c.name)) for c in columns] for r in rows])


def line_columns(svc: Services, actor: Actor, parent: m.Entity, parent_field: m.Field) -> list[m.Field]:
    """The child's fields shown in a lines grid: its form's fields, minus the link to the parent."""
    child = svc.config.entities[parent_field.entity or ""]
    hidden = svc.permissions.hidden(actor, child.name)
    back = {back_link(svc.config, parent, parent_field)}
    names = [n for s in child.views.form for n in s.fields]
    return [child.fields[n] for n in names if n in child.fields and n not in hidden and n not in back
            and child.fields[n].type not in SKIPPED_IN_SECTIONS]


# -- related lists ----------------------------------------------------------------------------------
def related_specs(svc: Services, actor: Actor, shown: Display, entity: m.Entity) -> list[RelatedSpec]:
    """`detail.related` entities the user may read, each with its link to this entity."""
    out = []
    for name in entity.views.related:
        other = svc.config.entities.get(name)
        if other is None or svc.permissions.scope(actor, name, "read") == "none":
            continue
        link = next((f.name for f in other.links() if f.entity == entity.name), None)
        if link is None or link in svc.permissions.hidden(actor, name):
            continue
        out.append(RelatedSpec(other, link, shown.label(other.plural),
                               _columns(svc, actor, other, {link})))
    return out


def related_page(svc: Services, actor: Actor, shown: Display, spec: RelatedSpec, record_id: int,
                 offset: int) -> RowPage:
    # The links' titles come in the same SELECT (with the user's read filter on each linked record).
    page = svc.records.list(actor, spec.entity.name, where={spec.link: record_id}, limit=PAGE_SIZE, offset=offset,
                            with_titles=True)
    shown.take_titles(spec.entity, page.rows)
    shown.prepare(spec.entity, page.rows)
    rows = [_row(svc, shown, spec.entity, r, spec.columns) for r in page.rows]
    parent = svc.config.entities[next(f.entity for f in spec.entity.links() if f.name == spec.link) or ""]
    more = (shown.root_path + urls.record(parent.name, record_id) + f"/related/{spec.entity.name}"
            f"?offset={offset + PAGE_SIZE}") if page.has_more else None
    return RowPage(rows, more, every_record=list(page.rows) if offset == 0 and not page.has_more else None)


def complete_related(related: list[tuple[RelatedSpec, RowPage]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """(entity, link) -> every record linking here, for the related lists whose first page holds them all."""
    return {(spec.entity.name, spec.link): page.every_record for spec, page in related
            if page.every_record is not None}


# -- timeline ---------------------------------------------------------------------------------------
def timeline_sources(svc: Services, actor: Actor, entity: m.Entity) -> list[tuple[m.Entity, str]]:
    """(timeline entity, its link here) pairs the user may read."""
    out = []
    for other in svc.config.entities.values():
        if "timeline" not in other.traits or svc.permissions.scope(actor, other.name, "read") == "none":
            continue
        hidden = svc.permissions.hidden(actor, other.name)
        for f in other.links():
            if f.entity == entity.name and f.name not in hidden:
                out.append((other, f.name))
    return out


def timeline_page(svc: Services, actor: Actor, shown: Display, sources: list[tuple[m.Entity, str]],
                  record_id: int, offset: int,
                  known: Mapping[tuple[str, str], list[Mapping[str, Any]]] | None = None) -> RowPage:
    """Newest first across every timeline entity: each gives its newest `offset + PAGE_SIZE + 1`
    rows (in SQL), merged here; only that bounded slice is ever in Python.

    `known` (from `complete_related`) holds every record of a source the page has already read
    through the same permission-checked `Records.list` (fewer than a page of them): the
    timeline's own read would return those very rows, and the sort below orders them."""
    entries: list[Row] = []
    parent = ""
    for other, link in sources:
        parent = next(f.entity for f in other.links() if f.name == link) or ""
        records = (known or {}).get((other.name, link))
        if records is None:
            page = svc.records.list(actor, other.name, where={link: record_id}, sort=["-created_at", "-id"],
                                    limit=offset + PAGE_SIZE + 1, with_titles=True)
            records = page.rows
            shown.take_titles(other, records)
            shown.prepare(other, records)
        columns = _columns(svc, actor, other, {link})
        for r in records:
            row = _row(svc, shown, other, r, columns)
            row.entity_label = shown.label(other.label)
            row.at = r.get("created_at")
            row.by = shown.user_name(r.get("created_by"))
            entries.append(row)
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    entries.sort(key=lambda e: (e.at or epoch, e.id), reverse=True)
    window = entries[offset:offset + PAGE_SIZE]
    more = None
    if len(entries) > offset + PAGE_SIZE:
        more = shown.root_path + urls.record(parent, record_id) + f"/timeline?offset={offset + PAGE_SIZE}"
    return RowPage(window, more)


# -- history ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Change:
    at: dt.datetime
    by: str
    action: str
    field: str
    old: Shown
    new: Shown


def history_rows(svc: Services, actor: Actor, shown: Display, entity: m.Entity, record_id: int) -> list[Change]:
    """The audit trail, newest first, values formatted like the page's."""
    out = []
    for e in reversed(svc.records.history(actor, entity.name, record_id)):
        f = entity.fields.get(e.field or "")
        if e.field and f is None:
            continue
        old = shown.value(f, e.old) if f else Shown("")
        new = shown.value(f, e.new) if f else Shown("")
        out.append(Change(e.at, shown.user_name(e.user_id), e.action, shown.label(f.label) if f else "", old, new))
    return out
