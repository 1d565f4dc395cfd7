"""Which CSV column feeds which field: the header of an import, matched once.

    plan = map_columns(config, "deal", ["Name", "account_id", "Összeg", "stage"], hidden=frozenset())
    plan.columns[1].field.name, plan.columns[1].by      # 'account', 'id'

A header cell matches a field by name or by label in any locale, ignoring case,
surrounding blanks and the difference between `_` and a space
(`annual_revenue`, `Annual revenue`, `Éves árbevétel`). `<link>_id` names a
link or user field by id. `id` keeps the record's id (data moved from another
system, whose other files link to those ids); `created_at` keeps its creation
time. Other system columns (an export's `updated_at`, `version`, ...) and
computed fields (formulas, rollups, autonumbers: the engine sets them) are
ignored, so an export imports again. An unknown column, two columns for one
field, a lines or file field, or a field hidden from the importing user stops
the import before any row is read.

Choice values are matched the same way: by key or by any label of the option.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Literal, Mapping, Sequence

from ..metadata import model as m

ColumnKind = Literal["field", "id", "created_at", "ignored"]
IGNORED_SYSTEM = frozenset({"created_by", "updated_at", "updated_by", "version"})
COMPUTED = frozenset({"formula", "rollup", "autonumber"})     # an export has them: ignored on import
NOT_IMPORTABLE = {"lines": "holds child rows", "file": "takes files through attachments"}


class ColumnsRefused(ValueError):
    """The header cannot be imported; `problems` lists every reason (one per column)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Column:
    """One CSV column: its position, what it feeds, and (links, users) how values are looked up."""

    index: int
    header: str
    kind: ColumnKind
    field: m.Field | None = None
    by: Literal["id", "auto"] = "auto"        # links: 'id' only, or title first then id


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    entity: m.Entity
    columns: tuple[Column, ...]
    choice_keys: Mapping[str, Mapping[str, str]] = dc_field(default_factory=dict)  # field -> folded text -> key

    @property
    def width(self) -> int:
        return len(self.columns)

    def fields(self) -> list[Column]:
        return [c for c in self.columns if c.kind == "field"]

    def column(self, kind: ColumnKind) -> Column | None:
        return next((c for c in self.columns if c.kind == kind), None)

    @property
    def ignored(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns if c.kind == "ignored")


def fold(text: str) -> str:
    """The form names, labels and choice values are compared in."""
    return " ".join(text.replace("_", " ").split()).casefold()


def map_columns(config: m.Config, entity: str, header: Sequence[str], hidden: frozenset[str]) -> ColumnPlan:
    """The plan for `header`, or ColumnsRefused with every problem."""
    ent = config.entities[entity]
    by_name = {fold(f.name): f for f in ent.fields.values()}
    by_label: dict[str, m.Field] = {}
    for f in ent.fields.values():
        for text in f.label.texts.values():
            by_label.setdefault(fold(text), f)
    id_columns = {fold(f.name + "_id"): f for f in ent.fields.values() if f.type in ("link", "user")}
    problems: list[str] = []
    columns: list[Column] = []
    used: dict[str, str] = {}
    for index, raw in enumerate(header):
        key = fold(raw)
        shown = raw.strip() or f"column {index + 1}"
        if key == "id":
            columns.append(Column(index, raw, "id"))
            continue
        if key == fold("created_at"):
            columns.append(Column(index, raw, "created_at"))
            continue
        if key in {fold(n) for n in IGNORED_SYSTEM}:
            columns.append(Column(index, raw, "ignored"))
            continue
        target = by_name.get(key) or by_label.get(key)
        by: Literal["id", "auto"] = "auto"
        if target is None and key in id_columns:
            target, by = id_columns[key], "id"
        if target is None:
            problems.append(f"column '{shown}' is not a field of {entity} "
                            f"(fields: {', '.join(f.name for f in ent.fields.values() if f.stored)})")
            continue
        if target.type in COMPUTED:
            columns.append(Column(index, raw, "ignored", target))
            continue
        if target.type in NOT_IMPORTABLE:
            problems.append(f"column '{shown}': {target.name} {NOT_IMPORTABLE[target.type]}")
            continue
        if target.name in hidden:
            problems.append(f"column '{shown}': you may not set {target.name} on {entity}")
            continue
        if target.name in used:
            problems.append(f"columns '{used[target.name]}' and '{shown}' both set {target.name}")
            continue
        used[target.name] = shown
        columns.append(Column(index, raw, "field", target, by))
    for kind in ("id", "created_at"):
        if sum(1 for c in columns if c.kind == kind) > 1:
            problems.append(f"the file has several '{kind}' columns")
    if problems:
        raise ColumnsRefused(problems)
    choice_keys = {c.field.name: choice_lookup(c.field) for c in columns
                   if c.field is not None and c.field.type in ("choice", "multichoice")}
    return ColumnPlan(ent, tuple(columns), choice_keys)


def choice_lookup(f: m.Field) -> dict[str, str]:
    """Folded key or label of every option -> the option's key (keys win over labels)."""
    out: dict[str, str] = {}
    for key, label in f.options.items():
        for text in label.texts.values():
            out.setdefault(fold(text), key)
    for key in f.options:
        out[fold(key)] = key
    return out


def choice_text(raw: str, keys: Mapping[str, str], multiple: bool) -> str:
    """Labels (any locale, any case) become keys; what matches nothing is left for `convert` to refuse."""
    if not multiple:
        return keys.get(fold(raw), raw)
    return ",".join(keys.get(fold(part), part.strip()) for part in raw.split(",") if part.strip())
