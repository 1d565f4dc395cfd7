"""Passing scenario test runs remembered by exact content, so a review and the apply after it run them once.

    outcomes = scenario_outcomes(config)     # runs config.tests, or reuses a passing run of the same files

The admin review (config_admin.py) runs a configuration's scenario tests to
show them; applying the reviewed text then goes through `revisions.push`,
whose gate needs them to pass. Both call `scenario_outcomes`, so the tests run
once per apply. A run is reused only when it is provably of the same content:
the key is the SHA-256 of every file's path and text (in full, not the
16-character revision id), and only in this process (the engine's code is
the same). Only runs where every test passed are kept, for at most
`MAX_AGE` seconds (tests start their clock at "now", so a run from long ago
may not hold any more), at most `KEEP` of them. Anything else (another
worker process, `crm config push` from the command line, a changed byte, an
older run) runs the tests again: the gate is never skipped on a guess.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Callable, Mapping

from ..metadata import model as m
from .scenarios import Outcome, run_tests

MAX_AGE = 600.0
KEEP = 16

_passed: OrderedDict[str, tuple[float, list[Outcome]]] = OrderedDict()
_lock = threading.Lock()


def content_key(files: Mapping[str, str]) -> str:
    """The full SHA-256 of the configuration's files (path and text of each, in path order)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()


def scenario_outcomes(config: m.Config, *, run: Callable[[m.Config], list[Outcome]] | None = None,
                      clock: Callable[[], float] = time.monotonic) -> list[Outcome]:
    """The outcomes of `config.tests`: a passing run of exactly these files from the last MAX_AGE
    seconds, else a new run (kept when every test passed)."""
    key = content_key(config.files)
    now = clock()
    with _lock:
        kept = _passed.get(key)
        if kept is not None and now - kept[0] <= MAX_AGE:
            return list(kept[1])
    outcomes = (run or run_tests)(config)
    if outcomes and all(o.passed for o in outcomes):
        with _lock:
            _passed[key] = (clock(), list(outcomes))
            _passed.move_to_end(key)
            while len(_passed) > KEEP:
                _passed.popitem(last=False)
    return outcomes


def forget() -> None:
    """Drops every remembered run (tests)."""
    with _lock:
        _passed.clear()
