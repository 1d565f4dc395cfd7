"""The database change epoch (engine/runtime/change_epoch.py) and the clock watch
(engine/runtime/clock_watch.py): what tells ui/page_memo.py that a kept page is still what a
render would give."""
from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from engine.runtime.change_epoch import ChangeEpoch, change_epoch
from engine.runtime.clock_watch import DATED, TIMED, clock_reads, depends_on_clock, same_day_shift, watched
from engine.runtime.db import make_engine

from .test_list_statements import make_deals


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'epoch.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield engine
    engine.dispose()


def test_the_epoch_stays_while_nothing_is_committed(sqlite_engine):
    epochs = change_epoch(sqlite_engine)
    assert epochs is change_epoch(sqlite_engine)                # one per engine
    first = epochs.current()
    with sqlite_engine.connect() as conn:                       # reads change nothing
        conn.execute(text("SELECT * FROM t")).all()
    assert epochs.current() == first


def test_every_commit_moves_it_whoever_makes_it(sqlite_engine, tmp_path):
    epochs = change_epoch(sqlite_engine)
    seen = [epochs.current()]

    def moved() -> bool:
        seen.append(epochs.current())
        return seen[-1] > seen[-2]
    with sqlite_engine.begin() as conn:                         # this process, through the pool
        conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
    assert moved()
    assert not moved()
    for _ in range(3):                                          # every pooled connection, in turn
        with sqlite_engine.begin() as conn:
            conn.execute(text("UPDATE t SET v = v || 'x'"))
        assert moved()
    other = sqlite3.connect(sqlite_engine.url.database)         # another connection of this process
    other.execute("DELETE FROM t")
    other.commit()
    other.close()
    assert moved()
    subprocess.run([sys.executable, "-c",                       # another process
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute(\"INSERT INTO t (v) VALUES ('b')\"); c.commit()", sqlite_engine.url.database],
                   check=True, timeout=60)
    assert moved()
    assert not moved()


def test_a_change_not_committed_does_not_move_it(sqlite_engine):
    """A page read meanwhile would not see it either; rolled back, there was never anything to see."""
    epochs = change_epoch(sqlite_engine)
    before = epochs.current()
    with sqlite_engine.connect() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES ('pending')"))
        assert epochs.current() == before
        conn.rollback()
    assert epochs.current() == before


def test_a_database_locked_by_a_writer_outside_wal_mode_is_refused_at_once(tmp_path):
    path = tmp_path / "journal.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (v)")
    epochs = ChangeEpoch(str(path))
    writer.execute("BEGIN EXCLUSIVE")
    started = dt.datetime.now()
    with pytest.raises(sqlite3.OperationalError):
        epochs.current()
    assert (dt.datetime.now() - started).total_seconds() < 1
    writer.execute("COMMIT")
    assert epochs.current() >= 1


def test_a_database_file_replaced_under_it_moves_it_and_a_missing_one_is_an_error(tmp_path):
    """`crm demo --reset` deletes and recreates the file under a running server: the watching
    connection, still on the old file, would never see the new one's commits."""
    path = tmp_path / "replaced.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (v)").connection.commit()
    epochs = ChangeEpoch(str(path))
    before = epochs.current()
    assert epochs.current() == before
    path.unlink()
    with pytest.raises(OSError):
        epochs.current()
    fresh = sqlite3.connect(path)
    fresh.execute("CREATE TABLE t (v)")
    fresh.commit()
    after = epochs.current()
    assert after > before and epochs.current() == after
    fresh.execute("INSERT INTO t VALUES (1)")                   # and it follows the new file's commits
    fresh.commit()
    assert epochs.current() > after
    fresh.close()


def test_the_watching_connection_never_creates_a_file(tmp_path):
    epochs = ChangeEpoch(str(tmp_path / "absent.sqlite3"))
    with pytest.raises(OSError):
        epochs.current()
    assert not (tmp_path / "absent.sqlite3").exists()


def test_no_epoch_where_none_can_be_kept(db_url, tmp_path):
    """PostgreSQL (no counter that a new snapshot agrees with) and in-memory SQLite (no second connection)."""
    memory = make_engine("sqlite://")
    assert change_epoch(memory) is None
    engine = make_engine(db_url)
    assert (change_epoch(engine) is None) == (engine.dialect.name != "sqlite")
    engine.dispose()


def test_a_watched_clock_is_noted_only_inside_a_block():
    now = dt.datetime(2025, 3, 10, tzinfo=dt.timezone.utc)
    clock = watched(lambda: now)
    assert watched(clock) is clock
    assert clock() == now                                       # outside any block: nothing noted
    with clock_reads() as outer:
        with clock_reads(tell_outer=False) as building:         # a statement being built and judged
            clock()
        assert building.asked and not outer.asked
        with clock_reads() as inner:
            assert not inner.asked
            clock()
        assert inner.asked and outer.asked
    with clock_reads() as judged:
        depends_on_clock()
    assert judged.asked


def test_only_a_statement_that_holds_the_time_counts_as_a_clock_read(crm):
    """The statements are built reading the clock either way; one that is kept for reuse, or holds
    only the company's date, is no clock read for a page (whose key has the date); one that holds
    the time is. Each is judged once: later calls build it once, not at three moments."""
    make_deals(crm)
    kinds = crm.records.query.clock_kinds
    crm.clock.now = dt.datetime(2025, 4, 12, 12, 0, tzinfo=dt.timezone.utc)
    for _ in range(2):
        with clock_reads() as timeless:
            crm.records.list(crm.alice, "deal")
        with clock_reads() as dated:
            early = crm.records.list(crm.alice, "deal", filter_expr="close_date < today()")
        with clock_reads() as timed:
            crm.records.list(crm.alice, "deal", filter_expr="created_at < now()")
        assert not timeless.asked and not dated.asked and timed.asked
    assert sorted(kinds._items.values()) == [DATED, TIMED]
    crm.clock.now = dt.datetime(2025, 4, 20, 12, 0, tzinfo=dt.timezone.utc)   # still read on every call
    assert len(crm.records.list(crm.alice, "deal", filter_expr="close_date < today()").rows) > len(early.rows)


def test_the_same_day_shift_stays_on_the_company_s_date():
    zone = ZoneInfo("Europe/Budapest")
    for text in ("2025-03-10 00:00", "2025-03-10 11:59", "2025-03-10 12:00", "2025-03-10 23:59:59",
                 "2025-03-30 01:30", "2025-10-26 23:30"):            # the last two: summer time starts, ends
        now = dt.datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(dt.timezone.utc)
        shift = same_day_shift(now, zone)
        assert shift is not None and abs(shift) > dt.timedelta(hours=5)
        assert (now + shift).astimezone(zone).date() == now.astimezone(zone).date()
