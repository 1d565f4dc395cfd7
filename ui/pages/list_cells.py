"""One list cell: a record's value as text (and maybe a link) in the user's language.

    cell = cells.of(column, row)        # Cell(text='1 234 567 Ft', href=None, kind='money')

Money carries its currency, percentages and numbers the locale's separators,
dates and times the company's timezone, choices and stages their label in the
user's language, bools ✓ / —, links the linked record's title with a link to
it (the id alone when the user may not read that record). The text is plain:
`row_html` escapes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from markupsafe import Markup, escape

from engine.metadata import model as m
from engine.runtime.linked import title_label

from .. import urls
from ..formatting import Formatter
from .list_spec import Column, value_type

TEXT_LIMIT = 120     # long text is cut in a list; the record page shows all of it


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    href: str | None = None
    kind: str = "text"          # a CSS hook: numbers right-aligned


def row_html(cells: list[Cell], first_suffix: Markup = Markup("")) -> Markup:
    """A list row's `<td>` cells, each on its own line as `_list_table.html` lays them out.

    Built here rather than by a loop in the template: a page has 50 rows of 7 cells, and
    Jinja's per-cell lookups and escapes were a tenth of the list page's time. Every text
    and URL is escaped; `first_suffix` (already safe HTML) ends the first cell.
    """
    parts = []
    for i, cell in enumerate(cells):
        text = escape(cell.text)
        inner = f'<a href="{escape(cell.href)}">{text}</a>' if cell.href else text
        parts.append(f'<td class="cell--{escape(cell.kind)}">{inner}{first_suffix if i == 0 else ""}</td>')
    return Markup(ROW_GLUE.join(parts))


ROW_GLUE = "\n        "      # the indentation of a cell in _list_table.html


class Cells:
    """Formats the cells of one list for one user."""

    def __init__(self, config: m.Config, fmt: Formatter, locale: str, url_prefix: str = ""):
        self.config = config
        self.fmt = fmt
        self.locale = locale
        self.fallback = config.company.default_locale
        self.prefix = url_prefix

    def of(self, entity: m.Entity, column: Column, row: Mapping[str, Any]) -> Cell:
        f = column.field
        if column.link is not None:            # `account.industry`: a field of the linked record
            return self.value(f, row.get(column.key))
        if f.type in ("link", "user"):
            return self._linked(f, row.get(f.name), row.get(title_label(f.name)))
        cell = self.value(f, row.get(f.name))
        if column.is_title:
            text = cell.text or f"#{row['id']}"
            return Cell(text, self.prefix + urls.record(entity.name, row["id"]), cell.kind)
        return cell

    def _linked(self, f: m.Field, value: Any, title: Any) -> Cell:
        if value is None:
            return Cell("")
        if f.type == "user":
            return Cell(str(title or f"#{value}"), kind="user")
        if title is None:     # not readable by the user (or no title): the id, no link
            return Cell(f"#{value}", kind="link")
        return Cell(str(title), self.prefix + urls.record(f.entity or "", int(value)), "link")

    def value(self, f: m.Field, value: Any) -> Cell:
        if value is None or value == "" or value == []:
            return Cell("")
        kind = value_type(f)
        fmt = self.fmt
        if kind == "money":
            return Cell(fmt.money(value, f.currency), kind="number")
        if kind == "percent":
            return Cell(fmt.percent(value), kind="number")
        if kind == "decimal":
            return Cell(fmt.number(value, f.scale), kind="number")
        if kind in ("int", "rating"):
            return Cell(fmt.number(value), kind="number")
        if kind == "bool":
            return Cell("✓" if value else "—", kind="bool")
        if kind == "date":
            return Cell(fmt.date(value), kind="date")
        if kind == "datetime":
            return Cell(fmt.datetime(value), kind="date")
        if kind in ("choice", "multichoice"):
            keys = value if isinstance(value, (list, tuple)) else [value]
            return Cell(", ".join(self._option(f, k) for k in keys))
        if kind == "stage":
            return Cell(self._stage(f, str(value)), kind="stage")
        text = str(value)
        return Cell(text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "…")

    def _option(self, f: m.Field, key: Any) -> str:
        label = f.options.get(str(key))
        return label.text(self.locale, self.fallback) if label is not None else str(key)

    def _stage(self, f: m.Field, key: str) -> str:
        pipeline = self.config.pipelines.get(f.pipeline or "")
        for stage in pipeline.stages if pipeline else ():
            if stage.key == key:
                return stage.label.text(self.locale, self.fallback)
        return key
