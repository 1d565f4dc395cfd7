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
        return Markup(self.html_text())

    def html_text(self) -> str:
        """`html()` as a plain str, for joining many values into one Markup."""
        if self.url:
            return f'<a href="{escape_text(self.url)}">{escape_text(self.text)}</a>'
        if self.multiline:
            return f'<span class="multiline">{escape_text(self.text)}</span>'
        return escape_text(self.text)


EMPTY = Shown("")      # an empty value (Shown is immutable: one for every empty value)


def _replace_entities(text: str) -> str:
    # markupsafe's own pure-Python escaping, for an install without its C extension.
    return (text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


try:        # the function markupsafe.escape itself runs on a str (its C extension)
    from markupsafe._speedups import _escape_inner as _escape_str
except ImportError:     # pragma: no cover - markupsafe without its C extension
    _escape_str = _replace_entities


def escape_text(text: str) -> str:
    """`markupsafe.escape(text)` as a plain str: the same five entities, by the same function.

    A record page escapes hundreds of values; building a Markup for each (and another for
    the piece around it) was a large part of its rendering. Anything but a plain str (a
    Markup, which is HTML already) goes to markupsafe itself."""
    if type(text) is not str:
        return str(escape(text))
    return _escape_str(text)  # type: ignore[no-any-return]


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
        links = self.svc.derive(("link fields", entity.name),
                                lambda: tuple(f for f in entity.fields.values() if f.type == "link"))
        for record in records:
            for f in links:
                if isinstance(record.get(f.name), int):
                    wanted.setdefault(f.entity or "", set()).add(record[f.name])
        for target, ids in wanted.items():
            self.load_titles(target, ids)

    def take_titles(self, entity: m.Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Keeps the titles a `Records.list(..., with_titles=True)` row carries (`<link>__title`,
        NULL where the user may not read the linked record, or where its title is empty), so
        `prepare` and `value` need no query of their own for them. A NULL is taken as "not
        readable" only when the title field is required; otherwise `prepare` asks."""
        links = self.svc.derive(("title links", entity.name), lambda: _title_links(self.svc.config, entity))
        shown: dict[tuple[str, int, Any], str] = {}     # rows linking the same record with the same title
        for record in records:
            for name, key, target, always_set in links:
                value = record.get(name)
                if not isinstance(value, int) or key not in record:
                    continue                # not joined (a hidden title field): prepare() reads it
                title = record[key]
                if target is None:          # a user field
                    if title is not None:
                        self._user_titles[value] = str(title)
                    continue
                if title is None and not always_set:
                    continue                # unreadable, or readable with an empty title: prepare() asks
                if title is None:
                    self.titles.setdefault(target.name, {})[value] = None
                    continue
                seen = (target.name, value, title)
                text = shown.get(seen)
                if text is None:
                    text = shown[seen] = self.title_of(target, {"id": value, target.title: title})
                self.titles.setdefault(target.name, {})[value] = text

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
        # Empty: None, "" or [] (tested by type first: `==` against a Decimal or a date is slow).
        if value is None or (not value and isinstance(value, (str, list))):
            return EMPTY
        show = _SHOW_BY_KIND.get(field.value_type)
        return Shown(str(value)) if show is None else show(self, field, value)

    # -- one per kind of value (_SHOW_BY_KIND); anything else is shown as its text --------------
    def _show_link(self, field: m.Field, value: Any) -> Shown:
        known = self.titles.get(field.entity or "")
        title = known[value] if known is not None and value in known else \
            self.load_titles(field.entity or "", [value]).get(value)
        if title is None:
            return Shown(f"#{value}")
        return Shown(title, self.root_path + urls.record(field.entity or "", value))

    def _show_user(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.user_name(value))

    def _show_option(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.option_label(field, value))

    def _show_options(self, field: m.Field, value: Any) -> Shown:
        return Shown(", ".join(self.option_label(field, k) for k in value))

    def _show_bool(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.gettext("Yes") if value else self.gettext("No"))

    def _show_money(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.money(_number(value), field.currency))

    def _show_percent(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.percent(_number(value)))

    def _show_number(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.number(_number(value)))

    def _show_rating(self, field: m.Field, value: Any) -> Shown:
        top = int(field.max or 5)
        return Shown(f"{'★' * int(value)}{'☆' * max(0, top - int(value))} ({int(value)}/{top})")

    def _show_date(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.date(_date(value)))

    def _show_datetime(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.datetime(_datetime(value)))

    def _show_email(self, field: m.Field, value: Any) -> Shown:
        return Shown(str(value), f"mailto:{value}")

    def _show_phone(self, field: m.Field, value: Any) -> Shown:
        return Shown(str(value), f"tel:{value}")

    def _show_url(self, field: m.Field, value: Any) -> Shown:
        text = str(value)
        return Shown(text, text if text.lower().startswith(SAFE_SCHEMES) else None)

    def _show_text(self, field: m.Field, value: Any) -> Shown:
        return Shown(str(value), multiline=True)

    def option_label(self, field: m.Field, key: str) -> str:
        if field.type == "stage" and field.pipeline in self.svc.config.pipelines:
            # The pipeline's stage labels in this language, looked up once per configuration.
            labels = self.svc.derive(("stage labels", field.pipeline, self.locale), lambda: self._stage_labels(field))
            found = labels.get(key)
            return found if found is not None else key
        label = field.options.get(key)
        return label.text(self.locale, self.svc.config.company.default_locale) if label else str(key)

    def _stage_labels(self, field: m.Field) -> dict[str, str]:
        pipeline = self.svc.config.pipelines[field.pipeline or ""]
        fallback = self.svc.config.company.default_locale
        labels: dict[str, str] = {}
        for stage in pipeline.stages:
            labels.setdefault(stage.key, stage.label.text(self.locale, fallback))   # the first, as stage() finds
        return labels

    def label(self, value: m.Label | None) -> str:
        return label_text(value, self.locale, self.svc.config.company.default_locale, self.gettext) if value else ""


# Display.value by the kind of value: one look-up instead of trying a dozen kinds in turn.
_SHOW_BY_KIND: dict[str, Callable[[Display, m.Field, Any], Shown]] = {
    "link": Display._show_link, "user": Display._show_user,
    "choice": Display._show_option, "stage": Display._show_option, "multichoice": Display._show_options,
    "bool": Display._show_bool, "money": Display._show_money, "percent": Display._show_percent,
    "int": Display._show_number, "decimal": Display._show_number, "rating": Display._show_rating,
    "date": Display._show_date, "datetime": Display._show_datetime,
    "email": Display._show_email, "phone": Display._show_phone, "url": Display._show_url,
    "text": Display._show_text,
}


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


def _title_links(config: m.Config, entity: m.Entity) -> tuple[tuple[str, str, m.Entity | None, bool], ...]:
    """`take_titles`' view of an entity's link and user fields: (field, its title column, the linked
    entity (None for a user field), whether that entity's title is always set). Links to an entity
    the configuration does not have are left out, as take_titles skipped them."""
    out: list[tuple[str, str, m.Entity | None, bool]] = []
    for f in entity.fields.values():
        if f.type == "user":
            out.append((f.name, title_label(f.name), None, False))
        elif f.type == "link":
            target = config.entities.get(f.entity or "")
            if target is not None:
                out.append((f.name, title_label(f.name), target, _title_always_set(target)))
    return tuple(out)


def _title_always_set(entity: m.Entity) -> bool:
    """Whether a readable record of `entity` always has a title value, so that a NULL title from a
    join can only mean the linked record is not readable (a required stored title field)."""
    field = entity.fields.get(entity.title)
    return field is not None and field.required and field.stored
