"""Assignment (spec 4.4): who owns a new record of an entity with `assignment`, when no owner is given.

The records service calls `assign(conn, actor, entity, record)` inside the
create's transaction (`Records.preparer.assign`); None means "nobody found",
and the acting user becomes the owner.

- `round_robin`: the active users of `among`, in id order, taken in turn. The
  turn is a counter row in `crm_sequences` bumped by one upsert in the save's
  transaction, so concurrent saves never take the same turn (PostgreSQL locks
  the row until commit; SQLite has one writer) and a refused save gives its
  turn back.
- `least_loaded`: the user of `among` owning the fewest open records (records
  in an open stage; every record when the entity has no pipeline); ties go to
  the lowest id.
- `by_rule`: the first rule whose `when` holds names the pool (`to`); no rule
  holds, or its pool is empty: `among`. Within the pool users take turns, as
  in round robin (the spec names pools, not people).

A pool (`Target`) is the active users matching every part given: `team`,
`role` (held directly), `user`.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import Connection, and_, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite

from ...metadata import model as m
from ..actor import Actor
from ..records import Records
from ..tables import Tables


class Assignment:
    def __init__(self, config: m.Config, tables: Tables, records: Records):
        self.config = config
        self.tables = tables
        self.records = records

    def install(self) -> None:
        self.records.preparer.assign = self.assign

    def assign(self, conn: Connection, actor: Actor, ent: m.Entity, record: Mapping[str, Any]) -> int | None:
        spec = ent.assignment
        if spec is None:
            return None
        if spec.strategy == "least_loaded":
            return self._least_loaded(conn, ent, spec.among)
        if spec.strategy == "by_rule":
            for number, rule in enumerate(spec.rules):
                try:
                    holds = self.records.exprs.evaluate(conn, ent.name, rule.when, record, actor) is True
                except Exception:   # noqa: BLE001 - a rule over a missing value does not match
                    holds = False
                if holds:
                    chosen = self._round_robin(conn, ent, rule.to, f"rule{number}")
                    if chosen is not None:
                        return chosen
                    break
        return self._round_robin(conn, ent, spec.among, "among")

    # -- pools -------------------------------------------------------------------------------------
    def pool(self, target: m.Target | None) -> Any:
        """SELECT of the ids of the active users a target names (None: nobody)."""
        users = self.tables.users
        if target is None or not (target.team or target.role or target.user):
            return None
        query = select(users.c.id).where(users.c.active == true())
        if target.team:
            query = query.where(users.c.team == target.team)
        if target.user:
            query = query.where(users.c.username == target.user)
        if target.role:
            roles = self.tables("crm_user_roles")
            query = query.where(users.c.id.in_(select(roles.c.user_id).where(roles.c.role == target.role)))
        return query

    def _round_robin(self, conn: Connection, ent: m.Entity, target: m.Target | None, key: str) -> int | None:
        query = self.pool(target)
        if query is None:
            return None
        ids = [row[0] for row in conn.execute(query.order_by(self.tables.users.c.id))]
        if not ids:
            return None
        turn = self._next_turn(conn, f"assign:{ent.name}:{key}")
        return ids[(turn - 1) % len(ids)]

    def _next_turn(self, conn: Connection, name: str) -> int:
        sequences = self.tables("crm_sequences")
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(sequences).values(name=name, value=1).on_conflict_do_update(
            index_elements=[sequences.c.name], set_={"value": sequences.c.value + 1})
        return int(conn.execute(stmt.returning(sequences.c.value)).scalar_one())

    def _least_loaded(self, conn: Connection, ent: m.Entity, target: m.Target | None) -> int | None:
        query = self.pool(target)
        if query is None:
            return None
        users = self.tables.users
        table = self.tables.entity(ent.name)
        on = table.c.owner == users.c.id
        stage, pipeline = self.config.stage_field(ent.name), self.config.pipeline_for(ent.name)
        if stage is not None and pipeline is not None:
            open_keys = [s.key for s in pipeline.stages if s.open]
            on = and_(on, or_(table.c[stage.name].in_(open_keys), table.c[stage.name].is_(None)))
        load = (select(users.c.id, func.count(table.c.id).label("load"))
                .select_from(users.outerjoin(table, on))
                .where(users.c.id.in_(query))
                .group_by(users.c.id)
                .order_by(func.count(table.c.id), users.c.id).limit(1))
        row = conn.execute(load).first()
        return int(row[0]) if row is not None else None
