"""What a record form holds, both ways: record or request -> input texts -> service values.

    state = FormState.from_record(entity, record, tz)     # edit: the stored values as input texts
    state = FormState.from_form(entity, fields, form)     # after a POST: what the user typed
    values, uploads = state.values(), state.uploads       # for Records.create/update and Files

Input texts are what the browser sends back (`"1234.50"`, `"2025-03-14T09:30"` in
the company's time zone, `["strategic", "renewal"]`), so a refused form is shown
again exactly as typed. `lines` fields travel as `items.0.quantity`,
`items.0.id`, `items.0._delete`; rows left blank or marked deleted are not sent
(the service deletes rows it is not given), and `row_map` translates the
service's row numbers in problems (`items.1.quantity`) back to the form's.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field as dc_field
from decimal import Decimal
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData, UploadFile

from engine.metadata import model as m

READ_ONLY_TYPES = frozenset({"formula", "rollup", "autonumber", "stage"})
ROW_KEY = re.compile(r"^(?P<field>[a-z][a-z0-9_]*)\.(?P<index>\d+)\.(?P<column>[a-z_][a-z0-9_]*)$")
MAX_ROWS = 500


def is_input(f: m.Field) -> bool:
    """Fields a form sends to the service (files go through the files service instead)."""
    return f.type not in READ_ONLY_TYPES and f.type != "file" and not f.readonly and not (f.system and f.name == "team")


def form_fields(entity: m.Entity, hidden: frozenset[str]) -> list[m.Field]:
    """The fields of the entity's form sections, in order, without hidden ones."""
    seen: list[m.Field] = []
    for section in entity.views.form:
        for name in section.fields:
            f = entity.fields.get(name)
            if f is not None and name not in hidden and f not in seen:
                seen.append(f)
    return seen


def to_text(f: m.Field, value: Any, zone: ZoneInfo) -> Any:
    """A stored value as its input's text (a list of keys for multichoice)."""
    if value is None:
        return [] if f.type == "multichoice" else ""
    if f.type == "multichoice":
        return [str(v) for v in value]
    if f.type == "bool":
        return "true" if value else ""
    if isinstance(value, dt.datetime):
        local = value.astimezone(zone) if value.tzinfo else value
        return local.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize() if value == value.to_integral() else value, "f")
    return str(value)


@dataclass(slots=True)
class LineRow:
    """One row of a lines grid: its id (None: new), its input texts, whether it is marked deleted."""

    index: int
    id: int | None
    texts: dict[str, Any]
    deleted: bool = False

    def blank(self) -> bool:
        return self.id is None and not any(v not in ("", [], None) for v in self.texts.values())


@dataclass(slots=True)
class FormState:
    entity: m.Entity
    fields: list[m.Field]
    texts: dict[str, Any] = dc_field(default_factory=dict)
    lines: dict[str, list[LineRow]] = dc_field(default_factory=dict)
    uploads: dict[str, list[UploadFile]] = dc_field(default_factory=dict)
    removed_files: list[int] = dc_field(default_factory=list)
    row_map: dict[str, dict[int, int]] = dc_field(default_factory=dict)   # field -> sent index -> form index
    # The texts the edit form started from (`_orig.<name>` inputs): a stale save is merged against them.
    orig: dict[str, Any] | None = None

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def from_record(cls, entity: m.Entity, fields: list[m.Field], record: Mapping[str, Any],
                    children: Mapping[str, m.Entity], zone: ZoneInfo) -> "FormState":
        state = cls(entity, fields)
        for f in fields:
            if f.type == "lines":
                child = children[f.name]
                state.lines[f.name] = [
                    LineRow(i, row.get("id"), {c.name: to_text(c, row.get(c.name), zone)
                                                for c in child.fields.values() if c.name in row})
                    for i, row in enumerate(record.get(f.name) or [])]
            elif f.type != "file":
                state.texts[f.name] = to_text(f, record.get(f.name), zone)
        state.orig = {f.name: state.texts[f.name] for f in fields if is_input(f) and f.name in state.texts}
        return state

    @classmethod
    def defaults(cls, entity: m.Entity, fields: list[m.Field], children: Mapping[str, m.Entity]) -> "FormState":
        """A new record's form: literal defaults filled in (expression defaults apply on save)."""
        state = cls(entity, fields)
        for f in fields:
            if f.type == "lines":
                state.lines[f.name] = []
                continue
            literal = f.default if not isinstance(f.default, str) or f.type in (
                "string", "text", "email", "phone", "url", "choice", "multichoice") else None
            if f.type == "multichoice" and isinstance(literal, str):
                literal = [literal]
            state.texts[f.name] = to_text(f, literal, ZoneInfo("UTC")) if literal is not None else (
                [] if f.type == "multichoice" else "")
        return state

    @classmethod
    def from_form(cls, entity: m.Entity, fields: list[m.Field], form: FormData,
                  children: Mapping[str, m.Entity]) -> "FormState":
        state = cls(entity, fields)
        by_name = {f.name: f for f in fields}
        for f in fields:
            if f.type == "lines":
                continue
            if f.type == "file":
                files = [u for u in form.getlist(f.name) if isinstance(u, UploadFile) and u.filename]
                if files:
                    state.uploads[f.name] = files
                continue
            if f.type == "multichoice":
                state.texts[f.name] = [str(v) for v in form.getlist(f.name) if isinstance(v, str) and v]
            elif f.type == "bool":
                state.texts[f.name] = "true" if "true" in form.getlist(f.name) else ""
            elif f.name in form:
                # A field the form did not send is left as it is (an older form, a partial post).
                value = form.get(f.name)
                state.texts[f.name] = value if isinstance(value, str) else ""
        if form.get("_orig") == "1":
            state.orig = {}
            for f in fields:
                if f.type == "lines" or not is_input(f):
                    continue
                values = [v for v in form.getlist("_orig." + f.name) if isinstance(v, str)]
                state.orig[f.name] = [v for v in values if v] if f.type == "multichoice" else (values[-1] if values else "")
        for raw in form.getlist("_remove_file"):
            if isinstance(raw, str) and raw.isdigit():
                state.removed_files.append(int(raw))
        rows: dict[str, dict[int, LineRow]] = {}
        for key in form.keys():
            match = ROW_KEY.match(key)
            if not match or match["field"] not in by_name or by_name[match["field"]].type != "lines":
                continue
            index = int(match["index"])
            if index >= MAX_ROWS:
                continue
            child = children[match["field"]]
            row = rows.setdefault(match["field"], {}).setdefault(index, LineRow(index, None, {}))
            column = match["column"]
            values = [v for v in form.getlist(key) if isinstance(v, str)]
            if column == "id":
                row.id = int(values[-1]) if values and values[-1].isdigit() else None
            elif column == "_delete":
                row.deleted = "true" in values
            elif column in child.fields:
                c = child.fields[column]
                if c.type == "multichoice":
                    row.texts[column] = [v for v in values if v]
                elif c.type == "bool":
                    row.texts[column] = "true" if "true" in values else ""
                else:
                    row.texts[column] = values[-1] if values else ""
        for f in fields:
            if f.type == "lines":
                state.lines[f.name] = [rows.get(f.name, {})[i] for i in sorted(rows.get(f.name, {}))]
                for position, row in enumerate(state.lines[f.name]):
                    row.index = position
        return state

    # -- what the service gets ----------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if not is_input(f):
                continue
            if f.type == "lines":
                sent, mapping = [], {}
                for row in self.lines.get(f.name, []):
                    if row.deleted or row.blank():
                        continue
                    mapping[len(sent)] = row.index
                    values = {k: _value_of(v) for k, v in row.texts.items()}
                    if row.id is not None:
                        values["id"] = row.id
                    sent.append(values)
                self.row_map[f.name] = mapping
                out[f.name] = sent
            elif f.name in self.texts:
                if f.system and f.name == "owner" and self.texts[f.name] == "":
                    continue          # no owner chosen: the engine's default (the acting user, or kept)
                out[f.name] = _value_of(self.texts[f.name]) if f.type != "bool" else self.texts[f.name] == "true"
        return out

    def form_key(self, key: str) -> str:
        """A service problem key (`items.1.quantity`) as the form names it (`items.3.quantity`)."""
        match = ROW_KEY.match(key)
        if not match:
            return key
        index = self.row_map.get(match["field"], {}).get(int(match["index"]), int(match["index"]))
        return f"{match['field']}.{index}.{match['column']}"


def _value_of(text: Any) -> Any:
    """Input text -> what the service converts (an empty text is "no value")."""
    if isinstance(text, list):
        return text
    return text if text != "" else None
