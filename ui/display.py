"""Field values as a page shows them: formatted for the user's language, links with titles.

    shown = Display(svc, actor, fmt, locale, root_path)
    shown.prepare(deal_entity, [record])                     # one query per linked entity, not per row
    shown.value(deal_entity.fields["account"], 3)            # Shown("ACME Kft.", "/records/account/3")

Titles of linked records are read through the records service, so a linked
record the user may not read shows only as `#id` (never its title). Nothing
here builds HTML: templates print `Shown.text` (autoescaped) and `Shown.url`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

from markupsafe import Markup, escape

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.linked import title_label

from . import urls
from .formatting import Formatter
from .i18n import label_text
from .services import Services

SAFE_SCHEMES = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class Shown:
    """One value on a page: its text, and where it links to (None: plain text)."""

    text: str
    url: str | None = None
    multiline: bool = False

    def html(self) -> Markup:
        """The value for a page: a link when it has a url, else its text (escaped)."""
        if self.url:
            return Markup(f'<a href="{escape(self.url)}">{escape(self.text)}</a>')
        if self.multiline:
            return Markup(f'<span class="multiline">{escape(self.text)}</span>')
        return escape(self.text)


class Display:
    """Formats the values of records for one user and request."""

    def __init__(self, svc: Services, actor: Actor, fmt: Formatter, locale: str, root_path: str = "",
                 gettext: Callable[[str], str] = str):
        self.svc = svc
        self.gettext = gettext
        self.actor = actor
        self.fmt = fmt
        self.locale = locale
        self.root_path = root_path
        self.titles: dict[str, dict[int, str | None]] = {}     # None: not readable by the user
        self._users: dict[int, str] | None = None
        self._user_titles: dict[int, str] = {}                 # names a list's SELECT brought along

    # -- lookups, batched ------------------------------------------------------------------
    def prepare(self, entity: m.Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Reads the titles of every record the given records link to (one query per entity)."""
        wanted: dict[str, set[int]] = {}
        for record in records:
            for f in entity.fields.values():
                if f.type == "link" and isinstance(record.get(f.name), int):
                    wanted.setdefault(f.entity or "", set()).add(record[f.name])
        for target, ids in wanted.items():
            self.load_titles(target, ids)

    def take_titles(self, entity: m.Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Keeps the titles a `Records.list(..., with_titles=True)` row carries (`<link>__title`,
        NULL where the user may not read the linked record, or where its title is empty), so
        `prepare` and `value` need no query of their own for them. A NULL is taken as "not
        readable" only when the title field is required; otherwise `prepare` asks."""
        links = [(f, title_label(f.name)) for f in entity.fields.values() if f.type in ("link", "user")]
        for record in records:
            for f, key in links:
                value = record.get(f.name)
                if not isinstance(value, int) or key not in record:
                    continue                # not joined (a hidden title field): prepare() reads it
                title = record[key]
                if f.type == "user":
                    if title is not None:
                        self._user_titles[value] = str(title)
                    continue
                target = self.svc.config.entities.get(f.entity or "")
                if target is None:
                    continue
                if title is None and not _title_always_set(target):
                    continue                # unreadable, or readable with an empty title: prepare() asks
                self.titles.setdefault(target.name, {})[value] = None if title is None else \
                    self.title_of(target, {"id": value, target.title: title})

    def load_titles(self, entity: str, ids: Iterable[int]) -> dict[int, str | None]:
        known = self.titles.setdefault(entity, {})
        missing = sorted({i for i in ids if i not in known})
        if missing and entity in self.svc.config.entities:
            ent = self.svc.config.entities[entity]
            page = self.svc.records.list(self.actor, entity, where={"id": missing}, limit=len(missing))
            for row in page.rows:
                known[row["id"]] = self.title_of(ent, row)
            for i in missing:
                known.setdefault(i, None)          # not readable (or gone): shown as #id, not asked again
        return known

    def remember(self, entity: m.Entity, record: Mapping[str, Any]) -> str:
        """The title of a record already read (the page's own), kept so links to it need no query."""
        title = self.title_of(entity, record)
        self.titles.setdefault(entity.name, {})[record["id"]] = title
        return title

    def title_of(self, entity: m.Entity, record: Mapping[str, Any]) -> str:
        """The record's title as text (its `title` field), else `#id`."""
        value = record.get(entity.title)
        field = entity.fields.get(entity.title)
        if value in (None, "") or field is None:
            return f"#{record.get('id')}"
        if field.type in ("link", "user"):
            return f"#{record.get('id')}"
        return self.value(field, value).text or f"#{record.get('id')}"

    def user_name(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        if self._users is None and user_id in self._user_titles:
            return self._user_titles[user_id]
        return self.user_names().get(user_id, f"#{user_id}")

    def user_names(self) -> dict[int, str]:
        """Every user's name by id (disabled ones too): users are few (tens to hundreds), one read per page."""
        if self._users is None:
            self._users = self.svc.users.names()
        return self._users

    # -- values ------------------------------------------------------------------------------
    def value(self, field: m.Field, value: Any) -> Shown:
        """`value` of `field` for the page."""
        kind = field.value_type
        if value is None or value == "" or value == []:
            return Shown("")
        if kind == "link":
            title = self.load_titles(field.entity or "", [value]).get(value)
            if title is None:
                return Shown(f"#{value}")
            return Shown(title, self.root_path + urls.record(field.entity or "", value))
        if kind == "user":
            return Shown(self.user_name(value))
        if kind in ("choice", "stage"):
            return Shown(self.option_label(field, value))
        if kind == "multichoice":
            return Shown(", ".join(self.option_label(field, k) for k in value))
        if kind == "bool":
            return Shown(self.gettext("Yes") if value else self.gettext("No"))
        if kind == "money":
            return Shown(self.fmt.money(_number(value), field.currency))
        if kind == "percent":
            return Shown(self.fmt.percent(_number(value)))
        if kind in ("int", "decimal"):
            return Shown(self.fmt.number(_number(value)))
        if kind == "rating":
            top = int(field.max or 5)
            return Shown(f"{'★' * int(value)}{'☆' * max(0, top - int(value))} ({int(value)}/{top})")
        if kind == "date":
            return Shown(self.fmt.date(_date(value)))
        if kind == "datetime":
            return Shown(self.fmt.datetime(_datetime(value)))
        if kind == "email":
            return Shown(str(value), f"mailto:{value}")
        if kind == "phone":
            return Shown(str(value), f"tel:{value}")
        if kind == "url":
            text = str(value)
            return Shown(text, text if text.lower().startswith(SAFE_SCHEMES) else None)
        if kind == "text":
            return Shown(str(value), multiline=True)
        return Shown(str(value))

    def option_label(self, field: m.Field, key: str) -> str:
        if field.type == "stage" and field.pipeline in self.svc.config.pipelines:
            stage = self.svc.config.pipelines[field.pipeline or ""].stage(key)
            return stage.label.text(self.locale, self.svc.config.company.default_locale) if stage else key
        label = field.options.get(key)
        return label.text(self.locale, self.svc.config.company.default_locale) if label else str(key)

    def label(self, value: m.Label | None) -> str:
        return label_text(value, self.locale, self.svc.config.company.default_locale, self.gettext) if value else ""


def _number(value: Any) -> Any:
    if isinstance(value, (int, float, Decimal)):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return value


def _date(value: Any) -> Any:
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _datetime(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _title_always_set(entity: m.Entity) -> bool:
    """Whether a readable record of `entity` always has a title value, so that a NULL title from a
    join can only mean the linked record is not readable (a required stored title field)."""
    field = entity.fields.get(entity.title)
    return field is not None and field.required and field.stored
