"""Slowing down password guessing: a growing, capped delay after each failed login.

    throttle = LoginThrottle()                     # 0.5 s, 1 s, 2 s, 4 s, ... at most 8 s
    async with throttle.attempt(username, ip) as attempt:
        actor = check_password(...)
        if actor is None:
            await attempt.failed()                 # sleeps, then the answer goes out
        else:
            attempt.succeeded()                    # forgets the failures

Failures are counted per (username, client address), so one attacker cannot
lock a real user out from elsewhere. Attempts with the same key run one after
another, so firing many in parallel does not skip the delays. The counts live in
the process (each worker keeps its own) and are forgotten `window` seconds after
the last failure; the table is bounded so a flood of usernames cannot fill memory.
The delay policy and the sleep are injectable so tests run at full speed.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]
DelayPolicy = Callable[[int], float]


def doubling_delay(base: float = 0.5, cap: float = 8.0) -> DelayPolicy:
    """`failures` -> seconds: base, 2*base, 4*base, ... never more than `cap`."""
    def delay(failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(cap, base * 2.0 ** min(failures - 1, 30)))
    return delay


@dataclass(slots=True)
class _Entry:
    failures: int
    last: float
    lock: asyncio.Lock


class Attempt:
    """One login attempt under a key's lock; report how it ended."""

    def __init__(self, throttle: "LoginThrottle", key: tuple[str, str]):
        self._throttle = throttle
        self._key = key
        self.failures = 0

    async def failed(self) -> float:
        """Counts the failure and sleeps its delay; returns the delay (seconds)."""
        self.failures = self._throttle._count_failure(self._key)
        seconds = self._throttle.delay(self.failures)
        if seconds > 0:
            await self._throttle.sleep(seconds)
        return seconds

    def succeeded(self) -> None:
        self._throttle._entries.pop(self._key, None)


class LoginThrottle:
    """Per (username, address) failure counts with a delay policy; see the module docstring."""

    def __init__(self, delay: DelayPolicy | None = None, sleep: Sleep = asyncio.sleep, *,
                 window: float = 15 * 60, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.delay = delay or doubling_delay()
        self.sleep = sleep
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    @asynccontextmanager
    async def attempt(self, username: str, address: str) -> AsyncIterator[Attempt]:
        key = (username.strip().casefold(), address)
        entry = self._entry(key)
        async with entry.lock:
            yield Attempt(self, key)

    def failures(self, username: str, address: str) -> int:
        entry = self._entries.get((username.strip().casefold(), address))
        return 0 if entry is None or self._expired(entry) else entry.failures

    def _entry(self, key: tuple[str, str]) -> _Entry:
        entry = self._entries.get(key)
        if entry is None or self._expired(entry):
            entry = _Entry(0, self.clock(), entry.lock if entry else asyncio.Lock())
            self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def _count_failure(self, key: tuple[str, str]) -> int:
        entry = self._entry(key)
        entry.failures += 1
        entry.last = self.clock()
        return entry.failures

    def _expired(self, entry: _Entry) -> bool:
        return self.clock() - entry.last > self.window
