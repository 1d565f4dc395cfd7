"""The parts of the record page, as plain data for the templates.

Sections (the configured form sections, read-only), related lists, the
timeline and the history. Every query goes through the records service with
the user, so permissions filter each part; paging fetches one row more than
it shows to know whether "more" is needed (no COUNT).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Mapping

from markupsafe import Markup

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.files import Attachment, human_size
from engine.runtime.lines import back_link

from . import urls
from .display import Display, Shown, escape_text
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

    @property
    def value_html(self) -> Markup:
        """A value item as record.html printed it (the row of the section's `<dl>`), in one piece."""
        return Markup(f'    <div class="fields__row" data-field="{escape_text(self.name)}">\n'
                      f'      <dt>{escape_text(self.label)}</dt>\n      <dd>\n{self.shown.html_text()}      </dd>\n'
                      f'    </div>\n')


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
    entity_label: str = ""                      # the list's headings, in the user's language
    column_labels: tuple[str, ...] = ()


@dataclass(slots=True)
class Row:
    id: int
    url: str
    title: str
    cells: list[Shown]
    entity_label: str = ""
    at: dt.datetime | None = None
    by: str = ""
    at_text: str = ""                           # `at` as the page writes it (Formatter.datetime)

    # A row as HTML in one piece, every value escaped (`escape_text`, what autoescaping gives):
    # one lookup per row in the template instead of a dozen lookups and escapes, which were
    # a third of a record page's rendering. The markup is what the templates printed before.
    @property
    def related_html(self) -> Markup:
        """As a related list's `<tr>` (_related_rows.html)."""
        return Markup(self.related_text())

    def related_text(self) -> str:
        """`related_html` as a plain str, for joining a page's rows into one Markup."""
        cells = "".join([f"<td>{v.html_text()}</td>" for v in self.cells])
        return (f'<tr>\n  <th scope="row"><a href="{escape_text(self.url)}">{escape_text(self.title)}</a></th>\n'
                f'{cells}</tr>\n')

    def _details(self) -> str:
        """The timeline entry's details (empty values left out)."""
        return "".join([f'<span class="timeline__detail">{v.html_text()}</span>' for v in self.cells if v.text])

    @property
    def timeline_html(self) -> Markup:
        """As a timeline's `<li>` (_timeline_items.html)."""
        return Markup(self.timeline_text())

    def timeline_text(self) -> str:
        """`timeline_html` as a plain str, for joining a page's entries into one Markup."""
        at = escape_text(self.at.isoformat()) if self.at else ""
        by = f" · {escape_text(self.by)}" if self.by else ""
        details = f'<p class="timeline__details">{self._details()}</p>' if self.cells else ""
        return (f'<li class="timeline__item">\n  <p class="timeline__meta"><span class="badge">'
                f'{escape_text(self.entity_label)}</span> <time datetime="{at}">{escape_text(self.at_text)}'
                f'</time>{by}</p>\n  <p class="timeline__title"><a href="{escape_text(self.url)}">'
                f'{escape_text(self.title)}</a></p>\n{details}</li>\n')


@dataclass(slots=True)
class RowPage:
    rows: list[Row]
    more_url: str | None
    # Every record of the list, as read, when this first page holds them all (else None): the
    # timeline over the same entity and link then needs no read of its own (`timeline_page`).
    every_record: list[Mapping[str, Any]] | None = None

    @property
    def related_html(self) -> Markup:
        """Every row as a related list's `<tr>` (Row.related_html), in one piece."""
        return Markup("".join([row.related_text() for row in self.rows]))

    @property
    def timeline_html(self) -> Markup:
        """Every row as a timeline's `<li>` (Row.timeline_html), in one piece."""
        return Markup("".join([row.timeline_text() for row in self.rows]))


def _columns(svc: Services, actor: Actor, entity: m.Entity, skip: set[str]) -> tuple[m.Field, ...]:
    # The configuration and the user's roles decide (hidden fields): worked out once per configuration.
    return svc.derive(("record columns", entity.name, frozenset(skip), actor.system, actor.roles),
                      lambda: _list_columns(svc, actor, entity, skip))


def _list_columns(svc: Services, actor: Actor, entity: m.Entity, skip: set[str]) -> tuple[m.Field, ...]:
    hidden = svc.permissions.hidden(actor, entity.name)
    names = [c for c in entity.views.list.columns if c in entity.fields]
    out = [entity.fields[c] for c in names
           if c not in hidden and c not in skip and c != entity.title
           and entity.fields[c].type not in SKIPPED_IN_SECTIONS]
    return tuple(out[:MAX_COLUMNS])


def _row_maker(shown: Display, entity: m.Entity, columns: tuple[m.Field, ...]) -> Callable[[Mapping[str, Any]], Row]:
    """A record of `entity` as a Row of `columns`: each column's formatter (Display.formatter) is
    chosen once for the list, so a row is one pass over (column, formatter) pairs."""
    cells = tuple((f.name, shown.formatter(f)) for f in columns)
    root, name, title_of = shown.root_path, entity.name, shown.titler(entity)

    def row(record: Mapping[str, Any]) -> Row:
        record_id, get = record["id"], record.get
        return Row(record_id, root + urls.record(name, record_id), title_of(record),
                   [show(get(key)) for key, show in cells])
    return row


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
    """`detail.related` entities the user may read, each with its link to this entity.

    Decided by the configuration, the user's roles (scopes, hidden fields) and the language
    of the labels: worked out once per configuration for each of those."""
    key = ("related specs", entity.name, actor.system, actor.roles, shown.locale, shown.gettext)
    return list(svc.derive(key, lambda: tuple(_related_specs(svc, actor, shown, entity))))


def _related_specs(svc: Services, actor: Actor, shown: Display, entity: m.Entity) -> list[RelatedSpec]:
    out = []
    for name in entity.views.related:
        other = svc.config.entities.get(name)
        if other is None or svc.permissions.scope(actor, name, "read") == "none":
            continue
        link = next((f.name for f in other.links() if f.entity == entity.name), None)
        if link is None or link in svc.permissions.hidden(actor, name):
            continue
        columns = _columns(svc, actor, other, {link})
        out.append(RelatedSpec(other, link, shown.label(other.plural), columns, shown.label(other.label),
                               tuple(shown.label(c.label) for c in columns)))
    return out


def related_page(svc: Services, actor: Actor, shown: Display, spec: RelatedSpec, record_id: int,
                 offset: int) -> RowPage:
    # The links' titles come in the same SELECT (with the user's read filter on each linked record).
    page = svc.records.list(actor, spec.entity.name, where={spec.link: record_id}, limit=PAGE_SIZE, offset=offset,
                            with_titles=True)
    shown.take_titles(spec.entity, page.rows)
    shown.prepare(spec.entity, page.rows)
    rows = list(map(_row_maker(shown, spec.entity, spec.columns), page.rows))
    parent = svc.config.entities[next(f.entity for f in spec.entity.links() if f.name == spec.link) or ""]
    more = (shown.root_path + urls.record(parent.name, record_id) + f"/related/{spec.entity.name}"
            f"?offset={offset + PAGE_SIZE}") if page.has_more else None
    return RowPage(rows, more, every_record=list(page.rows) if offset == 0 and not page.has_more else None)


def complete_related(related: list[tuple[RelatedSpec, RowPage]]) -> dict[tuple[str, str], RowPage]:
    """(entity, link) -> the related list's first page, for the lists whose first page holds every
    record linking here (`RowPage.every_record`, in the order of its rows)."""
    return {(spec.entity.name, spec.link): page for spec, page in related if page.every_record is not None}


# -- timeline ---------------------------------------------------------------------------------------
def timeline_sources(svc: Services, actor: Actor, entity: m.Entity) -> list[tuple[m.Entity, str]]:
    """(timeline entity, its link here) pairs the user may read (once per configuration and role set)."""
    key = ("timeline sources", entity.name, actor.system, actor.roles)
    return list(svc.derive(key, lambda: tuple(_timeline_sources(svc, actor, entity))))


def _timeline_sources(svc: Services, actor: Actor, entity: m.Entity) -> list[tuple[m.Entity, str]]:
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
                  known: Mapping[tuple[str, str], RowPage] | None = None) -> RowPage:
    """Newest first across every timeline entity: each gives its newest `offset + PAGE_SIZE + 1`
    rows (in SQL), merged here; only that bounded slice is ever in Python.

    `known` (from `complete_related`) holds the related list of a source whose first page has
    every record (fewer than a page of them), read through the same permission-checked
    `Records.list`: the timeline's own read would return those very rows, the list's rows
    show them with the same columns (`_columns` of the same entity and link), and the sort
    below orders them."""
    entries: list[Row] = []
    parent = ""
    for other, link in sources:
        parent = next(f.entity for f in other.links() if f.name == link) or ""
        entity_label = shown.label(other.label)
        listed = (known or {}).get((other.name, link))
        if listed is not None and listed.every_record is not None:
            for r, shown_row in zip(listed.every_record, listed.rows):
                at = r.get("created_at")
                entries.append(Row(shown_row.id, shown_row.url, shown_row.title, shown_row.cells, entity_label,
                                   at, shown.user_name(r.get("created_by")), shown.fmt.datetime(at)))
            continue
        page = svc.records.list(actor, other.name, where={link: record_id}, sort=["-created_at", "-id"],
                                limit=offset + PAGE_SIZE + 1, with_titles=True)
        shown.take_titles(other, page.rows)
        shown.prepare(other, page.rows)
        make_row = _row_maker(shown, other, _columns(svc, actor, other, {link}))
        for r in page.rows:
            row = make_row(r)
            row.entity_label = entity_label
            row.at = r.get("created_at")
            row.by = shown.user_name(r.get("created_by"))
            row.at_text = shown.fmt.datetime(row.at)
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
