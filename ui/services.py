"""What the web handlers work with: one configuration's services, built once per Config.

    services = build_services(config, engine)
    request.app.state.services.users.authenticate(...)

Handlers read `request.app.state.services` on every request (never keep it), so
a new configuration revision can later be swapped in by replacing one object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, TypeVar

from sqlalchemy import Engine

from engine.metadata import model as m
from engine.runtime.alerts.inbox import Inbox
from engine.runtime.alerts.queue import install as install_alerts
from engine.runtime.files import Files
from engine.runtime.permissions import Permissions
from engine.runtime.records import Records
from engine.runtime.tables import Tables, build_tables
from engine.runtime.users import Users
from engine.runtime.workflow import Workflow

from .i18n import LOCALE_DIR, Catalogs
from .page_store import PageMemo

T = TypeVar("T")
DERIVED_KEPT = 4096     # users (role sets) x languages x entities: bounded all the same


@dataclass(frozen=True, slots=True)
class Services:
    """The runtime services of one Config revision, plus its UI catalogs."""

    config: m.Config
    engine: Engine
    tables: Tables
    users: Users
    permissions: Permissions
    catalogs: Catalogs
    records: Records
    files: Files
    workflow: Workflow | None = None       # move / approve / reject / convert (engine/runtime/workflow)
    inbox: Inbox | None = None             # notifications and a record's messages (its statements kept)
    # What pages derive from this configuration alone (and the user), worked out once: a new
    # revision builds new Services, so nothing here outlives the configuration it came from.
    derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)
    # Record pages kept while the database is unchanged (ui/page_memo.py), for this revision only.
    pages: PageMemo = field(default_factory=PageMemo, compare=False, repr=False)

    def derive(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()`, worked out once per configuration for `key` (which must name everything
        the answer depends on besides the configuration) and kept in `derived`, bounded."""
        found = self.derived.get(key)
        if found is None:
            if len(self.derived) >= DERIVED_KEPT:
                self.derived.clear()
            found = self.derived[key] = build()
        return found  # type: ignore[no-any-return]

    def set_locale(self, user_id: int, locale: str) -> None:
        """Stores the user's UI language (`Users.set_locale`: the signed-in user's memory follows at once)."""
        self.users.set_locale(user_id, locale)


def build_services(config: m.Config, engine: Engine) -> Services:
    tables = build_tables(config)
    permissions = Permissions(config, tables, engine)
    records = Records(config, engine, tables, permissions=permissions)
    alerts = install_alerts(records)     # event alerts fire after each committed save (engine/runtime/alerts)
    workflow = Workflow(config, engine, tables, records)   # wires scoring, approvals, stages into saves
    alerts.follow_approvals(workflow.approvals)             # approvers and requesters told after each commit
    return Services(
        config=config,
        engine=engine,
        tables=tables,
        users=Users(config, engine, tables),
        permissions=permissions,
        catalogs=Catalogs.load(LOCALE_DIR, config.company.locales),
        records=records,
        files=Files(config, engine, tables, records),
        workflow=workflow,
        inbox=Inbox(engine, tables, permissions),
    )
