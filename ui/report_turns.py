"""How many reports one server process runs at once; the others wait their turn, first come first served.

A report is one heavy aggregate SELECT (hundreds of milliseconds on a million rows).
Eight of them started together on one core do not finish sooner than one after the
other: they each take about eight times as long, so none finishes inside a client's
timeout and throughput falls. The report pages therefore run their work in the thread
pool through one `anyio.CapacityLimiter` per process: waiting happens in the event loop
(no thread held), and the other pages are not affected (they keep the default pool).

    CRM_REPORTS_AT_ONCE=N     # default: the number of CPUs this process may run on
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, TypeVar

import anyio
import anyio.to_thread

ENV = "CRM_REPORTS_AT_ONCE"
T = TypeVar("T")


def reports_at_once(environ: Mapping[str, str] = os.environ) -> int:
    """The limit: `CRM_REPORTS_AT_ONCE` if set, else the CPUs the process may use (taskset counts)."""
    raw = environ.get(ENV, "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{ENV}={raw!r}: must be a whole number of at least 1")
        return int(raw)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:                     # not on Linux
        return os.cpu_count() or 1


_TURNS: anyio.CapacityLimiter | None = None


def turns() -> anyio.CapacityLimiter:
    """The process's limiter, made on first use (reads the environment then)."""
    global _TURNS
    if _TURNS is None:
        _TURNS = anyio.CapacityLimiter(reports_at_once())
    return _TURNS


async def run_report_work(func: Callable[..., T], *args: Any) -> T:
    """`run_in_threadpool` for work that runs a report: at most `reports_at_once()` at a time."""
    return await anyio.to_thread.run_sync(func, *args, limiter=turns())
