"""Shared fixtures: a real database of each kind for every data test.

`db_url` is parametrized over SQLite (a file in the test's tmp dir) and
PostgreSQL (a fresh schema in the server at CRM_TEST_PG_URL, dropped after the
test). Set CRM_TEST_SKIP_PG=1 to run on SQLite only while developing; CI
always runs both.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("CRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite"] + ([] if os.environ.get("CRM_TEST_SKIP_PG") else ["postgresql"])


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path: Path):
    """A URL to an empty database: SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def write_config(tmp_path: Path):
    """Writes a small configuration folder: {relative path: YAML text} over sane defaults."""
    def write(files: dict[str, str], *, base: dict[str, str] | None = None) -> Path:
        root = tmp_path / "cfg"
        defaults = {
            "crm.yaml": "company: Test Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
            "roles.yaml": "roles:\n  admin: {all: true}\n",
        }
        for rel, text in {**defaults, **(base or {}), **files}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root
    return write
