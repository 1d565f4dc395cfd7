"""Planning a migration: the configuration's schema against the live database, as a `Plan`.

    plan = plan_migration(engine, config)            # nothing changes
    print(plan.report())                              # every step, grouped by classification, with its SQL
    apply_plan(engine, plan, confirm=False)           # see migrate.py

A plan is data: typed steps (steps.py), each classified safe / needs
confirmation / refused, with the SQL it runs and the rows it touches, and a
fingerprint of the live schema it was computed against.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..metadata import model as m
from . import rowcheck
from . import key_steps as ks
from . import steps as st
from .diffs import DiffReader, compare
from .livedb import LEFTOVER_PREFIX, Snapshot, fingerprint, take_snapshot
from .renames import Renames, before_renames, find_renames
from .retirement import retirement_steps
from .sqltext import with_sql
from .tables import build_tables


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    steps: tuple[st.Step, ...]
    fingerprint: str                  # live schema + config revision; apply refuses when it changed
    revision: str                     # the configuration revision planned for
    dialect: str
    complete: bool = True             # False: a repair comes first; plan again once it ran
    purge: bool = False

    def of(self, classification: st.Classification) -> tuple[st.Step, ...]:
        return tuple(s for s in self.steps if s.classification == classification)

    @property
    def safe(self) -> tuple[st.Step, ...]:
        return self.of(st.SAFE)

    @property
    def needs_confirmation(self) -> tuple[st.Step, ...]:
        return self.of(st.CONFIRM)

    @property
    def refused(self) -> tuple[st.Step, ...]:
        return self.of(st.REFUSED)

    @property
    def empty(self) -> bool:
        return not self.steps

    def report(self, sql: bool = True) -> str:
        """Every step grouped by classification, each with its SQL and the rows that refuse it."""
        if self.empty:
            return f"Nothing to do: the {self.dialect} database matches configuration revision {self.revision}."
        lines = [f"Plan for configuration revision {self.revision} on {self.dialect} "
                 f"(fingerprint {self.fingerprint}): {len(self.steps)} step{'s' if len(self.steps) != 1 else ''}"]
        for classification in st.CLASSIFICATIONS:
            group = self.of(classification)
            if not group:
                continue
            lines.append(f"\n{classification} ({len(group)}):")
            for step in group:
                lines.append(f"  - {step.describe()}")
                lines.extend("      " + d for d in step.details())
                if sql:
                    for statement in step.sql:
                        lines.extend("      " + part for part in (statement + ";").splitlines())
        if not self.complete:
            lines.append("\nThe database holds an interrupted migration; once it is repaired, plan again.")
        return "\n".join(lines)


def plan_migration(engine: Engine, config: m.Config, previous: m.Config | None = None, *,
                   purge: bool = False) -> Plan:
    """What it takes to bring the database to `config`.

    `previous` (the configuration the database was last migrated to) lets the
    plan see option changes; without it every choice column is checked against
    its options. `purge=True` adds the (confirmation-needing) drops of retired
    fields and entities.
    """
    target = build_tables(config).metadata
    with engine.connect() as conn:
        snap = take_snapshot(conn)
        if snap.leftovers:
            steps, complete = _repairs(snap), False
        else:
            steps, complete = _steps(conn, config, previous, target, snap, purge), True
    steps = sorted(steps, key=lambda s: s.phase)      # stable: the reader's order within a phase
    steps = with_sql(engine.dialect, snap, steps)
    return Plan(tuple(steps), fingerprint(snap.schema_hash, config.revision), config.revision,
                engine.dialect.name, complete, purge)


def _repairs(snap: Snapshot) -> list[st.Step]:
    out: list[st.Step] = []
    for leftover in snap.leftovers:
        original = leftover[len(LEFTOVER_PREFIX):]
        out.append(st.RepairLeftover(table=original, leftover=leftover, original_exists=snap.has(original)))
    return out


def _steps(conn: Connection, config: m.Config, previous: m.Config | None, target: sa.MetaData,
           snap: Snapshot, purge: bool) -> list[st.Step]:
    renames, conflicts = find_renames(config, snap)
    steps: list[st.Step] = [
        st.Refusal(table=c.table, reason=(
            f"{c.table}.{c.new} is renamed from {c.old}, but both columns exist" if c.column else
            f"table {c.new} is renamed from {c.old}, but both tables exist")
            + "; remove renamed_from, or purge the one that is not wanted")
        for c in conflicts]
    retired = {t for t, _ in snap.retired}
    for new, old in renames.tables.items():
        steps.append(st.RenameTable(table=new, old=old, rekey=old in retired))
    for table, cols in renames.columns.items():
        for new, old in cols.items():
            steps.append(st.RenameColumn(table=table, old=old, new=new,
                                         rekey=(renames.live_table(table), old) in snap.retired))
    view = before_renames(target, renames) if renames else target
    reader = DiffReader(target, snap, renames, conn.dialect.name)
    steps.extend(reader.read(compare(conn, view)))
    steps.extend(retirement_steps(target, snap, renames, reader.removed_columns, purge))
    steps.extend(_option_steps(config, previous, snap, renames))
    steps = [_judged(conn, s) for s in steps]
    # A whole-column options check that found nothing is not a step: nothing changes.
    steps = [s for s in steps if not (isinstance(s, st.OptionsChanged) and not s.added and not s.removed
                                      and s.classification != st.REFUSED)]
    return _counted(conn, snap, renames, steps)


def _judged(conn: Connection, step: st.Step) -> st.Step:
    return step.judged(step.check.run(conn)) if step.check is not None else step


# -- choice options ------------------------------------------------------------------------

def _options(config: m.Config, f: m.Field) -> set[str] | None:
    if f.type in ("choice", "multichoice"):
        return set(f.options)
    if f.type == "stage":
        pipeline = config.pipelines.get(f.pipeline or "")
        return {s.key for s in pipeline.stages} if pipeline else None
    return None


def _previous_field(previous: m.Config | None, entity: m.Entity, f: m.Field) -> m.Field | None:
    if previous is None:
        return None
    before = previous.entities.get(entity.name) or previous.entities.get(entity.renamed_from or "")
    if before is None:
        return None
    return before.fields.get(f.name) or before.fields.get(f.renamed_from or "")


def _option_steps(config: m.Config, previous: m.Config | None, snap: Snapshot,
                  renames: Renames) -> Iterable[st.Step]:
    """Rows whose key is no longer an option (choice, stage, multichoice); no DDL is involved."""
    for entity in config.entities.values():
        live_name = renames.live_table(entity.table)
        if not snap.has(live_name):
            continue
        live = snap.table(live_name)
        for f in entity.fields.values():
            options = _options(config, f)
            live_col = renames.live_column(entity.table, f.name)
            if options is None or live_col not in live.c:
                continue
            col = live.c[live_col]
            before = _previous_field(previous, entity, f)
            old = _options(previous, before) if previous is not None and before is not None \
                and before.type == f.type else None
            if old is not None:
                added, removed = sorted(options - old), sorted(old - options)
                if not added and not removed:
                    continue
                check = None
                if removed and f.type == "multichoice":
                    check = rowcheck.where(live, live_col, sa.or_(*[col.like(f'%"{k}"%') for k in removed]),
                                           "holding a removed option")
                elif removed:
                    check = rowcheck.where(live, live_col, col.in_(removed), "holding a removed option")
                yield st.OptionsChanged(table=entity.table, column=f.name, added=tuple(added),
                                        removed=tuple(removed), check=check)
                continue
            # No earlier configuration to compare with: check every value against the options.
            if f.type == "multichoice":
                # Stored as JSON text ('["a", "b"]'); the records service reads '' as no keys.
                check = rowcheck.where(live, live_col, sa.and_(~col.like("[%"), col != ""),
                                       "not holding a list of options")
            else:
                check = rowcheck.where(live, live_col, col.not_in(sorted(options)), "holding a key that is not an option")
            yield st.OptionsChanged(table=entity.table, column=f.name, check=check)


# -- row counts ----------------------------------------------------------------------------

_TABLE_ROWS = (st.RenameTable, st.ChangeType, st.ChangeNullable, st.RetireTable, ks.AddUnique, ks.DropUnique,
               ks.RenameUnique, ks.AddForeignKey, ks.ReplaceForeignKey)
_COLUMN_VALUES = (st.RetireColumn, st.Unretire, st.Purge)


def _counted(conn: Connection, snap: Snapshot, renames: Renames, steps: list[st.Step]) -> list[st.Step]:
    """Rows each data-touching step copies, rewrites, keeps or drops (one count per table or column)."""
    cache: dict[tuple[str, str], int] = {}

    def count(table: str, column: str) -> int | None:
        live_table = renames.live_table(table)
        live_col = renames.live_column(table, column) if column else ""
        if not snap.has(live_table) or (live_col and live_col not in snap.columns(live_table)):
            return None
        if (live_table, live_col) not in cache:
            t = snap.table(live_table)
            q = sa.select(sa.func.count()).select_from(t)
            if live_col:
                q = q.where(t.c[live_col].is_not(None))
            cache[(live_table, live_col)] = int(conn.execute(q).scalar_one())
        return cache[(live_table, live_col)]

    out: list[st.Step] = []
    for step in steps:
        if isinstance(step, _TABLE_ROWS):
            step = replace(step, rows=count(step.table, ""))
        elif isinstance(step, _COLUMN_VALUES):
            step = replace(step, rows=count(step.table, getattr(step, "column", None) or ""))
        out.append(step)
    return out
