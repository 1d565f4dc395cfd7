"""Full-text search over an entity's `search: true` fields, through a real database index.

    ensure_search_index(engine, config)      # after every migration: create / repair the indexes
    index = SearchIndex(engine, config)
    condition = index.condition(entity, table, "kovács kft", hidden)
    form = index.form(entity, "kovács kft", hidden)     # what the condition is built from (hashable)
    found = index.search(entity, table, form)           # .condition; .hits, the index's rowids, drive a count

Which index, per database:

- SQLite: one FTS5 table per entity, `crm_fts_<entity>`, with the trigram
  tokenizer (substring matches, case-insensitive) over the entity's table as
  external content (`content='<entity>'`, `content_rowid='id'`): the text is
  not stored twice. Three triggers keep it in step with every insert, update
  and delete. A migration that copies the entity's table (SQLite's batch mode)
  drops those triggers; `ensure_search_index` sees that, recreates them and
  rebuilds the index. The `crm_` prefix keeps these tables out of the
  migration planner's diff (engine tables are the engine's business).
- PostgreSQL: `pg_trgm` GIN indexes on `lower(column)`, one per searchable
  column, named `crm_trgm_*` (the planner leaves indexes it did not name `ix_`/`uq_`
  alone). The query is the same `lower(column) LIKE '%word%'` the records
  service always ran; the planner picks the index for it.

Semantics are the same everywhere and the same as without an index: every
word must appear, case-insensitively, as a substring of some searchable field
the user may see. The index only makes it fast; a database without it (tests
that `create_all`, a migration not followed by `ensure_search_index`) answers
the same through LIKE. Words shorter than three characters cannot use a
trigram index and are always matched by LIKE.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import Engine, Table
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..metadata import model as m
from ..metadata.expressions.sqlparts import lower as sql_lower
from ..metadata.expressions.values import lower as text_lower

FTS_PREFIX = "crm_fts_"
TRGM_PREFIX = "crm_trgm_"
TEXT_TYPES = ("string", "text", "email", "phone", "url", "autonumber")
MAX_WORDS = 8
MANY_HITS = 2000     # above this many FTS hits, scan in sort order instead of fetching hits by id
HITS_TTL = 10.0      # seconds a MANY_HITS answer is reused: it picks the plan, never the rows
HITS_KEPT = 512      # answers remembered per SearchIndex at most
log = logging.getLogger(__name__)

# (database URL, entity) -> the FTS definition found current; filled by ensure/detection.
_KNOWN: dict[tuple[str, str], str] = {}


def search_fields(entity: m.Entity) -> list[str]:
    """The fields searched: stored text fields marked `search: true`, else the title field."""
    names = [f.name for f in entity.fields.values() if f.search and f.stored and f.type in TEXT_TYPES]
    title = entity.fields.get(entity.title)
    if not names and title is not None and title.stored and title.type in TEXT_TYPES:
        names = [title.name]
    return names


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fts_name(entity: m.Entity) -> str:
    return FTS_PREFIX + entity.name


def _fts_ddl(entity: m.Entity, fields: list[str], up_to: int | None = None) -> dict[str, str]:
    """The FTS table and its three triggers, as SQLite stores their text.

    `up_to`: the triggers of a bulk import (import_bulk.py), which keep only rows with ids up
    to it in step; the rows above are indexed in one statement when the import ends (`fts_fill_sql`).
    """
    fts, table = _q(fts_name(entity)), _q(entity.table)
    cols = ", ".join(_q(f) for f in fields)
    new = ", ".join(f"new.{_q(f)}" for f in fields)
    old = ", ".join(f"old.{_q(f)}" for f in fields)
    name = fts_name(entity)
    new_when = "" if up_to is None else f"WHEN new.id <= {int(up_to)} "
    old_when = "" if up_to is None else f"WHEN old.id <= {int(up_to)} "
    return {
        name: f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{entity.table}', "
              f"content_rowid='id', tokenize='trigram')",
        name + "_ai": f"CREATE TRIGGER {_q(name + '_ai')} AFTER INSERT ON {table} {new_when}BEGIN "
                      f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
        name + "_ad": f"CREATE TRIGGER {_q(name + '_ad')} AFTER DELETE ON {table} {old_when}BEGIN "
                      f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        name + "_au": f"CREATE TRIGGER {_q(name + '_au')} AFTER UPDATE ON {table} {old_when}BEGIN "
                      f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
                      f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END",
    }


def fts_triggers(entity: m.Entity, up_to: int | None = None) -> dict[str, str]:
    """The entity's FTS triggers (name -> SQL), those of a bulk import with `up_to`; {} when it has no index."""
    fields = search_fields(entity)
    if not fields:
        return {}
    ddl = _fts_ddl(entity, fields, up_to)
    del ddl[fts_name(entity)]
    return ddl


def fts_fill_sql(entity: m.Entity, above: int) -> str:
    """Indexes the rows with ids above `above` in one statement (what the insert trigger would have done)."""
    fields = search_fields(entity)
    cols = ", ".join(_q(f) for f in fields)
    return (f"INSERT INTO {_q(fts_name(entity))}(rowid, {cols}) SELECT id, {cols} FROM {_q(entity.table)} "
            f"WHERE id > {int(above)}")


def _signature(ddl: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(ddl[k] for k in sorted(ddl)).encode()).hexdigest()[:16]


def ensure_search_index(engine: Engine, config: m.Config) -> list[str]:
    """Creates, repairs or removes the search indexes so they match `config`; returns what it did.

    Idempotent and cheap when nothing changed (one catalog query). Run it after
    every migration (`crm migrate` does) and whenever tables were made another way.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            done = _ensure_sqlite(conn, config)
        elif conn.dialect.name == "postgresql":
            done = _ensure_postgresql(conn, config)
        else:
            done = []
    if engine.dialect.name == "sqlite":
        for ent in config.entities.values():
            fields = search_fields(ent)
            if fields:
                _KNOWN[(str(engine.url), ent.name)] = _signature(_fts_ddl(ent, fields))
    return done


def _ensure_sqlite(conn: Connection, config: m.Config) -> list[str]:
    live = {name: (sql or "") for name, sql in conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE 'crm\\_fts\\_%' "
        "ESCAPE '\\'").all()}
    tables = {name for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    done: list[str] = []
    wanted: set[str] = set()
    for ent in config.entities.values():
        fields = search_fields(ent)
        if not fields or ent.table not in tables:
            continue
        ddl = _fts_ddl(ent, fields)
        wanted.update(ddl)
        name = fts_name(ent)
        if all(live.get(k, "").strip() == v for k, v in ddl.items()):
            continue
        # Anything missing or different: start again from the definition and rebuild from the table.
        for trigger in (name + "_ai", name + "_ad", name + "_au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(trigger)}")
        if live.get(name, "").strip() != ddl[name]:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(name)}")
            conn.exec_driver_sql(ddl[name])
        for key in (name + "_ai", name + "_ad", name + "_au"):
            conn.exec_driver_sql(ddl[key])
        conn.exec_driver_sql(f"INSERT INTO {_q(name)}({_q(name)}) VALUES ('rebuild')")
        done.append(f"search index {name} built over {', '.join(fields)}")
    for name in sorted(live):
        is_fts_table = live[name].upper().startswith("CREATE VIRTUAL TABLE")
        if name in wanted or not is_fts_table:
            continue
        for suffix in ("_ai", "_ad", "_au"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(name + suffix)}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_q(name)}")
        done.append(f"search index {name} removed (no searchable fields left)")
    return done


def trgm_index_name(entity: m.Entity, field: str) -> str:
    name = f"{TRGM_PREFIX}{entity.table}_{field}"
    if len(name) > 63:     # PostgreSQL's identifier limit: keep it unique with a hash
        name = name[:50] + "_" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def _ensure_postgresql(conn: Connection, config: m.Config) -> list[str]:
    schema = _trgm_schema(conn)
    existing = {r[0] for r in conn.execute(sa.text(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'crm\\_trgm\\_%'"))}
    tables = set(sa.inspect(conn).get_table_names())
    done: list[str] = []
    wanted: set[str] = set()
    for ent in config.entities.values():
        if ent.table not in tables:
            continue
        for field in search_fields(ent):
            name = trgm_index_name(ent, field)
            wanted.add(name)
            if name in existing:
                continue
            conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {_q(name)} ON {_q(ent.table)} "
                                 f"USING gin (lower({_q(field)}) {_q(schema)}.gin_trgm_ops)"))
            done.append(f"search index {name} created")
    for name in sorted(existing - wanted):
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {_q(name)}"))
        done.append(f"search index {name} removed")
    return done


def _trgm_schema(conn: Connection) -> str:
    """The schema holding pg_trgm, installing it (in `public` when there is one) if needed.

    The extension is one per database; its operator class is named with its
    schema, so the index works whatever the connection's search_path is.
    """
    query = sa.text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                    "WHERE e.extname = 'pg_trgm'")
    found = conn.execute(query).scalar()
    if found:
        return str(found)
    has_public = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'")).scalar()
    target = "public" if has_public else str(conn.execute(sa.text("SELECT current_schema()")).scalar())
    # Two migrations at once could both try; a savepoint keeps the loser's transaction usable.
    with conn.begin_nested():
        conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA {_q(target)}"))
    return str(conn.execute(query).scalar() or target)


class SearchIndex:
    """The search condition of a list query, through the FTS index where it is present."""

    def __init__(self, engine: Engine | None, config: m.Config):
        self.engine = engine
        self.config = config
        self._hits_seen: dict[tuple[str, str], tuple[float, bool]] = {}   # (entity, query) -> (when, many)

    def has_fts(self, entity: m.Entity, fields: list[str]) -> bool:
        """Is the entity's FTS table present and current (definition and triggers) on this SQLite database?"""
        if self.engine is None or self.engine.dialect.name != "sqlite" or not fields:
            return False
        ddl = _fts_ddl(entity, fields)
        key, signature = (str(self.engine.url), entity.name), _signature(ddl)
        if _KNOWN.get(key) == signature:
            return True
        with self.engine.connect() as conn:
            live = {n: (s or "").strip() for n, s in conn.execute(sa.text(
                "SELECT name, sql FROM sqlite_master WHERE name IN :names").bindparams(
                    sa.bindparam("names", expanding=True)), {"names": list(ddl)}).all()}
        if all(live.get(k) == v for k, v in ddl.items()):
            _KNOWN[key] = signature
            return True
        return False

    def form(self, entity: m.Entity, text: str, hidden: Iterable[str]) -> "SearchForm":
        """What the search's condition is built from (hashable: a built statement is reused by it).

        Asks the database (or what it answered a moment ago) whether the FTS index
        is current and whether the words hit many rows: the statement's form depends
        on both, its answer on neither.
        """
        hidden = frozenset(hidden)
        indexed = search_fields(entity)
        fields = [f for f in indexed if f not in hidden]
        words = text.split()[:MAX_WORDS]
        title = entity.fields.get(entity.title)
        if not fields and title is not None and title.stored and title.type in TEXT_TYPES \
                and title.name not in hidden:
            fields, indexed = [title.name], []       # every search field hidden: the title, by LIKE
        if not fields or not words:
            return SearchForm(tuple(fields), tuple(words), None, False)
        long = [w for w in words if len(w) >= 3]
        if not long or not self.has_fts(entity, indexed):
            return SearchForm(tuple(fields), tuple(words), None, False)
        # Each word a quoted FTS string (a phrase): no FTS operator or SQL can be smuggled in.
        query = " AND ".join('"' + w.replace('"', '""') + '"' for w in long)
        if fields != indexed:      # hidden fields are indexed but must not be searched by this user
            query = "{" + " ".join(fields) + "} : (" + query + ")"
        short = tuple(w for w in words if len(w) < 3)
        return SearchForm(tuple(fields), short, query, self._many_hits(entity, query))

    def search(self, entity: m.Entity, table: Table, form: "SearchForm") -> "Search":
        """The search's conditions for statements over `table`."""
        if not form.fields:
            return Search(sa.false())
        if form.fts_query is None and not form.like_words:
            return Search(sa.true())
        likes: list[ColumnElement[bool]] = []
        for word in form.like_words:
            # The same case mapping on both databases (SQLite's own lower() is ASCII only).
            escaped = text_lower(word).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            likes.append(sa.or_(*[sql_lower(table.c[n]).like(f"%{escaped}%", escape="\\") for n in form.fields]))
        if form.fts_query is None:
            return Search(sa.and_(*likes))
        hits = sa.select(sa.literal_column("rowid")).select_from(sa.text(_q(fts_name(entity)))).where(
            sa.literal_column(_q(fts_name(entity))).op("MATCH")(
                sa.bindparam(None, form.fts_query, type_=sa.String, unique=True)))
        # Few hits: fetch them by id and sort those. Many hits (a common word): `id + 0` keeps SQLite
        # from driving the query by the hits, so it walks the sort's index and stops after one page
        # (1M deals, q=acme: 1.3 s -> 0.14 s; q='initech 4242' stays at 0.03 s by id).
        match = (table.c.id + 0).in_(hits) if form.many_hits else table.c.id.in_(hits)
        return Search(sa.and_(match, *likes), hits, sa.and_(*likes) if likes else None)

    def condition(self, entity: m.Entity, table: Table, text: str, hidden: Iterable[str]) -> ColumnElement[bool]:
        """Every word in some searchable field the user may see; `false()` when there is none."""
        return self.search(entity, table, self.form(entity, text, hidden)).condition

    def _many_hits(self, entity: m.Entity, query: str) -> bool:
        """Does the FTS query match more than MANY_HITS rows? (counted only that far: cheap)

        The answer is reused for HITS_TTL seconds (the pages of one search, its sorts, a
        filter changed): it only chooses how the statement finds the rows, not which rows
        it returns. A word that crosses MANY_HITS meanwhile is served by the other plan a
        little longer, with the same answers.
        """
        assert self.engine is not None
        key, now = (entity.name, query), time.monotonic()
        seen = self._hits_seen.get(key)
        if seen is not None and now - seen[0] < HITS_TTL:
            return seen[1]
        name = _q(fts_name(entity))
        with self.engine.connect() as conn:
            hits = conn.execute(sa.text(f"SELECT count(*) FROM (SELECT rowid FROM {name} WHERE {name} MATCH :q "
                                        "LIMIT :cap)"), {"q": query, "cap": MANY_HITS + 1}).scalar_one()
        if len(self._hits_seen) >= HITS_KEPT:
            self._hits_seen.clear()
        many = int(hits) > MANY_HITS
        self._hits_seen[key] = (now, many)
        return many


@dataclass(frozen=True, slots=True)
class SearchForm:
    """What a search's condition is built from (`SearchIndex.form`)."""

    fields: tuple[str, ...]         # searched (the user's visible search fields); none: nothing matches
    like_words: tuple[str, ...]     # matched by LIKE: every word without the index, else the short ones
    fts_query: str | None           # the FTS5 query of the other words (SQLite with a current index)
    many_hits: bool                 # that query hits more than MANY_HITS rows


@dataclass(frozen=True, slots=True)
class Search:
    """A search's conditions (`SearchIndex.search`)."""

    condition: ColumnElement[bool]              # the whole search, for any statement over the table
    hits: sa.Select | None = None               # the FTS index's rowids for its words, when it has them
    rest: ColumnElement[bool] | None = None     # what a row among `hits` must also match (short words)


def search_index_sql(config: m.Config, dialect: str) -> list[str]:
    """The statements `ensure_search_index` would run on an empty database (for docs and `crm plan`)."""
    out: list[str] = []
    for ent in config.entities.values():
        fields = search_fields(ent)
        if not fields:
            continue
        if dialect == "sqlite":
            out.extend(_fts_ddl(ent, fields).values())
        else:
            out.extend(f"CREATE INDEX {_q(trgm_index_name(ent, f))} ON {_q(ent.table)} "
                       f"USING gin (lower({_q(f)}) gin_trgm_ops)" for f in fields)
    return out


__all__: list[Any] = ["ensure_search_index", "Search", "SearchForm", "SearchIndex", "search_fields",
                      "search_index_sql"]
