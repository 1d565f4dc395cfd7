"""Checking one record before it is written: values, defaults, ownership, links, rules.

`Preparer.draft` turns submitted values into a `Draft`, the complete record as
it would be saved, and records every problem in a `Problems` collector instead
of stopping at the first. It runs inside the save's transaction (link checks
and expression defaults read the database) and writes nothing itself.

Order of work: accept the submitted values (unknown, hidden, read-only and
malformed ones are refused), apply defaults (literals, then expressions such
as `today() + days(30)` or `product.list_price`, each seeing the values before
it), owner and team for `owned` entities, the first stage of a pipeline, then
required fields, links (exists, readable by the user, matches the link's
`filter`) and the entity's validation rules.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Mapping

from sqlalchemy import Connection, select

from ..metadata import model as m
from .actor import Actor
from .errors import Forbidden, Problems
from .exprs import RecordExpressions
from .permissions import Permissions
from .tables import Tables
from .values import ValueContext, convert, to_column

LITERAL_DEFAULT_TYPES = frozenset({"string", "text", "email", "phone", "url", "choice", "multichoice"})
NEVER_WRITTEN = {"formula": "is computed", "rollup": "is computed",
                 "autonumber": "is numbered by the engine", "file": "takes files through attachments"}
# Written only by internal callers (pipelines, conversions, import): the pipeline moves the stage,
# the team follows the owner.
INTERNAL_ONLY = {"stage": "moves through its pipeline", "team": "follows the owner"}


@dataclass(slots=True)
class Draft:
    """A record ready to write: `values` is the whole record, `changed` what differs from before."""

    entity: m.Entity
    values: dict[str, Any]
    changed: dict[str, Any] = dc_field(default_factory=dict)
    lines: dict[str, list[Any]] = dc_field(default_factory=dict)


class Preparer:
    """Builds and checks Drafts for one configuration."""

    def __init__(self, config: m.Config, tables: Tables, permissions: Permissions,
                 exprs: RecordExpressions, values: ValueContext, clock: Callable[[], dt.datetime]):
        self.config = config
        self.tables = tables
        self.permissions = permissions
        self.exprs = exprs
        self.values = values
        self.clock = clock
        # Picks the owner of a new record of an entity with `assignment` (set by Records).
        self.assign: Callable[[Connection, Actor, m.Entity, Mapping[str, Any]], int | None] | None = None

    def draft(self, conn: Connection, actor: Actor, entity: str, raw: Mapping[str, Any], problems: Problems,
              *, current: Mapping[str, Any] | None = None, internal: bool = False,
              parent_link: str | None = None) -> Draft:
        """The record `raw` makes (from `current` on update); problems go to `problems`.

        `parent_link` names the link set by the parent of a lines row: it is not
        checked here (the parent may not exist yet).
        """
        ent = self.config.entities[entity]
        creating = current is None
        given, lines = self._accept(actor, ent, raw, problems, internal, parent_link)
        self._resolve_users(conn, ent, given, problems)
        record: dict[str, Any] = dict(current) if current is not None else {}
        if creating:
            now = self.clock()
            record.update(id=None, created_at=now, created_by=actor.id, updated_at=now,
                          updated_by=actor.id, version=1)
            for f in ent.fields.values():
                if f.stored:
                    record.setdefault(f.name, None)
        record.update(given)
        self._defaults(conn, actor, ent, record, set(given), problems, creating)
        if "owned" in ent.traits:
            if creating and record.get("owner") is None and ent.assignment is not None and self.assign:
                record["owner"] = self.assign(conn, actor, ent, record)
            self._ownership(conn, actor, record, given, creating)
        if creating:
            stage = self.config.stage_field(entity)
            pipeline = self.config.pipeline_for(entity)
            if stage is not None and record.get(stage.name) is None and pipeline and pipeline.stages:
                record[stage.name] = pipeline.stages[0].key
        changed = {k: record[k] for k in record
                   if k in ent.fields and ent.fields[k].stored
                   and (creating or record[k] != (current or {}).get(k))}
        self._required(ent, record, lines, problems, creating, parent_link)
        self._unique(conn, ent, record, changed, problems)
        self._links(conn, actor, ent, record, changed, problems, parent_link, creating)
        self._rules(conn, actor, ent, record, current, problems)
        return Draft(ent, record, changed, lines)

    # -- accepting input --------------------------------------------------------------------
    def _accept(self, actor: Actor, ent: m.Entity, raw: Mapping[str, Any], problems: Problems,
                internal: bool, parent_link: str | None) -> tuple[dict[str, Any], dict[str, list[Any]]]:
        hidden = self.permissions.hidden(actor, ent.name)
        refused_hidden = sorted(n for n in raw if n in hidden)
        if refused_hidden:
            raise Forbidden(f"you may not set {', '.join(refused_hidden)} on {ent.name}")
        given: dict[str, Any] = {}
        lines: dict[str, list[Any]] = {}
        for name, value in raw.items():
            field = ent.fields.get(name)
            if name == parent_link:
                continue
            if field is None:
                problems.field(name, "is set by the engine" if name in m.SYSTEM_COLUMNS
                               else f"is not a field of {ent.name}")
            elif field.type == "lines":
                if isinstance(value, (list, tuple)) and all(isinstance(r, Mapping) for r in value):
                    lines[name] = list(value)
                else:
                    problems.field(name, "must be a list of rows")
            elif field.type in NEVER_WRITTEN:
                problems.field(name, NEVER_WRITTEN[field.type])
            elif not internal and field.type == "stage":
                problems.field(name, INTERNAL_ONLY["stage"])
            elif not internal and field.system and name == "team":
                problems.field(name, INTERNAL_ONLY["team"])
            elif not internal and field.readonly:
                problems.field(name, "is read-only")
            else:
                converted, errors = convert(field, value, self.values)
                for error in errors:
                    problems.field(name, error)
                if not errors:
                    given[name] = converted
        return given, lines

    def _resolve_users(self, conn: Connection, ent: m.Entity, given: dict[str, Any], problems: Problems) -> None:
        """User fields given as a username become the user's id; unknown or disabled users are refused."""
        users = self.tables.users
        for name, value in list(given.items()):
            if ent.fields[name].type != "user" or value is None:
                continue
            column = users.c.username if isinstance(value, str) else users.c.id
            row = conn.execute(select(users.c.id, users.c.active).where(column == value)).first()
            if row is None:
                problems.field(name, f"there is no user '{value}'")
                del given[name]
            elif not row.active:
                problems.field(name, f"user '{value}' is disabled")
                del given[name]
            else:
                given[name] = row.id

    # -- defaults and ownership ---------------------------------------------------------------
    def _defaults(self, conn: Connection, actor: Actor, ent: m.Entity, record: dict[str, Any],
                  given: set[str], problems: Problems, creating: bool) -> None:
        pending = [f for f in ent.fields.values()
                   if f.stored and f.default is not None and f.name not in given and not f.system
                   and record.get(f.name) is None]
        literal = [f for f in pending if not _is_expression_default(f)]
        if creating:
            for f in literal:
                self._set_default(f, f.default, record, problems)
        changed = given
        for f in pending:
            if f in literal:
                continue
            refs = self.exprs.referenced_fields(str(f.default))
            # On update an expression default fills an empty field only once what it reads is set.
            if not creating and not (refs & changed):
                continue
            try:
                value = self.exprs.evaluate(conn, ent.name, str(f.default), record, actor)
            except Exception as exc:   # a default that cannot be computed leaves the field empty
                problems.field(f.name, f"its default could not be computed ({exc})")
                continue
            self._set_default(f, value, record, problems)

    def _set_default(self, f: m.Field, value: Any, record: dict[str, Any], problems: Problems) -> None:
        if value is None:
            return
        if isinstance(value, (list, tuple)) and f.type != "multichoice":
            return
        converted, errors = convert(f, value, self.values)
        if errors:
            problems.field(f.name, "default " + "; ".join(errors))
        else:
            record[f.name] = converted

    def _ownership(self, conn: Connection, actor: Actor, record: dict[str, Any], given: Mapping[str, Any],
                   creating: bool) -> None:
        # With `assignment`, `self.assign` picked the owner before this runs; the acting
        # user is the fallback either way (spec 4.4: nobody found -> the acting user).
        if creating and record.get("owner") is None:
            record["owner"] = actor.id
        if "team" in given:
            return
        if creating or "owner" in given:
            users = self.tables.users
            record["team"] = (conn.execute(select(users.c.team).where(users.c.id == record["owner"])).scalar()
                              if record.get("owner") is not None else None)

    # -- checks ---------------------------------------------------------------------------------
    def _required(self, ent: m.Entity, record: Mapping[str, Any], lines: Mapping[str, list[Any]],
                  problems: Problems, creating: bool, parent_link: str | None) -> None:
        for f in ent.fields.values():
            if not f.required or f.name in problems.fields or f.name == parent_link:
                continue
            if f.type == "lines":
                if (f.name in lines and not lines[f.name]) or (creating and f.name not in lines):
                    problems.field(f.name, "needs at least one row")
            elif f.stored and f.type != "autonumber" and record.get(f.name) in (None, [], ""):
                problems.field(f.name, "is required")

    def _unique(self, conn: Connection, ent: m.Entity, record: Mapping[str, Any], changed: Mapping[str, Any],
                problems: Problems) -> None:
        """A `unique` field's new value may not be used by another record (the index is the backstop)."""
        table = self.tables.entity(ent.name)
        for name, value in changed.items():
            f = ent.fields[name]
            if not f.unique or value is None or name in problems.fields or f.type == "autonumber":
                continue
            query = select(table.c.id).where(table.c[name] == to_column(f, value))
            if record.get("id") is not None:
                query = query.where(table.c.id != record["id"])
            if conn.execute(query.limit(1)).first() is not None:
                problems.field(name, "is already used by another record")

    def _links(self, conn: Connection, actor: Actor, ent: m.Entity, record: Mapping[str, Any],
               changed: Mapping[str, Any], problems: Problems, parent_link: str | None, creating: bool) -> None:
        """A link must name a record the user can read that matches the link's filter.

        Checked for links that change, and for links whose filter reads a field that changes.
        """
        for f in ent.links():
            value = record.get(f.name)
            if value is None or f.name == parent_link or f.name in problems.fields:
                continue
            params = self.exprs.params_of(f.filter) if f.filter else set()
            if f.name not in changed and not (params & set(changed)):
                continue
            target = self.tables.entity(f.entity or "")
            readable = select(target.c.id).where(
                target.c.id == value, self.permissions.row_filter(actor, f.entity or "", "read", target))
            if conn.execute(readable).first() is None:
                problems.field(f.name, f"{f.entity} {value} does not exist")
                continue
            if f.filter:
                form = {p: record.get(p) for p in params}
                sql = self.exprs.sql(f.entity or "", actor, form)
                condition = sql.compile_condition(f.filter, problems, f.name)
                query = select(target.c.id).select_from(sql.from_clause()).where(
                    target.c.id == value, condition)
                if conn.execute(query).first() is None:
                    problems.field(f.name, f"{f.entity} {value} is not allowed here ({f.filter})")

    def _rules(self, conn: Connection, actor: Actor, ent: m.Entity, record: Mapping[str, Any],
               current: Mapping[str, Any] | None, problems: Problems) -> None:
        """Each false rule adds its message (user's locale, else the company's); null passes, as in SQL."""
        for rule in ent.validations:
            if self.exprs.referenced_fields(rule.rule) & set(problems.fields):
                continue   # a rule over a value already refused would only repeat the refusal
            try:
                ok = self.exprs.evaluate(conn, ent.name, rule.rule, record, actor, old=current)
            except Exception as exc:
                problems.record(f"the rule '{rule.rule}' could not be checked ({exc})")
                continue
            if ok is False:
                problems.record(rule.message.text(actor.locale, self.config.company.default_locale))


def _is_expression_default(f: m.Field) -> bool:
    """Text defaults of non-text fields are expressions (`today() + days(30)`, `current_user`),
    except a plain ISO date on a date or datetime field (`default: "2025-01-01"`)."""
    if not isinstance(f.default, str) or f.type in LITERAL_DEFAULT_TYPES:
        return False
    if f.type in ("date", "datetime"):
        try:
            dt.datetime.fromisoformat(f.default.strip())
            return False
        except ValueError:
            return True
    return True
