"""`crm import user FILE.csv`: the built-in user directory from a CSV file, in batches.

Columns (by name, any case): `username` (required), `full_name`, `email`,
`phone`, `locale`, `team`, `roles` (separated by `,` `;` or `|`), `active`,
and `id` (kept, so other files can name users by the ids of the system they
come from: `owner_id`). Rows without roles get `default_roles`. Teams are
created on first use. Each row is checked like `Users.add` (e-mail, phone,
roles of the configuration, a username not yet taken); refused rows go to the
report and the good ones are written, one transaction per chunk. Passwords are
never imported: users set them with `crm user` or the admin UI.
"""
from __future__ import annotations

import os
import time
from typing import IO, Any, Iterable

from sqlalchemy import insert, select, text

from .csvio import Progress, RefusalReport, open_csv_stream
from .errors import ValidationFailed
from .import_columns import fold
from .importer import ImportResult, _chunks
from .records import Records
from .values import ValueContext, convert
from ..metadata import model as m
from ..metadata.errors import Location

COLUMNS = ("id", "username", "full_name", "email", "phone", "locale", "team", "roles", "active")
_EMAIL = m.Field("email", "email", m.label_from_name("email"), Location("<users>"))
_PHONE = m.Field("phone", "phone", m.label_from_name("phone"), Location("<users>"))
_TRUE = {"true", "1", "yes", "y", "igen", "ja"}


def import_users(records: Records, path: str | os.PathLike[str], *, default_roles: Iterable[str] = (),
                 dry_run: bool = False, report: str | os.PathLike[str] | None = None,
                 chunk_size: int = 2000, progress: IO[str] | None = None) -> ImportResult:
    """Creates the users of `path`; returns what an entity import returns."""
    config, tables = records.config, records.tables
    ctx = ValueContext.for_config(config)
    started = time.perf_counter()
    bar = Progress(progress, started)
    refusals = RefusalReport(report)
    defaults = sorted(set(default_roles))
    unknown_defaults = [r for r in defaults if r not in config.roles]
    if unknown_defaults:
        raise ValidationFailed({"roles": [f"'{r}' is not a role of this configuration" for r in unknown_defaults]})
    rows = imported = 0
    users, roles_table, teams = tables.users, tables("crm_user_roles"), tables("crm_teams")
    try:
        with open_csv_stream(path) as source:
            header = [fold(h).replace(" ", "_") for h in next(source.rows, [])]
            unknown = [h for h in header if h not in COLUMNS]
            if unknown or "username" not in header:
                raise ValidationFailed({"columns": [f"'{h}' is not a user column ({', '.join(COLUMNS)})"
                                                    for h in unknown] or ["the file needs a 'username' column"]})
            for chunk in _chunks(source, chunk_size):
                rows += len(chunk)
                good: list[dict[str, Any]] = []
                for line, cells in chunk:
                    values = dict(zip(header, cells))
                    problems = _check(values, len(cells) == len(header), defaults, config, ctx)
                    if problems:
                        refusals.add(line, problems)
                    else:
                        good.append({"line": line, **values})
                context = records.engine.connect() if dry_run else records.transaction()
                with context as conn:
                    names = [g["username"] for g in good]
                    ids = [g["id"] for g in good if g.get("id")]
                    taken = set(conn.execute(select(users.c.username).where(users.c.username.in_(names))).scalars())
                    taken_ids = set(conn.execute(select(users.c.id).where(users.c.id.in_(ids))).scalars())
                    fresh = []
                    for g in good:
                        if g["username"] in taken or g.get("id") in taken_ids:
                            what = "username" if g["username"] in taken else "id"
                            refusals.add(g["line"], [(what, f"a user with this {what} already exists")])
                        else:
                            taken.add(g["username"])
                            if g.get("id"):
                                taken_ids.add(g["id"])
                            fresh.append(g)
                    imported += len(fresh)
                    if not dry_run and fresh:
                        _write(conn, records, fresh, users, roles_table, teams)
                bar.update(rows, refusals.rows, source.fraction())
    finally:
        refusals.close()
    bar.update(rows, refusals.rows, 1.0, final=True)
    return ImportResult("user", rows, imported, refusals.rows, time.perf_counter() - started, dry_run)


def _check(values: dict[str, Any], complete: bool, defaults: list[str], config, ctx) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not complete:
        return [("", "the row does not have as many cells as the header")]
    username = (values.get("username") or "").strip()
    values["username"] = username
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        problems.append(("username", "must be 1-64 characters without spaces"))
    raw_id = (values.get("id") or "").strip()
    values["id"] = int(raw_id) if raw_id.isdigit() and 0 < int(raw_id) < 2**31 else None
    if raw_id and values["id"] is None:
        problems.append(("id", "must be a positive whole number"))
    for name, f in (("email", _EMAIL), ("phone", _PHONE)):
        value, errors = convert(f, values.get(name) or None, ctx)
        problems.extend((name, e) for e in errors)
        values[name] = value
    roles = [r.strip() for r in (values.get("roles") or "").replace(";", ",").replace("|", ",").split(",")
             if r.strip()] or defaults
    problems.extend(("roles", f"'{r}' is not a role of this configuration") for r in roles if r not in config.roles)
    values["roles"] = sorted(set(roles))
    team = (values.get("team") or "").strip() or None
    if team is not None and len(team) > 40:
        problems.append(("team", "must be 1-40 characters"))
    values["team"] = team
    locale = (values.get("locale") or "").strip() or None
    if locale and locale not in config.company.locales:
        problems.append(("locale", f"must be one of {', '.join(config.company.locales)}"))
    values["locale"] = locale
    active = (values.get("active") or "").strip().lower()
    values["active"] = not active or active in _TRUE
    return problems


def _write(conn, records: Records, fresh: list[dict[str, Any]], users, roles_table, teams) -> None:
    wanted = {g["team"] for g in fresh if g["team"]}
    if wanted:
        known = set(conn.execute(select(teams.c.name).where(teams.c.name.in_(wanted))).scalars())
        if wanted - known:
            conn.execute(insert(teams), [{"name": t, "label": t} for t in sorted(wanted - known)])
    now = records.clock()
    columns = ("username", "full_name", "email", "phone", "locale", "team", "active")
    for group in ([g for g in fresh if g["id"]], [g for g in fresh if not g["id"]]):
        if not group:
            continue
        rows = [{**{c: g.get(c) for c in columns}, "full_name": g.get("full_name") or g["username"],
                 "created_at": now, **({"id": g["id"]} if g["id"] else {})} for g in group]
        statement = insert(users).returning(users.c.id, sort_by_parameter_order=True)
        for g, user_id in zip(group, conn.execute(statement, rows).scalars().all()):
            g["id"] = user_id
    grants = [{"user_id": g["id"], "role": r} for g in fresh for r in g["roles"]]
    if grants:
        conn.execute(insert(roles_table), grants)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval(pg_get_serial_sequence('crm_users', 'id'), "
                          "COALESCE((SELECT MAX(id) FROM crm_users), 0) + 1, false)"))
