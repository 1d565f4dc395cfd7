"""Checking a chunk of CSV rows the way a save checks one record, with set-based lookups.

    preparer = ChunkPreparer(records, actor, plan)
    result = preparer.prepare(conn, [(2, ["Big order", "ACME Kft.", "5000"]), ...], now)
    result.ready        # Prepared records, complete and valid
    result.refused      # (row number, [(field, reason), ...])

The records service checks one record with a few queries each (`saving.Preparer`);
an import of a million rows cannot, so this module does the same checks in the
same order with the same pieces (`values.convert`, the expression evaluator,
the permission filter), but every lookup is one query per chunk: one SELECT per
link column (by title, then by id), one for the users named, one per unique
field, one for explicit ids. Each column's conversion is compiled once
(`values.converter`), and so is each rule, expression default, scoring rule
and link filter (the evaluator's closures, made when the preparer is). They
run in Python on each row with the linked rows read from those batches.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field as dc_field
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, or_, select

from ..metadata import model as m
from ..metadata.expressions.evaluate import EvalEnv, Program, _program, _Run
from ..metadata.expressions.types import type_of_field
from .actor import Actor
from .errors import Problems
from .import_columns import Column, ColumnPlan, choice_text
from .records import Records
from .saving import LITERAL_DEFAULT_TYPES
from .import_support import (MemoConvert, RowCache, among, first_names, flatten_problems, links_followed,
                             params_of)
from .values import ValueContext, convert, converter, to_column

CREATED_AT = m.Field("created_at", "datetime", m.label_from_name("created_at"), None)  # type: ignore[arg-type]


@dataclass(slots=True)
class Prepared:
    line: int
    record: dict[str, Any]          # system columns and every stored field, as Python values
    explicit_id: int | None = None


@dataclass(slots=True)
class ChunkResult:
    ready: list[Prepared] = dc_field(default_factory=list)
    refused: list[tuple[int, list[tuple[str, str]]]] = dc_field(default_factory=list)


class _Row(Prepared):
    """A row being checked; a good one is handed on as the `Prepared` it is (no copy per row)."""

    __slots__ = ("problems", "refs")

    def __init__(self, line: int, record: dict[str, Any]):
        self.line = line
        self.record = record
        self.explicit_id = None
        self.problems = Problems()
        self.refs: dict[str, str] = {}      # link/user field -> the text that names the record


class ChunkPreparer:
    """Validates and completes imported rows of one entity for one acting user."""

    def __init__(self, records: Records, actor: Actor, plan: ColumnPlan):
        self.records = records
        self.config = records.config
        self.actor = actor
        self.plan = plan
        self.ent = plan.entity
        self.table = records.tables.entity(self.ent.name)
        self.ctx = ValueContext.for_config(self.config, bound=records.exprs.bound)
        self.convert = MemoConvert(self.ctx, self.ent)
        self.stored = [f for f in self.ent.fields.values() if f.stored]
        self.literal_defaults: dict[str, tuple[Any, list[str]]] = {}
        self.expression_defaults: list[m.Field] = []
        for f in self.stored:
            if f.default is None or f.system:
                continue
            if isinstance(f.default, str) and f.type not in LITERAL_DEFAULT_TYPES:
                self.expression_defaults.append(f)
            else:
                self.literal_defaults[f.name] = convert(f, f.default, self.ctx)
        pipeline = self.config.pipeline_for(self.ent.name)
        stage = self.config.stage_field(self.ent.name)
        self.owned = "owned" in self.ent.traits
        scoring = self.ent.scoring
        self.scoring = scoring if scoring is not None and scoring.field in self.ent.fields else None
        self.first_stage = (stage.name, pipeline.stages[0].key) if stage and pipeline and pipeline.stages else None
        # Programs compiled once here, not looked up per row (the evaluator's cache is keyed by text).
        self.rules = [(rule, first_names(rule.rule), self._compiled(rule.rule)) for rule in self.ent.validations]
        self.default_programs = {f.name: self._compiled(str(f.default)) for f in self.expression_defaults
                                 if f.default != "current_user"}
        self.default_converters = {f.name: converter(f, self.ctx) for f in self.expression_defaults}
        self.score_rules = ([(rule.points, self._compiled(rule.when)) for rule in self.scoring.rules]
                            if self.scoring is not None else [])
        self.followed = links_followed(self.ent, self.expression_defaults)
        # (name, is a lines field): the fields a row must fill (a lines field never is, by import)
        self.required = [(f.name, f.type == "lines") for f in self.ent.fields.values()
                         if f.required and (f.type == "lines" or f.stored and f.type != "autonumber")]
        self.filtered_links = [f for f in self.ent.links() if f.filter]
        # Each link filter compiled once: its `$names` come from the imported row, typed as its fields.
        self.link_filters = {f.name: self._filter_program(f) for f in self.filtered_links}
        self.blank: dict[str, Any] = {"id": None, "created_by": actor.id, "updated_by": actor.id, "version": 1,
                                      **{f.name: None for f in self.stored}}
        self.handlers: list[tuple[int, str, Any, Mapping[str, str] | None]] = []
        for c in plan.columns:
            if c.kind == "field" and c.field is not None:
                kind = "ref" if c.field.type in ("link", "user") else "value"
                self.handlers.append((c.index, kind, c.field, plan.choice_keys.get(c.field.name)))
            elif c.kind in ("id", "created_at"):
                self.handlers.append((c.index, c.kind, None, None))
        self.users: dict[Any, Mapping[str, Any]] = {}       # id and username -> crm_users row
        self._current_user: Mapping[str, Any] | None = None

    # -- the chunk ------------------------------------------------------------------------------
    def prepare(self, conn: Connection, rows: Iterable[tuple[int, list[str]]], now: dt.datetime) -> ChunkResult:
        parsed = self._convert(rows, now)
        cache = RowCache(conn, self.records.tables, self.users)
        self._resolve_users(conn, parsed)
        for column in self.plan.fields():
            if column.field is not None and column.field.type == "link":
                self._resolve_link(conn, column, parsed, cache)
        if self.actor.id is not None and self._current_user is None:
            self._current_user = self._user_row(conn, self.actor.id)
        # One evaluation context for the chunk: the clock read once, each linked row loaded once.
        run = _Run(EvalEnv(config=self.config, entity=self.ent.name, record={}, load=cache, now=now,
                           current_user=self._current_user))
        filter_runs = {f.name: _Run(EvalEnv(config=self.config, entity=f.entity or "", record={}, load=cache,
                                             now=now, current_user=self._current_user))
                       for f in self.filtered_links}
        self._complete(parsed, run, filter_runs, cache)
        self._check_ids(conn, parsed)
        self._check_unique(conn, parsed)
        result = ChunkResult()
        for row in parsed:
            problems = row.problems
            if problems.fields or problems.messages:       # `bool(problems)`, without a call per row
                result.refused.append((row.line, flatten_problems(problems)))
            else:
                result.ready.append(row)
        return result

    # -- values ---------------------------------------------------------------------------------
    def _convert(self, chunk: Iterable[tuple[int, list[str]]], now: dt.datetime) -> list[_Row]:
        """The cells as values, column by column; link and user cells stay text for the batch lookups."""
        rows: list[_Row] = []
        good: list[tuple[_Row, list[str]]] = []
        width = self.plan.width
        for line, cells in chunk:
            record = dict(self.blank)
            record["created_at"] = record["updated_at"] = now
            row = _Row(line, record)
            rows.append(row)
            if len(cells) == width:
                good.append((row, cells))
            else:
                row.problems.record(f"the row has {len(cells)} cells, the header {width}")
        for index, kind, f, keys in self.handlers:
            if kind in ("value", "created_at"):
                self._convert_column(f if kind == "value" else CREATED_AT, index, good, keys)
            elif kind == "ref":
                name = f.name
                for row, cells in good:
                    text = cells[index].strip()
                    if text:
                        row.refs[name] = text
            else:
                for row, cells in good:
                    text = cells[index].strip()
                    number = whole_number(text) or 0
                    if number > 0:
                        row.explicit_id = number
                    elif text:
                        row.problems.field("id", "must be a positive whole number")
        return rows

    def _convert_column(self, f: m.Field, index: int, good: list[tuple[_Row, list[str]]],
                        keys: Mapping[str, str] | None) -> None:
        """Column `index` converted into each row's record: `convert` once per distinct text of the
        chunk (choice labels become keys first); a refused value is a problem of the row's field."""
        convert_one = self.convert.for_field(f)
        name, multichoice = f.name, f.type == "multichoice"
        if keys is None and not self.convert.remembers(f):
            # Values that hardly repeat (names, amounts, times): converted one by one, not looked up first.
            for row, cells in good:
                value, errors = convert_one(cells[index])
                if errors:
                    for error in errors:
                        row.problems.field(name, error)
                elif value is not None:
                    row.record[name] = value
            return
        seen: dict[str, tuple[Any, list[str]]] = {}
        for row, cells in good:
            raw = cells[index]
            hit = seen.get(raw)
            if hit is None:
                text = choice_text(raw, keys, multichoice) if keys is not None and raw.strip() else raw
                hit = seen[raw] = convert_one(text)
            value, errors = hit
            if errors:
                for error in errors:
                    row.problems.field(name, error)
            elif value is not None:
                row.record[name] = value

    # -- users and links, one query per chunk -------------------------------------------------------
    def _resolve_users(self, conn: Connection, rows: list[_Row]) -> None:
        user_fields = [c.field for c in self.plan.fields() if c.field is not None and c.field.type == "user"]
        if not user_fields:
            return
        keys: dict[str, int | str] = {}      # each text of the chunk read once
        for row in rows:
            for f in user_fields:
                text = row.refs.get(f.name)
                if text is not None and text not in keys:
                    keys[text] = _user_key(text)
        wanted = set(keys.values())
        missing = [k for k in wanted if k not in self.users]
        if missing:
            users = self.records.tables.users
            ids = [k for k in missing if isinstance(k, int)]
            names = [k for k in missing if isinstance(k, str)]
            query = select(users).where(or_(among(conn, users.c.id, ids), among(conn, users.c.username, names)))
            for user in conn.execute(query).mappings():
                self.users[user["id"]] = user
                self.users[user["username"]] = user
        for row in rows:
            for f in user_fields:
                text = row.refs.get(f.name)
                if text is None:
                    continue
                user = self.users.get(keys[text])
                if user is None:
                    row.problems.field(f.name, f"there is no user '{text}'")
                elif not user["active"]:
                    row.problems.field(f.name, f"user '{text}' is disabled")
                else:
                    row.record[f.name] = user["id"]

    def _resolve_link(self, conn: Connection, column: Column, rows: list[_Row], cache: RowCache) -> None:
        f = column.field
        assert f is not None and f.entity
        target_ent = self.config.entities[f.entity]
        target = self.records.tables.entity(f.entity)
        readable = self.records.permissions.row_filter(self.actor, f.entity, "read", target)
        texts = {row.refs[f.name] for row in rows if f.name in row.refs}
        if not texts:
            return
        full = f.name in self.followed or bool(f.filter)
        title = target_ent.fields.get(target_ent.title)
        by_text: dict[str, int | str] = {}      # text -> id, or the reason it names no single record
        if column.by == "auto" and title is not None and title.stored:
            matches: dict[str, list[int]] = {}
            columns = [target] if full else [target.c.id, target.c[title.name]]
            query = select(*columns).where(among(conn, target.c[title.name], list(texts)), readable)
            for found in conn.execute(query).mappings():
                matches.setdefault(str(found[title.name]), []).append(found["id"])
                if full:
                    cache.put(f.entity, found)
            for text, ids in matches.items():
                by_text[text] = ids[0] if len(ids) == 1 else (
                    f"'{text}' matches {len(ids)} {f.entity} records; give the id instead")
        numeric = {t: n for t in texts - set(by_text) if (n := whole_number(t)) is not None}
        if numeric:
            columns = [target] if full else [target.c.id]
            query = select(*columns).where(among(conn, target.c.id, list(numeric.values())), readable)
            found_ids = set()
            for found in conn.execute(query).mappings():
                found_ids.add(found["id"])
                if full:
                    cache.put(f.entity, found)
            for text, value in numeric.items():
                if value in found_ids:
                    by_text[text] = value
        for row in rows:
            text = row.refs.get(f.name)
            if text is None:
                continue
            resolved = by_text.get(text)
            if isinstance(resolved, int):
                row.record[f.name] = resolved
            elif resolved is not None:
                row.problems.field(f.name, resolved)
            elif column.by == "id" and whole_number(text) is None:
                row.problems.field(f.name, "must be a record id")
            else:
                row.problems.field(f.name, f"there is no {f.entity} '{text}'" if whole_number(text) is None
                                   else f"{f.entity} {text} does not exist")

    # -- defaults, ownership, required, link filters, rules -------------------------------------------
    def _complete(self, rows: list[_Row], run: _Run, filter_runs: dict[str, _Run], cache: RowCache) -> None:
        """Defaults, owner and team, first stage, required fields, link filters, validation rules,
        row by row (what the loop reads of the preparer is looked up once for the chunk)."""
        literal_defaults = list(self.literal_defaults.items())
        expression_defaults = [(f, f.name) for f in self.expression_defaults]
        owned, users, actor_id = self.owned, self.users, self.actor.id
        first_stage, required, filtered_links, rules = self.first_stage, self.required, self.filtered_links, self.rules
        for row in rows:
            record, problems = row.record, row.problems
            refused = problems.fields
            # An empty cell is no value: the default applies, as for a field left out of a form.
            for name, (value, errors) in literal_defaults:
                if record[name] is None and name not in refused:
                    if errors:
                        problems.field(name, "default " + "; ".join(errors))
                    else:
                        record[name] = value
            for f, name in expression_defaults:
                if record[name] is None and name not in refused:
                    self._expression_default(f, run, record, problems)
            if owned:
                if record["owner"] is None and "owner" not in refused:
                    record["owner"] = actor_id
                if record["team"] is None and record["owner"] is not None:
                    owner = users.get(record["owner"]) or cache("crm_users", record["owner"])
                    record["team"] = owner["team"] if owner else None
            if first_stage and record[first_stage[0]] is None:
                record[first_stage[0]] = first_stage[1]
            for name, lines in required:
                if name not in refused:
                    if lines:
                        problems.field(name, "needs at least one row")
                    elif record[name] in (None, [], ""):
                        problems.field(name, "is required")
            for f in filtered_links:
                if record[f.name] is not None and f.name not in refused:
                    self._check_link_filter(f, record, filter_runs[f.name], problems)
            for rule, names, program in rules:
                if refused and not names.isdisjoint(refused):
                    continue   # a rule over a value already refused would only repeat the refusal
                try:
                    ok = program(run, record)
                except Exception as exc:
                    problems.record(f"the rule '{rule.rule}' could not be checked ({exc})")
                    continue
                if ok is False:
                    problems.record(rule.message.text(self.actor.locale, self.config.company.default_locale))
            if self.scoring is not None and not problems:
                record[self.scoring.field] = sum(points for points, program in self.score_rules
                                                 if _holds(program, run, record))

    def _expression_default(self, f: m.Field, run: _Run, record: dict[str, Any], problems: Problems) -> None:
        if f.default == "current_user":
            record[f.name] = self.actor.id
            return
        try:
            value = self.default_programs[f.name](run, record)
        except Exception as exc:   # as a save: a default that cannot be computed leaves the field empty
            problems.field(f.name, f"its default could not be computed ({exc})")
            return
        if value is not None and not (isinstance(value, (list, tuple)) and f.type != "multichoice"):
            converted, errors = self.default_converters[f.name](value)
            if errors:
                problems.field(f.name, "default " + "; ".join(errors))
            else:
                record[f.name] = converted

    def _check_link_filter(self, f: m.Field, record: dict[str, Any], run: _Run, problems: Problems) -> None:
        """The link's `filter` on the linked row, `$name` from the imported row (as a save checks it).

        `run` is the chunk's evaluation context for the linked entity; only its parameters change per row.
        """
        names, program = self.link_filters[f.name]
        target_row = run.env.load(f.entity or "", record[f.name])  # type: ignore[misc]
        run.env.params = {p: record.get(p) for p in names}
        try:
            ok = program(run, target_row or {}) is True
        except Exception as exc:
            problems.field(f.name, f"its filter could not be checked ({exc})")
            return
        if not ok:
            problems.field(f.name, f"{f.entity} {record[f.name]} is not allowed here ({f.filter})")

    # -- uniqueness, one query per chunk ----------------------------------------------------------------
    def _check_ids(self, conn: Connection, rows: list[_Row]) -> None:
        given = [row for row in rows if row.explicit_id is not None
                 and not (row.problems.fields or row.problems.messages)]
        if not given:
            return
        existing = set(conn.execute(select(self.table.c.id).where(
            among(conn, self.table.c.id, [row.explicit_id for row in given]))).scalars())
        seen: set[int] = set()
        for row in given:
            if row.explicit_id in existing or row.explicit_id in seen:
                row.problems.field("id", f"{self.ent.name} {row.explicit_id} already exists")
            seen.add(row.explicit_id)  # type: ignore[arg-type]

    def _check_unique(self, conn: Connection, rows: list[_Row]) -> None:
        for f in self.stored:
            if not f.unique or f.type == "autonumber":
                continue
            candidates = [row for row in rows if row.record.get(f.name) is not None and not row.problems]
            if not candidates:
                continue
            values = [to_column(f, row.record[f.name]) for row in candidates]
            existing = set(conn.execute(select(self.table.c[f.name]).where(
                among(conn, self.table.c[f.name], list(set(values))))).scalars())
            seen: set[Any] = set()
            for row, value in zip(candidates, values):
                if value in existing or value in seen:
                    row.problems.field(f.name, f"'{row.record[f.name]}' is already used by another {self.ent.name}")
                seen.add(value)

    # -- helpers -------------------------------------------------------------------------------------
    def _filter_program(self, f: m.Field) -> tuple[set[str], Program]:
        """A link's filter over the linked entity, with the `$names` it takes from the imported row."""
        names = params_of(f.filter or "")
        types = {p: type_of_field(self.ent.fields[p]) for p in names if p in self.ent.fields}
        param_types = tuple(sorted((k, v) for k, v in types.items() if v is not None))
        config, entity, text = self.config, f.entity or "", f.filter or ""
        try:
            return names, _program(config, entity, text, param_types)
        except Exception:   # noqa: BLE001 - reported per row, as when it is compiled per row
            return names, lambda run, row: _program(config, entity, text, param_types)(run, row)

    def _compiled(self, text: str) -> Program:
        """The expression compiled once, run on each row; one that does not compile fails on each
        row with its error, as when it is compiled per row."""
        config, entity = self.config, self.ent.name
        try:
            return _program(config, entity, text, ())
        except Exception:   # noqa: BLE001 - reported per row by the caller
            return lambda run, record: _program(config, entity, text, ())(run, record)

    def _user_row(self, conn: Connection, user_id: int) -> Mapping[str, Any] | None:
        users = self.records.tables.users
        row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
        if row is not None:
            self.users[row["id"]] = row
            self.users[row["username"]] = row
        return row


def _holds(program: Program, run: _Run, record: dict[str, Any]) -> bool:
    """A scoring rule: null, or a value that cannot be computed, gives no points (as a save does)."""
    try:
        return program(run, record) is True
    except Exception:   # noqa: BLE001
        return False


def _user_key(text: str) -> int | str:
    number = whole_number(text)
    return text if number is None else number


def whole_number(text: str) -> int | None:
    """The cell as a record id: ASCII digits only (`'²'.isdigit()` is true, `int('²')` fails) and
    within a 32-bit integer column (PostgreSQL refuses a larger number in the whole statement)."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number < 2**31 else None
