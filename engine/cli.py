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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm", description="A CRM engine configured in YAML.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a configuration folder; print every error")
    p.add_argument("dir", nargs="?", default="configs")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="write the JSON Schema of every file kind (for editors)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_schema)
    add_records_commands(sub)
    return parser


def add_records_commands(sub: argparse._SubParsersAction) -> None:
    """`crm user add|list|disable` and `crm access USER ENTITY [ID]` (engine/runtime/admin.py)."""
    from .runtime.admin import add_arguments
    add_arguments(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
