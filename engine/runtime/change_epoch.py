"""A number that moves whenever a SQLite database may have changed: what lets a page
rendered from it be served again while it has not (ui/page_memo.py).

    epochs = change_epoch(engine)      # None: this database cannot tell (PostgreSQL, :memory:)
    epoch = epochs.current()           # before reading what the page shows

How it knows, on SQLite only: `PRAGMA data_version` answers, on one connection, a value
that differs from its previous answer whenever *another* connection (of this process or
of any other: a second worker, `crm import`, the sqlite3 shell) committed a change in
between. Each engine's ChangeEpoch keeps one connection of its own, which never writes,
for that question alone: every commit to the file is another connection's, so every commit
changes its answer. It is opened read-only (it never creates, recovers or changes the file),
and opened again, moving the epoch, when the path names another file than the one it has
open (`crm demo --reset` deletes and recreates the database under a running server).

Why that is enough: a page is read after a check that answered epoch E. A change committed
after that check changes the watching connection's answer, so every later check answers
more than E and the page is not served again; a change committed before the check is in
what the page then reads (a reader sees every commit made before it starts). A change
committed between the check and the reads is in the page and still moves the epoch at the
next check: a needless miss, never a stale page.

PostgreSQL has no such counter; the WAL position looks like one but can run ahead of what
a new snapshot sees (a commit's record is written before the commit becomes visible), so
this answers None there and pages are always rendered.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from pathlib import Path

from sqlalchemy import Engine


class ChangeEpoch:
    """The epoch of one SQLite database file, as this process has seen it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._watching: sqlite3.Connection | None = None
        self._file: tuple[int, int, int] | None = None    # (device, inode, ctime) of the file it has open
        self._version: int | None = None
        self._epoch = 0
        self._lock = threading.Lock()      # one connection, asked from any thread

    def current(self) -> int:
        """The epoch now: it has moved since an earlier answer if anything was committed since."""
        with self._lock:
            stat = os.stat(self.path)      # FileNotFoundError (an OSError) when it is gone
            # The change time too: a file deleted and made again may get the freed inode number.
            # (Checkpoints writing the file change it as well: a reopen after commits, harmless.)
            file = (stat.st_dev, stat.st_ino, stat.st_ctime_ns)
            if self._watching is None or file != self._file:
                self._reopen(file)
            (version,) = self._watching.execute("PRAGMA data_version").fetchone()  # type: ignore[union-attr]
            if version != self._version:
                self._version = version
                self._epoch += 1
            return self._epoch

    def _reopen(self, file: tuple[int, int, int]) -> None:
        # Autocommit, and it only ever asks data_version: it holds no lock and no snapshot
        # between two questions. It never waits (timeout 0): a database locked by a writer
        # outside WAL mode raises sqlite3.OperationalError at once, and the caller reads and
        # renders as if there were no epoch.
        if self._watching is not None:
            self._watching.close()
        self._watching = None
        self._version = None               # answers of another connection are not comparable
        self._epoch += 1
        uri = Path(self.path).resolve().as_uri() + "?mode=ro"
        self._watching = sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False,
                                         isolation_level=None)
        self._file = file


_EPOCHS: "weakref.WeakKeyDictionary[Engine, ChangeEpoch]" = weakref.WeakKeyDictionary()


def change_epoch(engine: Engine) -> ChangeEpoch | None:
    """The engine's ChangeEpoch (one per engine, shared by every configuration revision served
    from it); None unless a SQLite database file."""
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:") or engine.url.query:
        return None        # an in-memory or URI-named database: no second connection can watch it
    epoch = _EPOCHS.get(engine)
    if epoch is None:
        epoch = _EPOCHS.setdefault(engine, ChangeEpoch(path))
    return epoch
