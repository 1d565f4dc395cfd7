"""Who is acting: the explicit user every runtime service call takes.

An `Actor` is a plain value (no database handle): the web layer makes one at
login (`users.authenticate`), the scenario runner and the CLI use `SYSTEM`,
the built-in administrator that may do everything and owns nothing.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """A user as the services see it. `id` is None only for the built-in system actor."""

    id: int | None
    username: str
    team: str | None = None
    roles: frozenset[str] = frozenset()
    locale: str | None = None
    full_name: str = ""
    email: str | None = None
    system: bool = False       # the built-in administrator: every permission, no record scope

    def __post_init__(self) -> None:
        if not isinstance(self.roles, frozenset):
            object.__setattr__(self, "roles", frozenset(self.roles))


SYSTEM = Actor(id=None, username="system", full_name="System", system=True)
"""The built-in administrator used by scenario tests (steps without `as_user`) and the CLI."""
