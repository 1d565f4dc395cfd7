"""Workflows at run time: pipelines, approvals, scoring, assignment and conversions (spec 4.4, 6, 7).

    records = Records(config, engine, tables)
    workflow = Workflow(config, engine, tables, records)   # installs its checks on `records`
    workflow.move(actor, "deal", 7, "won", expected_version=4)
    workflow.approve(boss, "big_discount", 7)
    workflow.reject(boss, "big_discount", 7, reason="too much")
    workflow.convert(rep, "lead", 12, "to_deal")
    workflow.approvals.pending_for(boss)                    # the approval inbox
    workflow.is_idle("deal", table)                          # a column flagging idle records

One `Workflow` per `Records`: constructing it adds the scoring, approval and
pipeline checks to `records.checks` (in that order: approvals and stages may
read the score), its listeners to `records.listeners`, and the assignment
hook. See docs/workflow.md for the choices the spec leaves open.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Engine, FromClause

from ...metadata import model as m
from ..actor import Actor
from ..records import Records
from ..tables import Tables
from . import idle
from .approvals import Approvals
from .assignment import Assignment
from .conversion import Conversion, ConversionRefused
from .pipelines import Pipelines, StageRefused
from .requirements import Missing, Requirements
from .scoring import Scoring

__all__ = ["Workflow", "StageRefused", "ConversionRefused", "Missing", "Approvals", "Pipelines",
           "Scoring", "Assignment", "Conversion"]


class Workflow:
    """The workflow services of one configuration, wired into its records service."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables, records: Records):
        self.config = config
        self.engine = engine
        self.tables = tables
        self.records = records
        self.scoring = Scoring(config, tables, records)
        self.approvals = Approvals(config, engine, tables, records)
        self.requirements = Requirements(config, tables, self.approvals)
        self.pipelines = Pipelines(config, engine, tables, records, self.requirements)
        self.assignment = Assignment(config, tables, records)
        self.conversion = Conversion(config, tables, records)
        self.scoring.install()
        self.approvals.install()
        self.pipelines.install()
        self.assignment.install()

    def move(self, actor: Actor, entity: str, record_id: int, to_stage: str,
             expected_version: int | None = None) -> dict[str, Any]:
        return self.pipelines.move(actor, entity, record_id, to_stage, expected_version)

    def approve(self, actor: Actor, approval: str, record_id: int) -> dict[str, Any]:
        return self.approvals.approve(actor, approval, record_id)

    def reject(self, actor: Actor, approval: str, record_id: int, reason: str | None) -> dict[str, Any]:
        return self.approvals.reject(actor, approval, record_id, reason)

    def convert(self, actor: Actor, entity: str, record_id: int, action: str) -> dict[str, dict[str, Any]]:
        return self.conversion.convert(actor, entity, record_id, action)

    def is_idle(self, entity: str, record: FromClause) -> ColumnElement[bool]:
        return idle.is_idle(self.config, self.tables, entity, record, self.records.clock())

    def idle_records(self, entity: str, rule: m.FollowUp) -> Any:
        return idle.idle_records(self.config, self.tables, entity, rule, self.records.clock())
