"""Form widgets: each field of a FormState as what `_field.html` draws.

One `Widget` per field: its input kind and HTML type (email, tel, url, number,
date, datetime-local), texts, options, bounds and unit (the currency of a money
field), its errors (already in the user's language), and for `lines` a `Grid`
of row widgets with server-computed totals. Formulas, rollups, autonumbers,
the stage and read-only fields are `readonly` widgets showing the stored value.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from engine.metadata import model as m
from engine.runtime.files import Attachment, human_size
from engine.runtime.values import convert

from . import urls
from .display import Display, Shown
from .formstate import FormState, LineRow, is_input
from .i18n import N_

INPUT_TYPES = {"string": "text", "email": "email", "phone": "tel", "url": "url", "date": "date",
               "datetime": "datetime-local", "int": "number", "decimal": "number", "money": "number",
               "percent": "number"}
NUMERIC = frozenset({"int", "decimal", "money", "percent"})
TOTALLED = frozenset({"int", "decimal", "money"})
DATE_FORMATS = {"date": N_("YYYY-MM-DD"), "datetime": N_("YYYY-MM-DD HH:MM")}     # what values.py reads


def widget_id(name: str) -> str:
    """The element id of an input name: "amount" -> "f-amount", "items.0.quantity" -> "f-items-0-quantity"."""
    return "f-" + name.replace(".", "-")


@dataclass(slots=True)
class Widget:
    name: str                    # the input's name: "amount", "items.0.quantity"
    id: str                      # the element id: "f-amount", "f-items-0-quantity"
    field: m.Field
    label: str
    kind: str                    # input textarea select checkboxes checkbox rating picker file lines readonly
    input_type: str = "text"
    value: Any = ""
    errors: list[str] = dc_field(default_factory=list)
    options: list[tuple[str, str]] = dc_field(default_factory=list)
    step: str = ""
    min: str = ""
    max: str = ""
    unit: str = ""
    required: bool = False
    help: str = ""
    shown: Shown = Shown("")
    files: list[tuple[int, Shown]] = dc_field(default_factory=list)
    accept: str = ""
    grid: "Grid | None" = None
    autofocus: bool = False
    include: str = ""            # pickers: the inputs a lookup sends (hx-include)
    placeholder: str = ""        # dates: the format to type where the browser has no date picker

    @property
    def error_id(self) -> str:
        return "err-" + self.id[2:]


@dataclass(slots=True)
class Grid:
    field: str
    columns: list[tuple[str, str, bool]]           # (name, label, totalled)
    rows: list[tuple[LineRow, list[Widget]]]
    totals: dict[str, Shown]


class WidgetBuilder:
    """Builds the widgets of one form for one user (labels and numbers in their language)."""

    def __init__(self, shown: Display, entity: m.Entity, lookup_url: str, children: Mapping[str, m.Entity],
                 line_columns: Mapping[str, list[m.Field]], currency: str):
        self.shown = shown
        self.entity = entity
        self.lookup_url = lookup_url
        self.children = children
        self.line_columns = line_columns
        self.currency = currency

    def build(self, state: FormState, errors: Mapping[str, list[str]], record: Mapping[str, Any] | None,
              files: Mapping[str | None, list[Attachment]]) -> list[Widget]:
        self._prepare_titles(state)
        out = []
        for f in state.fields:
            if f.type == "lines":
                out.append(self.lines(f, state, errors, record))
            else:
                w = self.widget(f, f.name, state.texts.get(f.name, ""), errors.get(f.name, []), record)
                if f.type == "file":
                    w.files = [(a.id, Shown(f"{a.filename} ({human_size(a.size)})", self.shown.root_path + urls.file(a.id)))
                               for a in files.get(f.name, [])]
                out.append(w)
        focus = next((w for w in out if w.errors), None) or next((w for w in out if w.kind not in ("readonly",)), None)
        if focus is not None:
            focus.autofocus = True
        return out

    def widget(self, f: m.Field, name: str, text: Any, errors: list[str], record: Mapping[str, Any] | None) -> Widget:
        w = Widget(name=name, id=widget_id(name), field=f, label=self.shown.label(f.label),
                   kind="input", value=text, errors=list(errors), required=f.required,
                   help=self.shown.label(f.help) if f.help else "")
        if not is_input(f) and f.type != "file":
            w.kind = "readonly"
            w.shown = self.shown.value(f, record.get(f.name)) if record else Shown("")
            return w
        t = f.type
        w.input_type = INPUT_TYPES.get(t, "text")
        if t in DATE_FORMATS:
            # A browser with a date picker shows its own localized mask and ignores this; one without
            # (an old Safari, a text browser) shows a plain text box, where the user must type the
            # form the server reads (ISO), written in their language ("ÉÉÉÉ-HH-NN").
            w.placeholder = self.shown.gettext(DATE_FORMATS[t])
        if t == "text":
            w.kind = "textarea"
        elif t in NUMERIC:
            w.step = "1" if t == "int" else str(Decimal(1).scaleb(-(max(f.scale, 2) if t == "percent" else f.scale)))
            w.min = "" if f.min is None or isinstance(f.min, str) else str(f.min)
            w.max = "" if f.max is None or isinstance(f.max, str) else str(f.max)
            w.unit = (f.currency or self.currency) if t == "money" else ("%" if t == "percent" else "")
            if t == "percent":
                w.min = w.min or "0"
                w.max = w.max or "100"
        elif t == "choice":
            w.kind = "select"
            w.options = [(k, self.shown.option_label(f, k)) for k in f.options]
        elif t == "multichoice":
            w.kind = "checkboxes"
            w.options = [(k, self.shown.option_label(f, k)) for k in f.options]
        elif t == "bool":
            w.kind = "checkbox"
        elif t == "rating":
            w.kind = "rating"
            top = int(f.max or 5)
            w.options = [(str(i), "★" * i) for i in range(1, top + 1)]
        elif t in ("link", "user"):
            w.kind = "picker"
            w.required = f.required or (f.system and f.name == "owner")    # an owner cannot be "none"
            w.shown = self._chosen(f, text)
            # The lookup sends the current choice and the fields its filter reads ($account), not the
            # whole form (a GET puts them in the URL, where the CSRF token must not go).
            prefix = name.rsplit(".", 1)[0] + "." if "." in name else ""
            params = self.shown.svc.records.exprs.params_of(f.filter) if f.filter else set()
            # The own choice through its options fieldset, which always exists: a `[name=...]` selector
            # matches nothing before the first lookup, and htmx logs that as a console error.
            w.include = ", ".join([f"#{w.id}-options"] + [f"[name='{n}']" for n in sorted(prefix + p for p in params)])
        elif t == "file":
            w.kind = "file"
            w.accept = ",".join("." + a for a in f.accept)
            if f.max_size:
                w.help = (w.help + " " if w.help else "") + f"≤ {human_size(f.max_size)}"
        elif t == "string" and f.max_length:
            w.max = str(f.max_length)
        return w

    def lines(self, f: m.Field, state: FormState, errors: Mapping[str, list[str]],
              record: Mapping[str, Any] | None) -> Widget:
        columns = self.line_columns[f.name]
        computed = self.computed(f, state)
        rows = []
        for row in state.lines.get(f.name, []):
            cells = []
            for c in columns:
                name = f"{f.name}.{row.index}.{c.name}"
                cells.append(self.widget(c, name, row.texts.get(c.name, ""), errors.get(name, []),
                                         computed.get(row.index, {})))
            rows.append((row, cells))
        grid = Grid(f.name, [(c.name, self._heading(c), c.value_type in TOTALLED) for c in columns], rows,
                    self.totals(f, state))
        w = Widget(name=f.name, id=widget_id(f.name), field=f, label=self.shown.label(f.label), kind="lines",
                   errors=list(errors.get(f.name, [])), required=f.required, grid=grid)
        return w

    def totals(self, f: m.Field, state: FormState,
               computed: dict[int, dict[str, Any]] | None = None) -> dict[str, Shown]:
        """Sums of the number and money columns (formulas too) over the rows that will be saved."""
        computed = self.computed(f, state) if computed is None else computed
        out = {}
        for c in self.line_columns[f.name]:
            if c.value_type not in TOTALLED or c.type == "rollup":
                continue
            total = Decimal(0)
            for row in state.lines.get(f.name, []):
                if row.deleted:
                    continue
                raw = computed.get(row.index, {}).get(c.name) if c.type == "formula" else row.texts.get(c.name)
                try:
                    total += Decimal(str(raw if raw not in (None, "") else "0").strip())
                except InvalidOperation:
                    continue          # a value being typed; the field itself shows its error
            out[c.name] = self.shown.value(c, total)
        return out

    def computed_cells(self, f: m.Field, state: FormState,
                       computed: dict[int, dict[str, Any]]) -> list[tuple[str, Shown]]:
        """Each row's formula cells as (the id of their widget, value): the grid redraws them when a
        quantity or price changes, with the server's own formula (`computed`)."""
        formulas = [c for c in self.line_columns[f.name] if c.type == "formula" and c.expr]
        return [(widget_id(f"{f.name}.{row.index}.{c.name}"),
                 self.shown.value(c, computed.get(row.index, {}).get(c.name)))
                for row in state.lines.get(f.name, []) if not row.deleted for c in formulas]

    def computed(self, f: m.Field, state: FormState) -> dict[int, dict[str, Any]]:
        """Formula columns of each row as typed so far (`quantity * price`), evaluated like on save."""
        child = self.children[f.name]
        formulas = [c for c in self.line_columns[f.name] if c.type == "formula" and c.expr]
        rows = [r for r in state.lines.get(f.name, []) if not r.deleted]
        if not formulas or not rows:
            return {}
        svc, ctx = self.shown.svc, self.shown.svc.records.query.values
        out: dict[int, dict[str, Any]] = {}
        visible = svc.permissions.visible_rows(self.shown.actor)    # shown: only what the user may read
        with svc.engine.connect() as conn:
            for row in rows:
                record: dict[str, Any] = {"id": row.id}
                for name, text in row.texts.items():
                    if name in child.fields and child.fields[name].stored:
                        record[name] = convert(child.fields[name], text, ctx)[0]
                values = {}
                for c in formulas:
                    try:
                        values[c.name] = svc.records.exprs.evaluate(conn, child.name, c.expr or "", record,
                                                                    self.shown.actor, visible=visible)
                    except Exception:     # noqa: BLE001 - a half-typed row has no total yet
                        values[c.name] = None
                out[row.index] = values
        return out

    def _heading(self, c: m.Field) -> str:
        """A grid column's heading; money columns name their currency (cells have no visible label)."""
        label = self.shown.label(c.label)
        if c.value_type == "money":
            return f"{label} ({c.currency or self.currency})"
        return label + (" (%)" if c.value_type == "percent" else "")

    def _chosen(self, f: m.Field, text: Any) -> Shown:
        if not isinstance(text, str) or not text.strip().isdigit():
            return Shown(text if isinstance(text, str) else "")
        if f.type == "user":
            return Shown(self.shown.user_name(int(text)))
        return self.shown.value(f, int(text))

    def _prepare_titles(self, state: FormState) -> None:
        wanted: dict[str, set[int]] = {}
        for f in state.fields:
            if f.type == "link" and str(state.texts.get(f.name, "")).isdigit():
                wanted.setdefault(f.entity or "", set()).add(int(state.texts[f.name]))
            if f.type == "lines":
                for c in self.line_columns[f.name]:
                    if c.type != "link":
                        continue
                    for row in state.lines.get(f.name, []):
                        if str(row.texts.get(c.name, "")).isdigit():
                            wanted.setdefault(c.entity or "", set()).add(int(row.texts[c.name]))
        for entity, ids in wanted.items():
            self.shown.load_titles(entity, ids)
