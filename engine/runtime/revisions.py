"""Configuration revisions: the configuration a database runs, stored in the database itself.

    rev = push(engine, "configs", author="anna", reason="wider notes")   # validate, test, plan, apply
    active(engine)              # the Revision in force (None before the first push)
    active_hash(engine)         # only its content hash: one small query (live reload's check)
    active_config(engine)       # its Config, rebuilt from the stored files
    log(engine)                 # every revision, newest first
    pull(engine, "configs")     # the active revision's files back into a folder
    rollback(engine, "3", author="anna", reason="undo")   # an earlier revision's content, pushed anew

A revision row (`crm_revisions`) holds every file of the configuration as
JSON, its content hash (`Config.revision`, what audit rows carry), the hash
it replaced (`parent`), who, when and why. Exactly one row is `active`. The
row is written and the flag flipped by `migrate.apply_plan`'s `on_applied`
hook, i.e. in the same transaction as the schema change: a database never
runs a schema without the revision that explains it, nor the reverse.

Two admins: a push is planned against the revision active when it starts;
inside the transaction (which holds the migration lock) the active revision
is read again, and a push whose parent is no longer active is refused as a
conflict. `base=` makes the same check explicit before anything is planned.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..metadata import model as m
from ..metadata.errors import ErrorSink
from ..metadata.loader import read_folder, revision_of, validate_folder
from .errors import DomainError
from .migrate import apply_plan
from .plan import Plan, plan_migration
from .tables import NAMING_CONVENTION, engine_tables

REVISIONS = "crm_revisions"
# The built-in tables' definitions are the same for every configuration: no Config needed to read revisions.
_SYSTEM = sa.MetaData(naming_convention=NAMING_CONVENTION)
engine_tables(_SYSTEM)
Source = str | Path | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Revision:
    """One stored configuration: `revision` is the content hash, `id` the row's number."""

    id: int
    revision: str
    parent: str | None
    author: str | None
    reason: str | None
    created_at: dt.datetime
    files: Mapping[str, str]
    active: bool

    def describe(self) -> str:
        when = self.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        mark = "*" if self.active else " "
        return (f"{mark} #{self.id} {self.revision} {when} {self.author or '-'}"
                f" (parent {self.parent or '-'}): {self.reason or ''}").rstrip(": ")


class RevisionRefused(DomainError):
    """The revision was not applied; `details` says why, line by line. Nothing changed."""

    status = 409
    code = "revision_refused"

    def __init__(self, message: str, details: tuple[str, ...] = (), plan: Plan | None = None):
        super().__init__(message)
        self.details = details
        self.plan = plan

    def __str__(self) -> str:
        return "\n".join([self.message, *("  " + d for d in self.details)])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "details": list(self.details)}


class RevisionConflict(RevisionRefused):
    """Someone else's revision became active since this one was based on theirs' parent."""

    code = "revision_conflict"


class NoRevision(DomainError):
    """The database has no revision yet (nothing was pushed), or the one asked for does not exist."""

    status = 404
    code = "no_revision"


# ---------------------------------------------------------------- reading

def _table(engine_or_conn: Engine | Connection) -> sa.Table | None:
    """The revisions table, or None when the database has none yet (never pushed)."""
    if not sa.inspect(engine_or_conn).has_table(REVISIONS):
        return None
    return _SYSTEM.tables[REVISIONS]


def _revision(row: Mapping[str, Any]) -> Revision:
    created = row["created_at"]
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    return Revision(row["id"], row["revision"], row["parent"], row["author"], row["reason"], created,
                    json.loads(row["content"]), bool(row["active"]))


def _active_in(conn: Connection) -> Revision | None:
    table = _table(conn)
    if table is None:
        return None
    row = conn.execute(sa.select(table).where(table.c.active == sa.true())
                       .order_by(table.c.id.desc()).limit(1)).mappings().first()
    return _revision(row) if row else None


def active(engine: Engine) -> Revision | None:
    """The revision the database runs, or None before the first push."""
    with engine.connect() as conn:
        return _active_in(conn)


def active_hash(engine: Engine) -> str | None:
    """Only the active revision's content hash (None before the first push): the cheap check a
    running server or worker makes twice a second to notice a new revision (ui/reload.py)."""
    table = _SYSTEM.tables[REVISIONS]
    query = (sa.select(table.c.revision).where(table.c.active == sa.true())
             .order_by(table.c.id.desc()).limit(1))      # the newest row, through the primary key
    try:
        with engine.connect() as conn:
            return conn.execute(query).scalar()
    except sa.exc.DBAPIError:
        if _table(engine) is not None:
            raise
        return None         # a database where nothing created the table yet


def log(engine: Engine) -> list[Revision]:
    """Every revision, newest first."""
    with engine.connect() as conn:
        table = _table(conn)
        if table is None:
            return []
        return [_revision(r) for r in conn.execute(sa.select(table).order_by(table.c.id.desc())).mappings()]


def find(engine: Engine, ref: str | int) -> Revision:
    """A revision by row number (`3`, `#3`) or by content hash (a unique prefix of 4+ characters)."""
    text = str(ref).strip().lstrip("#")
    revisions = log(engine)
    if text.isdigit():
        for rev in revisions:
            if rev.id == int(text):
                return rev
    if len(text) >= 4:
        hashes = {r.revision for r in revisions if r.revision.startswith(text.lower())}
        if len(hashes) == 1:
            return next(r for r in revisions if r.revision in hashes)      # newest row with that content
        if len(hashes) > 1:
            raise NoRevision(f"revision '{ref}' is ambiguous: it starts {len(hashes)} revisions "
                             f"({', '.join(sorted(hashes))}); give more characters")
    raise NoRevision(f"there is no revision '{ref}' (see `crm config log` for the revisions)")


def config_of(files: Mapping[str, str], *, root: str = "revision") -> m.Config:
    """The Config of stored files, validated exactly like a folder on disk."""
    config, errors = validate_folder(root, files=dict(files))
    if errors or config is None:
        raise RevisionRefused(f"the configuration in {root} is not valid; nothing was changed",
                              tuple(str(e) for e in errors))
    return config


def active_config(engine: Engine) -> m.Config:
    """The Config of the active revision (records written with it carry the active revision's hash)."""
    rev = active(engine)
    if rev is None:
        raise NoRevision("the database has no configuration revision yet; push one with `crm config push DIR`")
    return config_of(rev.files, root=f"revision {rev.revision}")


# ---------------------------------------------------------------- writing

def load_source(source: Source) -> m.Config:
    """A folder on disk, or {relative path: text}, as a validated Config."""
    if isinstance(source, Mapping):
        return config_of(source, root="pushed files")
    config, errors = validate_folder(source)
    if errors or config is None:
        raise RevisionRefused(f"{source} is not valid; nothing was changed", tuple(str(e) for e in errors))
    return config


def _scenario_gate(config: m.Config) -> None:
    """The configuration's own scenario tests must pass before it runs on real data."""
    if not config.tests:
        return
    from .scenario_results import scenario_outcomes
    from .scenarios import report_line, summary_line
    outcomes = scenario_outcomes(config)        # a passing run of these exact files (the review's) counts
    failed = [o for o in outcomes if not o.passed]
    if failed:
        raise RevisionRefused(f"scenario tests failed ({summary_line(outcomes)}); nothing was changed",
                              tuple(report_line(o) for o in failed))


def push(engine: Engine, source: Source, *, author: str | None, reason: str | None,
         confirm: bool = False, base: str | None = None, run_scenarios: bool = True) -> Revision:
    """Makes `source` the active revision: validate, run its tests, plan, apply, record.

    Returns the new active Revision, or the current one unchanged when the
    content is the same (no row is written). Raises RevisionRefused (nothing
    changed) on invalid files, failing tests, a refused step, or a step that
    needs confirmation without `confirm` (the exception carries the plan);
    RevisionConflict when `base` (a hash or row number) is not the active one
    or another revision became active meanwhile.
    """
    config = load_source(source)
    current = active(engine)
    if base is not None:
        _check_base(engine, current, base)
    if current is not None and current.revision == config.revision:
        return current
    if run_scenarios:
        _scenario_gate(config)
    previous = _previous_config(current)
    recorded: list[Revision] = []

    def record(conn: Connection, plan: Plan) -> None:
        now_active = _active_in(conn)
        # By row, not content: someone may have pushed and rolled back to the same content meanwhile.
        if (now_active.id if now_active else None) != (current.id if current else None):
            raise RevisionConflict(
                f"revision {now_active.revision if now_active else '-'} became active while this push "
                f"was based on {current.revision if current else 'no revision'}; nothing was changed "
                "(pull the active revision, merge your change, push again)")
        recorded.append(_insert(conn, config, current, author, reason))

    for _ in range(3):      # a leftover table copy is repaired first, then the real plan follows
        plan = plan_migration(engine, config, previous)
        if not plan.complete:
            apply_plan(engine, plan, confirm=False)
            continue
        if plan.refused:
            raise RevisionRefused(f"revision {config.revision} is refused by the migration plan "
                                  "(it would lose or break data); nothing was changed",
                                  tuple(plan.report(sql=False).splitlines()), plan)
        if plan.needs_confirmation and not confirm:
            raise RevisionRefused(f"revision {config.revision} has steps that need confirmation (--confirm); "
                                  "nothing was changed", tuple(plan.report(sql=False).splitlines()), plan)
        apply_plan(engine, plan, confirm=confirm, on_applied=record)
        break
    if not recorded:
        raise RevisionRefused("the database could not be repaired for this revision; nothing was recorded")
    _ensure_search(engine, config)
    return recorded[0]


def rollback(engine: Engine, ref: str | int, *, author: str | None, reason: str | None,
             confirm: bool = False, base: str | None = None) -> Revision:
    """Pushes an earlier revision's content as a new revision whose parent is the current one.

    The same plan rules hold: a rollback that would lose or break data is refused, one
    that narrows types without losing data needs `confirm`. Scenario tests are
    not rerun: the content passed them when it was first pushed.
    """
    target = find(engine, ref)
    why = reason or f"rollback to #{target.id} ({target.revision})"
    return push(engine, dict(target.files), author=author, reason=why, confirm=confirm, base=base,
                run_scenarios=False)


def _check_base(engine: Engine, current: Revision | None, base: str) -> None:
    wanted = find(engine, base).revision
    if current is None or current.revision != wanted:
        raise RevisionConflict(
            f"this change was based on revision {wanted}, but the active revision is "
            f"{current.revision if current else 'none'} (someone else pushed meanwhile); nothing was changed: "
            "pull the active revision, redo the change on it, and push again")


def _previous_config(current: Revision | None) -> m.Config | None:
    """The active revision's Config, so the plan sees removed options; None when it no longer validates."""
    if current is None:
        return None
    try:
        return config_of(current.files, root=f"revision {current.revision}")
    except RevisionRefused:
        # An older engine accepted it; without it the plan checks every choice value instead.
        return None


def _insert(conn: Connection, config: m.Config, current: Revision | None,
            author: str | None, reason: str | None) -> Revision:
    table = _SYSTEM.tables[REVISIONS]
    now = dt.datetime.now(dt.timezone.utc)
    conn.execute(sa.update(table).where(table.c.active == sa.true()).values(active=False))
    content = json.dumps(dict(config.files), ensure_ascii=False, sort_keys=True)
    new_id = conn.execute(sa.insert(table).values(
        revision=config.revision, parent=current.revision if current else None, author=author,
        reason=reason, created_at=now, content=content, active=True)).inserted_primary_key[0]
    return Revision(int(new_id), config.revision, current.revision if current else None, author, reason, now,
                    dict(config.files), True)


def _ensure_search(engine: Engine, config: m.Config) -> None:
    """Search indexes follow the tables, as after `crm migrate`."""
    from .search import ensure_search_index
    ensure_search_index(engine, config)


# ---------------------------------------------------------------- pulling

def pull(engine: Engine, folder: str | Path, *, force: bool = False) -> Revision:
    """Writes the active revision's files into `folder`, byte for byte; returns that revision.

    A folder whose configuration files match no stored revision holds edits
    nobody pushed: refused unless `force`. Every file is first written beside
    its target and then renamed over it, so no file is ever half-written;
    configuration files the revision does not hold are removed, other files
    (README, .git) are left alone.
    """
    rev = active(engine)
    if rev is None:
        raise NoRevision("the database has no configuration revision yet; nothing to pull")
    root = Path(folder)
    local = _local_files(root)
    if local and not force and revision_of(local) not in {r.revision for r in log(engine)}:
        changed = sorted(p for p in set(local) | set(rev.files) if local.get(p) != rev.files.get(p))
        raise RevisionRefused(f"{root} has changes that are in no revision; nothing was written "
                              "(push them first, or pull with --force to overwrite them)",
                              tuple(f"differs: {p}" for p in changed))
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, text in sorted(rev.files.items()):
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.pull-{os.getpid()}")
            with open(temp, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            staged.append((temp, target))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, target in staged:
        os.replace(temp, target)
    for rel in set(local) - set(rev.files):
        (root / rel).unlink(missing_ok=True)
    return rev


def _local_files(root: Path) -> dict[str, str]:
    """The configuration files of a folder as the loader reads them ({} when there is none)."""
    if not root.is_dir():
        return {}
    return dict(read_folder(root, ErrorSink()).files)
