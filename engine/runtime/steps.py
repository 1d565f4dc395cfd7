"""The typed steps of a migration plan: what each changes, how it is classified, how it runs.

Every step is plain data (printable, testable) with one `run(ops)` that
applies it through Alembic `Operations`, online or into a SQL script. Changes
SQLite cannot make with ALTER go through `batch_alter_table`, which copies the
table; on PostgreSQL the same calls are plain ALTER statements.

Indexes, unique constraints and references have their steps in `key_steps.py`.

Classification: "safe" runs on `crm migrate`; "needs confirmation" runs only
with `--confirm`; "refused" never runs (the plan lists why, with the rows that
would not fit).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import ClassVar, Iterator, Literal

import sqlalchemy as sa
from alembic.operations import BatchOperations, Operations

from .livedb import RETIRED, WHOLE_ENTITY
from .rowcheck import Offenders, RowCheck
from .tables import NAMING_CONVENTION

Classification = Literal["safe", "needs confirmation", "refused"]
SAFE: Classification = "safe"
CONFIRM: Classification = "needs confirmation"
REFUSED: Classification = "refused"
CLASSIFICATIONS: tuple[Classification, ...] = (SAFE, CONFIRM, REFUSED)


@dataclass(frozen=True, eq=False, kw_only=True)
class Step:
    phase: ClassVar[int]                 # steps run by phase: renames first, purges last
    table: str                           # the table's name once the step ran
    classification: Classification = SAFE
    rows: int | None = None              # rows the step touches (copies, rewrites, keeps or drops)
    check: RowCheck | None = None        # rows that must not exist for the step to run
    offenders: Offenders | None = None
    sql: tuple[str, ...] = ()

    def describe(self) -> str:
        raise NotImplementedError

    def run(self, ops: Operations) -> None:
        raise NotImplementedError

    def details(self) -> list[str]:
        if not self.offenders or not self.offenders.count or not self.check:
            return []
        head = f"{self.offenders.count} row{'s' if self.offenders.count != 1 else ''} {self.check.what}:"
        return [head] + ["  " + line for line in self.offenders.lines()]

    def judged(self, offenders: Offenders) -> Step:
        """This step classified by what its check found: any offending row refuses it."""
        return replace(self, offenders=offenders,
                       classification=REFUSED if offenders.count else self.classification)

    def _rows(self) -> str:
        return "" if self.rows is None else f" ({self.rows} row{'s' if self.rows != 1 else ''})"


# -- helpers ------------------------------------------------------------------------------

def is_sqlite(ops: Operations) -> bool:
    return ops.get_context().dialect.name == "sqlite"


def quote(ops: Operations, name: str) -> str:
    return ops.get_context().dialect.identifier_preparer.quote(name)


def literal_sql(ops: Operations, stmt: sa.Executable) -> str:
    # Rendered with its values inline: the plan prints exactly what runs.
    return str(stmt.compile(dialect=ops.get_context().dialect, compile_kwargs={"literal_binds": True}))


@contextmanager
def altering(ops: Operations, table: str) -> Iterator[BatchOperations]:
    """ALTERs on PostgreSQL; on SQLite a copy of the table when ALTER cannot do it."""
    with ops.batch_alter_table(table, recreate="auto", naming_convention=NAMING_CONVENTION) as batch:
        yield batch


_retired = sa.table(RETIRED, sa.column("entity", sa.String), sa.column("field", sa.String),
                    sa.column("retired_at", sa.DateTime))


def record_retired(ops: Operations, entity: str, field: str) -> None:
    ops.execute(literal_sql(ops, sa.insert(_retired).values(
        entity=entity, field=field, retired_at=sa.func.current_timestamp())))


def forget_retired(ops: Operations, entity: str, field: str | None) -> None:
    """Deletes the retirement of one field, or (field None) of an entity and all its fields."""
    cond = _retired.c.entity == entity
    if field is not None:
        cond = sa.and_(cond, _retired.c.field == field)
    ops.execute(literal_sql(ops, sa.delete(_retired).where(cond)))


def rekey_retired(ops: Operations, entity: str, new_entity: str, field: str | None = None,
                  new_field: str | None = None) -> None:
    if field is None:
        stmt = sa.update(_retired).where(_retired.c.entity == entity).values(entity=new_entity)
    else:
        stmt = (sa.update(_retired).where(_retired.c.entity == entity, _retired.c.field == field)
                .values(field=new_field))
    ops.execute(literal_sql(ops, stmt))


# -- repair and renames -------------------------------------------------------------------

@dataclass(frozen=True, eq=False, kw_only=True)
class RepairLeftover(Step):
    """A table copy that an interrupted SQLite batch migration left behind."""

    phase: ClassVar[int] = 0
    leftover: str
    original_exists: bool

    def describe(self) -> str:
        if self.original_exists:
            return f"repair an interrupted migration: drop the leftover copy {self.leftover} ({self.table} is intact)"
        return f"repair an interrupted migration: restore {self.table} from its complete copy {self.leftover}"

    def run(self, ops: Operations) -> None:
        if self.original_exists:
            ops.drop_table(self.leftover)
        else:
            ops.rename_table(self.leftover, self.table)


@dataclass(frozen=True, eq=False, kw_only=True)
class RenameTable(Step):
    phase: ClassVar[int] = 10
    old: str
    rekey: bool = False                   # crm_retired holds rows under the old name

    def describe(self) -> str:
        return f"rename table {self.old} -> {self.table}{self._rows()}"

    def run(self, ops: Operations) -> None:
        ops.rename_table(self.old, self.table)
        if self.rekey:
            rekey_retired(ops, self.old, self.table)


@dataclass(frozen=True, eq=False, kw_only=True)
class RenameColumn(Step):
    phase: ClassVar[int] = 11
    old: str
    new: str
    rekey: bool = False

    def describe(self) -> str:
        return f"rename column {self.table}.{self.old} -> {self.table}.{self.new}"

    def run(self, ops: Operations) -> None:
        # Both databases rename a column in place (SQLite >= 3.25); no copy, no data through Python.
        ops.alter_column(self.table, self.old, new_column_name=self.new)
        if self.rekey:
            rekey_retired(ops, self.table, self.table, self.old, self.new)


@dataclass(frozen=True, eq=False, kw_only=True)
class Refusal(Step):
    """Something the configuration asks for that no step can do safely."""

    phase: ClassVar[int] = 12
    reason: str
    classification: Classification = REFUSED

    def describe(self) -> str:
        return self.reason

    def run(self, ops: Operations) -> None:
        raise RuntimeError(f"a refused step cannot run: {self.reason}")


# -- tables and columns -------------------------------------------------------------------

@dataclass(frozen=True, eq=False, kw_only=True)
class CreateTable(Step):
    phase: ClassVar[int] = 20
    definition: sa.Table
    inline_fks: tuple[sa.ForeignKeyConstraint, ...] | None = None   # None = all

    def describe(self) -> str:
        return (f"create table {self.table} ({len(self.definition.columns)} columns, "
                f"{len(self.definition.indexes)} indexes)")

    def run(self, ops: Operations) -> None:
        fks = None if self.inline_fks is None else list(self.inline_fks)
        ops.execute(sa.schema.CreateTable(self.definition, include_foreign_key_constraints=fks))
        for ix in sorted(self.definition.indexes, key=lambda i: str(i.name)):
            ops.execute(sa.schema.CreateIndex(ix))


@dataclass(frozen=True, eq=False, kw_only=True)
class AddColumn(Step):
    phase: ClassVar[int] = 21
    column: sa.Column
    fk: sa.ForeignKeyConstraint | None = None

    def describe(self) -> str:
        target = f", a link to {referred_of(self.fk)}" if self.fk is not None else ""
        return f"add column {self.table}.{self.column.name} ({_type_name(self.column.type)}{target})"

    def run(self, ops: Operations) -> None:
        # Entity columns are nullable (required-ness is the records service's): adding one never
        # needs a default and never touches existing rows.
        plain = sa.Column(self.column.name, self.column.type, nullable=True)
        if self.fk is None:
            ops.add_column(self.table, plain)
            return
        if is_sqlite(ops):
            # SQLite can add a REFERENCES column in place, but reflection then loses its ON DELETE
            # (and a later table copy with it); a named table constraint survives both.
            with ops.batch_alter_table(self.table, recreate="always", naming_convention=NAMING_CONVENTION) as b:
                b.add_column(plain)
                create_fk(b, self.fk)
            return
        ops.add_column(self.table, plain)
        with altering(ops, self.table) as b:
            create_fk(b, self.fk)


def referred_of(fk: sa.ForeignKeyConstraint) -> str:
    return fk.elements[0].target_fullname.rsplit(".", 1)[0]


def create_fk(batch: BatchOperations, fk: sa.ForeignKeyConstraint) -> None:
    batch.create_foreign_key(str(fk.name), referred_of(fk), [e.parent.name for e in fk.elements],
                             [e.target_fullname.rsplit(".", 1)[1] for e in fk.elements], ondelete=fk.ondelete)


def _type_name(type_: sa.types.TypeEngine) -> str:
    """`VARCHAR(100)`, `NUMERIC(20, 2)`: the generic SQL spelling, the same for both databases."""
    if isinstance(type_, sa.types.TypeDecorator):
        type_ = type_.impl_instance
    try:
        return str(type_.compile())
    except sa.exc.CompileError:
        return repr(type_)


@dataclass(frozen=True, eq=False, kw_only=True)
class ChangeType(Step):
    """A column type change; `WidenColumn` or `Narrowing`."""

    phase: ClassVar[int] = 40
    column: str
    old_type: sa.types.TypeEngine
    new_type: sa.types.TypeEngine
    change: str                                      # widen | narrow | convert

    def describe(self) -> str:
        return (f"{self.change} {self.table}.{self.column}: {_type_name(self.old_type)} -> "
                f"{_type_name(self.new_type)}{self._rows()}")

    def run(self, ops: Operations) -> None:
        kw = {}
        if self.change == "convert" and not is_sqlite(ops):
            # PostgreSQL has no implicit cast between unrelated types; the check proved every value null.
            kw["postgresql_using"] = f"{quote(ops, self.column)}::{self.new_type.compile(ops.get_context().dialect)}"
        with altering(ops, self.table) as b:
            b.alter_column(self.column, type_=self.new_type, existing_type=self.old_type,
                           existing_nullable=True, **kw)


@dataclass(frozen=True, eq=False, kw_only=True)
class WidenColumn(ChangeType):
    """Every value fits the new type (string -> text, longer string, int -> decimal): safe."""

    change: str = "widen"


@dataclass(frozen=True, eq=False, kw_only=True)
class Narrowing(ChangeType):
    """Some values might not fit ("narrow") or convert ("convert"): refused while any row would
    lose data (the rows are listed), else it needs confirmation."""

    classification: Classification = CONFIRM


@dataclass(frozen=True, eq=False, kw_only=True)
class ChangeNullable(Step):
    phase: ClassVar[int] = 41
    column: str
    nullable: bool
    existing_type: sa.types.TypeEngine

    def describe(self) -> str:
        return f"{self.table}.{self.column}: {'allow' if self.nullable else 'forbid'} empty values"

    def run(self, ops: Operations) -> None:
        with altering(ops, self.table) as b:
            b.alter_column(self.column, nullable=self.nullable, existing_type=self.existing_type)


@dataclass(frozen=True, eq=False, kw_only=True)
class OptionsChanged(Step):
    """Choice options changed: no DDL, but rows holding a key that is gone would lose their meaning."""

    phase: ClassVar[int] = 42
    column: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append("options added: " + ", ".join(self.added))
        if self.removed:
            parts.append("options removed: " + ", ".join(self.removed))
        if not parts:
            parts.append("values outside the options")
        return f"{self.table}.{self.column}: " + "; ".join(parts) + " (no schema change)"

    def run(self, ops: Operations) -> None:
        return None


# -- retirement ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, kw_only=True)
class RetireColumn(Step):
    """A removed field: its column and values stay, hidden, until purged."""

    phase: ClassVar[int] = 25
    column: str

    def describe(self) -> str:
        kept = "" if self.rows is None else f"; {self.rows} value{'s' if self.rows != 1 else ''} kept"
        return f"retire {self.table}.{self.column} (field removed; column kept, hidden{kept})"

    def run(self, ops: Operations) -> None:
        record_retired(ops, self.table, self.column)


@dataclass(frozen=True, eq=False, kw_only=True)
class RetireTable(Step):
    phase: ClassVar[int] = 25
    fks: tuple[str, ...] = ()           # its references to other tables, dropped (values kept)

    def describe(self) -> str:
        kept = "" if self.rows is None else f"; {self.rows} row{'s' if self.rows != 1 else ''} kept"
        refs = f"; its {len(self.fks)} references dropped, values kept" if self.fks else ""
        return f"retire table {self.table} (entity removed; table kept, hidden{kept}{refs})"

    def run(self, ops: Operations) -> None:
        record_retired(ops, self.table, WHOLE_ENTITY)
        if self.fks:
            # A hidden table must not stop anyone deleting the records it points at.
            with altering(ops, self.table) as b:
                for name in self.fks:
                    b.drop_constraint(name, type_="foreignkey")


@dataclass(frozen=True, eq=False, kw_only=True)
class Unretire(Step):
    """A retired field or entity that is back in the configuration: its kept data returns."""

    phase: ClassVar[int] = 24
    column: str = WHOLE_ENTITY

    def describe(self) -> str:
        what = f"{self.table}.{self.column}" if self.column else f"table {self.table}"
        return f"un-retire {what} (back in the configuration; its kept data returns){self._rows()}"

    def run(self, ops: Operations) -> None:
        forget_retired(ops, self.table, self.column)


@dataclass(frozen=True, eq=False, kw_only=True)
class Purge(Step):
    """Drops a retired column or table and its data; only on request, and only confirmed."""

    phase: ClassVar[int] = 90
    column: str | None = None
    indexes: tuple[str, ...] = ()       # indexes on the column, dropped first
    classification: Classification = CONFIRM

    def describe(self) -> str:
        if self.column:
            lost = "" if self.rows is None else f" and its {self.rows} value{'s' if self.rows != 1 else ''}"
            return f"purge {self.table}.{self.column}: drop the retired column{lost}"
        lost = "" if self.rows is None else f" and its {self.rows} row{'s' if self.rows != 1 else ''}"
        return f"purge table {self.table}: drop the retired table{lost}"

    def run(self, ops: Operations) -> None:
        if self.column is None:
            ops.drop_table(self.table)
            forget_retired(ops, self.table, None)
            return
        for name in self.indexes:
            ops.drop_index(name, table_name=self.table)
        with altering(ops, self.table) as b:
            b.drop_column(self.column)
        forget_retired(ops, self.table, self.column)
