"""Database engines: the SQLite default and PostgreSQL, set up the same way.

SQLite runs in WAL mode with a busy timeout and foreign keys on, so several
readers and one writer (a web worker and a job worker) share the file safely.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

DEFAULT_SQLITE_PATH = Path("var") / "crm.sqlite3"
SQLITE_FUNCTION_HOOKS: list = []   # callables(dbapi_connection), e.g. the expression functions


def database_url(explicit: str | None = None) -> str:
    """`--db URL`, else CRM_DATABASE_URL, else a SQLite file under var/."""
    url = explicit or os.environ.get("CRM_DATABASE_URL")
    if url:
        return url
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = database_url(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling would defer BEGIN; let SQLAlchemy drive it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A 64 MiB page cache and memory-mapped reads: list pages over a million rows
    # read the same index pages again and again.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    for hook in SQLITE_FUNCTION_HOOKS:
        hook(dbapi_connection)
