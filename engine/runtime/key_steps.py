"""Migration steps for indexes, unique constraints and references (links).

Only indexes and unique constraints the engine named (naming convention `ix_`,
`uq_`) are ever dropped or renamed; references follow the configuration's
links. On SQLite, adding or dropping a constraint copies the table (batch
mode); an index never does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sqlalchemy as sa
from alembic.operations import Operations

from .steps import Step, altering, create_fk, is_sqlite, quote, referred_of


@dataclass(frozen=True, eq=False, kw_only=True)
class AddIndex(Step):
    phase: ClassVar[int] = 60
    name: str
    columns: tuple[str, ...]
    unique: bool = False

    def describe(self) -> str:
        return f"add {'unique ' if self.unique else ''}index {self.name} on {self.table} ({', '.join(self.columns)})"

    def run(self, ops: Operations) -> None:
        ops.create_index(self.name, self.table, list(self.columns), unique=self.unique)


@dataclass(frozen=True, eq=False, kw_only=True)
class DropIndex(Step):
    """Drops an index the engine made (its name follows the naming convention) and no longer wants."""

    phase: ClassVar[int] = 30
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"drop index {self.name} on {self.table} ({', '.join(self.columns)}); no data is lost"

    def run(self, ops: Operations) -> None:
        ops.drop_index(self.name, table_name=self.table)


@dataclass(frozen=True, eq=False, kw_only=True)
class RenameIndex(Step):
    """An index whose name follows a renamed table."""

    phase: ClassVar[int] = 50
    old: str
    name: str
    columns: tuple[str, ...]
    unique: bool = False

    def describe(self) -> str:
        return f"rename index {self.old} -> {self.name} on {self.table}"

    def run(self, ops: Operations) -> None:
        if is_sqlite(ops):      # SQLite cannot rename an index; rebuilding it reads the table once
            ops.drop_index(self.old, table_name=self.table)
            ops.create_index(self.name, self.table, list(self.columns), unique=self.unique)
        else:
            ops.execute(f"ALTER INDEX {quote(ops, self.old)} RENAME TO {quote(ops, self.name)}")


@dataclass(frozen=True, eq=False, kw_only=True)
class AddUnique(Step):
    phase: ClassVar[int] = 61
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"add unique constraint {self.name} on {self.table} ({', '.join(self.columns)}){self._rows()}"

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            b.create_unique_constraint(self.name, list(self.columns))


@dataclass(frozen=True, eq=False, kw_only=True)
class DropUnique(Step):
    phase: ClassVar[int] = 31
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"drop unique constraint {self.name} on {self.table} ({', '.join(self.columns)}){self._rows()}"

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            b.drop_constraint(self.name, type_="unique")


@dataclass(frozen=True, eq=False, kw_only=True)
class RenameUnique(Step):
    phase: ClassVar[int] = 51
    old: str
    name: str
    columns: tuple[str, ...]

    def describe(self) -> str:
        return f"rename unique constraint {self.old} -> {self.name} on {self.table}{self._rows()}"

    def run(self, ops: Operations) -> None:
        if is_sqlite(ops):
            with altering(ops, self.table) as b:
                b.drop_constraint(self.old, type_="unique")
                b.create_unique_constraint(self.name, list(self.columns))
        else:
            ops.execute(f"ALTER TABLE {quote(ops, self.table)} RENAME CONSTRAINT "
                        f"{quote(ops, self.old)} TO {quote(ops, self.name)}")


@dataclass(frozen=True, eq=False, kw_only=True)
class AddForeignKey(Step):
    phase: ClassVar[int] = 62
    fk: sa.ForeignKeyConstraint

    def describe(self) -> str:
        cols = ", ".join(e.parent.name for e in self.fk.elements)
        return (f"make {self.table}.{cols} a link to {referred_of(self.fk)} "
                f"(on delete {self.fk.ondelete or 'NO ACTION'}){self._rows()}")

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            create_fk(b, self.fk)


@dataclass(frozen=True, eq=False, kw_only=True)
class DropForeignKey(Step):
    phase: ClassVar[int] = 32
    name: str
    column: str
    referred: str
    reason: str

    def describe(self) -> str:
        return f"drop the reference {self.table}.{self.column} -> {self.referred} ({self.reason}; values kept)"

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            b.drop_constraint(self.name, type_="foreignkey")


@dataclass(frozen=True, eq=False, kw_only=True)
class ReplaceForeignKey(Step):
    """A link whose `on_delete` or target changed: the old reference is replaced by the new one."""

    phase: ClassVar[int] = 43
    old_name: str
    old_referred: str
    fk: sa.ForeignKeyConstraint

    def describe(self) -> str:
        col = self.fk.elements[0].parent.name
        new = referred_of(self.fk)
        if new == self.old_referred:
            return f"{self.table}.{col}: on delete becomes {self.fk.ondelete or 'NO ACTION'}{self._rows()}"
        return f"{self.table}.{col}: link target changes from {self.old_referred} to {new}{self._rows()}"

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            b.drop_constraint(self.old_name, type_="foreignkey")
            create_fk(b, self.fk)
