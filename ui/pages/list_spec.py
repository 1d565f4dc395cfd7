"""What a list page shows and how its URL is read: columns, sort, filters, segment, search, page.

    view = ListView.build(config, permissions, exprs, actor, entity)
    state = view.read(request.query_params)            # unknown or malformed parameters are dropped
    filter_expr, params = view.filter_expression(state)

The URL is the whole state of a list (`?sort=-amount&stage=won&q=acme&page=2`),
so a shared link, the back button and a full reload all show the same page.
Filter values never become expression text: each is checked against what the
filter allows (an option key, a user id, an ISO date, a number) and passed to
the expression compiler as a `$parameter`, which binds it in SQL.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping
from urllib.parse import urlencode

from engine.metadata import model as m
from engine.metadata.expressions import Period
from engine.metadata.expressions.values import lower as text_lower
from engine.runtime.actor import Actor
from engine.runtime.exprs import RecordExpressions
from engine.runtime.permissions import Permissions

COMPUTED = ("formula", "rollup")
UNSORTABLE = ("multichoice", "lines", "file")
TEXTUAL = ("string", "text", "email", "phone", "url", "autonumber")
NUMERIC = ("int", "decimal", "money", "percent", "rating")
MAX_PAGE = 10_000          # deeper than anyone pages; keeps OFFSET bounded


def value_type(f: m.Field) -> str:
    """The type a field's value has (a formula's or rollup's result type)."""
    return (f.result or "decimal") if f.type in COMPUTED else f.type


@dataclass(frozen=True, slots=True)
class Column:
    key: str                       # the configured name: `amount`, `account.name`
    labels: tuple[m.Label, ...]     # shown joined: `Account · Industry`
    field: m.Field                 # the field whose value is shown (the linked one for a path)
    link: m.Field | None = None    # for `account.name`: the link followed
    sortable: bool = False
    is_title: bool = False         # the record's own title: links to the record


@dataclass(frozen=True, slots=True)
class Filter:
    key: str                       # the configured path: `stage`, `account.industry`
    labels: tuple[m.Label, ...]
    kind: str                      # select | multi | user | bool | range | text | link
    field: m.Field                 # the field at the end of the path
    options: tuple[tuple[str, m.Label | str], ...] = ()
    numeric: bool = False          # a range of numbers, else of dates


@dataclass
class ListState:
    """One list's state as read from its URL."""

    sort: str | None = None
    q: str = ""
    segment: str | None = None
    page: int = 1
    values: dict[str, str] = field(default_factory=dict)   # URL parameter -> accepted text

    def query(self, **changes: Any) -> str:
        """The query string of this state with `changes` (None removes); page 1 is left out."""
        items: dict[str, Any] = {"segment": self.segment, "q": self.q or None, "sort": self.sort, **self.values,
                                 "page": self.page if self.page > 1 else None}
        items.update(changes)
        if items.get("page") in (1, "1"):
            items["page"] = None
        return urlencode([(k, v) for k, v in items.items() if v not in (None, "")])

    @property
    def filtered(self) -> bool:
        return bool(self.values or self.q)


@dataclass(frozen=True, slots=True)
class ListView:
    """The list of one entity as one user may see it."""

    entity: m.Entity
    columns: tuple[Column, ...]
    filters: tuple[Filter, ...]
    segments: tuple[m.Segment, ...]
    default_sort: str | None
    page_size: int
    owner_field: bool              # owned: bulk owner change is offered

    @classmethod
    def build(cls, config: m.Config, permissions: Permissions, exprs: RecordExpressions, actor: Actor,
              entity: str) -> "ListView":
        ent = config.entities[entity]
        hidden_of = (lambda e: permissions.hidden(actor, e))
        columns = tuple(c for c in (_column(config, ent, key, hidden_of) for key in ent.views.list.columns) if c)
        filters = []
        for key in ent.views.list.filters:
            problems: dict[str, list[str]] = {}
            spec = _filter(config, ent, key)
            # What the filter reads must be visible (a link filter reads the linked record's title too).
            read = f"{key}.{spec.options[0][0]}" if spec is not None and spec.kind == "link" else key
            exprs.refuse_hidden(entity, read, hidden_of, problems, "filter")
            spec = None if problems else spec
            if spec is not None:
                filters.append(spec)
        sort = ent.views.list.sort
        sortable = {c.key for c in columns if c.sortable}
        return cls(ent, columns, tuple(filters), tuple(ent.segments.values()),
                   sort if sort and sort.lstrip("-") in sortable else None,
                   max(1, min(ent.views.list.page_size, 500)), "owned" in ent.traits and "owner" not in hidden_of(entity))

    # -- reading the URL ----------------------------------------------------------------------
    def read(self, params: Mapping[str, str], user_ids: frozenset[int] = frozenset()) -> ListState:
        """The state in `params`; anything unknown or not valid for its filter is ignored."""
        state = ListState()
        sort = (params.get("sort") or "").strip()
        if sort.lstrip("-") in {c.key for c in self.columns if c.sortable} and sort.count("-") <= 1 \
                and not sort.endswith("-"):
            state.sort = sort
        segment = params.get("segment") or ""
        state.segment = segment if segment in self.entity.segments else None
        state.q = " ".join((params.get("q") or "").split())[:200]
        try:
            state.page = max(1, min(int(params.get("page") or 1), MAX_PAGE))
        except ValueError:
            state.page = 1
        for spec in self.filters:
            for name, text in _accepted(spec, params, user_ids).items():
                state.values[name] = text
        return state

    def filter_expression(self, state: ListState) -> tuple[str | None, dict[str, Any]]:
        """The segment and filters as one expression with bound `$f<n>` parameters."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if state.segment:
            parts.append(f"({self.entity.segments[state.segment].filter})")
        for spec in self.filters:
            clause = _clause(spec, state.values, params)
            if clause:
                parts.append(clause)
        return (" and ".join(parts) or None), params

    def sort_of(self, state: ListState) -> str | None:
        return state.sort or self.default_sort

    def paths(self) -> list[str]:
        """The `link.field` columns the SELECT must add (titles come with `with_titles`)."""
        return [c.key for c in self.columns if c.link is not None and not c.is_title]


def _column(config: m.Config, ent: m.Entity, key: str, hidden_of) -> Column | None:
    head, _, tail = key.partition(".")
    f = ent.fields.get(head)
    if f is None or head in hidden_of(ent.name) or f.type in ("lines", "file"):
        return None
    if not tail:
        sortable = (f.stored or f.type in COMPUTED) and f.type not in UNSORTABLE + ("link", "user")
        return Column(key, (f.label,), f, sortable=sortable, is_title=(head == ent.title))
    target = config.entities.get(f.entity or "") if f.type == "link" else None
    tf = target.fields.get(tail) if target else None
    if target is None or tf is None or "." in tail or not tf.stored or tail in hidden_of(target.name):
        return None
    if tail == target.title:      # `account.name`: the account, shown by its title, linked
        return Column(key, (f.label,), f)
    return Column(key, (f.label, tf.label), tf, link=f)


def _filter(config: m.Config, ent: m.Entity, key: str) -> Filter | None:
    """The filter of a configured path, or None for a path this page cannot offer."""
    current, f = ent, None
    parts = key.split(".")
    for i, part in enumerate(parts):
        f = current.fields.get(part)
        if f is None:
            return None
        if i < len(parts) - 1:
            nxt = config.entities.get(f.entity or "") if f.type == "link" else None
            if nxt is None:
                return None
            current = nxt
    assert f is not None
    label = (f.label,) if len(parts) == 1 else (ent.fields[parts[0]].label, f.label)
    kind = value_type(f)
    if f.type == "stage":
        pipeline = config.pipelines.get(f.pipeline or "")
        options = tuple((s.key, s.label) for s in pipeline.stages) if pipeline else ()
        return Filter(key, label, "select", f, options)
    if kind == "choice":
        return Filter(key, label, "select", f, tuple(f.options.items()))
    if kind == "multichoice":
        return Filter(key, label, "multi", f, tuple(f.options.items()))
    if kind == "user":
        return Filter(key, label, "user", f)
    if kind == "bool":
        return Filter(key, label, "bool", f)
    if kind in ("date", "datetime"):
        return Filter(key, label, "range", f)
    if kind in NUMERIC:
        return Filter(key, label, "range", f, numeric=True)
    if kind == "link":
        target = config.entities.get(f.entity or "")
        title = target.fields.get(target.title) if target else None
        if title is None or not title.stored or title.type not in TEXTUAL:
            return None
        return Filter(key, label, "link", f, ((title.name, title.label),))
    if kind in TEXTUAL:
        return Filter(key, label, "text", f)
    return None


def _accepted(spec: Filter, params: Mapping[str, str], user_ids: frozenset[int]) -> dict[str, str]:
    """The URL values of one filter that are valid for it."""
    out: dict[str, str] = {}
    if spec.kind == "range":
        for end in ("from", "to"):
            text = (params.get(f"{spec.key}__{end}") or "").strip()
            if text and _bound(spec, text) is not None:
                out[f"{spec.key}__{end}"] = text
        return out
    text = (params.get(spec.key) or "").strip()
    if not text:
        return out
    if spec.kind in ("select", "multi") and text in dict(spec.options):
        out[spec.key] = text
    elif spec.kind == "user" and text.isdigit() and int(text) in user_ids:
        out[spec.key] = text
    elif spec.kind == "bool" and text in ("true", "false"):
        out[spec.key] = text
    elif spec.kind in ("text", "link"):
        out[spec.key] = text[:200]
    return out


def _bound(spec: Filter, text: str) -> Any:
    if spec.numeric:
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _clause(spec: Filter, values: Mapping[str, str], params: dict[str, Any]) -> str | None:
    """One filter as expression text; every value is a `$f<n>` parameter, never text in the expression."""
    def param(value: Any) -> str:
        name = f"f{len(params)}"
        params[name] = value
        return "$" + name

    path = spec.key
    if spec.kind == "range":
        low, high = values.get(f"{path}__from"), values.get(f"{path}__to")
        if low is None and high is None:
            return None
        if spec.numeric:
            tests = ([f"{path} >= {param(_bound(spec, low))}"] if low else []) + \
                    ([f"{path} <= {param(_bound(spec, high))}"] if high else [])
            return "(" + " and ".join(tests) + ")"
        start, last = (_bound(spec, low) if low else None), (_bound(spec, high) if high else None)
        period = Period(start, last + dt.timedelta(days=1) if last else None)
        return f"({path} != null and {path} in {param(period)})"
    text = values.get(path)
    if text is None:
        return None
    if spec.kind == "select":
        return f"{path} == {param(text)}"
    if spec.kind == "multi":
        return f"{param(text)} in {path}"
    if spec.kind == "user":
        return f"{path} == {param(int(text))}"
    if spec.kind == "bool":
        return f"{path} == {'true' if text == 'true' else 'false'}"
    if spec.kind == "link":
        return f"lower({path}.{_title_of(spec)}).contains({param(text_lower(text))})"
    return f"lower({path}).contains({param(text_lower(text))})"


def _title_of(spec: Filter) -> str:
    return spec.options[0][0] if spec.options else "title"


__all__ = ["Column", "Filter", "ListState", "ListView", "value_type"]
