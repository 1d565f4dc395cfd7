"""The `crm` command: validate, schema, and (as the engine grows) the rest of the lifecycle."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def cmd_validate(args: argparse.Namespace) -> int:
    from .metadata.loader import validate_folder
    started = time.perf_counter()
    config, errors = validate_folder(args.dir)
    elapsed = time.perf_counter() - started
    if errors:
        for error in errors:
            print(error)
        print(f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {args.dir}", file=sys.stderr)
        return 1
    assert config is not None
    print(f"{args.dir}: valid ({len(config.entities)} entities, {len(config.pipelines)} pipelines, "
          f"{len(config.approvals)} approvals, {len(config.alerts)} alerts, "
          f"{len(config.reports) + len(config.kpis) + len(config.quotas) + len(config.dashboards)} reports/KPIs/quotas/dashboards, "
          f"{len(config.tests)} tests; revision {config.revision}; {elapsed * 1000:.0f} ms)")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .metadata.schemas import write_schemas
    written = write_schemas(Path(args.out))
    for path in written:
        print(path)
    return 0


def _migration_target(args: argparse.Namespace):
    """The configuration and database engine a plan/migrate command works on; None after printing errors."""
    from .metadata.errors import ConfigInvalid
    from .metadata.loader import load_config
    from .runtime.db import make_engine
    try:
        config = load_config(args.config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(error)
        print(f"{args.config} is not valid; nothing was planned", file=sys.stderr)
        return None
    return config, make_engine(args.db)


def cmd_plan(args: argparse.Namespace) -> int:
    from .runtime.plan import plan_migration
    target = _migration_target(args)
    if target is None:
        return 1
    config, engine = target
    try:
        plan = plan_migration(engine, config, purge=args.purge)
    finally:
        engine.dispose()
    print(plan.report())
    return 2 if plan.refused else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    import os

    from .runtime.migrate import MigrationRefused, migrate
    target = _migration_target(args)
    if target is None:
        return 1
    config, engine = target
    # Test hook: a pause after each step, so a test can kill the process mid-migration.
    pause = float(os.environ.get("CRM_MIGRATE_STEP_PAUSE", "0") or 0)

    def progress(i: int, step) -> None:
        print(f"  ran: {step.describe()}", flush=True)
        if pause:
            time.sleep(pause)

    try:
        from .runtime.import_bulk import repair_interrupted
        for line in repair_interrupted(engine):
            print(f"  {line}")
        applied = migrate(engine, config, purge=args.purge, confirm=args.confirm, after_step=progress)
        # Search indexes (FTS5 / pg_trgm) follow the tables: created, or repaired after a table copy.
        from .runtime.search import ensure_search_index
        for line in ensure_search_index(engine, config):
            print(f"  {line}")
    except MigrationRefused as exc:
        print(exc)
        return 1
    finally:
        engine.dispose()
    if not applied:
        print(f"Nothing to do: the database matches configuration revision {config.revision}.")
    for done in applied:
        print(f"Migrated to revision {done.revision}: {len(done.steps)} step{'s' if len(done.steps) != 1 else ''} "
              f"in {done.seconds * 1000:.0f} ms (committed).")
    return 0


def add_migration_commands(sub) -> None:
    """`crm plan` and `crm migrate`."""
    p = sub.add_parser("plan", help="show every statement a migration would run, classified; change nothing")
    p.add_argument("--config", default="configs")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--purge", action="store_true", help="also plan dropping retired fields and entities")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("migrate", help="bring the database to the configuration, all or nothing "
                                       "(--confirm for the steps that need it)")
    p.add_argument("--config", default="configs")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--confirm", action="store_true", help="also run the steps that need confirmation")
    p.add_argument("--purge", action="store_true", help="drop retired fields and entities (needs --confirm)")
    p.set_defaults(func=cmd_migrate)


# Commands that never touch a database: `crm validate` runs in editors and
# pre-commit hooks, so it answers without importing the runtime (SQLAlchemy,
# the web stack, the job queue), which would double its start-up time.
LIGHT_COMMANDS = ("validate", "schema")


def build_parser(*, light: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="A CRM engine configured in YAML.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a configuration folder; print every error")
    p.add_argument("dir", nargs="?", default="configs")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="write the JSON Schema of every file kind (for editors)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_schema)
    if light:
        return parser
    add_records_commands(sub)
    add_migration_commands(sub)
    add_serve_command(sub)
    add_import_export_commands(sub)
    add_test_command(sub)
    add_worker_command(sub)
    add_demo_command(sub)
    add_report_command(sub)
    add_config_commands(sub)
    return parser


def add_records_commands(sub: argparse._SubParsersAction) -> None:
    """`crm user add|list|disable` and `crm access USER ENTITY [ID]` (engine/runtime/admin.py)."""
    from .runtime.admin import add_arguments
    add_arguments(sub)


def add_serve_command(sub: argparse._SubParsersAction) -> None:
    """`crm serve`: the web UI (ui/serve.py); the session key is CRM_SECRET_KEY or var/secret_key."""
    p = sub.add_parser("serve", help="run the web UI on the database's active configuration revision")
    p.add_argument("--config", default=None,
                   help="push this folder as a new revision first when it differs from the active one "
                        "(default: serve the active revision; configs/ when the database has none)")
    p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--secure-cookies", action="store_true",
                   help="mark the session cookie Secure (use whenever the site is served over HTTPS)")
    p.add_argument("--no-access-log", action="store_true", help="do not log a line per request")
    p.add_argument("--no-page-memo", action="store_true",
                   help="render every record page (by default, on SQLite, a page is served again "
                        "while the database is unchanged)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    p.add_argument("--worker", action="store_true",
                   help="also run the job queue consumer (`crm worker`) in this process (one-machine installs)")
    p.add_argument("--worker-threads", type=int, default=2, help="threads of that consumer (default 2)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.serve import ServeOptions, serve
    return serve(ServeOptions(config_dir=args.config, db_url=args.db, host=args.host, port=args.port,
                              secure_cookies=args.secure_cookies,
                              access_log=not getattr(args, "no_access_log", False),
                              page_memo=not getattr(args, "no_page_memo", False),
                              workers=max(1, args.workers), worker=args.worker,
                              worker_threads=max(1, args.worker_threads)))


def add_import_export_commands(sub: argparse._SubParsersAction) -> None:
    """`crm import ENTITY FILE.csv` and `crm export ENTITY` (engine/runtime/importer.py, exporter.py)."""
    from .runtime.transfer_cli import cmd_export, cmd_import

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", default="configs", help="configuration folder (default: configs)")
        p.add_argument("--db", default=None, help="database URL (default: CRM_DATABASE_URL or var/crm.sqlite3)")
        p.add_argument("--as", dest="as_user", default=None, metavar="USER",
                       help="act as this user (default: the built-in administrator)")

    p = sub.add_parser("import", help="create records from a CSV file (checked like saves; refused rows reported)")
    p.add_argument("entity", help="the entity, or 'user' for the user directory")
    p.add_argument("file", help="a CSV file with a header row (columns by field name or label)")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p.add_argument("--report", default=None, metavar="FILE", help="write refused rows (row, field, reason) as CSV")
    p.add_argument("--chunk-size", type=int, default=2000, help="rows per batch (default 2000)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes checking chunks beside the writing one (default: 1 for a large file "
                        "when a CPU is free, else 0)")
    indexes = p.add_mutually_exclusive_group()
    indexes.add_argument("--keep-indexes", action="store_true",
                         help="keep the secondary and search indexes up to date row by row, even for a "
                              "large import (by default a large SQLite import builds them once at the end)")
    indexes.add_argument("--drop-indexes", action="store_true",
                         help="build the secondary and search indexes once at the end whatever the size (SQLite)")
    p.add_argument("--role", action="append", default=[], help="user import: roles of rows without any")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write the records you may read as CSV or XLSX")
    p.add_argument("entity")
    p.add_argument("--filter", default=None, metavar="EXPR", help="an expression, e.g. \"amount > 1000\"")
    p.add_argument("--format", choices=("csv", "xlsx"), default=None, help="default: from --out, else csv")
    p.add_argument("--out", default=None, metavar="FILE", help="default: standard output")
    common(p)
    p.set_defaults(func=cmd_export)


def add_test_command(sub: argparse._SubParsersAction) -> None:
    """`crm test DIR`: run the configuration's scenario tests (engine/runtime/scenarios.py)."""
    from .runtime.transfer_cli import cmd_test
    p = sub.add_parser("test", help="run the scenario tests of a configuration, each on an empty database")
    p.add_argument("dir", nargs="?", default="configs")
    p.set_defaults(func=cmd_test)


def add_worker_command(sub: argparse._SubParsersAction) -> None:
    """`crm worker`: the job queue consumer (engine/runtime/alerts/queue.py)."""
    from .runtime.alerts.queue import add_worker_command as add
    add(sub)


def add_demo_command(sub: argparse._SubParsersAction) -> None:
    """`crm demo`: an empty database filled with demo data (engine/runtime/demo/)."""
    from .runtime.demo.cli import add_demo_command as add
    add(sub)


def add_report_command(sub: argparse._SubParsersAction) -> None:
    """`crm report NAME`: a report, KPI or quota as a user (engine/runtime/reports/cli.py)."""
    from .runtime.reports.cli import add_report_command as add
    add(sub)


def add_config_commands(sub: argparse._SubParsersAction) -> None:
    """`crm config push|pull|log|rollback`: configuration revisions (engine/runtime/revisions.py)."""
    from .runtime.revisions_cli import add_arguments
    add_arguments(sub)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(light=bool(argv) and argv[0] in LIGHT_COMMANDS).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
