"""The login throttle on its own: delay policy, keys, expiry, bounded memory."""
from __future__ import annotations

import asyncio

from ui_helpers import RecordingSleep

from ui.throttle import LoginThrottle, doubling_delay


def test_doubling_delay_grows_and_is_capped():
    delay = doubling_delay(base=0.25, cap=2.0)
    assert [delay(n) for n in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def _fail(throttle: LoginThrottle, username: str, address: str) -> float:
    async def run() -> float:
        async with throttle.attempt(username, address) as attempt:
            return await attempt.failed()
    return asyncio.run(run())


def test_keys_are_username_and_address_and_usernames_ignore_case():
    throttle = LoginThrottle(sleep=RecordingSleep())
    assert [_fail(throttle, "Anna", "10.0.0.1"), _fail(throttle, "anna ", "10.0.0.1"),
            _fail(throttle, "anna", "10.0.0.2")] == [0.5, 1.0, 0.5]


def test_failures_are_forgotten_after_the_window():
    now = [0.0]
    throttle = LoginThrottle(sleep=RecordingSleep(), window=60, clock=lambda: now[0])
    _fail(throttle, "anna", "ip")
    _fail(throttle, "anna", "ip")
    now[0] = 61.0
    assert _fail(throttle, "anna", "ip") == 0.5


def test_the_table_is_bounded():
    throttle = LoginThrottle(sleep=RecordingSleep(), max_entries=3)
    for name in ("a", "b", "c", "d"):
        _fail(throttle, name, "ip")
    assert throttle.failures("a", "ip") == 0 and throttle.failures("d", "ip") == 1
