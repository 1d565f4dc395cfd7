"""Benchmark: load + validate + compile a large generated configuration.

Goal (issue: configuration language): 100 entities x 40 fields, with views,
rules, segments and reports referencing them, loads, validates and compiles
(tables built, every expression compiled to SQL) in under 1 s; `crm validate
configs` in under 0.5 s. Prints the median of several runs.

    .venv/bin/python bench/config_load.py [--entities 100] [--fields 40] [--runs 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.metadata.loader import validate_folder  # noqa: E402
from engine.runtime.tables import build_tables  # noqa: E402

FIELD_KINDS = [
    "{type: string, max_length: 120, search: true}",
    "{type: int, min: 0}",
    "{type: money, min: 0}",
    "{type: percent}",
    "{type: date}",
    "{type: bool}",
    "{type: choice, options: [a, b, c, d]}",
    "{type: email}",
]


def generate(root: Path, entities: int, fields: int) -> None:
    (root / "entities").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "crm.yaml").write_text("company: Bench Kft.\nlocales: [en, hu]\ncurrency: HUF\n"
                                   "timezone: Europe/Budapest\n")
    role_lines = ["roles:", "  rep:", "    entities:"]
    for e in range(entities):
        name = f"ent{e:03d}"
        role_lines.append(f"      {name}: {{read: own, create: true, update: own, delete: none}}")
        lines = [f"entity: {name}", f"label: {{en: Entity {e}, hu: Egyed {e}}}", "traits: [owned]", "fields:"]
        for f in range(fields - 3):
            lines.append(f"  f{f:02d}: {FIELD_KINDS[f % len(FIELD_KINDS)]}")
        if e:
            lines.append(f"  parent: {{type: link, entity: ent{e - 1:03d}, on_delete: set_null}}")
        else:
            lines.append("  parent_name: {type: string}")
        lines.append("  total: {type: formula, expr: \"f02 * (1 - f03 / 100)\", result: money}")
        lines.append("  big: {type: formula, expr: \"f02 > 1000 and f05\", result: bool}")
        lines += [
            "validations:",
            "  - {rule: \"f01 == null or f01 >= 0\", message: {en: Must be positive, hu: Pozitív legyen}}",
            "  - {rule: \"f04 == null or f04 >= created_at.date()\", message: Not in the past}",
            "views:",
            "  list: {columns: [f00, f01, f02, total, owner], sort: -f02, filters: [f06, owner, f04]}",
            "  form:",
            "    sections:",
            "      - {label: Main, fields: [f00, f01, f02, f03]}",
            "      - {label: More, fields: [f04, f05, f06, f07]}",
            "segments:",
            "  mine: {label: Mine, filter: \"owner == current_user and f05\"}",
            "  big: {label: Big, filter: \"total >= 100000\"}",
            "indexes: [[owner, f06]]",
        ]
        (root / "entities" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
        (root / "reports" / f"r{e:03d}.yaml").write_text(
            f"report: r{e:03d}\nentity: {name}\nfilter: \"f05\"\ngroup_by: [f06, {{field: f04, bucket: month}}]\n"
            "measures:\n  total: {expr: \"sum(f02)\", format: money}\n  n: {expr: \"count()\"}\n"
            "chart: {type: bar, x: f04, y: total, series: f06}\n")
    role_lines.append("  admin: {all: true}")
    (root / "roles.yaml").write_text("\n".join(role_lines) + "\n")


def compile_all(config) -> int:
    """Builds the tables and compiles every filter/formula expression to SQL."""
    tables = build_tables(config)
    compiled = 0
    try:
        from engine.metadata.expressions import SqlCompiler
    except ImportError:
        return compiled
    for entity in config.entities.values():
        compiler = SqlCompiler(config, entity.name, tables)
        for field in entity.fields.values():
            if field.type == "formula":
                compiler.compile(field.expr)
                compiled += 1
        for segment in entity.segments.values():
            compiler.compile(segment.filter)
            compiled += 1
    return compiled


def measure(root: Path, runs: int) -> tuple[float, int, list]:
    times = []
    errors: list = []
    compiled = 0
    for _ in range(runs):
        started = time.perf_counter()
        config, errors = validate_folder(root)
        if config is not None:
            compiled = compile_all(config)
        times.append(time.perf_counter() - started)
    return statistics.median(times), compiled, errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--fields", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        generate(root, args.entities, args.fields)
        median, compiled, errors = measure(root, args.runs)
        if errors:
            print(f"generated config has {len(errors)} errors, first: {errors[0]}")
            return 1
        print(f"generated {args.entities} entities x {args.fields} fields: load+validate+compile "
              f"median {median * 1000:.0f} ms over {args.runs} runs ({compiled} expressions compiled to SQL)")
    default = Path(__file__).resolve().parents[1] / "configs"
    if (default / "crm.yaml").exists():
        median, _, errors = measure(default, args.runs)
        state = "valid" if not errors else f"{len(errors)} errors"
        print(f"configs/ ({state}): load+validate+compile median {median * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
