"""The records service: the one way anything reads or writes an entity's records.

    records = Records(config, engine, tables)
    deal = records.create(actor, "deal", {"name": "Big order", "account": 3, "amount": "5000000"})
    deal = records.update(actor, "deal", deal["id"], {"amount": 6000000}, expected_version=deal["version"])
    page = records.list(actor, "deal", filter_expr="amount >= 1000000", sort="-amount", limit=50)
    records.delete(actor, "deal", deal["id"])

Every call takes the acting user. Reads are filtered by the user's read scope
and never return hidden fields; a record the user may not see is reported as
missing (404), never as forbidden. Writes run in one transaction (on SQLite
begun IMMEDIATE, so concurrent saves queue instead of failing) and either
complete with their audit rows or leave nothing behind: every problem is
collected and raised as one ValidationFailed (422); a save that started from
an older version raises StaleVersion (409) with the current values.
"""
from __future__ import annotations

import datetime as dt
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

from sqlalchemy import Connection, Engine, exists, select
from sqlalchemy.exc import IntegrityError

from ..metadata import model as m
from .actor import Actor
from .audit import AuditEntry, AuditLog
from .clock_watch import watched
from .direct_reads import all_mappings, first_mapping, run_read
from .errors import Conflict, Forbidden, NotFound, Problems, StaleVersion, ValidationFailed
from .exprs import RecordExpressions
from .lines import Lines
from .list_statement import StatementCache
from .permissions import Permissions
from .query import MATCHING, RecordQuery, row_to_dict
from .rows import RowWriter
from .saving import Draft, Preparer
from .search import SearchIndex
from .tables import Tables
from .values import ValueContext, stored_record

MAX_PAGE = 1000
log = logging.getLogger(__name__)

SaveCheck = Callable[[Connection, Actor, Draft, "Mapping[str, Any] | None", Problems], None]
"""An extra check on a save (pipelines, approvals): add to `problems` to refuse, or set values on the draft."""
Assign = Callable[[Connection, Actor, m.Entity, Mapping[str, Any]], "int | None"]
"""Picks the owner of a new record of an entity with `assignment` (None: the acting user)."""


@dataclass(frozen=True, slots=True)
class Change:
    """A committed change, told to listeners (event alerts, timelines) after the commit."""

    action: Literal["create", "update", "delete"]
    entity: str
    record_id: int
    actor: Actor
    changes: dict[str, tuple[Any, Any]]      # field -> (old, new); on create old is None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list; `has_more` says whether a next page exists (no COUNT is run)."""

    rows: list[dict[str, Any]]
    has_more: bool
    matching: int | None = None     # with `count_up_to=N`: rows matching, counted no further than N + 1


def _whole_number(name: str, value: Any) -> int:
    """A record id as `RecordQuery._where` takes one ('7' finds 7; anything else is refused the same way)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed({name: ["must be a whole number"]}) from None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Records:
    """Create, read, update, delete and list the records of one configuration."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables,
                 clock: Callable[[], dt.datetime] = utc_now, permissions: Permissions | None = None,
                 assign: Assign | None = None):
        """`assign` picks owners for entities with `assignment`; `checks` and `listeners`
        (lists, appended to by the pipeline, approval and alert services) extend every save."""
        self.config = config
        self.engine = engine
        self.tables = tables
        # Watched: a page that asked it depends on the time and is not kept (ui/page_memo.py).
        self.clock = clock = watched(clock)
        self.permissions = permissions or Permissions(config, tables, engine)
        self.exprs = RecordExpressions(config, tables, clock)
        self.audit = AuditLog(tables.audit, config.revision)
        values = ValueContext.for_config(config, bound=self.exprs.bound)
        self.preparer = Preparer(config, tables, self.permissions, self.exprs, values, clock)
        self.writer = RowWriter(config, tables, self.audit, clock)
        self.lines = Lines(config, tables, self.permissions, self.preparer, self.writer)
        self.query = RecordQuery(config, tables, self.permissions, self.exprs, values,
                                 search=SearchIndex(engine, config))
        self.preparer.assign = assign
        self._trails = StatementCache()       # history statements by (entity, user)
        self.checks: list[SaveCheck] = []
        self.listeners: list[Callable[[Change], None]] = []
        # Set inside `atomic()`: the shared connection and the changes to tell once it commits.
        self._atomic: ContextVar[tuple[Connection, list[Change]] | None] = ContextVar(
            f"records_atomic_{id(self)}", default=None)
        # Set inside `reading()`: the connection reads share.
        self._reading: ContextVar[Connection | None] = ContextVar(f"records_reading_{id(self)}", default=None)

    # -- writing -------------------------------------------------------------------------------
    def create(self, actor: Actor, entity: str, values: Mapping[str, Any], *, internal: bool = False,
               conn: Connection | None = None, deferred: list[Change] | None = None) -> dict[str, Any]:
        """Creates a record (and its lines); returns it as the user sees it.

        `internal` lets engine callers (pipelines, conversions, import) write
        read-only fields, the stage and the team. `conn`: write inside the
        caller's open transaction (alert `also` actions); listeners are then not
        told, the Change is appended to `deferred` for the caller to tell after commit.
        """
        self._entity(entity)
        if not self.permissions.may_create(actor, entity):
            raise Forbidden(f"you may not create {entity} records")
        with (self._joined(conn) if conn is not None else self.transaction()) as conn:
            problems = Problems()
            draft = self.preparer.draft(conn, actor, entity, values, problems, internal=internal)
            ops = self.lines.plan(conn, actor, draft, None, problems, internal)
            self._check(conn, actor, draft, None, problems)
            record_id = self.writer.insert(conn, actor, draft)
            self.lines.apply(conn, actor, record_id, ops)
            saved = self._visible(conn, actor, entity, record_id)
        change = Change("create", entity, record_id, actor,
                        {f.name: (None, draft.values[f.name]) for f in draft.entity.fields.values()
                         if f.stored and draft.values.get(f.name) is not None})
        if deferred is not None:
            deferred.append(change)
        else:
            self._tell(change)
        return saved

    def update(self, actor: Actor, entity: str, record_id: int, values: Mapping[str, Any],
               expected_version: int | None, *, internal: bool = False) -> dict[str, Any]:
        """Changes the given fields of a record the user may update, if it is still at `expected_version`.

        `expected_version=None` skips the version check (jobs that hold no
        earlier copy); the write itself is still atomic.
        """
        ent = self._entity(entity)
        with self.transaction() as conn:
            current = self._current(conn, actor, entity, record_id, "update")
            if expected_version is not None and current["version"] != expected_version:
                raise self._stale(conn, actor, entity, record_id, expected_version)
            problems = Problems()
            draft = self.preparer.draft(conn, actor, entity, values, problems, current=current,
                                        internal=internal)
            ops = self.lines.plan(conn, actor, draft, record_id, problems, internal)
            self._check(conn, actor, draft, current, problems)
            if draft.changed or ops:
                table = self.tables.entity(entity)
                guard = (table.c.version == current["version"]) & self.permissions.row_filter(
                    actor, entity, "update", table)
                if not self.writer.update(conn, actor, draft, record_id, current, guard):
                    raise self._stale(conn, actor, entity, record_id, expected_version)
                self.lines.apply(conn, actor, record_id, ops)
            saved = self._visible(conn, actor, ent.name, record_id)
        if draft.changed or ops:
            self._tell(Change("update", entity, record_id, actor,
                              {k: (current.get(k), v) for k, v in draft.changed.items()}))
        return saved

    def delete(self, actor: Actor, entity: str, record_id: int, expected_version: int | None = None) -> None:
        """Deletes a record (and its lines) unless other records still link to it (`on_delete: restrict`)."""
        ent = self._entity(entity)
        with self.transaction() as conn:
            current = self._current(conn, actor, entity, record_id, "delete")
            if expected_version is not None and current["version"] != expected_version:
                raise self._stale(conn, actor, entity, record_id, expected_version)
            self._refuse_if_referenced(conn, ent, record_id)
            self.lines.delete_all(conn, actor, ent, record_id)
            table = self.tables.entity(entity)
            guard = (table.c.version == current["version"]) & self.permissions.row_filter(
                actor, entity, "delete", table)
            if not self.writer.delete(conn, actor, ent, record_id, current, guard):
                raise self._stale(conn, actor, entity, record_id, expected_version)
        self._tell(Change("delete", entity, record_id, actor,
                          {f.name: (current.get(f.name), None) for f in ent.fields.values()
                           if f.stored and current.get(f.name) is not None}))

    def validate(self, actor: Actor, entity: str, values: Mapping[str, Any], record_id: int | None = None) -> None:
        """A dry run of `create` (or `update` of `record_id`): raises what the save would, writes nothing.

        The save's own checks run inside a transaction that is always rolled
        back, so forms can show every problem while the user types.
        """
        self._entity(entity)
        if record_id is None and not self.permissions.may_create(actor, entity):
            raise Forbidden(f"you may not create {entity} records")
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                current = self._current(conn, actor, entity, record_id, "update") if record_id is not None else None
                problems = Problems()
                draft = self.preparer.draft(conn, actor, entity, values, problems, current=current)
                self.lines.plan(conn, actor, draft, record_id, problems, False)
                self._check(conn, actor, draft, current, problems)
            finally:
                tx.rollback()

    # -- reading -------------------------------------------------------------------------------
    def get(self, actor: Actor, entity: str, record_id: int, *, with_lines: bool = True) -> dict[str, Any]:
        """The record with its computed fields (and its lines rows the user may read); 404 if not readable."""
        self._entity(entity)
        with self._read_connection() as conn:
            return self._get(conn, actor, entity, record_id, with_lines)

    def list(self, actor: Actor, entity: str, filter_expr: str | None = None,
             where: Mapping[str, Any] | None = None, sort: str | Sequence[str] | None = None,
             search: str | None = None, limit: int = 50, offset: int = 0,
             params: Mapping[str, Any] | None = None, *, with_titles: bool = False,
             paths: Sequence[str] = (), count_up_to: int | None = None) -> Page:
        """A page of the records the user may read.

        `filter_expr` is an expression (`amount > 1000 and stage.open`), `where`
        field equalities (`{"deal": 7}` for a related list; a list value means IN),
        `sort` field names with '-' for descending, `search` words matched in the
        entity's `search: true` fields, `params` the `$name` values of the filter.
        `with_titles` adds `<link>__title` (the linked record's title, None when
        the user may not read it) for every link and user field; `paths` adds
        columns of linked records by their path (`account.industry`).
        `count_up_to=N` also counts the matching rows, but never past N + 1
        (cheap on any table: "more than N" instead of a full COUNT).
        """
        self._entity(entity)
        limit = max(1, min(int(limit), MAX_PAGE))
        # Built once per shape and reused (query.page, list_statement.py); limit and offset are binds.
        statements, binds = self.query.bound_page(actor, entity, filter_expr=filter_expr, where=where,
                                                  search=search, sort=sort, params=params, titles=with_titles,
                                                  paths=paths)
        with self._read_connection() as conn:
            # Kept statements run straight on SQLite's cursor (direct_reads.py).
            keys, rows = run_read(conn, statements.rows, {**statements.page_params(limit + 1, max(0, int(offset))),
                                                          **binds})
            matching = None
            if count_up_to is not None and len(rows) > limit:     # else the page itself says how many
                matching = int(conn.execute(statements.count,
                                            {**statements.count_params(count_up_to + 1), **binds}).scalar_one())
        return Page(statements.shape(keys).dicts(rows[:limit]), len(rows) > limit, matching)

    def iterate(self, actor: Actor, entity: str, filter_expr: str | None = None,
                where: Mapping[str, Any] | None = None, sort: str | Sequence[str] | None = None,
                search: str | None = None, params: Mapping[str, Any] | None = None,
                batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every record `list` would return, streamed (for exports): same filters, same mask."""
        self._entity(entity)
        ent = self.config.entities[entity]
        query = self.query.select(actor, entity, filter_expr=filter_expr, where=where, search=search,
                                  sort=sort, params=params)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query).mappings()
            for row in result:
                yield row_to_dict(ent, row)

    def history(self, actor: Actor, entity: str, record_id: int) -> list[AuditEntry]:
        """The audit trail of a record the user may read, without the fields hidden from them."""
        self._entity(entity)
        hidden = self.permissions.hidden(actor, entity)
        # The read filter and the trail in one statement (a page showing the history has just
        # read the record; a second read only to check it again would double the cost), built
        # once per user and entity (the record id is its bind).
        key = (entity, actor)
        statement = self._trails.get(key)
        if statement is None:
            table = self.tables.entity(entity)
            statement = self.audit.readable_history_statement(
                entity, table, self.permissions.row_filter(actor, entity, "read", table))
            self._trails.put(key, statement)
        with self._read_connection() as conn:
            entries = self.audit.read_trail(conn, statement, record_id)
        if entries is None:
            raise NotFound(entity, record_id)
        out = []
        for e in entries:
            if e.field in hidden:
                continue
            strip = (lambda v: {k: x for k, x in v.items() if k not in hidden} if isinstance(v, dict) else v)
            out.append(AuditEntry(e.id, e.entity, e.record_id, e.action, e.field,
                                  e.old if e.field else strip(e.old), e.new if e.field else strip(e.new),
                                  e.user_id, e.at, e.revision))
        return out

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """One connection for every read inside the block (get, list, history, in this thread),
        given to the caller too for reads of its own: a page that reads several parts takes a
        connection from the pool once instead of once per part. Writes keep their own."""
        shared = self._reading.get()
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            token = self._reading.set(conn)
            try:
                yield conn
            finally:
                self._reading.reset(token)

    @contextmanager
    def _read_connection(self) -> Iterator[Connection]:
        shared = self._reading.get()
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            yield conn

    # -- transactions ------------------------------------------------------------------------------
    @contextmanager
    def atomic(self) -> Iterator[Connection]:
        """Several saves as one transaction (conversions): all of them, or none.

        Every create/update/delete made inside the block (in this thread) uses
        the block's connection; listeners hear of the changes only after the
        block commits, and not at all if it rolls back.
        """
        if self._atomic.get() is not None:
            yield self._atomic.get()[0]  # type: ignore[index]
            return
        told: list[Change] = []
        with self.transaction() as conn:
            token = self._atomic.set((conn, told))
            try:
                yield conn
            finally:
                self._atomic.reset(token)
        for change in told:
            self._tell(change)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception.

        On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up
        front, so two saves queue on the busy timeout instead of one failing
        when it upgrades its read snapshot.
        """
        shared = self._atomic.get()
        if shared is not None:      # inside atomic(): the block's transaction is this one
            yield shared[0]
            return
        try:
            with self.engine.connect() as conn, conn.begin():
                # pysqlite defers BEGIN to the first write; an engine that begins itself needs nothing more.
                if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        except IntegrityError as exc:
            # The checks before the write make this rare: a race with another save (a unique
            # value taken, a linked record deleted meanwhile). Rolled back; say so plainly.
            raise Conflict("the save conflicts with a change made at the same time; try again "
                           f"({type(exc.orig).__name__})") from exc

    @contextmanager
    def _joined(self, conn: Connection) -> Iterator[Connection]:
        """The caller's transaction: it commits or rolls back, not this block."""
        yield conn

    def tell(self, change: Change) -> None:
        """Tells listeners of a change committed through a caller's transaction (`create(conn=...)`)."""
        self._tell(change)

    # -- helpers -----------------------------------------------------------------------------------
    def _check(self, conn: Connection, actor: Actor, draft: Draft, current: Mapping[str, Any] | None,
               problems: Problems) -> None:
        """The registered extra checks, then one refusal with every problem found."""
        for check in self.checks:
            check(conn, actor, draft, current, problems)
        problems.raise_if_any()

    def _tell(self, change: Change) -> None:
        """Listeners hear of a change once it is committed; one failing does not undo it or stop the others."""
        shared = self._atomic.get()
        if shared is not None:      # not committed yet: told when atomic() commits
            shared[1].append(change)
            return
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:   # noqa: BLE001 - the change is committed; report and go on
                log.exception("listener %r failed on %s %s %s", listener, change.action, change.entity,
                              change.record_id)

    def _entity(self, entity: str) -> m.Entity:
        ent = self.config.entities.get(entity)
        if ent is None:
            raise NotFound("entity", entity)
        return ent

    def _current(self, conn: Connection, actor: Actor, entity: str, record_id: int, action: str) -> dict[str, Any]:
        """The stored record for a write: 404 if the user cannot read it, 403 if they cannot `action` it."""
        ent = self.config.entities[entity]
        table = self.tables.entity(entity)
        row = conn.execute(select(table).where(
            table.c.id == record_id, self.permissions.row_filter(actor, entity, "read", table))).mappings().first()
        if row is None:
            raise NotFound(entity, record_id)
        allowed = conn.execute(select(table.c.id).where(
            table.c.id == record_id, self.permissions.row_filter(actor, entity, action, table))).first()  # type: ignore[arg-type]
        if allowed is None:
            raise Forbidden(f"you may read {entity} {record_id} but not {action} it")
        return stored_record(ent, row)

    def _get(self, conn: Connection, actor: Actor, entity: str, record_id: int, with_lines: bool) -> dict[str, Any]:
        ent = self.config.entities[entity]
        # The statement is built once per user and entity (query.matching); the id is its bind.
        row = first_mapping(conn, self.query.matching(actor, entity), {MATCHING: _whole_number("id", record_id)})
        if row is None:
            raise NotFound(entity, record_id)
        record = row_to_dict(ent, row)
        if with_lines:
            hidden = self.permissions.hidden(actor, entity)
            for f in ent.fields.values():
                if f.type == "lines" and f.name not in hidden:
                    record[f.name] = self._lines_of(conn, actor, ent, f, record["id"])
        return record

    def _lines_of(self, conn: Connection, actor: Actor, ent: m.Entity, field: m.Field, record_id: int) -> list[dict]:
        from .lines import back_link
        child = self.config.entities[field.entity or ""]
        query = self.query.matching(actor, child.name, back_link(self.config, ent, field), sort=["id"])
        return [row_to_dict(child, r) for r in all_mappings(conn, query, {MATCHING: record_id})]

    def _visible(self, conn: Connection, actor: Actor, entity: str, record_id: int) -> dict[str, Any]:
        """The saved record as the user may see it (just id and version if they may not read it)."""
        try:
            return self._get(conn, actor, entity, record_id, with_lines=True)
        except NotFound:
            table = self.tables.entity(entity)
            version = conn.execute(select(table.c.version).where(table.c.id == record_id)).scalar()
            return {"id": record_id, "version": version}

    def _stale(self, conn: Connection, actor: Actor, entity: str, record_id: int,
               expected: int | None) -> StaleVersion | NotFound:
        try:
            current = self._get(conn, actor, entity, record_id, with_lines=True)
        except NotFound as exc:
            return exc
        return StaleVersion(entity, record_id, expected, current)

    def _refuse_if_referenced(self, conn: Connection, ent: m.Entity, record_id: int) -> None:
        """`on_delete: restrict` links to the record block its deletion (lines rows go with it)."""
        own_lines = {f.entity for f in ent.fields.values() if f.type == "lines"}
        blockers = []
        for other in self.config.entities.values():
            for f in other.links():
                if f.entity != ent.name or f.on_delete != "restrict" or other.name in own_lines:
                    continue
                table = self.tables.entity(other.name)
                if conn.execute(select(exists().where(table.c[f.name] == record_id))).scalar():
                    blockers.append(f"{other.name}.{f.name}")
        if blockers:
            raise Conflict(f"{ent.name} {record_id} cannot be deleted: records still link to it "
                           f"({', '.join(blockers)})")
