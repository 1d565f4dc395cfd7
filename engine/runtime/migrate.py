"""Applying a migration plan: all of it in one transaction, or nothing.

    plan = plan_migration(engine, config)
    applied = apply_plan(engine, plan, confirm=False)    # MigrationRefused when it must not run
    migrate(engine, config)                               # plan + apply until nothing is left

Both databases run the whole plan in one transaction: PostgreSQL has
transactional DDL; SQLite has it too once the transaction is opened
explicitly (pysqlite would otherwise run DDL outside any transaction). A
migration killed midway therefore leaves the database as it was, and the next
`crm migrate` plans the same steps again. Should a table copy ever be left
behind anyway (`_alembic_tmp_*`, e.g. from a migration run outside this
module), the next plan repairs it first.

Inside the transaction the schema fingerprint is recomputed (a plan made
against another schema is refused) and every row check runs again, with the
checked tables locked, before anything changes. Nothing is dropped or emptied
unless the plan holds a confirmed purge.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

from ..metadata import model as m
from . import steps as st
from .errors import DomainError
from .import_bulk import repair_interrupted
from .livedb import fingerprint, take_snapshot
from .plan import Plan, plan_migration

StepHook = Callable[[int, st.Step], None]
# Any fixed key: one migration at a time per PostgreSQL database.
PG_LOCK_KEY = 0x63726D5F6D6967     # "crm_mig"


class MigrationRefused(DomainError):
    """The plan must not run as it is: refused steps, unconfirmed steps, or a changed database."""

    status = 409
    code = "migration_refused"

    def __init__(self, message: str, steps: tuple[st.Step, ...] = ()) -> None:
        super().__init__(message)
        self.steps = steps

    def __str__(self) -> str:
        lines = [self.message]
        for step in self.steps:
            lines.append(f"  - {step.describe()}")
            lines.extend("      " + d for d in step.details())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "steps": [{"step": s.describe(), "details": s.details()} for s in self.steps]}


class StalePlan(MigrationRefused):
    """The database changed after the plan was made."""


@dataclass(frozen=True, slots=True, eq=False)
class Applied:
    """What one `apply_plan` did. `revision` is for the revisions service to record."""

    plan: Plan
    steps: tuple[st.Step, ...]
    revision: str
    seconds: float


def apply_plan(engine: Engine, plan: Plan, *, confirm: bool = False,
               before_step: StepHook | None = None, after_step: StepHook | None = None,
               on_applied: Callable[[Connection, Plan], None] | None = None) -> Applied:
    """Runs every step of `plan` in one transaction.

    Refuses (MigrationRefused, nothing changed) when a step is refused, when a
    step needs confirmation and `confirm` is False, when the live schema is no
    longer the one planned against (StalePlan), or when a row check now finds
    rows. `on_applied(conn, plan)` runs inside the transaction, after the last
    step: the place to record the configuration revision atomically with it.
    """
    if plan.refused:
        raise MigrationRefused("The plan holds refused steps; nothing was changed:", plan.refused)
    if plan.needs_confirmation and not confirm:
        raise MigrationRefused("These steps need confirmation (--confirm); nothing was changed:",
                               plan.needs_confirmation)
    started = time.perf_counter()
    with _transaction(engine) as conn:
        now = take_snapshot(conn)
        if fingerprint(now.schema_hash, plan.revision) != plan.fingerprint:
            raise StalePlan("The database changed since this plan was made; plan again. Nothing was changed.")
        _recheck(conn, plan.steps)
        ops = Operations(MigrationContext.configure(conn))
        for i, step in enumerate(plan.steps):
            if before_step is not None:
                before_step(i, step)
            step.run(ops)
            if after_step is not None:
                after_step(i, step)
        _check_references(conn, plan.steps)
        if on_applied is not None:
            on_applied(conn, plan)
    return Applied(plan, plan.steps, plan.revision, time.perf_counter() - started)


def migrate(engine: Engine, config: m.Config, previous: m.Config | None = None, *, purge: bool = False,
            confirm: bool = False, after_step: StepHook | None = None) -> list[Applied]:
    """Plans and applies until the database matches `config` (a repair needs a second round)."""
    repair_interrupted(engine)       # a killed bulk import's indexes first: the plan must not see them missing
    done: list[Applied] = []
    for _ in range(3):
        plan = plan_migration(engine, config, previous, purge=purge)
        if plan.empty:
            break
        done.append(apply_plan(engine, plan, confirm=confirm, after_step=after_step))
        if plan.complete:
            break
    return done


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            yield conn
        return
    with engine.connect() as conn:
        # Copying a table drops the original: with foreign keys on, SQLite would first delete
        # its rows (cascading into children). The switch only works outside a transaction.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")     # the write lock now, before the fingerprint
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _recheck(conn: Connection, steps: tuple[st.Step, ...]) -> None:
    checked = [s for s in steps if s.check is not None]
    if conn.dialect.name == "postgresql":
        # Rows written after the check could slip past it: writers wait until the migration commits.
        prep = conn.dialect.identifier_preparer
        for table in sorted({s.check.table for s in checked if s.check is not None}):
            conn.execute(sa.text(f"LOCK TABLE {prep.quote(table)} IN SHARE MODE"))
    found = []
    for step in checked:
        assert step.check is not None
        offenders = step.check.run(conn)
        if offenders.count:
            found.append(step.judged(offenders))
    if found:
        raise MigrationRefused("Rows changed since the plan was made and would not survive; nothing was changed:",
                               tuple(found))


def _check_references(conn: Connection, steps: tuple[st.Step, ...]) -> None:
    """SQLite ran with foreign keys off: the tables it changed must still hold only valid references."""
    if conn.dialect.name != "sqlite":
        return
    live = set(sa.inspect(conn).get_table_names())
    prep = conn.dialect.identifier_preparer
    bad = []
    for table in sorted({s.table for s in steps} & live):
        bad.extend(conn.exec_driver_sql(f"PRAGMA foreign_key_check({prep.quote(table)})").all())
    if bad:
        sample = ", ".join(f"{t} row {rowid} -> {parent}" for t, rowid, parent, _ in bad[:20])
        raise MigrationRefused(f"The migration would leave {len(bad)} dangling references ({sample}); "
                               "nothing was changed.")
