"""Command-line handlers for `crm import`, `crm export` and `crm test`.

Thin, like `admin.py`: load the configuration, open the database, resolve
`--as USER` (default: the built-in administrator), call the service, print.
A refusal becomes readable lines on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from contextlib import contextmanager
from typing import Iterator

from .actor import SYSTEM, Actor
from .admin import _open, _run
from .errors import DomainError


def _actor(config, engine, tables, username: str | None) -> Actor:
    from .users import Users
    if not username or username == SYSTEM.username:
        return SYSTEM
    actor = Users(config, engine, tables).actor(username)
    if actor is None:
        raise DomainError(f"there is no active user '{username}'")
    return actor


@_run
def cmd_import(args: argparse.Namespace) -> int:
    from .importer import import_csv
    from .import_users import import_users
    from .records import Records
    config, engine, tables = _open(args)
    records = Records(config, engine, tables)
    progress = None if args.quiet else sys.stderr
    if args.entity == "user":
        result = import_users(records, args.file, default_roles=args.role, dry_run=args.dry_run,
                              report=args.report, progress=progress)
    else:
        actor = _actor(config, engine, tables, args.as_user)
        with _stop_signals_as_exit():
            result = import_csv(records, actor, args.entity, args.file, dry_run=args.dry_run,
                                report=args.report, chunk_size=args.chunk_size, progress=progress,
                                workers=args.workers, bulk=_bulk_choice(args), after_batch=_batch_pause())
    print(result.summary())
    if result.refused:
        where = f"; see {args.report}" if args.report else "; write them out with --report FILE"
        print(f"{result.refused:,} rows refused{where}", file=sys.stderr)
    return 0 if not result.refused else 3


@contextmanager
def _stop_signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) end the import as Ctrl-C does: through its
    `finally`, so a bulk import builds its indexes again before the process ends."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    kept = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def _bulk_choice(args: argparse.Namespace) -> bool | None:
    """--keep-indexes: never bulk mode; --drop-indexes: always; neither: the importer decides by size."""
    return False if args.keep_indexes else True if args.drop_indexes else None


def _batch_pause():
    """Test hook: a pause after each written batch, so a test can kill the process mid-import."""
    pause = float(os.environ.get("CRM_IMPORT_BATCH_PAUSE", "0") or 0)
    if not pause:
        return None

    def after_batch(rows: int) -> None:
        print(f"  written: {rows} rows", flush=True)
        time.sleep(pause)
    return after_batch


@_run
def cmd_export(args: argparse.Namespace) -> int:
    from .exporter import export_records
    from .records import Records
    config, engine, tables = _open(args)
    records = Records(config, engine, tables)
    actor = _actor(config, engine, tables, args.as_user)
    fmt = args.format or ("xlsx" if args.out and args.out.endswith(".xlsx") else "csv")
    try:
        with _output(args.out, binary=fmt == "xlsx") as out:
            count = export_records(records, actor, args.entity, out, fmt=fmt, filter_expr=args.filter)
    except BrokenPipeError:          # `crm export deal | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"{args.entity}: exported {count:,} records" + (f" to {args.out}" if args.out else ""),
          file=sys.stderr)
    return 0


@contextmanager
def _output(path: str | None, *, binary: bool) -> Iterator:
    if path:
        with open(path, "wb" if binary else "w", **({} if binary else {"newline": "", "encoding": "utf-8"})) as f:
            yield f
    elif binary:
        yield sys.stdout.buffer
    else:
        yield sys.stdout


def cmd_test(args: argparse.Namespace) -> int:
    from ..metadata.errors import ConfigInvalid
    from ..metadata.loader import load_config
    from .scenarios import report_line, run_test, summary_line
    try:
        config = load_config(args.dir)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error)
        print(f"{args.dir} is not valid; no test ran", file=sys.stderr)
        return 1
    outcomes = []
    for test in config.tests:
        outcome = run_test(config, test)
        outcomes.append(outcome)
        print(report_line(outcome), flush=True)
    print(summary_line(outcomes))
    return 0 if all(o.passed for o in outcomes) else 1
