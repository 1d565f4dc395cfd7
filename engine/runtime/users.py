"""Users and teams: create, list, disable, roles, team, passwords (argon2), log-in.

    users = Users(config, engine, tables)
    users.add("anna", roles=["rep"], team="north", password="s3cret")
    actor = users.authenticate("anna", "s3cret")        # Actor, or None
    users.actor("anna")                                 # the Actor of an active user

Roles must exist in the configuration; a team is created on first use. A
disabled user cannot log in and is not returned by `actor()`, but keeps owning
records (their history stays readable).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, insert, select, update

from ..metadata import model as m
from ..metadata.errors import Location
from .actor import Actor
from .errors import Conflict, NotFound, ValidationFailed
from .tables import Tables
from .values import ValueContext, convert

_HASHER = PasswordHasher()
# Verifying against a real hash when the user is unknown keeps the answer time alike.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    username: str
    full_name: str
    email: str | None
    phone: str | None
    locale: str | None
    team: str | None
    roles: tuple[str, ...]
    active: bool


def _field(name: str, ftype: str) -> m.Field:
    return m.Field(name, ftype, m.label_from_name(name), Location("<users>"))


_EMAIL, _PHONE = _field("email", "email"), _field("phone", "phone")

SIGNED_IN_TTL = 1.0
"""Seconds `Users.signed_in` may answer from memory: how long a change made by another
process (`crm user disable` on the command line, another server worker) can take to reach
this one. A change made through `Users` in this process takes effect at the next request."""
SIGNED_IN_MAX = 10_000          # remembered users per Users object; past it the memory starts afresh


class _Writes:
    """Counts committed user and role writes made in this process, through any `Users` object."""

    def __init__(self) -> None:
        self.generation = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.generation += 1


_WRITES = _Writes()


class Users:
    """The user directory of one database, checked against one configuration's roles."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables,
                 clock: Callable[[], dt.datetime] | None = None):
        self.config = config
        self.engine = engine
        self.tables = tables
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._values = ValueContext.for_config(config)
        # user id -> (write generation, monotonic time, Actor) read then: see `signed_in`.
        self._signed_in: dict[int, tuple[int, float, Actor]] = {}

    # -- writing ---------------------------------------------------------------------------
    def add(self, username: str, *, roles: Iterable[str] = (), team: str | None = None,
            full_name: str = "", email: str | None = None, phone: str | None = None,
            locale: str | None = None, password: str | None = None) -> Actor:
        """Creates an active user; every problem with the input is reported at once."""
        roles = sorted(set(roles))
        problems: dict[str, list[str]] = {}
        username = (username or "").strip()
        if not username or len(username) > 64 or any(c.isspace() for c in username):
            problems["username"] = ["must be 1-64 characters without spaces"]
        self._check_roles(roles, problems)
        email_value, errs = convert(_EMAIL, email, self._values)
        if errs:
            problems["email"] = errs
        phone_value, errs = convert(_PHONE, phone, self._values)
        if errs:
            problems["phone"] = errs
        if locale and locale not in self.config.company.locales:
            problems["locale"] = [f"must be one of {', '.join(self.config.company.locales)}"]
        if team is not None and (not team.strip() or len(team) > 40):
            problems["team"] = ["must be 1-40 characters"]
        if problems:
            raise ValidationFailed(problems)
        users = self.tables.users
        with self._writing() as conn:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                raise Conflict(f"a user named '{username}' already exists")
            if team:
                self._ensure_team(conn, team)
            user_id = conn.execute(insert(users).values(
                username=username, full_name=full_name or username, email=email_value,
                phone=phone_value, locale=locale, team=team, active=True,
                password_hash=_HASHER.hash(password) if password else None,
                created_at=self.clock()).returning(users.c.id)).scalar_one()
            self._write_roles(conn, user_id, roles)
        return Actor(user_id, username, team, frozenset(roles), locale, full_name or username, email_value)

    def disable(self, username: str) -> None:
        self._set(username, active=False)

    def enable(self, username: str) -> None:
        self._set(username, active=True)

    def set_team(self, username: str, team: str | None) -> None:
        """Moves the user; records they own keep their team until next saved (the owner's team then)."""
        with self._writing() as conn:
            if team:
                self._ensure_team(conn, team)
            self._update(conn, username, team=team)

    def set_roles(self, username: str, roles: Iterable[str]) -> None:
        roles = sorted(set(roles))
        problems: dict[str, list[str]] = {}
        self._check_roles(roles, problems)
        if problems:
            raise ValidationFailed(problems)
        with self._writing() as conn:
            user_id = self._id(conn, username)
            self._write_roles(conn, user_id, roles)

    def set_locale(self, user_id: int, locale: str) -> None:
        """The user's UI language (one of the company's locales)."""
        if locale not in self.config.company.locales:
            raise ValidationFailed({"locale": [f"must be one of {', '.join(self.config.company.locales)}"]})
        users = self.tables.users
        with self._writing() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(locale=locale))

    def set_password(self, username: str, password: str) -> None:
        if not password:
            raise ValidationFailed({"password": ["must not be empty"]})
        self._set(username, password_hash=_HASHER.hash(password))

    # -- reading ---------------------------------------------------------------------------
    def list(self, *, include_disabled: bool = True, with_roles: bool = True) -> list[UserInfo]:
        """Every user by username; `with_roles=False` leaves `roles` empty and saves their read."""
        users, roles = self.tables.users, self.tables("crm_user_roles")
        query = select(users).order_by(users.c.username)
        if not include_disabled:
            query = query.where(users.c.active.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            granted: dict[int, list[str]] = {}
            if with_roles:
                for user_id, role in conn.execute(select(roles.c.user_id, roles.c.role).order_by(roles.c.role)):
                    granted.setdefault(user_id, []).append(role)
        return [UserInfo(r["id"], r["username"], r["full_name"], r["email"], r["phone"], r["locale"],
                         r["team"], tuple(granted.get(r["id"], ())), bool(r["active"])) for r in rows]

    def names(self) -> dict[int, str]:
        """Every user's shown name (full name, else username) by id, disabled ones too: one statement."""
        users = self.tables.users
        with self.engine.connect() as conn:
            rows = conn.execute(select(users.c.id, users.c.full_name, users.c.username)).all()
        return {r.id: r.full_name or r.username for r in rows}

    def actor(self, username: str) -> Actor | None:
        """The Actor of an active user, or None."""
        with self.engine.connect() as conn:
            return self._actor(conn, self.tables.users.c.username == username)

    def actor_by_id(self, user_id: int) -> Actor | None:
        with self.engine.connect() as conn:
            return self._actor(conn, self.tables.users.c.id == user_id)

    def signed_in(self, user_id: int) -> Actor | None:
        """`actor_by_id` for the signed-in user of a request, remembered briefly.

        An answer is reused only while both hold: it was read less than `SIGNED_IN_TTL`
        seconds ago (the clock taken before the read), and no user or role write has
        committed in this process since the read began (the write counter is read before
        the query and bumped after each commit). So a user disabled, or given other roles,
        is refused (or gets the new roles) at their next request when the change is made
        through this process, and within `SIGNED_IN_TTL` seconds when made by another.
        A missing or disabled user is never remembered.
        """
        now = time.monotonic()
        remembered = self._remembered(user_id, now)
        if remembered is not None:
            return remembered
        generation = _WRITES.generation
        actor = self.actor_by_id(user_id)
        if actor is None:
            self._signed_in.pop(user_id, None)
            return None
        if len(self._signed_in) >= SIGNED_IN_MAX:
            self._signed_in.clear()
        self._signed_in[user_id] = (generation, now, actor)
        return actor

    def remembered(self, user_id: int) -> Actor | None:
        """`signed_in`'s answer when it comes from memory (no query, so no need to leave the
        event loop for it), else None: then ask `signed_in`."""
        return self._remembered(user_id, time.monotonic())

    def _remembered(self, user_id: int, now: float) -> Actor | None:
        hit = self._signed_in.get(user_id)
        if hit is not None and hit[0] == _WRITES.generation and now - hit[1] < SIGNED_IN_TTL:
            return hit[2]
        return None

    def authenticate(self, username: str, password: str) -> Actor | None:
        """The Actor when the user is active and the password matches, else None."""
        users = self.tables.users
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.id, users.c.password_hash, users.c.active)
                               .where(users.c.username == username)).first()
        stored = row.password_hash if row is not None and row.active and row.password_hash else None
        try:
            _HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if stored is None or row is None:
            return None
        if _HASHER.check_needs_rehash(stored):
            self._set(username, password_hash=_HASHER.hash(password))
        return self.actor_by_id(row.id)

    # -- helpers ---------------------------------------------------------------------------
    def _actor(self, conn: Connection, where) -> Actor | None:
        """The active user matching `where` with their roles, in one statement (one row per role)."""
        users, roles = self.tables.users, self.tables("crm_user_roles")
        rows = conn.execute(select(users.c.id, users.c.username, users.c.team, users.c.locale, users.c.full_name,
                                   users.c.email, roles.c.role)
                            .select_from(users.outerjoin(roles, roles.c.user_id == users.c.id))
                            .where(where, users.c.active.is_(True))).all()
        if not rows:
            return None
        row = rows[0]
        return Actor(row.id, row.username, row.team, frozenset(r.role for r in rows if r.role is not None),
                     row.locale, row.full_name, row.email)

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction; the process's write counter is bumped once it has ended
        (committed or not), so `signed_in` drops what it remembered from before."""
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            _WRITES.bump()

    def _check_roles(self, roles: list[str], problems: dict[str, list[str]]) -> None:
        unknown = [r for r in roles if r not in self.config.roles]
        if unknown:
            problems["roles"] = [f"'{r}' is not a role of this configuration "
                                 f"(roles: {', '.join(sorted(self.config.roles)) or 'none'})" for r in unknown]

    def _ensure_team(self, conn: Connection, team: str) -> None:
        teams = self.tables("crm_teams")
        if conn.execute(select(teams.c.name).where(teams.c.name == team)).first() is None:
            conn.execute(insert(teams).values(name=team, label=team))

    def _write_roles(self, conn: Connection, user_id: int, roles: list[str]) -> None:
        table = self.tables("crm_user_roles")
        conn.execute(delete(table).where(table.c.user_id == user_id))
        if roles:
            conn.execute(insert(table), [{"user_id": user_id, "role": r} for r in roles])

    def _id(self, conn: Connection, username: str) -> int:
        users = self.tables.users
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise NotFound("user", username)
        return int(user_id)

    def _update(self, conn: Connection, username: str, **values: object) -> None:
        users = self.tables.users
        self._id(conn, username)
        conn.execute(update(users).where(users.c.username == username).values(**values))

    def _set(self, username: str, **values: object) -> None:
        with self._writing() as conn:
            self._update(conn, username, **values)
