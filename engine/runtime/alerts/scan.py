"""Which records an alert is due for in a window (since, until]: one SQL query per alert.

- Date triggers: the days whose `at` moment falls in the window are computed
  in Python (`timing.day_window`), which turns the window into a range of the
  date column per offset; the offsets are one UNION ALL, each part filtered by
  `when` compiled to SQL and served by the date column's index. Only the due
  rows come back; among them, a moment already past when the record got its
  date (its create, or the last change of the date field, from the audit
  trail) is dropped: the catch-up rule fires missed moments, not moments that
  were never ahead.
- Schedule triggers and follow-up rules: records matching `when` (or idle)
  that have no open period in `crm_alert_open`; a period closes (its row is
  deleted, in SQL) once a check finds `when` false (or the record active).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, case, delete, exists, func, literal, not_, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from ...metadata import model as m
from ..actor import SYSTEM
from ..records import Records
from .firing import Due
from .timing import day_shift, day_window, offset_key, schedule_instants

UTC = dt.timezone.utc


def iso_minute(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


class Scanner:
    def __init__(self, records: Records):
        self.records = records
        self.config = records.config
        self.tables = records.tables

    def _when(self, alert_entity: str, when: str | None):
        """(from clause, condition) for `when` on the entity, compiled to SQL."""
        sql = self.records.exprs.sql(alert_entity, SYSTEM)
        problems: dict[str, list[str]] = {}
        cond: ColumnElement[bool] = sql.compile_condition(when, problems, "when") if when else literal(True)
        if problems:
            raise ValueError("; ".join(sum(problems.values(), [])))
        return sql.from_clause(), cond

    # -- date triggers -----------------------------------------------------------------------
    def date_statement(self, alert: m.Alert, since: dt.datetime | None, until: dt.datetime):
        """The one statement of a date alert's scan (None when no moment falls in the window)."""
        trigger = alert.trigger
        assert isinstance(trigger, m.DateTrigger)
        ent = self.config.entities[alert.entity]
        table = self.tables.entity(alert.entity)
        column = table.c[trigger.date]
        is_datetime = ent.fields[trigger.date].type == "datetime"
        audit = self.tables.audit
        planned_from = select(func.max(audit.c.at)).where(
            audit.c.entity == alert.entity, audit.c.record_id == table.c.id,
            or_(audit.c.action == "create", audit.c.field == trigger.date)).scalar_subquery()
        parts = []
        offsets = [("before", o) for o in trigger.before] + [("after", o) for o in trigger.after]
        for kind, offset in offsets:
            if is_datetime:     # an exact instant: the moment is the value shifted by the offset
                delta = offset if kind == "before" else -offset
                low = since + delta if since is not None else None
                bounds = [column <= until + delta] + ([column > low] if low is not None else [])
            else:
                window = day_window(since, until, trigger.at, self.config.company.timezone)
                if window is None:
                    continue
                first, last = window
                shift = dt.timedelta(days=day_shift(kind, offset))
                bounds = [column <= last + shift] + ([column >= first + shift] if first is not None else [])
            source, cond = self._when(alert.entity, alert.when)
            parts.append(select(table.c.id.label("id"), column.label("due"),
                                literal(f"{kind}:{offset.total_seconds():.0f}").label("offset"),
                                func.coalesce(planned_from, table.c.created_at).label("planned_from"))
                         .select_from(source).where(and_(*bounds, cond)))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else union_all(*parts)

    def date_dues(self, conn: Connection, alert: m.Alert, since: dt.datetime | None,
                  until: dt.datetime) -> list[Due]:
        from .timing import local_moment
        trigger = alert.trigger
        assert isinstance(trigger, m.DateTrigger)
        statement = self.date_statement(alert, since, until)
        if statement is None:
            return []
        is_datetime = self.config.entities[alert.entity].fields[trigger.date].type == "datetime"
        tz = self.config.company.timezone
        out = []
        for row in conn.execute(statement).mappings():
            kind, seconds = str(row["offset"]).split(":")
            offset = dt.timedelta(seconds=int(seconds))
            due = _as_date_or_instant(row["due"], is_datetime)
            if is_datetime:
                moment = due - offset if kind == "before" else due + offset
            else:
                moment = local_moment(due - dt.timedelta(days=day_shift(kind, offset)), trigger.at, tz)
            planned = _aware(row["planned_from"])
            if planned is not None and moment <= planned:
                continue        # the moment had passed when the record got this date: never ahead, never due
            if moment > until or (since is not None and moment <= since):
                continue
            out.append(Due(int(row["id"]), f"{offset_key(kind, offset)}@{iso_minute(moment)}"))
        return out

    # -- schedule triggers and follow-up rules --------------------------------------------------
    def schedule_check(self, alert: m.Alert, since: dt.datetime | None, until: dt.datetime) -> dt.datetime | None:
        trigger = alert.trigger
        assert isinstance(trigger, m.ScheduleTrigger)
        instants = schedule_instants(trigger, since, until, self.config.company.timezone)
        return instants[-1] if instants else None

    def period_dues(self, conn: Connection, alert: m.Alert, condition_sql: tuple[Any, ColumnElement[bool]],
                    key: ColumnElement[Any] | str, now: dt.datetime) -> list[Due]:
        """Records matching the condition without an open period; closes periods whose condition is false."""
        source, cond = condition_sql
        table = self.tables.entity(alert.entity)
        opened = self.tables("crm_alert_open")
        matching = select(table.c.id).select_from(source).where(cond)
        conn.execute(delete(opened).where(opened.c.alert == alert.name, opened.c.record_id.not_in(matching)))
        key_col = literal(key) if isinstance(key, str) else key
        rows = conn.execute(select(table.c.id, key_col.label("key")).select_from(source).where(
            cond, not_(exists().where(opened.c.alert == alert.name, opened.c.record_id == table.c.id))))
        return [Due(int(r[0]), str(r[1]) if isinstance(key, str) else f"idle@{_key_time(r[1])}") for r in rows]

    def schedule_condition(self, alert: m.Alert):
        return self._when(alert.entity, alert.when)

    def idle_condition(self, pipeline: m.Pipeline, rule: m.FollowUp, now: dt.datetime):
        """`when` and no change to the record or its timeline records for `max_idle` (SQL), and the
        record's last activity (the period's key)."""
        from ..workflow.idle import idle_condition      # the workflow engine's definition of idle, shared
        table = self.tables.entity(pipeline.entity)
        cond = idle_condition(self.config, self.tables, pipeline.entity, rule, table, now)
        last = table.c.updated_at
        for ent in self.config.entities.values():
            if "timeline" not in ent.traits:
                continue
            for f in ent.links():
                if f.entity != pipeline.entity:
                    continue
                child = self.tables.entity(ent.name).alias()
                latest = select(func.max(child.c.updated_at)).where(child.c[f.name] == table.c.id).scalar_subquery()
                last = case((latest > last, latest), else_=last)
        return (table, cond), last


def _key_time(value: Any) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return iso_minute(_aware(value)) if value is not None else "?"


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _as_date_or_instant(value: Any, is_datetime: bool) -> Any:
    if is_datetime:
        return _aware(value)
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value
