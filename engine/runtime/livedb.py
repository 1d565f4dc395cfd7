"""What the live database holds, as the migration planner sees it.

A `Snapshot` is the reflected schema (every table, its columns, indexes and
constraints), the retired fields and entities recorded in `crm_retired`, and a
fingerprint of both. A plan remembers the fingerprint it was computed against;
applying it recomputes the fingerprint inside the migration's transaction and
refuses when anything changed in between.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..metadata.model import SYSTEM_COLUMNS
from .tables import ENGINE_PREFIX

RETIRED = "crm_retired"
# Alembic's batch mode (SQLite) copies a table into `_alembic_tmp_<name>`; one
# left behind means a copy was interrupted outside a transaction.
LEFTOVER_PREFIX = "_alembic_tmp_"
WHOLE_ENTITY = ""   # crm_retired.field for a retired table


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    metadata: sa.MetaData                      # every live table, reflected (FKs left unresolved)
    retired: frozenset[tuple[str, str]]        # (entity, field); field '' = the whole table
    schema_hash: str

    def has(self, table: str) -> bool:
        return table in self.metadata.tables

    def table(self, name: str) -> sa.Table:
        return self.metadata.tables[name]

    def columns(self, table: str) -> set[str]:
        return set(self.metadata.tables[table].c.keys()) if table in self.metadata.tables else set()

    @property
    def leftovers(self) -> list[str]:
        return sorted(t for t in self.metadata.tables if t.startswith(LEFTOVER_PREFIX))

    def is_entity_table(self, name: str) -> bool:
        """A table the engine made for an entity: not an engine table, has every system column."""
        if name.startswith((ENGINE_PREFIX, LEFTOVER_PREFIX)) or name not in self.metadata.tables:
            return False
        return set(SYSTEM_COLUMNS) <= self.columns(name)


def take_snapshot(conn: Connection) -> Snapshot:
    metadata = sa.MetaData()
    # FKs stay unresolved: a reference to a table that is gone must not stop reflection.
    metadata.reflect(conn, resolve_fks=False)
    retired: frozenset[tuple[str, str]] = frozenset()
    if RETIRED in metadata.tables:
        rows = conn.execute(sa.text(f"SELECT entity, field FROM {RETIRED}")).all()
        retired = frozenset((str(e), str(f or "")) for e, f in rows)
    return Snapshot(metadata, retired, schema_hash(metadata, retired, conn.dialect))


def fingerprint(schema_hash_: str, revision: str) -> str:
    return hashlib.sha256(f"{schema_hash_}:{revision}".encode()).hexdigest()[:20]


def schema_hash(metadata: sa.MetaData, retired: frozenset[tuple[str, str]], dialect: sa.Dialect) -> str:
    """A hash of everything a plan depends on: tables, columns, types, indexes, constraints, retirements."""
    shape: dict[str, Any] = {"retired": sorted(retired), "tables": {}}
    for name in sorted(metadata.tables):
        table = metadata.tables[name]
        shape["tables"][name] = {
            "columns": [(c.name, _type_text(c.type, dialect), c.nullable, c.primary_key) for c in table.columns],
            "indexes": sorted((str(ix.name), [c.name for c in ix.columns], bool(ix.unique)) for ix in table.indexes),
            "unique": sorted((str(u.name), sorted(c.name for c in u.columns))
                             for u in table.constraints if isinstance(u, sa.UniqueConstraint)),
            "fks": sorted((str(fk.name), [e.parent.name for e in fk.elements],
                           [e.target_fullname for e in fk.elements], str(fk.ondelete))
                          for fk in table.foreign_key_constraints),
        }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def _type_text(type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:          # a type this SQLAlchemy cannot render: its repr still changes when it does
        return repr(type_)


def referred_table(fk: sa.ForeignKeyConstraint) -> str:
    """The table a (possibly unresolved) foreign key points at."""
    return fk.elements[0].target_fullname.rsplit(".", 1)[0].split(".")[-1]
