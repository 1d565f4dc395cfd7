"""Run `crm` in a real subprocess and kill it (SIGKILL, or another signal) once it prints a marker line.

    crm_killed_at(["migrate", "--config", cfg, "--db", url], "ran:", pause_env="CRM_MIGRATE_STEP_PAUSE")

The command's pause hook (`pause_env`) makes it wait after each step it reports,
so the kill lands between two steps, as a crash or an operator's kill would.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def crm_killed_at(args: list[str], marker: str, *, pause_env: str, settle: float = 0.0,
                  sig: int = signal.SIGKILL) -> None:
    """Runs `crm ARGS`, waits for a line containing `marker`, then `settle` seconds, and sends it `sig`."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=ROOT,
                            env={**os.environ, pause_env: "30"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        while marker not in (line := proc.stdout.readline()):
            assert line, f"crm {args[0]} ended before printing {marker!r}"
        time.sleep(settle)
        proc.send_signal(sig)
    finally:
        proc.wait(timeout=30)
