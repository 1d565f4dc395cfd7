"""Who may do what: roles -> one SQL filter per (user, entity, action) and one field mask.

Every read path of the records service adds `row_filter(actor, entity)` to its
SELECT and drops `hidden(actor, entity)` from what it returns; updates and
deletes put the update/delete filter in their own WHERE. Nothing else decides.
What a read reaches through its rows is filtered the same way:
`visible_rows(actor)` is handed to the expression compiler, which puts the
linked entity's read filter into every link path's JOIN (an unreadable linked
record gives NULL) and the child entity's into every rollup (it aggregates only
child rows the user may read). Lists, exports, search, reports, KPIs and
dashboards all compile through it.

Rules (spec section 5), as implemented:

- a user's roles are unioned, the most permissive scope wins (none < own < team < all);
  roles the configuration does not have grant nothing;
- `own`: the record's owner is the user; `team`: the record's `team` is the
  user's team, or the user owns it (a user without a team gets `own`);
- an entity without the `owned` trait follows its first link to an owned
  entity (or, failing that, the first link leading to one through further
  links): the user's scope is applied to that record through an EXISTS;
  with no such link at all, `own`/`team` fall back to who created the record;
- a field is hidden when every role that lets the user read the entity hides it;
- the built-in system actor and `all: true` roles may do everything.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Mapping

from sqlalchemy import Engine, Table, exists, false, or_, select, true
from sqlalchemy.sql.elements import ColumnElement, True_
from sqlalchemy.sql.expression import FromClause

from ..metadata import model as m
from .actor import Actor
from .tables import Tables, named_alias

Action = Literal["read", "create", "update", "delete"]
RANK: dict[str, int] = {"none": 0, "own": 1, "team": 2, "all": 3}


class Permissions:
    """The permission rules of one configuration; `engine` is needed only for record checks."""

    def __init__(self, config: m.Config, tables: Tables, engine: Engine | None = None):
        self.config = config
        self.tables = tables
        self.engine = engine
        # Hidden fields depend only on the user's roles; computing the computed-field part parses expressions.
        self._hidden_cache: dict[tuple[frozenset[str], str], frozenset[str]] = {}
        # The answers below depend only on the configuration and the user's roles (and the system
        # flag), asked dozens of times a page: worked out once per role set.
        self._roles_cache: dict[frozenset[str], tuple[m.Role, ...]] = {}
        self._scope_cache: dict[tuple[bool, frozenset[str], str, str], m.Scope] = {}
        self._configured_cache: dict[tuple[bool, frozenset[str], str], frozenset[str]] = {}

    # -- what the roles grant -----------------------------------------------------------
    def roles_of(self, actor: Actor) -> list[m.Role]:
        roles = self._roles_cache.get(actor.roles)
        if roles is None:
            roles = self._roles_cache[actor.roles] = tuple(
                self.config.roles[r] for r in sorted(actor.roles) if r in self.config.roles)
        return list(roles)

    def is_admin(self, actor: Actor) -> bool:
        return actor.system or any(role.all for role in self.roles_of(actor))

    def scope(self, actor: Actor, entity: str, action: Action) -> m.Scope:
        """The widest scope any of the user's roles grants for `action` ('create' -> all/none)."""
        key = (actor.system, actor.roles, entity, action)
        found = self._scope_cache.get(key)
        if found is None:
            found = self._scope_cache[key] = self._widest_scope(actor, entity, action)
        return found

    def _widest_scope(self, actor: Actor, entity: str, action: Action) -> m.Scope:
        if self.is_admin(actor):
            return "all"
        best: m.Scope = "none"
        for role in self.roles_of(actor):
            access = role.access(entity)
            granted: m.Scope = ("all" if access.create else "none") if action == "create" else getattr(access, action)
            if RANK[granted] > RANK[best]:
                best = granted
        return best

    def may_create(self, actor: Actor, entity: str) -> bool:
        return self.scope(actor, entity, "create") == "all"

    def hidden(self, actor: Actor, entity: str) -> frozenset[str]:
        """Fields the user never sees, exports or writes on this entity: the roles'
        `hidden_fields`, and every formula or rollup that reads one of them (it would
        show what it hides)."""
        configured = self.configured_hidden(actor, entity)
        if self.is_admin(actor):
            return configured
        key = (frozenset(actor.roles), entity)
        if key not in self._hidden_cache:
            from .hidden_reads import hidden_reads
            ent = self.config.entities[entity]
            leaking = {f.name for f in ent.fields.values()
                       if f.type in ("formula", "rollup") and f.name not in configured
                       and hidden_reads(self.config, lambda e: self.configured_hidden(actor, e), entity, [f.name])}
            self._hidden_cache[key] = configured | leaking
        return self._hidden_cache[key]

    def configured_hidden(self, actor: Actor, entity: str) -> frozenset[str]:
        """The roles' `hidden_fields` on this entity (a field is hidden only when every role
        that reads the entity hides it)."""
        key = (actor.system, actor.roles, entity)
        found = self._configured_cache.get(key)
        if found is None:
            found = self._configured_cache[key] = self._configured_hidden(actor, entity)
        return found

    def _configured_hidden(self, actor: Actor, entity: str) -> frozenset[str]:
        if self.is_admin(actor):
            return frozenset()
        readers = [r for r in self.roles_of(actor) if r.access(entity).read != "none"]
        if not readers:
            readers = self.roles_of(actor)
        if not readers:
            return frozenset()
        sets = [frozenset(f for (e, f) in role.hidden_fields if e == entity) for role in readers]
        return frozenset.intersection(*sets)

    # -- SQL -----------------------------------------------------------------------------
    def row_filter(self, actor: Actor, entity: str, action: Action = "read",
                   table: Table | None = None) -> ColumnElement[bool]:
        """A WHERE clause keeping exactly the rows of `entity` the user may `action`."""
        scope = self.scope(actor, entity, action)
        table = table if table is not None else self.tables.entity(entity)
        return self.scope_clause(actor, entity, scope, table)

    def visible_rows(self, actor: Actor) -> Callable[[str, FromClause], ColumnElement[bool] | None] | None:
        """What a read by this user may see of the rows it reaches through links and rollups.

        For the expression compiler's `visible`: (entity, alias) -> the read
        filter on that alias, None when the user reads every row of it (the SQL
        stays as it was). None for users who read everything.
        """
        if self.is_admin(actor):
            return None

        def visible(entity: str, selectable: FromClause) -> ColumnElement[bool] | None:
            if entity not in self.config.entities:
                return None
            clause = self.row_filter(actor, entity, "read", selectable)  # type: ignore[arg-type]
            return None if isinstance(clause, True_) else clause
        return visible

    def scope_clause(self, actor: Actor, entity: str, scope: m.Scope, table: Table,
                     trail: tuple[str, ...] = ()) -> ColumnElement[bool]:
        if scope == "all":
            return true()
        if scope == "none":
            return false()
        ent = self.config.entities[entity]
        if "owned" in ent.traits:
            return self._owned_clause(actor, scope, table.c.owner, table.c.team)
        link = self.owner_link(entity)
        if link is not None and link.entity not in trail:
            target = named_alias(self.tables.entity(link.entity or ""), f"_p{len(trail)}_{link.entity}")
            inner = self.scope_clause(actor, link.entity or "", scope, target, trail + (entity,))
            return exists(select(target.c.id).where(target.c.id == table.c[link.name], inner))
        return self._creator_clause(actor, scope, table)

    def _owned_clause(self, actor: Actor, scope: m.Scope, owner, team) -> ColumnElement[bool]:
        if actor.id is None:
            return false()
        mine = owner == actor.id
        if scope == "team" and actor.team:
            return or_(mine, team == actor.team)
        return mine

    def _creator_clause(self, actor: Actor, scope: m.Scope, table: Table) -> ColumnElement[bool]:
        if actor.id is None:
            return false()
        mine = table.c.created_by == actor.id
        if scope == "team" and actor.team:
            users = named_alias(self.tables.users, "_p_creator")
            same_team = exists(select(users.c.id).where(users.c.id == table.c.created_by,
                                                        users.c.team == actor.team))
            return or_(mine, same_team)
        return mine

    def owner_link(self, entity: str, trail: tuple[str, ...] = ()) -> m.Field | None:
        """The link whose record decides own/team for a non-owned entity (None: none leads to one)."""
        ent = self.config.entities[entity]
        links = [f for f in ent.fields.values() if f.type == "link" and f.entity in self.config.entities]
        for link in links:
            if "owned" in self.config.entities[link.entity or ""].traits:
                return link
        for link in links:
            if link.entity not in trail + (entity,) and self.owner_link(link.entity or "", trail + (entity,)):
                return link
        return None

    # -- questions -------------------------------------------------------------------------
    def can(self, actor: Actor, action: Action, entity: str, record_id: int | None = None,
            record: Mapping[str, Any] | None = None) -> bool:
        """May the user do `action` on the entity (at all), or on this record?

        `record`: the record `record_id` as the records service has just read it for this
        user (so it exists and is readable). The answer then comes without a query when the
        scope decides alone (`none`, `all`) or, on an owned entity, from the record's owner
        and team (the same test as `scope_clause`'s); otherwise the database is asked.
        Writes never rely on this: they put the filter in their own WHERE.
        """
        if entity not in self.config.entities:
            return False
        scope = self.scope(actor, entity, action)
        if action == "create" or record_id is None:
            return scope != "none"
        if record is not None and record.get("id") == record_id:
            decided = self._decide_from(actor, entity, scope, record)
            if decided is not None:
                return decided
        table = self.tables.entity(entity)
        query = select(table.c.id).where(table.c.id == record_id, self.row_filter(actor, entity, action))
        if self.engine is None:
            raise RuntimeError("Permissions needs an engine to check a record")
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def may_read_gone(self, actor: Actor, entity: str, record: Mapping[str, Any]) -> bool:
        """Whether `actor` could read a record that is no longer in the database (a deleted
        record's last stored values), decided from those values alone: its owner and team
        against the read scope. A scope that needs the database (through a link, a creator's
        team) cannot be decided any more and counts as no."""
        if entity not in self.config.entities:
            return False
        return self._decide_from(actor, entity, self.scope(actor, entity, "read"), record) is True

    def _decide_from(self, actor: Actor, entity: str, scope: m.Scope, record: Mapping[str, Any]) -> bool | None:
        """`scope_clause` evaluated on a record in hand; None when it needs the database
        (a scope through a link or a creator's team, or the owner/team hidden from the user)."""
        if scope in ("none", "all"):
            return scope == "all"
        if "owned" not in self.config.entities[entity].traits or "owner" not in record:
            return None
        if actor.id is None:
            return False
        if record["owner"] == actor.id:
            return True
        if scope == "team" and actor.team:
            if "team" not in record:
                return None
            return record["team"] == actor.team
        return False

    def explain(self, actor: Actor, entity: str, record_id: int | None = None) -> list[str]:
        """Plain sentences: which role grants what on the entity (and the record) and why."""
        lines = [f"user {actor.username}: roles {', '.join(sorted(actor.roles)) or '(none)'}, "
                 f"team {actor.team or '(none)'}"]
        if entity not in self.config.entities:
            return lines + [f"'{entity}' is not an entity of this configuration"]
        if actor.system:
            return lines + ["the built-in system actor may do everything"]
        for name in sorted(actor.roles - set(self.config.roles)):
            lines.append(f"role {name}: not in the configuration, grants nothing")
        for role in self.roles_of(actor):
            lines.append(_role_line(role, entity))
        effective = {a: self.scope(actor, entity, a) for a in ("read", "update", "delete")}
        lines.append(f"effective on {entity}: read {effective['read']}, "
                     f"create {'yes' if self.may_create(actor, entity) else 'no'}, "
                     f"update {effective['update']}, delete {effective['delete']}"
                     " (the most permissive role wins)")
        lines.extend(self._ownership_lines(entity))
        hidden = sorted(self.hidden(actor, entity))
        if hidden:
            lines.append(f"hidden fields: {', '.join(hidden)} (hidden by every role that reads {entity})")
        if record_id is not None:
            lines.extend(self._record_lines(actor, entity, record_id))
        return lines

    def _ownership_lines(self, entity: str) -> list[str]:
        ent = self.config.entities[entity]
        if "owned" in ent.traits:
            return [f"{entity} is owned: own = owner is the user; team = the record's team is the user's team"]
        link = self.owner_link(entity)
        if link is not None:
            return [f"{entity} has no owner: own/team follow its link '{link.name}' to {link.entity}"]
        return [f"{entity} has no owner and no link to an owned entity: own/team follow who created the record"]

    def _record_lines(self, actor: Actor, entity: str, record_id: int) -> list[str]:
        if self.engine is None:
            return ["(no database given: record not checked)"]
        table = self.tables.entity(entity)
        columns = [table.c.id] + [table.c[c] for c in ("owner", "team") if c in table.c]
        with self.engine.connect() as conn:
            row = conn.execute(select(*columns).where(table.c.id == record_id)).mappings().first()
            if row is None:
                return [f"{entity} {record_id} does not exist"]
            out = []
            if "owner" in row:
                owner = conn.execute(select(self.tables.users.c.username)
                                     .where(self.tables.users.c.id == row["owner"])).scalar()
                out.append(f"{entity} {record_id}: owner {owner or '(none)'}, team {row['team'] or '(none)'}")
            verdicts = []
            for action in ("read", "update", "delete"):
                ok = conn.execute(select(table.c.id).where(
                    table.c.id == record_id, self.row_filter(actor, entity, action))).first() is not None
                verdicts.append(f"{action} {'yes' if ok else 'no'} ({self.scope(actor, entity, action)})")
            out.append(f"on {entity} {record_id}: " + ", ".join(verdicts))
            return out


def _role_line(role: m.Role, entity: str) -> str:
    if role.all:
        return f"role {role.name}: all: true (everything)"
    access = role.access(entity)
    via = f" (inherits {role.inherits})" if role.inherits else ""
    named = "" if entity in role.entities else " (not named: none)"
    return (f"role {role.name}{via}: {entity} read {access.read}, create {'yes' if access.create else 'no'}, "
            f"update {access.update}, delete {access.delete}{named}")

