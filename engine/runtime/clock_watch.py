"""Whether some work asked the clock: what tells a page that depends on the time (a
`now()` formula, an idle warning) from one that depends on the data (and the date) alone,
which may be served again while the data is unchanged (ui/page_memo.py).

    records = Records(config, engine, tables, clock=watched(utc_now))   # Records does this itself
    with clock_reads() as reads:
        page = read_the_page()
    if not reads.asked: ...                                            # the page is timeless

Per thread: a page's reads run in one worker thread. A clock read outside any
`clock_reads()` block is not noted anywhere. Building a list statement reads the clock
whatever the statement holds; engine/runtime/query.py builds it at other moments too and
tells (`depends_on_clock`) only when it differs at another time of the same day: a
statement kept for reuse, or one holding only the date (`today()`, `days_since()`, a
period), is no clock read for a page that has the company's date in its key.
"""
from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Clock = Callable[[], dt.datetime]

_local = threading.local()


class ClockReads:
    """Filled in by the watched clocks while its `clock_reads()` block runs."""

    __slots__ = ("asked",)

    def __init__(self) -> None:
        self.asked = False


def watched(clock: Clock) -> Clock:
    """`clock`, noting each call in the innermost open `clock_reads()` of the calling thread.
    A clock already watched is returned as it is."""
    if getattr(clock, "crm_watched", False):
        return clock

    def read() -> dt.datetime:
        reads = getattr(_local, "reads", None)
        if reads is not None:
            reads.asked = True
        return clock()
    read.crm_watched = True     # type: ignore[attr-defined]
    return read


@contextmanager
def clock_reads(*, tell_outer: bool = True) -> Iterator[ClockReads]:
    """Notes whether a watched clock is called in this thread inside the block. A nested block
    tells the outer one too, unless `tell_outer=False`: for work that reads the clock whether
    or not its result depends on it (building a statement), whose caller then judges
    (`depends_on_clock`)."""
    outer = getattr(_local, "reads", None)
    reads = _local.reads = ClockReads()
    try:
        yield reads
    finally:
        _local.reads = outer
        if tell_outer and outer is not None and reads.asked:
            outer.asked = True


TIMELESS, DATED, TIMED = "timeless", "dated", "timed"
"""What a statement depends on: nothing of the clock; the company's date only; the time."""


def same_day_shift(now: dt.datetime, zone: dt.tzinfo) -> dt.timedelta | None:
    """A shift of `now` by hours, minutes and seconds that stays on the same date in `zone`
    (backwards in the afternoon, forwards in the morning); None if a time change makes it leave
    the day. A statement built at both moments is the same if it holds the date but not the time."""
    local = now.astimezone(zone)
    shift = dt.timedelta(hours=5, minutes=7, seconds=11, microseconds=3)
    if local.hour >= 12:
        shift = -shift
    return shift if (now + shift).astimezone(zone).date() == local.date() else None


def depends_on_clock() -> None:
    """Tells the open `clock_reads()` block of this thread, if any, that its work depends on
    the clock (a statement found to differ when built at another moment)."""
    reads = getattr(_local, "reads", None)
    if reads is not None:
        reads.asked = True
