"""Lead scoring (spec 4.4): the `score` field is the sum of the points of the rules that hold.

On every save a records check evaluates the rules on the record being saved
(a rule that is null or cannot be computed gives no points) and sets the
field. `rescore_all(entity)` recomputes every record after the rules changed:
one UPDATE whose value is a CASE sum compiled by the expression SQL compiler,
so no row passes through Python. A rescore is not a change of the record: it
does not bump `version` or `updated_at` (a rescored deal is not "active").
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import Connection, Integer, case, cast, literal, select

from ...metadata import model as m
from ...metadata.expressions import BOOL, SqlCompiler
from ..actor import Actor
from ..errors import NotFound, Problems
from ..records import Records
from ..saving import Draft
from ..tables import Tables


class Scoring:
    def __init__(self, config: m.Config, tables: Tables, records: Records):
        self.config = config
        self.tables = tables
        self.records = records

    def install(self) -> None:
        # First among the workflow checks: approvals and stage requirements may read the score.
        self.records.checks.insert(0, self.check)

    def score(self, conn: Connection, actor: Actor, entity: str, record: Mapping[str, Any]) -> int:
        scoring = self.config.entities[entity].scoring
        total = 0
        for rule in scoring.rules if scoring else ():
            try:
                holds = self.records.exprs.evaluate(conn, entity, rule.when, record, actor) is True
            except Exception:   # noqa: BLE001 - a rule over a missing value gives no points, as in SQL
                holds = False
            total += rule.points if holds else 0
        return total

    def check(self, conn: Connection, actor: Actor, draft: Draft, current: Mapping[str, Any] | None,
              problems: Problems) -> None:
        scoring = draft.entity.scoring
        if scoring is None or scoring.field not in draft.entity.fields:
            return
        total = self.score(conn, actor, draft.entity.name, draft.values)
        draft.values[scoring.field] = total
        if current is None or current.get(scoring.field) != total:
            draft.changed[scoring.field] = total

    def rescore_all(self, entity: str) -> int:
        """Recomputes the score of every record of `entity` in one UPDATE; returns the rows updated."""
        ent = self.config.entities.get(entity)
        if ent is None:
            raise NotFound("entity", entity)
        if ent.scoring is None:
            return 0
        table = self.tables.entity(entity)
        row = table.alias("scored")
        compiler = SqlCompiler(self.config, entity, self.tables, now=self.records.clock(), _root=row)
        total: Any = literal(0)
        for rule in ent.scoring.rules:
            total = total + case((compiler.compile(rule.when, expected=BOOL), rule.points), else_=0)
        value = (select(cast(total, Integer)).select_from(compiler.from_clause())
                 .where(row.c.id == table.c.id).scalar_subquery())
        with self.records.transaction() as conn:
            return conn.execute(table.update().values({ent.scoring.field: value})).rowcount or 0
