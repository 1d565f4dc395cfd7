"""Renames the configuration asks for (`renamed_from`), and the target schema as seen before them.

Alembic's comparison sees a renamed table or column as one dropped and one
added; a rename must come from the configuration. The planner therefore
compares the live database with `before_renames(target)`: the target schema
under the live (old) names, with every index and constraint keeping its target
name. Alembic then reports only real differences, and the planner emits the
renames itself, ahead of everything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import sqlalchemy as sa

from ..metadata import model as m
from .livedb import Snapshot


@dataclass(frozen=True, slots=True)
class Renames:
    tables: Mapping[str, str] = field(default_factory=dict)                 # new -> live name
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # new table -> {new -> live column}

    def __bool__(self) -> bool:
        return bool(self.tables) or any(self.columns.values())

    def live_table(self, new: str) -> str:
        return self.tables.get(new, new)

    def new_table(self, live: str) -> str:
        return next((new for new, old in self.tables.items() if old == live), live)

    def live_column(self, new_table: str, new: str) -> str:
        return self.columns.get(new_table, {}).get(new, new)

    def new_column(self, new_table: str, live: str) -> str:
        return next((new for new, old in self.columns.get(new_table, {}).items() if old == live), live)


@dataclass(frozen=True, slots=True)
class RenameConflict:
    """`renamed_from` names something that exists next to its new name: which one holds the data?"""

    table: str
    old: str
    new: str
    column: bool


def find_renames(config: m.Config, snap: Snapshot) -> tuple[Renames, list[RenameConflict]]:
    tables: dict[str, str] = {}
    columns: dict[str, dict[str, str]] = {}
    conflicts: list[RenameConflict] = []
    for entity in config.entities.values():
        old = entity.renamed_from
        if old and old != entity.table and snap.has(old):
            if snap.has(entity.table):
                conflicts.append(RenameConflict(entity.table, old, entity.table, column=False))
            else:
                tables[entity.table] = old
        live = tables.get(entity.table, entity.table)
        if not snap.has(live):
            continue
        present = snap.columns(live)
        for f in entity.fields.values():
            if not (f.stored and f.renamed_from and f.renamed_from != f.name and f.renamed_from in present):
                continue
            if f.name in present:
                conflicts.append(RenameConflict(entity.table, f.renamed_from, f.name, column=True))
            else:
                columns.setdefault(entity.table, {})[f.name] = f.renamed_from
    return Renames(tables, columns), conflicts


def before_renames(target: sa.MetaData, renames: Renames) -> sa.MetaData:
    """A copy of `target` with renamed tables and columns under their live names.

    Index and constraint names are kept, so a table rename also shows the
    indexes whose names follow the table (the planner renames those).
    """
    view = sa.MetaData()
    for table in target.tables.values():     # order is irrelevant: references are by name
        live = renames.live_table(table.name)

        def col_name(new_table: str, new: str) -> str:
            return renames.live_column(new_table, new)

        columns = []
        for col in table.columns:
            fks = [sa.ForeignKey(
                f"{renames.live_table(fk.column.table.name)}.{col_name(fk.column.table.name, fk.column.name)}",
                ondelete=fk.ondelete, name=fk.constraint.name if fk.constraint is not None else None)
                for fk in col.foreign_keys]
            default = col.server_default.arg if isinstance(col.server_default, sa.DefaultClause) else None
            columns.append(sa.Column(col_name(table.name, col.name), col.type, *fks, primary_key=col.primary_key,
                                     nullable=col.nullable, autoincrement=col.autoincrement,
                                     server_default=default))
        copy = sa.Table(live, view, *columns)
        for const in table.constraints:
            if isinstance(const, sa.UniqueConstraint) and not isinstance(const, sa.PrimaryKeyConstraint):
                copy.append_constraint(sa.UniqueConstraint(
                    *[col_name(table.name, c.name) for c in const.columns], name=const.name))
        for ix in table.indexes:
            sa.Index(ix.name, *[copy.c[col_name(table.name, c.name)] for c in ix.columns], unique=bool(ix.unique))
    return view
