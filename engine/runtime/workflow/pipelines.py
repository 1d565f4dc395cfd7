"""Moving records through their pipeline's stages (spec section 6).

    pipelines.move(actor, "deal", 7, "won", expected_version=4)   # the saved record, or StageRefused (422)

A move is an ordinary update of the stage field (`Records.update(...,
internal=True)`: permissions, validation, locking and audit apply), checked
inside that update's transaction by a records check this module installs:

- the transition must be allowed: `forward_or_lost` (default) lets a record
  move forward any number of stages, or from an open stage to a `closed: lost`
  one, and a closed stage is final; `any` allows every move; an explicit list
  allows exactly the listed edges;
- the target's `requires` must hold and, when a `forward_or_lost` or `any`
  move goes forward past open stages, the `requires` of every stage skipped
  (an explicit edge is the consultant's shortcut: what it skips is not asked);
- a refusal lists every missing requirement, in the user's language.

Every stage change writes a `crm_stage_history` row (from, to, who, when) in
the same transaction; a new record's entry into its first stage is written
right after its create commits. Users cannot write the stage field through a
plain update: the records service refuses it without `internal=True`.
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Mapping

import datetime as dt
from sqlalchemy import Connection, Engine

from ...metadata import model as m
from ..actor import Actor
from ..errors import NotFound, Problems, ValidationFailed
from ..records import Change, Records
from ..saving import Draft
from ..tables import Tables
from . import messages
from .requirements import Missing, Requirements


class StageRefused(ValidationFailed):
    """A move the pipeline does not allow, or whose requirements do not hold; `missing` lists them all."""

    code = "stage_refused"

    def __init__(self, message: str, missing: list[Missing] | None = None, problems: Problems | None = None):
        fields = dict(problems.fields) if problems else {}
        extra = list(problems.messages) if problems else []
        super().__init__(fields, [message] + extra)
        self.missing = list(missing or [])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "missing": [{"kind": x.kind, "name": x.name, "detail": x.detail,
                                                  "via": x.via} for x in self.missing]}


def allowed(pipeline: m.Pipeline, source: str | None, target: str) -> bool:
    """Whether the pipeline's transitions let a record move from `source` to `target`."""
    keys = [s.key for s in pipeline.stages]
    if source not in keys:          # no stage yet (or a stage since removed): any stage may be entered
        return True
    if pipeline.transitions == "any":
        return True
    if isinstance(pipeline.transitions, tuple):
        return any(source in t.sources and target in t.targets for t in pipeline.transitions)
    here, there = pipeline.stage(source), pipeline.stage(target)
    if here is None or there is None or not here.open:
        return False
    return keys.index(target) > keys.index(source) or there.closed == "lost"


def skipped(pipeline: m.Pipeline, source: str | None, target: str) -> list[m.Stage]:
    """The open stages a forward move passes over (none for explicit edges or moves to a lost stage)."""
    keys = [s.key for s in pipeline.stages]
    there = pipeline.stage(target)
    if isinstance(pipeline.transitions, tuple) or source not in keys or there is None or there.closed == "lost":
        return []
    lo, hi = keys.index(source), keys.index(target)
    return [s for s in pipeline.stages[lo + 1:hi] if s.open] if hi > lo else []


class Pipelines:
    """Moves records between stages; installs its check and listener on the records service."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables, records: Records,
                 requirements: Requirements):
        self.config = config
        self.engine = engine
        self.tables = tables
        self.records = records
        self.requirements = requirements
        self.history = tables("crm_stage_history")
        # The move in progress in this thread: (entity, record id, target stage).
        self._moving: ContextVar[tuple[str, int, str] | None] = ContextVar(f"moving_{id(self)}", default=None)

    def install(self) -> None:
        self.records.checks.append(self.check)
        self.records.listeners.append(self.on_change)

    # -- the service ---------------------------------------------------------------------------
    def move(self, actor: Actor, entity: str, record_id: int, to_stage: str,
             expected_version: int | None = None) -> dict[str, Any]:
        """Moves the record to `to_stage`; returns the saved record (unchanged if it is there already)."""
        locale = messages.locale_of(actor, self.config)
        pipeline, field = self._pipeline(entity, locale)
        if pipeline.stage(to_stage) is None:
            raise StageRefused(messages.text(locale, "unknown_stage", target=to_stage, pipeline=pipeline.name))
        record = self.records.get(actor, entity, record_id, with_lines=False)
        if record.get(field.name) == to_stage and expected_version in (None, record["version"]):
            return record
        token = self._moving.set((entity, record_id, to_stage))
        try:
            return self.records.update(actor, entity, record_id, {field.name: to_stage},
                                       expected_version=expected_version, internal=True)
        finally:
            self._moving.reset(token)

    def stages(self, entity: str) -> tuple[m.Stage, ...]:
        """The board's columns, in order."""
        pipeline = self.config.pipeline_for(entity)
        return pipeline.stages if pipeline else ()

    def targets(self, entity: str, from_stage: str | None) -> list[str]:
        """The stages a record in `from_stage` may be moved to (the board greys out the others)."""
        pipeline = self.config.pipeline_for(entity)
        if pipeline is None:
            return []
        return [s.key for s in pipeline.stages if s.key != from_stage and allowed(pipeline, from_stage, s.key)]

    # -- the records check -----------------------------------------------------------------------
    def check(self, conn: Connection, actor: Actor, draft: Draft, current: Mapping[str, Any] | None,
              problems: Problems) -> None:
        """On a stage change: transitions and requires (for moves), then the history row."""
        field = self.config.stage_field(draft.entity.name)
        pipeline = self.config.pipeline_for(draft.entity.name)
        if current is None or field is None or pipeline is None or field.name not in draft.changed:
            return
        source, target = current.get(field.name), draft.values.get(field.name)
        moving = self._moving.get()
        if moving is not None and moving[0] == draft.entity.name and moving[1] == current["id"]:
            self._verify(conn, actor, pipeline, draft, source, str(target), problems)
        if problems:
            return          # refused anyway: no history row
        self._record(conn, draft.entity.name, current["id"], source, target, actor.id)

    def _verify(self, conn: Connection, actor: Actor, pipeline: m.Pipeline, draft: Draft, source: Any,
                target: str, problems: Problems) -> None:
        locale = messages.locale_of(actor, self.config)
        entity = draft.entity.name
        if not allowed(pipeline, source, target):
            rule = (pipeline.transitions if isinstance(pipeline.transitions, str)
                    else "transitions")
            raise StageRefused(messages.text(locale, "not_allowed", entity=entity, id=draft.values.get("id"),
                                             source=source, target=target, rule=rule), problems=problems)
        missing: list[Missing] = []
        for stage in skipped(pipeline, source, target):
            missing += self.requirements.missing(conn, actor, stage, entity, draft.values, locale, via=stage.key)
        stage = pipeline.stage(target)
        assert stage is not None    # checked by move()
        missing += self.requirements.missing(conn, actor, stage, entity, draft.values, locale)
        missing = _unique(missing)
        if missing:
            shown = messages.label(stage.label, stage.key, locale, self.config)
            name = stage.key if shown == stage.key else f"{stage.key} ({shown})"
            raise StageRefused(messages.text(locale, "stage_needs", stage=name,
                                             items="; ".join(x.describe(locale) for x in missing)),
                               missing, problems)

    def on_change(self, change: Change) -> None:
        """A new record entered its first stage: the first history row."""
        field = self.config.stage_field(change.entity)
        if change.action != "create" or field is None or field.name not in change.changes:
            return
        with self.records.transaction() as conn:
            self._record(conn, change.entity, change.record_id, None, change.changes[field.name][1],
                         change.actor.id)

    def _record(self, conn: Connection, entity: str, record_id: int, source: Any, target: Any,
                user_id: int | None) -> None:
        conn.execute(self.history.insert().values(entity=entity, record_id=record_id, from_stage=source,
                                                  to_stage=target, user_id=user_id, at=self._now()))

    def _now(self) -> dt.datetime:
        return self.records.clock()

    def _pipeline(self, entity: str, locale: str) -> tuple[m.Pipeline, m.Field]:
        if entity not in self.config.entities:
            raise NotFound("entity", entity)
        pipeline, field = self.config.pipeline_for(entity), self.config.stage_field(entity)
        if pipeline is None or field is None:
            raise StageRefused(messages.text(locale, "no_pipeline", entity=entity))
        return pipeline, field


def _unique(items: list[Missing]) -> list[Missing]:
    """A requirement named by several stages is listed once (the first stage that asks for it)."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for x in items:
        if (x.kind, x.name, x.detail) not in seen:
            seen.add((x.kind, x.name, x.detail))
            out.append(x)
    return out

