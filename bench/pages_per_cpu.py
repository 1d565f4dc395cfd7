"""Requests per CPU-second of each server, from a page benchmark's result table.

On a machine shared with other work a server gets only part of its core, so
req/s alone compares luck; the harness records each run's server CPU % of one
core, and req/s ÷ that share is the steadier comparison (docs/bench-pages.md).

    .venv/bin/python bench/pages_per_cpu.py bench/results/pages-s1-<stamp>.md
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

SERVERS = ("raw floor", "Django", "App")


def per_cpu_second(text: str) -> dict[str, dict[str, float]]:
    """{endpoint: {server: mean over the runs of req/s ÷ CPU share}} from the per-run table."""
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 14 or cells[1] not in SERVERS or not re.fullmatch(r"\d+", cells[2]):
            continue
        rate, cpu = float(cells[3]), float(cells[12])
        if cpu > 0:
            runs[(cells[0], cells[1])].append(rate / (cpu / 100))
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (endpoint, server), values in runs.items():
        out[endpoint][server] = sum(values) / len(values)
    return out


def main() -> None:
    table = per_cpu_second(Path(sys.argv[1]).read_text(encoding="utf-8"))
    print("| | raw floor | Django admin | app | app ÷ Django | app ÷ floor |")
    print("|---|---|---|---|---|---|")
    for endpoint, by in table.items():
        raw, django, app = (by.get(s, 0.0) for s in SERVERS)
        ratio = (lambda a, b: f"{a / b:.2f}×" if a and b else "–")
        print(f"| {endpoint} | {raw:.4g} | {django:.3g} | {app:.4g} | {ratio(app, django)} | {ratio(app, raw)} |")


if __name__ == "__main__":
    main()
