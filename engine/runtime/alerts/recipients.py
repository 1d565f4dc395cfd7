"""Who an alert tells about a record: `to` specs -> users who may read that record.

`to: owner` (any `user` field of the record), `{role: R}` (every active user
with the role), `{role: R, team: same}` (only those in the record's team: its
`team` column, else its owner's team), `{user: name}`. Whether a recipient
may read the record is decided by their own read of it (visibility.py): one
the permission filter does not let read it gets nothing.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, select

from ...metadata import model as m
from ..actor import Actor
from ..tables import Tables

USER_COLUMNS = ("id", "username", "full_name", "email", "phone", "locale", "team", "active")


class Directory:
    """The active users and their roles, read once per batch."""

    def __init__(self, conn: Connection, tables: Tables):
        users = tables.users
        roles = tables("crm_user_roles")
        self.users: dict[int, dict[str, Any]] = {
            r["id"]: dict(r) for r in conn.execute(
                select(*[users.c[c] for c in USER_COLUMNS]).where(users.c.active.is_(True))).mappings()}
        self.roles: dict[int, set[str]] = defaultdict(set)
        for user_id, role in conn.execute(select(roles.c.user_id, roles.c.role)):
            self.roles[user_id].add(role)
        self.by_name = {u["username"]: uid for uid, u in self.users.items()}

    def actor(self, user_id: int) -> Actor:
        u = self.users[user_id]
        return Actor(id=user_id, username=u["username"], team=u["team"], roles=frozenset(self.roles[user_id]),
                     locale=u["locale"], full_name=u["full_name"] or "", email=u["email"])

    def with_role(self, role: str) -> list[int]:
        return [uid for uid in self.users if role in self.roles[uid]]


def record_team(record: Mapping[str, Any], directory: Directory) -> str | None:
    if record.get("team"):
        return record["team"]
    owner = record.get("owner")
    return directory.users.get(owner, {}).get("team") if owner is not None else None


def resolve(alert: m.Alert, records: Iterable[Mapping[str, Any]], directory: Directory
            ) -> dict[int, list[tuple[int, tuple[str, ...]]]]:
    """record id -> [(user id, channels)], each user once per record with the union of their channels."""
    out: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
    for record in records:
        wanted: dict[int, list[str]] = {}
        for spec in alert.notify:
            for user_id in _users_of(spec, record, directory):
                channels = wanted.setdefault(user_id, [])
                channels.extend(ch for ch in spec.via if ch not in channels)
        out[int(record["id"])] = [(uid, tuple(chs)) for uid, chs in wanted.items()]
    return out


def _users_of(spec: m.Recipient, record: Mapping[str, Any], directory: Directory) -> list[int]:
    if spec.field:
        value = record.get(spec.field)
        values = value if isinstance(value, list) else [value]
        return [int(v) for v in values if v is not None and int(v) in directory.users]
    target = spec.target
    if target is None:
        return []
    if target.user:
        uid = directory.by_name.get(target.user)
        return [uid] if uid is not None else []
    users = directory.with_role(target.role) if target.role else list(directory.users)
    if target.same_team:
        team = record_team(record, directory)
        users = [u for u in users if team is not None and directory.users[u]["team"] == team]
    elif target.team:
        users = [u for u in users if directory.users[u]["team"] == target.team]
    return users if (target.role or target.team) else []


def user_view(user: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A user as templates see one (`record.owner.full_name`, `user.email`)."""
    if user is None:
        return None
    return {k: user.get(k) for k in ("id", "username", "full_name", "email", "phone", "locale", "team")}
