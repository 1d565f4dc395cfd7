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
from functools import lru_cache

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

    def result_processor(self, dialect, coltype):
        """`process_result_value` after the dialect's own conversion, as one function: every
        record read has two of these columns (created_at, updated_at), and TypeDecorator's
        generic wrapper around the two steps was a noticeable part of reading a page of rows."""
        converted = self.impl_instance.result_processor(dialect, coltype)
        utc = dt.timezone.utc
        fromisoformat = dt.datetime.fromisoformat

        def process(value):
            if value is None:
                return None
            if type(value) is str and len(value) == 26 and value[19] == "." and value[20:].isdigit():
                # SQLite's storage form of what process_bind_param stored ('YYYY-MM-DD HH:MM:SS.ffffff',
                # naive UTC): parsed as UTC in one step (`replace(tzinfo=...)` costs 5 times more).
                return fromisoformat(value + "+00:00")
            if converted is not None:
                value = converted(value)
                if value is None:
                    return None
            if isinstance(value, str):
                value = fromisoformat(value)
            return value.replace(tzinfo=utc) if value.tzinfo is None else value.astimezone(utc)
        return process


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
    # Per-user quota targets set as data (reports/quotas.py); absent rows use the configured target.
    Table("crm_quota_targets", metadata,
          Column("quota", String(40), primary_key=True),
          Column("target", String(40), primary_key=True),
          Column("user_id", Integer, ForeignKey(f"{USERS}.id", ondelete="CASCADE"), primary_key=True),
          Column("period_start", Date, primary_key=True),
          Column("value", Numeric(20, 4), nullable=False))
    # Approval requests and their decisions (engine/runtime/workflow/approvals.py).
    Table("crm_approval_requests", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("approval", String(40), nullable=False),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("status", String(16), nullable=False),           # pending approved rejected expired cancelled
          Column("step", Integer, nullable=False, server_default="0"),   # index into `steps`
          Column("steps", Text, nullable=False),                  # JSON: the applicable steps when made
          Column("step_role", String(40), nullable=True),         # the current step's approvers (inbox)
          Column("step_same_team", Boolean, nullable=False, server_default="0"),
          Column("team", String(40), nullable=True),              # the record owner's team
          Column("revision", String(32), nullable=True),          # the configuration revision it was made under
          Column("requested_by", Integer, nullable=True),
          Column("created_at", UtcDateTime(), nullable=False),
          Column("decided_at", UtcDateTime(), nullable=True),
          Column("expires_at", UtcDateTime(), nullable=True),
          Column("snapshot", Text, nullable=True),                # JSON: the locked values when made
          Index("ix_crm_approval_requests_entity_record_id", "entity", "record_id"),
          Index("ix_crm_approval_requests_status", "status"),
          # The approval notices' catch-up sweep (alerts/approval_notices.py `due(since=)`, every
          # minute) reads `created_at >= since OR decided_at >= since`: one index per side, so
          # PostgreSQL ORs two bitmap index scans and SQLite a MULTI-INDEX OR, instead of a full scan.
          Index("ix_crm_approval_requests_created_at", "created_at"),
          Index("ix_crm_approval_requests_decided_at", "decided_at"))
    Table("crm_approval_decisions", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("request_id", Integer, ForeignKey("crm_approval_requests.id", ondelete="CASCADE"),
                 nullable=False, index=True),
          Column("step", Integer, nullable=False),
          Column("user_id", Integer, nullable=True),
          Column("decision", String(16), nullable=False),         # approved | rejected
          Column("reason", Text, nullable=True),
          Column("at", UtcDateTime(), nullable=False))
    alert_tables(metadata)
    # One row per forecast, day, owner, close month and the deals' read keys (reports/forecast_snapshots.py).
    # `owner` and `team` are the records' own (0 / '' = none): named like an owned entity's columns, so
    # Permissions.row_filter applies to a snapshot row exactly as to the deals it sums.
    Table("crm_forecast_snapshot_rows", metadata,
          Column("forecast", String(40), primary_key=True),
          Column("snapshot_date", Date, primary_key=True),
          Column("owner_id", Integer, primary_key=True),          # the forecast's `owner` field (0: none)
          Column("owner", Integer, primary_key=True),             # the record's owner (0: none)
          Column("team", String(40), primary_key=True),           # the record's team ('': none)
          Column("close_month", Date, primary_key=True),
          Column("won", Numeric(20, 4), nullable=True),
          Column("commit_amount", Numeric(20, 4), nullable=True),
          Column("weighted", Numeric(20, 4), nullable=True),
          Column("best_case", Numeric(20, 4), nullable=True),
          Column("open_deals", Integer, nullable=False, server_default="0"),
          Column("taken_at", UtcDateTime(), nullable=False))


def alert_tables(metadata: MetaData) -> None:
    """Alerts and notifications (engine/runtime/alerts): exactly-once firings, the outbox, the bell."""
    Table("crm_alert_firings", metadata,                          # one row per (alert, record, moment)
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("alert", String(40), nullable=False),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("moment", String(80), nullable=False),           # offset@instant, scheduled instant, event key
          Column("fired_at", UtcDateTime(), nullable=False),
          Column("revision", String(32), nullable=True),
          UniqueConstraint("alert", "entity", "record_id", "moment"))
    Table("crm_alert_scans", metadata,                            # up to when each scanned alert has run
          Column("alert", String(40), primary_key=True),
          Column("last_scan", UtcDateTime(), nullable=False))
    Table("crm_alert_open", metadata,                             # schedule/idle periods already told
          Column("alert", String(40), primary_key=True),
          Column("record_id", Integer, primary_key=True),
          Column("since", UtcDateTime(), nullable=False))
    Table("crm_outbox", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("firing_id", Integer, ForeignKey("crm_alert_firings.id", ondelete="CASCADE"), nullable=False),
          Column("alert", String(40), nullable=False),
          Column("entity", String(40), nullable=False),
          Column("record_id", Integer, nullable=False),
          Column("recipient_id", Integer, ForeignKey(f"{USERS}.id", ondelete="CASCADE"), nullable=False),
          Column("channel", String(16), nullable=False),          # email | sms | in_app
          Column("address", String(254), nullable=True),
          Column("status", String(16), nullable=False),           # pending | sending | sent | failed
          Column("attempts", Integer, nullable=False, server_default="0"),
          Column("next_attempt_at", UtcDateTime(), nullable=False),
          Column("lease_until", UtcDateTime(), nullable=True),
          Column("last_error", Text, nullable=True),
          Column("subject", Text, nullable=False, server_default=""),
          Column("body", Text, nullable=False, server_default=""),
          Column("html", Text, nullable=True),
          Column("link", String(500), nullable=True),
          Column("created_at", UtcDateTime(), nullable=False),
          Column("sent_at", UtcDateTime(), nullable=True),
          UniqueConstraint("firing_id", "recipient_id", "channel"),
          Index("ix_crm_outbox_status_next_attempt_at", "status", "next_attempt_at"),
          Index("ix_crm_outbox_entity_record_id", "entity", "record_id"))
    Table("crm_notifications", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("user_id", Integer, ForeignKey(f"{USERS}.id", ondelete="CASCADE"), nullable=False),
          Column("outbox_id", Integer, nullable=True, unique=True),
          Column("title", String(500), nullable=False),
          Column("body", Text, nullable=False, server_default=""),
          Column("link", String(500), nullable=True),
          Column("created_at", UtcDateTime(), nullable=False),
          Column("read_at", UtcDateTime(), nullable=True),
          Index("ix_crm_notifications_user_id_read_at", "user_id", "read_at"))


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


@lru_cache(maxsize=4096)
def named_alias(table: Table, name: str):
    """`table.alias(name)`, made once and reused by every statement that joins it.

    An alias sets up a proxy for each of its table's columns the first time it is
    used, which cost more than the rest of building a list query; statements are
    immutable, so one alias object can serve all of them (each statement joins a
    given name once)."""
    return table.alias(name)


def build_tables(config: m.Config) -> Tables:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    engine_tables(metadata)
    for entity in config.entities.values():
        entity_table(metadata, entity)
    date_trigger_indexes(config, metadata)
    return Tables(metadata)


def date_trigger_indexes(config: m.Config, metadata: MetaData) -> None:
    """The date field of every date-triggered alert is indexed: its scan is a range over that column."""
    for alert in config.alerts.values():
        trigger = alert.trigger
        table = metadata.tables.get(alert.entity)
        if not isinstance(trigger, m.DateTrigger) or table is None or trigger.date not in table.c:
            continue
        column = table.c[trigger.date]
        if column.unique or any(list(ix.columns)[:1] == [column] for ix in table.indexes):
            continue
        Index(None, column)
