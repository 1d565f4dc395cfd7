"""Command-line handlers for users and access (`crm user ...`, `crm access ...`).

Thin: each loads the configuration, opens the database, calls a service
(`Users`, `Permissions`) and prints. Domain errors become one readable line
on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Callable

from sqlalchemy import Engine, inspect

from ..metadata import model as m
from .errors import DomainError, ValidationFailed
from .tables import Tables, build_tables


def _open(args: argparse.Namespace) -> tuple[m.Config, Engine, Tables]:
    from ..metadata.loader import load_config
    from .db import make_engine

    config = load_config(args.config)
    engine = make_engine(args.db)
    if not inspect(engine).has_table("crm_users"):
        raise DomainError("the database has no engine tables yet: run `crm migrate` first")
    return config, engine, build_tables(config)


def _run(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapped(args: argparse.Namespace) -> int:
        from ..metadata.errors import ConfigInvalid
        try:
            return fn(args)
        except ConfigInvalid as exc:
            print(exc, file=sys.stderr)
            return 1
        except ValidationFailed as exc:
            for field, messages in exc.fields.items():
                for message in messages:
                    print(f"{field}: {message}", file=sys.stderr)
            for message in exc.messages:
                print(message, file=sys.stderr)
            return 1
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 1
    return wrapped


@_run
def user_add(args: argparse.Namespace) -> int:
    from .users import Users
    config, engine, tables = _open(args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("the passwords differ", file=sys.stderr)
            return 1
    actor = Users(config, engine, tables).add(
        args.name, roles=args.role, team=args.team, full_name=args.full_name or "",
        email=args.email, phone=args.phone, locale=args.locale, password=password or None)
    print(f"user {actor.username} added (id {actor.id}; roles {', '.join(sorted(actor.roles))}; "
          f"team {actor.team or '-'})")
    return 0


@_run
def user_list(args: argparse.Namespace) -> int:
    from .users import Users
    config, engine, tables = _open(args)
    rows = Users(config, engine, tables).list()
    print(f"{'username':<20} {'team':<16} {'roles':<30} {'active':<6} full name")
    for u in rows:
        print(f"{u.username:<20} {u.team or '-':<16} {','.join(u.roles) or '-':<30} "
              f"{'yes' if u.active else 'no':<6} {u.full_name}")
    return 0


@_run
def user_disable(args: argparse.Namespace) -> int:
    from .users import Users
    config, engine, tables = _open(args)
    Users(config, engine, tables).disable(args.name)
    print(f"user {args.name} disabled")
    return 0


@_run
def access(args: argparse.Namespace) -> int:
    from .actor import SYSTEM
    from .permissions import Permissions
    from .users import Users
    config, engine, tables = _open(args)
    actor = SYSTEM if args.user == SYSTEM.username else Users(config, engine, tables).actor(args.user)
    if actor is None:
        print(f"there is no active user '{args.user}'", file=sys.stderr)
        return 1
    for line in Permissions(config, tables, engine).explain(actor, args.entity, args.id):
        print(line)
    return 0


def add_arguments(sub: argparse._SubParsersAction) -> None:
    """Adds `crm user add|list|disable` and `crm access` to the `crm` parser."""
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default="configs", help="configuration folder (default: configs)")
        p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")

    user = sub.add_parser("user", help="add, list and disable users")
    users = user.add_subparsers(dest="user_command", required=True)
    p = users.add_parser("add", help="add a user (password from a prompt, or --password-stdin)")
    p.add_argument("name")
    p.add_argument("--role", action="append", default=[], required=True, help="a role (repeatable)")
    p.add_argument("--team", default=None)
    p.add_argument("--full-name", default=None)
    p.add_argument("--email", default=None)
    p.add_argument("--phone", default=None)
    p.add_argument("--locale", default=None)
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    common(p)
    p.set_defaults(func=user_add)
    p = users.add_parser("list", help="list users with their team and roles")
    common(p)
    p.set_defaults(func=user_list)
    p = users.add_parser("disable", help="disable a user (they can no longer log in)")
    p.add_argument("name")
    common(p)
    p.set_defaults(func=user_disable)

    p = sub.add_parser("access", help="explain what a user may do on an entity (or one record)")
    p.add_argument("user", help="username ('system' for the built-in administrator)")
    p.add_argument("entity")
    p.add_argument("id", nargs="?", type=int, default=None)
    common(p)
    p.set_defaults(func=access)
