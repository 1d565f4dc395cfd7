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
from functools import partial
from typing import Any, Callable, Iterable, Mapping

from markupsafe import Markup, escape

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.linked import title_label

from . import urls
from .compiled_formats import number_format
from .formatting import Formatter
from .i18n import label_text
from .services import Services

SAFE_SCHEMES = ("http://", "https://")


@dataclass(frozen=True, slots=True, init=False)
class Shown:
    """One value on a page: its text, and where it links to (None: plain text)."""

    text: str
    url: str | None = None
    multiline: bool = False

    def __init__(self, text: str, url: str | None = None, multiline: bool = False):
        # What the generated __init__ of a frozen dataclass does (object.__setattr__ per field),
        # through the slots' own setters: half the cost, and a page makes hundreds of these.
        _set_text(self, text)
        _set_url(self, url)
        _set_multiline(self, multiline)

    def html(self) -> Markup:
        """The value for a page: a link when it has a url, else its text (escaped)."""
        return Markup(self.html_text())

    def html_text(self) -> str:
        """`html()` as a plain str, for joining many values into one Markup."""
        text = self.text
        text = _escape_str(text) if type(text) is str else escape_text(text)   # escape_text, one call less
        if self.url:
            return f'<a href="{escape_text(self.url)}">{text}</a>'
        if self.multiline:
            return f'<span class="multiline">{text}</span>'
        return text


_set_text, _set_url, _set_multiline = Shown.text.__set__, Shown.url.__set__, Shown.multiline.__set__  # type: ignore[attr-defined]
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
        self._formatters: dict[m.Field, Callable[[Any], Shown]] = {}   # see formatter()
        self._titlers: dict[m.Entity, Callable[[Mapping[str, Any]], str]] = {}     # see titler()

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
        return self.titler(entity)(record)

    def titler(self, entity: m.Entity) -> Callable[[Mapping[str, Any]], str]:
        """`lambda record: self.title_of(entity, record)`, the title field looked up once per request."""
        found = self._titlers.get(entity)
        if found is None:
            found = self._titlers[entity] = _titler(self, entity)
        return found

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
        show = self._formatters.get(field)
        return (show if show is not None else self.formatter(field))(value)

    def formatter(self, field: m.Field) -> Callable[[Any], Shown]:
        """`lambda value: self.value(field, value)`, with what depends only on the field (its kind,
        its option labels, its number pattern) decided once per request instead of once per value:
        a page formats the same few fields row after row."""
        show = self._formatters.get(field)
        if show is None:
            show = self._formatters[field] = _formatter(self, field)
        return show

    # -- one per kind of value (_SHOW_BY_KIND) that has no maker of its own (_FORMATTER_BY_KIND) --
    def _show_options(self, field: m.Field, value: Any) -> Shown:
        return Shown(", ".join(self.option_label(field, k) for k in value))

    def _show_bool(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.gettext("Yes") if value else self.gettext("No"))

    def _show_percent(self, field: m.Field, value: Any) -> Shown:
        return Shown(self.fmt.percent(_number(value)))

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


# Display.formatter by the kind of value, for the kinds without a maker (_FORMATTER_BY_KIND below).
_SHOW_BY_KIND: dict[str, Callable[[Display, m.Field, Any], Shown]] = {
    "multichoice": Display._show_options, "bool": Display._show_bool, "percent": Display._show_percent,
    "rating": Display._show_rating,
    "date": Display._show_date, "datetime": Display._show_datetime,
    "email": Display._show_email, "phone": Display._show_phone, "url": Display._show_url,
    "text": Display._show_text,
}


def _formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    """Display.formatter: empty values (None, "" or []) as EMPTY, others by the field's kind."""
    kind = field.value_type
    make = _FORMATTER_BY_KIND.get(kind)
    if make is not None:
        show = make(shown, field)
    else:
        method = _SHOW_BY_KIND.get(kind)
        if method is None:
            return _as_text
        show = partial(method, shown, field)

    def formatted(value: Any) -> Shown:
        # Tested by type first: `==` against a Decimal or a date is slow.
        if value is None or (not value and isinstance(value, (str, list))):
            return EMPTY
        return show(value)
    return formatted


def _titler(shown: Display, entity: m.Entity) -> Callable[[Mapping[str, Any]], str]:
    name = entity.title
    field = entity.fields.get(name)
    if field is None or field.type in ("link", "user"):
        return lambda record: f"#{record.get('id')}"
    show = shown.formatter(field)

    def title(record: Mapping[str, Any]) -> str:
        value = record.get(name)
        if value in (None, ""):
            return f"#{record.get('id')}"
        return show(value).text or f"#{record.get('id')}"
    return title


def _as_text(value: Any) -> Shown:
    """The kinds shown as their text (strings, mostly): Display.formatter's in one call."""
    if value is None or (not value and isinstance(value, (str, list))):
        return EMPTY
    return Shown(str(value))


def _option_formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    # Display.option_label, each label looked up once per configuration and language (a Shown is
    # immutable: one per option serves every row).
    if field.type == "stage" and field.pipeline in shown.svc.config.pipelines:
        labels = shown.svc.derive(("stage labels", field.pipeline, shown.locale), lambda: shown._stage_labels(field))
        known = shown.svc.derive(("shown stages", field.pipeline, shown.locale),
                                 lambda: {key: Shown(text) for key, text in labels.items()})
        return lambda key: known.get(key) or Shown(key)
    fallback = shown.svc.config.company.default_locale
    options = shown.svc.derive(("shown options", field, shown.locale), lambda: {
        key: Shown(label.text(shown.locale, fallback)) for key, label in field.options.items() if label})
    return lambda key: options.get(key) or Shown(str(key))


def _money_formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    # Formatter.money with the field's currency: the same pattern, looked up once.
    money = number_format(shown.fmt.locale, currency=field.currency or shown.fmt.currency)
    return lambda value: Shown(money(_number(value)))


def _number_formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    number = number_format(shown.fmt.locale)        # Formatter.number without fixed decimals
    return lambda value: Shown(number(_number(value)))


def _link_formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    target = field.entity or ""
    titles = shown.titles

    def link(value: Any) -> Shown:          # the title, as readable by the user; else #id
        known = titles.get(target)
        title = known[value] if known is not None and value in known else \
            shown.load_titles(target, [value]).get(value)
        if title is None:
            return Shown(f"#{value}")
        return Shown(title, shown.root_path + urls.record(target, value))
    return link


def _user_formatter(shown: Display, field: m.Field) -> Callable[[Any], Shown]:
    user_name = shown.user_name
    return lambda value: Shown(user_name(value))


# Display.formatter's makers by the kind of value; the other kinds use their Display._show_* method.
_FORMATTER_BY_KIND: dict[str, Callable[[Display, m.Field], Callable[[Any], Shown]]] = {
    "choice": _option_formatter, "stage": _option_formatter, "money": _money_formatter,
    "int": _number_formatter, "decimal": _number_formatter, "link": _link_formatter, "user": _user_formatter,
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
