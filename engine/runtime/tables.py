"""Configuration -> SQLAlchemy `MetaData`: one table per entity plus the engine's own.

Storage conventions (the expression compiler relies on them too):

- an entity's table is named like the entity; a field's column like the field;
- system columns: `id`, `created_at`, `created_by`, `updated_at`, `updated_by`, `version`;
- `link` and `user` columns hold the integer id of the row they point at;
- `choice` and `stage` hold the key; `multichoice` a JSON array as text;
- datetimes are stored in UTC and read back timezone-aware;
- `lines`, `formula`, `rollup` have no column (children, or computed in SQL);
  `file` values live in `crm_attachments`;
- engine tables start with `crm_`, a prefix entity names may not use.

Every constraint and index gets a stable name from the naming convention, so a
migration can find it again on both SQLite and PostgreSQL.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import (
    Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, MetaData, Numeric, String, Table,
    Text, UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from ..metadata import model as m

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}
ENGINE_PREFIX = "crm_"
USERS = "crm_users"


class UtcDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(dt.timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def column_type(field: m.Field):
    """The column type of a stored field (None for fields without a column)."""
    t = field.type
    if t == "string":
        return String(field.max_length or 255)
    if t == "text":
        return Text()
    if t in ("int", "rating"):
        return Integer()
    if t in ("decimal", "money", "percent"):
        return Numeric(20, field.scale if t != "percent" else max(field.scale, 2), asdecimal=True)
    if t == "bool":
        return Boolean()
    if t == "date":
        return Date()
    if t == "datetime":
        return UtcDateTime()
    if t in ("choice", "stage"):
        return String(64)
    if t == "multichoice":
        return Text()
    if t == "email":
        return String(254)
    if t == "phone":
        return String(32)
    if t == "url":
        return String(2048)
    if t == "autonumber":
        return String(64)
    if t in ("link", "user"):
        return Integer()
    return None


def _system_columns(metadata_users: bool = True) -> list[Column]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("created_by", Integer, ForeignKey(f"{USERS}.id", ondelete="SET NULL"), nullable=True),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("updated_by", Integer, ForeignKey(f"{USERS}.id", ondelete="SET NULL"), nullable=True),
        Column("version", Integer, nullable=False, server_default="1"),
    ]


def _field_column(entity: m.Entity, field: m.Field) -> Column | None:
    ctype = column_type(field)
    if ctype is None:
        return None
    args = []
    if field.type == "link":
        ondelete = {"restrict": "RESTRICT", "cascade": "CASCADE", "set_null": "SET NULL"}[field.on_delete]
        args.append(ForeignKey(f"{field.entity}.id", ondelete=ondelete))
    elif field.type == "user":
        args.append(ForeignKey(f"{USERS}.id", ondelete="SET NULL"))
    # Required-ness is enforced by the records service, with a readable message;
    # the column stays nullable so that adding a required field to a table with
    # rows is a safe migration.
    return Column(field.name, ctype, *args, nullable=True,
                  unique=field.unique or field.type == "autonumber" or None)


def derived_indexes(entity: m.Entity) -> list[tuple[str, ...]]:
    """Indexes the configuration implies, in a stable order, without duplicates."""
    stored = {f.name for f in entity.fields.values() if f.stored}
    wanted: list[tuple[str, ...]] = [tuple(ix) for ix in entity.indexes]
    for f in entity.fields.values():
        if f.stored and (f.index or f.type in ("link", "user", "stage")) and not f.unique:
            wanted.append((f.name,))
    view = entity.views.list
    direct_filters = [p for p in view.filters if "." not in p and p in stored]
    sort = view.sort.lstrip("-") if view.sort else None
    for p in direct_filters:
        wanted.append((p,))
    if sort and sort in stored | {"id", "created_at", "updated_at"}:
        wanted.append((sort,))
        # A list filtered on its filters and sorted by its sort key: one composite index.
        leading = tuple(f for f in direct_filters if f != sort)[:2]
        if leading:
            wanted.append(leading + (sort,))
    seen: set[tuple[str, ...]] = set()
    out = []
    for ix in wanted:
        if ix and ix not in seen and all(c in stored | {"id", "created_at", "updated_at"} for c in ix):
            seen.add(ix)
            out.append(ix)
    return out


def entity_table(metadata: MetaData, entity: m.Entity) -> Table:
    columns = _system_columns()
    for field in entity.fields.values():
        col = _field_column(entity, field)
        if col is not None:
            columns.append(col)
    table = Table(entity.table, metadata, *columns)
    for cols in derived_indexes(entity):
        Index(None, *[table.c[c] for c in cols])
    return table


def engine_tables(metadata: MetaData) -> None:
    """The built-in tables every company has."""
    Table("crm_teams", metadata,
          Column("name", String(40), primary_key=True),
          Column("label", String(200), nullable=True))
    Table(USERS, metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("username", String(64), nullable=False, unique=True),
          Column("full_name", String(200), nullable=False, server_default=""),
          Column("email", String(254), nullable=True),
          Column("phone", String(32), nullable=True),
          Column("locale", String(16), nullable=True),
          Column("team", String(40), ForeignKey("crm_teams.name", ondelete="SET NULL"), nullable=True, index=True),
          Column("active", Boolean, nullable=False, server_default="1"),
          Column("password_hash", String(255), nullable=True),
          Column("created_at", UtcDateTime(), nullable=True))
    Table("crm_user_roles", metadata,
          Column("user_id", Integer, ForeignKey(f"{USERS}.id", ondelete="CASCADE"), primary_key=True),
          Column("role", String(40), primary_key=True))
    Table("crm_audit", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("action", String(16), nullable=False),          # create | update | delete
          Column("field", String(40), nullable=True),
          Column("old_value", Text, nullable=True),               # JSON
          Column("new_value", Text, nullable=True),               # JSON
          Column("user_id", Integer, nullable=True),
          Column("at", UtcDateTime(), nullable=False),
          Column("revision", String(32), nullable=True),
          Index("ix_crm_audit_entity_record_id", "entity", "record_id"))
    Table("crm_revisions", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("revision", String(32), nullable=False, index=True),
          Column("parent", String(32), nullable=True),
          Column("author", String(64), nullable=True),
          Column("reason", Text, nullable=True),
          Column("created_at", UtcDateTime(), nullable=False),
          Column("content", Text, nullable=False),                # JSON: relative path -> text
          Column("active", Boolean, nullable=False, server_default="0"))
    Table("crm_sequences", metadata,
          Column("name", String(120), primary_key=True),          # entity.field/period
          Column("value", Integer, nullable=False))
    Table("crm_retired", metadata,
          Column("entity", String(40), primary_key=True),
          Column("field", String(40), primary_key=True),          # '' = the whole entity
          Column("retired_at", UtcDateTime(), nullable=False))
    Table("crm_attachments", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("field", String(40), nullable=True),             # None = the attachments trait
          Column("filename", String(255), nullable=False),
          Column("content_type", String(100), nullable=False),
          Column("size", Integer, nullable=False),
          Column("storage_key", String(255), nullable=False),
          Column("uploaded_by", Integer, nullable=True),
          Column("uploaded_at", UtcDateTime(), nullable=False),
          Index("ix_crm_attachments_entity_record_id", "entity", "record_id"))
    Table("crm_stage_history", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("from_stage", String(64), nullable=True),
          Column("to_stage", String(64), nullable=False),
          Column("user_id", Integer, nullable=True),
          Column("at", UtcDateTime(), nullable=False),
          Index("ix_crm_stage_history_entity_record_id", "entity", "record_id"))


@dataclass(frozen=True, slots=True, eq=False)
class Tables:
    """The MetaData of one configuration, with lookups by entity name."""

    metadata: MetaData

    def __call__(self, name: str) -> Table:
        return self.metadata.tables[name]

    def entity(self, name: str) -> Table:
        return self.metadata.tables[name]

    @property
    def users(self) -> Table:
        return self.metadata.tables[USERS]

    @property
    def audit(self) -> Table:
        return self.metadata.tables["crm_audit"]


def build_tables(config: m.Config) -> Tables:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    engine_tables(metadata)
    for entity in config.entities.values():
        entity_table(metadata, entity)
    return Tables(metadata)
