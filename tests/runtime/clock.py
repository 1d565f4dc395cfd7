"""A settable clock for runtime tests: the services call it, the test moves it."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NOW = dt.datetime(2025, 3, 10, 9, 30, tzinfo=dt.timezone.utc)
COMPANY_TZ = ZoneInfo("Europe/Budapest")


class Clock:
    """`clock.now` is what the services see; `clock()` returns it."""

    def __init__(self, now: dt.datetime = NOW):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def local(self, text: str, tz: dt.tzinfo = COMPANY_TZ) -> None:
        """Sets the clock to a wall-clock time in the company's zone (`2025-01-10 10:00`)."""
        self.now = dt.datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(dt.timezone.utc)
