"""Follow-up rules (spec section 6): which records are idle.

A record is idle for a rule when it matches the rule's `when` and neither it
(`updated_at`) nor any record of a `timeline` entity linked to it (their
`updated_at`) changed within `max_idle`. Both questions are SQL:

    query = idle_records(config, tables, "deal", rule, now)      # SELECT id ... (set-based; alerts use it)
    flag = is_idle(config, tables, "deal", table, now)           # a column for the list and the board

`is_idle` is a correlated EXISTS per rule (ORed), so it can be added to any
SELECT over the entity's table without changing its joins.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, exists, false, not_, or_, select

from ...metadata import model as m
from ...metadata.expressions import BOOL, SqlCompiler
from ..tables import Tables


def _touched_since(config: m.Config, tables: Tables, entity: str, record: Any, cutoff: dt.datetime) -> ColumnElement:
    """True when a timeline record linked to `record` changed at or after `cutoff`."""
    recent = []
    for other in config.entities.values():
        if "timeline" not in other.traits:
            continue
        links = [f.name for f in other.fields.values() if f.type == "link" and f.entity == entity]
        if not links:
            continue
        t = tables.entity(other.name)
        recent.append(exists(select(t.c.id).where(or_(*[t.c[n] == record.c.id for n in links]),
                                                  t.c.updated_at >= cutoff)))
    return or_(*recent) if recent else false()


def idle_condition(config: m.Config, tables: Tables, entity: str, rule: m.FollowUp, record: FromClause,
                   now: dt.datetime) -> ColumnElement[bool]:
    """The rule's idleness for the rows of `record` (the entity's table or an alias of it)."""
    cutoff = now - rule.max_idle
    row = tables.entity(entity).alias(f"idle_{entity}")
    compiler = SqlCompiler(config, entity, tables, now=now, _root=row)
    matches = exists(compiler.select(row.c.id).where(row.c.id == record.c.id,
                                                     compiler.compile(rule.when, expected=BOOL)))
    return and_(matches, record.c.updated_at < cutoff,
                not_(_touched_since(config, tables, entity, record, cutoff)))


def idle_records(config: m.Config, tables: Tables, entity: str, rule: m.FollowUp, now: dt.datetime) -> Any:
    """SELECT id FROM the entity WHERE the record is idle under `rule`."""
    table = tables.entity(entity)
    return select(table.c.id).where(idle_condition(config, tables, entity, rule, table, now))


def is_idle(config: m.Config, tables: Tables, entity: str, record: FromClause,
            now: dt.datetime) -> ColumnElement[bool]:
    """Idle under any follow-up rule of the entity's pipeline (false without rules); label it for a list."""
    pipeline = config.pipeline_for(entity)
    rules = pipeline.follow_up if pipeline else ()
    if not rules:
        return false()
    return or_(*[idle_condition(config, tables, entity, rule, record, now) for rule in rules])
