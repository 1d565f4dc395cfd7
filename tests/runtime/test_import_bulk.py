"""A large import in bulk mode: indexes and search index built once at the end, the same answers after.

Every test runs on SQLite and PostgreSQL (`db_url`); PostgreSQL imports keep
their indexes, so there the same steps check that nothing changes. The company
is test_import_export's (deals linking accounts, owned, with an autonumber).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.cli import main as crm_main
from engine.runtime import import_bulk
from engine.runtime.actor import SYSTEM
from engine.runtime.import_bulk import STATE_TABLE, BulkLoad, estimated_rows, repair_interrupted, worth_it
from engine.runtime.importer import import_csv
from engine.runtime.records import Records
from engine.runtime.search import ensure_search_index

from .killed_cli import crm_killed_at
from .test_import_export import add_accounts, all_rows, crm, write_csv  # noqa: F401 - `crm` is a fixture

WORDS = ["acme", "initech", "renewal", "order", "ren", "globex 2"]


def deals_csv(path: Path, suffix: str, count: int) -> Path:
    """`count` deals over two accounts and two owners, names searched by WORDS, ending in `suffix`."""
    rows = [["name", "account", "owner", "amount", "close_date"]]
    for i in range(count):
        kind = ("ACME order", "Initech renewal", "Globex upsell")[i % 3]
        rows.append([f"{kind} {i}{suffix}", ("ACME", "Initech")[i % 2], ("alice", "bob", "")[i % 3],
                     str(100 + i), f"2025-0{1 + i % 9}-1{i % 10}"])
    return write_csv(path, rows)


def schema(engine: sa.Engine, table: str = "deal") -> list[tuple[str, ...]]:
    """The table's indexes and triggers as the database holds them."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return sorted(conn.execute(sa.text(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN (:t, 'crm_fts_' || :t) "
                "AND type IN ('index', 'trigger', 'table')"), {"t": table}).all())
        return sorted(conn.execute(sa.text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"),
            {"t": table}).all())


def names_found(records: Records, suffix: str, **query) -> set[str]:
    """The names (without `suffix`) of the deals a list with `query` shows, among those ending in `suffix`."""
    rows = records.list(SYSTEM, "deal", limit=1000, **query).rows
    return {r["name"][:-len(suffix)] for r in rows if r["name"].endswith(suffix)}


def search_index_ok(records: Records) -> None:
    if records.engine.dialect.name == "sqlite":
        with records.engine.begin() as conn:      # raises when the index and the table disagree
            conn.execute(sa.text("INSERT INTO crm_fts_deal(crm_fts_deal, rank) VALUES ('integrity-check', 1)"))


def indexed_columns(records: Records) -> list[str]:
    table = records.tables.entity("deal")
    return sorted({ix.columns[0].name for ix in table.indexes if str(ix.name).startswith("ix_")})


def test_a_bulk_import_gives_the_searches_and_lists_of_a_row_by_row_import(crm, tmp_path):
    records, people = crm
    ensure_search_index(records.engine, records.config)
    add_accounts(records, "ACME", "Initech", owner=people["alice"])
    import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "old.csv", " old", 12), bulk=False)
    old = {d["name"]: d["id"] for d in all_rows(records, "deal")}
    before = schema(records.engine)
    sqlite = records.engine.dialect.name == "sqlite"
    seen_during: list[tuple[bool, bool]] = []

    def meanwhile(rows: int) -> None:
        """A user's saves during the import: rows already indexed stay in step with the search index."""
        with records.engine.connect() as conn:
            has_state = sa.inspect(conn).has_table(STATE_TABLE)
        seen_during.append((schema(records.engine) == before, has_state))
        if rows == 10:
            records.update(SYSTEM, "deal", old["ACME order 0 old"], {"name": "Globex 2 renamed old"}, 1)
            records.delete(SYSTEM, "deal", old["Initech renewal 1 old"])

    bulk = import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "bulk.csv", " b", 40), chunk_size=10,
                      bulk=True, after_batch=meanwhile)
    assert (bulk.imported, bulk.bulk) == (40, sqlite)
    assert seen_during == [(not sqlite, sqlite)] * 4       # SQLite: indexes dropped and recorded meanwhile
    assert schema(records.engine) == before
    keep = import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "keep.csv", " k", 40), bulk=False)
    assert (keep.imported, keep.bulk) == (40, False)
    search_index_ok(records)
    rows = all_rows(records, "deal")
    for word in WORDS:
        found = names_found(records, " b", search=word)
        assert found == names_found(records, " k", search=word)
        assert found == {r["name"][:-2] for r in rows if r["name"].endswith(" b") and
                         all(w in r["name"].lower() for w in word.split())}
    assert names_found(records, " old", search="renamed") == {"Globex 2 renamed"}
    assert "Initech renewal 1" not in names_found(records, " old", search="initech")
    assert set(indexed_columns(records)) >= {"account", "owner"}
    for column in indexed_columns(records):
        for value in {r[column] for r in rows}:
            found = names_found(records, " b", where={column: value})
            assert found == names_found(records, " k", where={column: value})
            assert found == {r["name"][:-2] for r in rows if r["name"].endswith(" b") and r[column] == value}
    assert names_found(records, " b", sort="-close_date") == names_found(records, " k", sort="-close_date")


def test_bulk_mode_is_chosen_for_a_file_as_large_as_its_table_unless_indexes_are_kept(
        crm, tmp_path, capsys, db_url, monkeypatch):
    records, people = crm
    assert worth_it(import_bulk.MIN_ROWS, 0) and worth_it(80_000, 80_000)
    assert not worth_it(import_bulk.MIN_ROWS - 1, 0) and not worth_it(60_000, 60_001)
    assert estimated_rows(2000, 0.25) == 8000 and estimated_rows(300, 1.0) == 300
    monkeypatch.setattr(import_bulk, "MIN_ROWS", 20)
    ensure_search_index(records.engine, records.config)
    add_accounts(records, "ACME", "Initech", owner=people["alice"])
    config_dir = str(Path(records.config.root))
    sqlite = records.engine.dialect.name == "sqlite"

    def imported(name: str, count: int, *flags: str) -> str:
        path = deals_csv(tmp_path / f"{name}.csv", f" {name}", count)
        assert crm_main(["import", "deal", str(path), "--config", config_dir, "--db", db_url, "--quiet",
                         *flags]) == 0
        return capsys.readouterr().out

    assert ("indexes built after the rows" in imported("first", 30)) == sqlite
    assert "indexes built after the rows" not in imported("smaller", 25)          # 25 rows < 30 in the table
    assert "indexes built after the rows" not in imported("kept", 60, "--keep-indexes")
    assert ("indexes built after the rows" in imported("forced", 5, "--drop-indexes")) == sqlite
    assert len(all_rows(records, "deal")) == 120
    search_index_ok(records)


@pytest.fixture
def bulk_ready(crm):
    """The company on SQLite (PostgreSQL imports have no bulk mode), its search index made, two accounts."""
    records, people = crm
    if records.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite imports in bulk mode")
    ensure_search_index(records.engine, records.config)
    add_accounts(records, "ACME", "Initech", owner=people["alice"])
    return records, people


@pytest.mark.parametrize("repair", ["migrate", "import", "serve"])
def test_an_import_killed_in_bulk_mode_is_finished_by_the_next_migrate_import_or_serve(
        bulk_ready, tmp_path, db_url, repair, monkeypatch):
    records, _ = bulk_ready
    import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "old.csv", " old", 5), bulk=False)
    before = schema(records.engine)
    config_dir = str(Path(records.config.root))
    path = deals_csv(tmp_path / "big.csv", " big", 200)
    crm_killed_at(["import", "deal", str(path), "--config", config_dir, "--db", db_url, "--drop-indexes",
                   "--chunk-size", "20", "--workers", "0", "--quiet"],
                  "written:", pause_env="CRM_IMPORT_BATCH_PAUSE")       # killed after its first batch
    assert len(all_rows(records, "deal")) == 25           # one batch committed, then killed
    with records.engine.connect() as conn:
        assert sa.inspect(conn).has_table(STATE_TABLE)
    assert schema(records.engine) != before
    if repair == "migrate":
        assert crm_main(["migrate", "--config", config_dir, "--db", db_url]) == 0
    elif repair == "import":
        import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "next.csv", " next", 3), bulk=False)
    else:
        # `crm serve` finishes it before it listens; the server itself is not what this test is about,
        # and its start-up gc.freeze is for a server process only (it would freeze this test session's heap).
        import uvicorn

        from ui import serve as serve_module
        from ui.serve import ServeOptions, serve
        served = []
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
        monkeypatch.setattr(serve_module, "freeze_startup_objects", lambda: None)
        monkeypatch.setenv("CRM_SECRET_KEY", "bulk-import-repair-test-session-key-0123456789")
        assert serve(ServeOptions(config_dir=config_dir, db_url=db_url)) == 0 and served
    assert schema(records.engine) == before
    with records.engine.connect() as conn:
        assert not sa.inspect(conn).has_table(STATE_TABLE)
    search_index_ok(records)
    assert len(records.list(SYSTEM, "deal", search="big", limit=1000).rows) == 20
    assert len(records.list(SYSTEM, "deal", search="renewal", limit=1000).rows) == len(
        [d for d in all_rows(records, "deal") if "renewal" in d["name"]])


def test_an_import_that_fails_in_bulk_mode_restores_the_indexes(crm, tmp_path):
    records, people = crm
    ensure_search_index(records.engine, records.config)
    add_accounts(records, "ACME", "Initech", owner=people["alice"])
    before = schema(records.engine)

    def fail(rows: int) -> None:
        if rows == 20:
            raise RuntimeError("the disk is full")

    with pytest.raises(RuntimeError, match="the disk is full"):
        import_csv(records, SYSTEM, "deal", deals_csv(tmp_path / "d.csv", " d", 50), chunk_size=10, bulk=True,
                   after_batch=fail)
    assert schema(records.engine) == before
    search_index_ok(records)
    assert len(records.list(SYSTEM, "deal", search="acme", limit=1000).rows) == 7      # the two batches written


def test_an_import_stopped_by_sigterm_builds_its_indexes_before_it_ends(bulk_ready, tmp_path, db_url):
    records, _ = bulk_ready
    before = schema(records.engine)
    path = deals_csv(tmp_path / "big.csv", " big", 200)
    crm_killed_at(["import", "deal", str(path), "--config", str(Path(records.config.root)), "--db", db_url,
                   "--drop-indexes", "--chunk-size", "20", "--workers", "0", "--quiet"],
                  "written:", pause_env="CRM_IMPORT_BATCH_PAUSE", sig=signal.SIGTERM)
    assert len(all_rows(records, "deal")) == 20           # one batch committed, then stopped
    assert schema(records.engine) == before                # finished by the import itself: nothing to repair
    with records.engine.connect() as conn:
        assert not sa.inspect(conn).has_table(STATE_TABLE)
    search_index_ok(records)
    assert len(records.list(SYSTEM, "deal", search="big", limit=1000).rows) == 20


def test_a_finish_whose_recorded_sql_no_longer_applies_skips_it_and_migrate_completes(bulk_ready, db_url):
    """A migration run during a bulk import may rename a column a dropped index named: the
    finish skips that index instead of failing at every later import, migration or start."""
    records, _ = bulk_ready
    before = schema(records.engine)
    entity = records.config.entities["deal"]
    BulkLoad.begin(records.engine, entity)
    import_bulk._HELD.clear()                               # as if its process were gone
    with records.engine.begin() as conn:
        text = conn.execute(sa.text(f"SELECT state FROM {STATE_TABLE}")).scalar_one()
        state = json.loads(text)
        state["indexes"].append('CREATE INDEX ix_deal_gone ON deal (no_such_column)')
        ended = subprocess.Popen([sys.executable, "-c", "pass"])
        ended.wait()
        state["pid"] = ended.pid                           # a process that has ended
        conn.execute(sa.text(f"UPDATE {STATE_TABLE} SET state = :s"), {"s": json.dumps(state)})
    assert repair_interrupted(records.engine)               # no error: the bad statement is skipped
    with records.engine.connect() as conn:
        assert not sa.inspect(conn).has_table(STATE_TABLE)
    assert schema(records.engine) == before
    assert crm_main(["migrate", "--config", str(Path(records.config.root)), "--db", db_url]) == 0
    assert schema(records.engine) == before
    search_index_ok(records)
