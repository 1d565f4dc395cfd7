"""Alembic's differences between the live database and the target schema, as typed steps.

`compare(conn, view)` runs Alembic's `compare_metadata` against the target
schema under its live names (see `renames.py`); `DiffReader` turns each
difference into a step named with the target's (new) names, pairs what
Alembic reports as drop + add of the same thing (an index following a renamed
table, a link whose `on_delete` changed), and leaves removed tables and
columns to the retirement planner: nothing is ever dropped here.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.sql.ddl import sort_tables_and_constraints

from . import rowcheck
from . import key_steps as ks
from . import steps as st
from .livedb import Snapshot, referred_table
from .renames import Renames
from .tables import ENGINE_PREFIX

OWNED_PREFIXES = ("ix_", "uq_")      # indexes and constraints named by the engine's naming convention


def compare(conn: Connection, view: sa.MetaData) -> list[tuple[Any, ...]]:
    """Alembic's diff of `view` against the live database, flattened; only tables `view` holds."""
    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        return type_ != "table" or name in view.tables

    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
    with warnings.catch_warnings():
        # Links between entities often form cycles (account <-> contact); creation order handles
        # them (see DiffReader._create_tables), so SQLAlchemy's warning while sorting is noise.
        warnings.filterwarnings("ignore", message="Cannot correctly sort tables", category=sa.exc.SAWarning)
        diffs = compare_metadata(context, view)
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


@dataclass
class DiffReader:
    target: sa.MetaData                  # the configuration's schema, new names
    snap: Snapshot
    renames: Renames
    dialect: str
    steps: list[st.Step] = field(default_factory=list)
    removed_columns: list[tuple[str, str]] = field(default_factory=list)   # (new table, live column)
    _created: set[str] = field(default_factory=set)           # CreateTable makes their indexes too
    _added: set[tuple[str, str]] = field(default_factory=set)
    _dropped_ix: dict[tuple[str, tuple[str, ...], bool], ks.DropIndex] = field(default_factory=dict)
    _dropped_uq: dict[tuple[str, tuple[str, ...]], ks.DropUnique] = field(default_factory=dict)
    _dropped_fk: dict[tuple[str, str], ks.DropForeignKey] = field(default_factory=dict)

    def read(self, diffs: list[tuple[Any, ...]]) -> list[st.Step]:
        creates = [self.target.tables[d[1].name] for d in diffs if d[0] == "add_table"]
        self._create_tables(creates)
        self._created = {t.name for t in creates}
        # Added columns first (their link comes with them), then removals, so that an index or
        # reference that Alembic reports as removed and added again is paired into one step.
        order = {"add_column": 0, "remove_index": 1, "remove_constraint": 1, "remove_fk": 1}
        for d in sorted(diffs, key=lambda d: order.get(d[0], 2)):
            handler = getattr(self, "_" + d[0], None)
            if handler is not None and d[0] != "add_table":
                handler(*d[1:])
        self.steps.extend(self._dropped_ix.values())
        self.steps.extend(self._dropped_uq.values())
        self.steps.extend(self._dropped_fk.values())
        return self.steps

    # -- names --------------------------------------------------------------------------
    def _new(self, live_table: str, live_column: str | None = None) -> tuple[str, str | None]:
        table = self.renames.new_table(live_table)
        return table, (None if live_column is None else self.renames.new_column(table, live_column))

    def _live_table(self, new_table: str) -> sa.Table:
        return self.snap.table(self.renames.live_table(new_table))

    def _fk_on(self, table: str, column: str) -> sa.ForeignKeyConstraint | None:
        return next((fk for fk in self.target.tables[table].foreign_key_constraints
                     if [e.parent.name for e in fk.elements] == [column]), None)

    # -- tables and columns -------------------------------------------------------------
    def _create_tables(self, tables: list[sa.Table]) -> None:
        # PostgreSQL needs a referenced table first; references in a cycle are added afterwards.
        # SQLite checks references when rows use them, and cannot add one later without a copy.
        inline_all = self.dialect == "sqlite"
        for table, fks in sort_tables_and_constraints(tables):
            if table is not None:
                self.steps.append(st.CreateTable(table=table.name, definition=table,
                                                 inline_fks=None if inline_all else tuple(fks)))
            elif not inline_all:
                for fk in sorted(fks, key=lambda fk: (fk.table.name, str(fk.name))):
                    self.steps.append(ks.AddForeignKey(table=fk.table.name, fk=fk))

    def _add_column(self, schema: Any, tname: str, column: sa.Column) -> None:
        table, _ = self._new(tname)
        target_col = self.target.tables[table].c[column.name]
        self._added.add((table, column.name))
        self.steps.append(st.AddColumn(table=table, column=target_col, fk=self._fk_on(table, column.name)))

    def _remove_column(self, schema: Any, tname: str, column: sa.Column) -> None:
        if not tname.startswith(ENGINE_PREFIX):      # engine tables are the engine's business
            self.removed_columns.append((self._new(tname)[0], column.name))

    def _modify_type(self, schema: Any, tname: str, cname: str, existing: dict, old: Any, new: Any) -> None:
        table, column = self._new(tname, cname)
        assert column is not None
        change, check = rowcheck.type_change(self.snap.table(tname), cname, old, new)
        if change == "same":
            return
        new_type = self.target.tables[table].c[column].type
        if change == "widen":
            self.steps.append(st.WidenColumn(table=table, column=column, old_type=old, new_type=new_type))
        else:
            self.steps.append(st.Narrowing(table=table, column=column, old_type=old, new_type=new_type,
                                           change=change, check=check))

    def _modify_nullable(self, schema: Any, tname: str, cname: str, existing: dict, old: bool, new: bool) -> None:
        table, column = self._new(tname, cname)
        assert column is not None
        live = self.snap.table(tname)
        check = None if new else rowcheck.empty(live, cname)
        self.steps.append(st.ChangeNullable(
            table=table, column=column, nullable=new, existing_type=existing.get("existing_type") or live.c[cname].type,
            check=check, classification=st.SAFE if new else st.CONFIRM))

    # -- indexes ------------------------------------------------------------------------
    def _add_index(self, index: sa.Index) -> None:
        table, _ = self._new(index.table.name)
        if table in self._created:
            return
        target = next(ix for ix in self.target.tables[table].indexes if ix.name == index.name)
        columns = tuple(c.name for c in target.columns)
        dropped = self._dropped_ix.pop((table, columns, bool(target.unique)), None)
        if dropped is not None:
            self.steps.append(ks.RenameIndex(table=table, old=dropped.name, name=str(target.name),
                                             columns=columns, unique=bool(target.unique)))
            return
        self.steps.append(ks.AddIndex(table=table, name=str(target.name), columns=columns, unique=bool(target.unique)))

    def _remove_index(self, index: sa.Index) -> None:
        if not str(index.name).startswith(OWNED_PREFIXES):
            return                            # somebody else's index (a DBA's): not ours to drop
        table, _ = self._new(index.table.name)
        columns = tuple(self.renames.new_column(table, c.name) for c in index.columns)
        self._dropped_ix[(table, columns, bool(index.unique))] = ks.DropIndex(
            table=table, name=str(index.name), columns=columns)

    # -- unique constraints -------------------------------------------------------------
    def _add_constraint(self, const: Any) -> None:
        if not isinstance(const, sa.UniqueConstraint):
            return
        table, _ = self._new(const.table.name)
        columns = tuple(c.name for c in const.columns)
        dropped = self._dropped_uq.pop((table, columns), None)
        if dropped is not None:
            self.steps.append(ks.RenameUnique(table=table, old=dropped.name, name=str(const.name),
                                              columns=columns))
            return
        if any((table, c) in self._added for c in columns):
            check = None                      # a new column holds no values yet
        else:
            live = self._live_table(table)
            check = rowcheck.duplicates(live, [self.renames.live_column(table, c) for c in columns])
        self.steps.append(ks.AddUnique(table=table, name=str(const.name), columns=columns, check=check))

    def _remove_constraint(self, const: Any) -> None:
        if not isinstance(const, sa.UniqueConstraint) or not str(const.name).startswith("uq_"):
            return
        table, _ = self._new(const.table.name)
        columns = tuple(self.renames.new_column(table, c.name) for c in const.columns)
        if not set(columns) <= set(self.target.tables[table].c.keys()):
            return                            # on a retired column: kept with it (NULLs never collide)
        self._dropped_uq[(table, columns)] = ks.DropUnique(table=table, name=str(const.name), columns=columns)

    # -- references ---------------------------------------------------------------------
    def _add_fk(self, fk: sa.ForeignKeyConstraint) -> None:
        table, _ = self._new(fk.table.name)
        column = self.renames.new_column(table, fk.elements[0].parent.name)
        if (table, column) in self._added:
            return                            # AddColumn creates it
        target = self._fk_on(table, column)
        assert target is not None
        new_ref = target.elements[0].column.table.name
        live = self._live_table(table)
        live_col = self.renames.live_column(table, column)
        dropped = self._dropped_fk.pop((table, column), None)
        if dropped is not None:
            same_target = dropped.referred == new_ref
            self.steps.append(ks.ReplaceForeignKey(
                table=table, old_name=dropped.name, old_referred=dropped.referred, fk=target,
                classification=st.SAFE if same_target else st.CONFIRM,
                check=None if same_target else rowcheck.any_value(
                    live, live_col, f"pointing at {dropped.referred} records, not {new_ref}")))
            return
        live_ref = self.renames.live_table(new_ref)
        check = (rowcheck.dangling(live, live_col, self.snap.table(live_ref)) if self.snap.has(live_ref)
                 else rowcheck.any_value(live, live_col, f"pointing at {new_ref} records that do not exist yet"))
        self.steps.append(ks.AddForeignKey(table=table, fk=target, check=check))

    def _remove_fk(self, fk: sa.ForeignKeyConstraint) -> None:
        table, column = self._new(fk.table.name, fk.elements[0].parent.name)
        assert column is not None
        referred = self.renames.new_table(referred_table(fk))
        # SQLite may reflect a reference without a name; batch mode names it by the convention.
        name = str(fk.name) if fk.name else f"fk_{table}_{column}_{referred}"
        retired = column not in self.target.tables[table].c
        self._dropped_fk[(table, column)] = ks.DropForeignKey(
            table=table, name=name, column=column, referred=referred,
            reason="field retired" if retired else "the field is no longer a link",
            classification=st.SAFE if retired else st.CONFIRM)
