"""Conversions (spec 4.4): make other records from one record, all in one transaction.

    made = conversion.convert(rep, "lead", 12, "to_deal")
    # {"account": {...reused...}, "contact": {...}, "deal": {...}}

1. the source must be readable and updatable by the user and its `when` hold;
2. each `create` step, in order: its `map` values are expressions evaluated on
   the source record, where `$name` is the record an earlier step made or
   reused (`$account`), and `id` is the source's own id; with `match_on`, an
   existing record (readable by the user) whose listed fields equal the
   mapped values is reused instead of creating one (a null mapped value never
   matches); otherwise the record is created through the records service with
   the user's permissions (as an engine caller: `internal=True`, so a map may
   fill read-only fields such as `deal.lead` or `order.quoted_total`);
3. `then.set` is written on the source (literal values, `internal=True`).

Everything runs inside `Records.atomic()`: a refused step leaves nothing
behind, and listeners (alerts, approvals) hear of the new records only after
the whole conversion committed. A refusal names the conversion and the step,
in the user's language (messages.py; what the records service itself says
about a field stays as it words it).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ...metadata import model as m
from ..actor import Actor
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..records import Records
from ..tables import Tables
from ..values import convert, stored_record, to_column
from . import messages


class ConversionRefused(ValidationFailed):
    code = "conversion_refused"


class Conversion:
    def __init__(self, config: m.Config, tables: Tables, records: Records):
        self.config = config
        self.tables = tables
        self.records = records

    def available(self, entity: str) -> list[m.Conversion]:
        """The conversion buttons of an entity's record page."""
        ent = self.config.entities.get(entity)
        return list(ent.conversions.values()) if ent else []

    def convert(self, actor: Actor, entity: str, record_id: int, action: str) -> dict[str, dict[str, Any]]:
        """Runs the conversion; returns the record each step made or reused, by its entity name."""
        locale = messages.locale_of(actor, self.config)
        ent = self.config.entities.get(entity)
        if ent is None:
            raise NotFound("entity", entity, message=messages.text(locale, "no_entity", entity=entity))
        spec = ent.conversions.get(action)
        if spec is None:
            raise NotFound(f"conversion of {entity}", action,
                           message=messages.text(locale, "no_conversion", entity=entity, action=action))
        try:
            self.records.get(actor, entity, record_id, with_lines=False)   # 404 when not readable
        except NotFound:
            raise NotFound(entity, record_id,
                           message=messages.text(locale, "not_found", entity=entity, id=record_id)) from None
        if not self.records.permissions.can(actor, "update", entity, record_id):
            raise Forbidden(messages.text(locale, "conversion_update", action=action, entity=entity, id=record_id))
        made: dict[str, dict[str, Any]] = {}
        with self.records.atomic() as conn:
            source = self._source(conn, ent, record_id)
            if spec.when and not self._holds(conn, actor, ent, spec.when, source):
                raise ConversionRefused(messages=[messages.text(locale, "conversion_when", action=action,
                                                                entity=entity, id=record_id, when=spec.when)])
            refs: dict[str, Any] = {}
            for number, step in enumerate(spec.create, 1):
                where = messages.text(locale, "conversion_step", action=action, step=number, entity=step.entity)
                try:
                    values = self._mapped(conn, actor, ent, step, source, refs, locale)
                    record = self._match(conn, actor, step, values)
                    if record is None:
                        record = self.records.create(actor, step.entity, values, internal=True)
                except DomainError as exc:
                    raise _named(exc, where) from exc
                made[step.entity] = record
                refs[step.entity] = record["id"]
            if spec.then_set:
                try:
                    self.records.update(actor, entity, record_id, dict(spec.then_set), expected_version=None,
                                        internal=True)
                except DomainError as exc:
                    raise _named(exc, messages.text(locale, "conversion_then", action=action)) from exc
        return made

    # -- steps -----------------------------------------------------------------------------------
    def _source(self, conn: Connection, ent: m.Entity, record_id: int) -> dict[str, Any]:
        table = self.tables.entity(ent.name)
        row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
        if row is None:
            raise NotFound(ent.name, record_id)
        return stored_record(ent, row)

    def _holds(self, conn: Connection, actor: Actor, ent: m.Entity, text: str, record: dict[str, Any]) -> bool:
        try:
            return self.records.exprs.evaluate(conn, ent.name, text, record, actor) is True
        except Exception:   # noqa: BLE001 - a condition over a missing value does not hold
            return False

    def _mapped(self, conn: Connection, actor: Actor, ent: m.Entity, step: m.ConversionStep,
                source: dict[str, Any], refs: dict[str, Any], locale: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        problems: dict[str, list[str]] = {}
        for name, text in step.map.items():
            try:
                values[name] = self.records.exprs.evaluate(conn, ent.name, str(text), source, actor,
                                                           params=refs)
            except Exception as exc:   # noqa: BLE001 - reported as the field's problem, with the expression
                problems.setdefault(name, []).append(messages.text(locale, "not_computed", expr=text, error=exc))
        if problems:
            raise ValidationFailed(problems)
        # Fields that follow the owner (team) or move through a pipeline are set by the engine.
        target = self.config.entities[step.entity]
        return {k: v for k, v in values.items() if v is not None or target.fields[k].required}

    def _match(self, conn: Connection, actor: Actor, step: m.ConversionStep,
               values: dict[str, Any]) -> dict[str, Any] | None:
        if not step.match_on:
            return None
        target = self.config.entities[step.entity]
        table = self.tables.entity(step.entity)
        conds = []
        for name in step.match_on:
            f = target.fields[name]
            value, errors = convert(f, values.get(name), self.records.preparer.values)
            if value is None or errors:
                return None
            conds.append(table.c[name] == to_column(f, value))
        row = conn.execute(select(table.c.id).where(
            *conds, self.records.permissions.row_filter(actor, step.entity, "read", table))
            .order_by(table.c.id).limit(1)).first()
        if row is None:
            return None
        return self.records.get(actor, step.entity, int(row[0]), with_lines=False)


def _named(exc: DomainError, where: str) -> DomainError:
    """The same refusal, saying which step of the conversion it came from."""
    if isinstance(exc, ValidationFailed):
        return ConversionRefused({f"{where}: {k}": v for k, v in exc.fields.items()},
                                 [f"{where}: {m}" for m in exc.messages] or
                                 ([] if exc.fields else [f"{where}: {exc.message}"]))
    if isinstance(exc, Forbidden):
        return Forbidden(f"{where}: {exc.message}")
    if isinstance(exc, NotFound):
        return ConversionRefused(messages=[f"{where}: {exc.message}"])
    return Conflict(f"{where}: {exc.message}")
