"""Demo users: several per role, in two sales teams, all with one shared demo-only password.

From the configuration's roles: the role others inherit from (the sales rep)
gets six users in two teams, a role inheriting it (the sales manager) two (one
per team), every other role one, the all-permissions role one (`admin`).
Usernames are the role's name plus a number (`rep1` ... `rep6`,
`sales_manager1`), so the login page's user knows what they will see.
"""
from __future__ import annotations

import random
from functools import lru_cache

from argon2 import PasswordHasher
from sqlalchemy import update

from ..records import Records
from ..users import Users
from . import pools
from .generic import DemoUser

DEMO_PASSWORD = "demo1234"
DEFAULT_TEAMS = ("north", "south")


@lru_cache(maxsize=4)
def _hash(password: str) -> str:
    """One argon2 hash for every demo user (and every demo run of a process): it is slow on purpose."""
    return PasswordHasher().hash(password)


def plan_users(records: Records, teams: tuple[str, str] = DEFAULT_TEAMS) -> list[tuple[str, str, str | None]]:
    """(username, role, team) for every demo user, in a stable order."""
    roles = records.config.roles
    inherited = {r.inherits for r in roles.values() if r.inherits}
    base = [name for name in roles if name in inherited and not roles[name].all]
    if not base:
        base = [name for name in roles if not roles[name].all][:1]
    out: list[tuple[str, str, str | None]] = []
    for name, role in roles.items():
        if role.all:
            out.append(("admin" if "admin" not in roles or name == "admin" else name, name, None))
        elif name in base[:1]:
            out.extend((f"{name}{i + 1}", name, teams[i // 3 % 2]) for i in range(6))
        elif role.inherits and role.inherits in base[:1]:
            out.extend((f"{name}{i + 1}", name, teams[i % 2]) for i in range(2))
        else:
            out.append((name, name, None))
    return out


def make_users(records: Records, rng: random.Random, teams: tuple[str, str] = DEFAULT_TEAMS,
               password: str = DEMO_PASSWORD) -> tuple[list[DemoUser], list[DemoUser]]:
    """Creates the demo users; returns (everyone, the sales reps who own most records)."""
    directory = Users(records.config, records.engine, records.tables)
    planned = plan_users(records, teams)
    base_role = next((role for _, role, team in planned if team is not None), None)
    users: list[DemoUser] = []
    for username, role, team in planned:
        family, given = pools.person(rng)
        full_name = f"{family} {given}"
        email = f"{pools.slug(given)}.{pools.slug(family)}@demo.example"
        actor = directory.add(username, roles=[role], team=team, full_name=full_name, email=email,
                              locale=records.config.company.locales[0])
        users.append(DemoUser(actor.id or 0, username, full_name, team, (role,)))
    hashed = _hash(password)
    table = records.tables.users
    with records.engine.begin() as conn:
        conn.execute(update(table).where(table.c.username.in_([u.username for u in users]))
                     .values(password_hash=hashed))
    owners = [u for u in users if base_role in u.roles]
    return users, owners
