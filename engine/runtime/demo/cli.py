"""`crm demo`: migrate a database, fill it with demo data, print the logins.

    crm demo [--config DIR] [--db URL] [--scale N] [--seed S] [--reset] [--keep]

Refuses a database that already has records (demo data goes into an empty
database only); `--reset` deletes a SQLite file first, and refuses for
PostgreSQL, whose database the user drops and re-creates themselves; `--keep`
(used by `make demo`) accepts a database that already has this demo's data
and only prints the logins again.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from .people import DEFAULT_TEAMS, DEMO_PASSWORD, plan_users

WEB_URL = "http://127.0.0.1:8000"


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="create an empty database's tables and fill them with demo data (demo logins printed)")
    p.add_argument("--config", default="configs", help="configuration folder (default: configs)")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--scale", type=_scale, default=1.0, help="multiply the amount of data (default 1: a few thousand records)")
    p.add_argument("--seed", type=int, default=1, help="random seed: the same seed makes the same data (default 1)")
    p.add_argument("--reset", action="store_true", help="delete the SQLite database file first (not for PostgreSQL)")
    p.add_argument("--keep", action="store_true", help="if the database already has this demo's data, keep it and only print the logins")
    p.set_defaults(func=cmd_demo)


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a number, not '{text}'") from None
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"--scale must be above 0 and at most 1000, not {text}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    from ...metadata.errors import ConfigInvalid
    from ...metadata.loader import load_config
    from ..db import database_url, make_engine
    from ..revisions import RevisionRefused, push
    from ..records import Records
    from ..tables import build_tables
    from .company import make_domain
    from .run import generate, has_records

    url = database_url(args.db)
    if args.reset and not make_url(url).drivername.startswith("sqlite"):
        print(f"crm demo: {_reset(url)}", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        print(f"crm demo: {args.config} is not a valid configuration; nothing was written", file=sys.stderr)
        return 1
    if args.reset:
        _reset(url)
    engine = make_engine(url)
    try:
        try:
            # Recorded as the active revision, so `crm serve` finds the folder already pushed. The
            # shipped scenario tests are not rerun here: demo data goes into an empty database only.
            push(engine, args.config, author="crm demo", reason="demo database", run_scenarios=False)
        except RevisionRefused as exc:
            print(exc, file=sys.stderr)
            for line in exc.details:
                print(f"  {line}", file=sys.stderr)
            print(f"crm demo: the database at {_shown(url)} does not match {args.config}; use an empty database",
                  file=sys.stderr)
            return 1
        records = Records(config, engine, build_tables(config))
        domain = make_domain(config)
        planned = plan_users(records, domain.teams if domain else DEFAULT_TEAMS)
        users = records.tables.users
        with engine.connect() as conn:
            existing = set(conn.execute(select(users.c.username)).scalars())
        demo_there = bool(existing) and {u for u, _, _ in planned} <= existing
        if has_records(records) or existing:
            if args.keep and demo_there:
                print(f"The database at {_shown(url)} already has demo data: kept as it is.")
                _print_logins(planned, url)
                return 0
            print(f"crm demo: the database at {_shown(url)} already has "
                  f"{'records' if has_records(records) else 'users'}; demo data goes into an empty database only. "
                  f"Use --reset to delete a SQLite file first, or give another --db.", file=sys.stderr)
            return 1
        print(f"Filling {_shown(url)} with demo data for {config.company.name} (scale {args.scale:g}, seed {args.seed}) ...",
              flush=True)
        result = generate(records, scale=args.scale, seed=args.seed, domain=domain)
    finally:
        engine.dispose()
    width = max(len(name) for name in result.counts) if result.counts else 10
    for entity, count in result.counts.items():
        print(f"  {entity:<{width}}  {count:>8,}")
    print(f"{result.total:,} records and {len(result.users)} users in {result.seconds:.1f} s.")
    if result.refused:
        dropped = sum(len(v) for v in result.refused.values())
        print(f"{dropped:,} generated rows were refused by the configuration's rules and left out:", file=sys.stderr)
        for line in result.refusal_lines(3):
            print(f"  {line}", file=sys.stderr)
    _print_logins(planned, url)
    return 0


def _reset(url: str) -> str | None:
    """Deletes the SQLite file of `url`; the reason it cannot, or None."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return (f"--reset only deletes SQLite files; it will not empty the PostgreSQL database {_shown(url)}. "
                f"Drop and re-create it yourself (e.g. `dropdb NAME && createdb NAME`), then run crm demo again.")
    path = parsed.database
    if not path or path == ":memory:":
        return None
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = Path(path + suffix)
        if candidate.exists():
            os.remove(candidate)
    return None


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _print_logins(planned: list[tuple[str, str, str | None]], url: str) -> None:
    print()
    print(f"Web UI: {WEB_URL}   (start it with: crm serve --db {_shown(url)})")
    print(f"Demo logins — every user's password is '{DEMO_PASSWORD}' (DEMO ONLY: never use these accounts on real data):")
    width = max(len(name) for name, _, _ in planned) + 2
    roles = max(len(role) for _, role, _ in planned) + 2
    for username, role, team in planned:
        print(f"  {username:<{width}}{role:<{roles}}{team or ''}".rstrip())
