"""`crm config push|pull|log|rollback`: configuration revisions from the command line (revisions.py)."""
from __future__ import annotations

import argparse
import getpass
import sys

from .migrate import MigrationRefused


def _author(args: argparse.Namespace) -> str:
    if args.author:
        return args.author
    try:
        return getpass.getuser()
    except Exception:       # no user name in this environment (containers): still say something
        return "unknown"


def _run(args: argparse.Namespace, action) -> int:
    from .db import make_engine
    from .errors import DomainError
    engine = make_engine(args.db)
    try:
        return action(engine)
    except MigrationRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    except DomainError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def cmd_push(args: argparse.Namespace) -> int:
    from . import revisions as rv

    def act(engine) -> int:
        before = rv.active(engine)
        rev = rv.push(engine, args.dir, author=_author(args), reason=args.reason, confirm=args.confirm,
                      base=args.base)
        if before is not None and before.id == rev.id:
            print(f"Nothing to do: {args.dir} is the active revision #{rev.id} ({rev.revision}).")
        else:
            print(f"Pushed revision #{rev.id} ({rev.revision}), parent {rev.parent or '-'}: now active.")
        return 0
    return _run(args, act)


def cmd_pull(args: argparse.Namespace) -> int:
    from . import revisions as rv

    def act(engine) -> int:
        rev = rv.pull(engine, args.dir, force=args.force)
        print(f"Wrote revision #{rev.id} ({rev.revision}): {len(rev.files)} files into {args.dir}.")
        return 0
    return _run(args, act)


def cmd_log(args: argparse.Namespace) -> int:
    from . import revisions as rv

    def act(engine) -> int:
        revisions = rv.log(engine)
        if not revisions:
            print("No revisions yet (crm config push DIR).")
        for rev in revisions:
            print(rev.describe())
        return 0
    return _run(args, act)


def cmd_rollback(args: argparse.Namespace) -> int:
    from . import revisions as rv

    def act(engine) -> int:
        before = rv.active(engine)
        rev = rv.rollback(engine, args.rev, author=_author(args), reason=args.reason, confirm=args.confirm)
        if before is not None and before.id == rev.id:
            print(f"Nothing to do: revision #{rev.id} ({rev.revision}) already has that content.")
            return 0
        print(f"Rolled back: revision #{rev.id} ({rev.revision}) is active, parent {rev.parent or '-'}.")
        return 0
    return _run(args, act)


def add_arguments(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="configuration revisions stored in the database")
    commands = config.add_subparsers(dest="config_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")

    p = commands.add_parser("push", help="validate, test, plan and apply a folder as the new active revision")
    p.add_argument("dir")
    common(p)
    p.add_argument("--author", default=None, help="who made the change (default: the OS user)")
    p.add_argument("--reason", default=None, help="why (shown by `crm config log`)")
    p.add_argument("--confirm", action="store_true", help="also run plan steps that need confirmation")
    p.add_argument("--base", default=None, metavar="REV",
                   help="refuse with a conflict unless REV (hash or #id) is still the active revision")
    p.set_defaults(func=cmd_push)

    p = commands.add_parser("pull", help="write the active revision's files into a folder")
    p.add_argument("dir")
    common(p)
    p.add_argument("--force", action="store_true", help="overwrite changes nobody pushed")
    p.set_defaults(func=cmd_pull)

    p = commands.add_parser("log", help="list the revisions, newest first (* = active)")
    common(p)
    p.set_defaults(func=cmd_log)

    p = commands.add_parser("rollback", help="make an earlier revision's content active again, as a new revision")
    p.add_argument("rev", help="row number (#3 or 3) or content hash (prefix)")
    common(p)
    p.add_argument("--author", default=None, help="who rolls back (default: the OS user)")
    p.add_argument("--reason", default=None)
    p.add_argument("--confirm", action="store_true", help="also run plan steps that need confirmation")
    p.set_defaults(func=cmd_rollback)
