"""When alerts are due: local wall-clock moments in the company's timezone, as UTC instants.

A date trigger fires at `at` local time on the day `date - before` (or
`date + after`). The local moment is built with zoneinfo and stored as the UTC
instant, so a DST change neither moves nor repeats it: a wall time that does
not exist (spring forward) is read with the offset before the change, one that
exists twice (fall back) is the first of the two (fold=0). Both are
deterministic, so every worker computes the same instant and the same key.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ...metadata import model as m

UTC = dt.timezone.utc


def local_moment(day: dt.date, at: dt.time, timezone: str) -> dt.datetime:
    """`at` o'clock on `day` in `timezone`, as an aware UTC datetime."""
    local = dt.datetime.combine(day, at).replace(tzinfo=ZoneInfo(timezone), fold=0)
    return local.astimezone(UTC)


def local_day(instant: dt.datetime, timezone: str) -> dt.date:
    return instant.astimezone(ZoneInfo(timezone)).date()


def day_window(since: dt.datetime | None, until: dt.datetime, at: dt.time,
               timezone: str) -> tuple[dt.date | None, dt.date] | None:
    """The days whose `at` moment falls in (since, until]: (first or None for no bound, last); None if none.

    Moments are one local day apart (23-25 hours around DST), so they grow with
    the day and the first and last days bound the set exactly.
    """
    last = local_day(until, timezone)
    if local_moment(last, at, timezone) > until:
        last -= dt.timedelta(days=1)
    if since is None:
        return None, last
    first = local_day(since, timezone)
    if local_moment(first, at, timezone) <= since:
        first += dt.timedelta(days=1)
    return (first, last) if first <= last else None


def offset_key(kind: str, offset: dt.timedelta) -> str:
    """`before` 60 days -> 'b60d'; `after` 36 hours -> 'a36h' (part of the firing's moment key)."""
    seconds = int(offset.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{kind[0]}{seconds // size}{unit}"
    return f"{kind[0]}{seconds}s"


def day_shift(kind: str, offset: dt.timedelta) -> int:
    """Days from the firing day to the record's date (`before 7d` -> +7, `after 1d` -> -1)."""
    days = offset.days
    return days if kind == "before" else -days


def schedule_instants(trigger: m.ScheduleTrigger, since: dt.datetime | None, until: dt.datetime,
                      timezone: str, limit: int = 1) -> list[dt.datetime]:
    """The latest `limit` scheduled checks in (since, until], oldest first.

    Catching up after downtime runs the check once (the latest missed one):
    a schedule trigger looks at the current state, so older checks would only
    see the same rows again.
    """
    out: list[dt.datetime] = []
    day = local_day(until, timezone)
    floor = local_day(since, timezone) if since is not None else day - dt.timedelta(days=62)
    while day >= floor and len(out) < limit:
        if _scheduled_on(trigger, day):
            moment = local_moment(day, trigger.at, timezone)
            if moment <= until and (since is None or moment > since):
                out.append(moment)
        day -= dt.timedelta(days=1)
    return sorted(out)


def _scheduled_on(trigger: m.ScheduleTrigger, day: dt.date) -> bool:
    if trigger.every == "daily":
        return True
    if trigger.every == "weekdays":
        return day.weekday() < 5
    if trigger.every == "weekly":
        return day.weekday() == (trigger.weekday or 0)
    return day.day == (trigger.day or 1)
