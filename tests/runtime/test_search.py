"""Search indexes (engine/runtime/search.py): built after migrations, kept in step, same answers as LIKE."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.migrate import migrate
from engine.runtime.plan import plan_migration
from engine.runtime.records import Records
from engine.runtime import search
from engine.runtime.search import SearchIndex, ensure_search_index
from engine.runtime.tables import build_tables

NOTE = """
entity: note
title: subject
fields:
  subject: {type: string, search: true}
  body:    {type: text, search: true}
  score:   {type: int}
"""


@pytest.fixture
def make(db_url: str, write_config: Callable[..., Path]):
    engines = []

    def build(note: str = NOTE):
        config = load_config(write_config({"entities/note.yaml": note}))
        if not engines:
            engines.append(make_engine(db_url))
        engine = engines[0]
        migrate(engine, config)
        return config, engine, Records(config, engine, build_tables(config))
    yield build
    for engine in engines:
        engine.dispose()


def subjects(records: Records, q: str) -> list[str]:
    return sorted(r["subject"] for r in records.list(SYSTEM, "note", search=q, limit=100).rows)


def test_ensure_is_idempotent_and_leaves_the_plan_empty(make) -> None:
    config, engine, records = make()
    assert ensure_search_index(engine, config) != []
    assert ensure_search_index(engine, config) == []
    assert plan_migration(engine, config).empty


def test_hostile_search_text_is_only_text(make) -> None:
    config, engine, records = make()
    ensure_search_index(engine, config)
    for subject in ('say "hello" now', "a OR b", "NEAR(x y)", "col:umn", "star*", "100% sure", "it's"):
        records.create(SYSTEM, "note", {"subject": subject})
    assert subjects(records, '"hello"') == ['say "hello" now']
    assert subjects(records, "OR b") == ["a OR b"]
    assert subjects(records, "NEAR(x") == ["NEAR(x y)"]
    assert subjects(records, "col:umn") == ["col:umn"]
    assert subjects(records, "star*") == ["star*"]
    assert subjects(records, "100%") == ["100% sure"]
    assert subjects(records, "it's") == ["it's"]
    assert subjects(records, "'; DROP TABLE note; --") == []
    assert subjects(records, "sure 100%") == ["100% sure"]


@pytest.mark.parametrize("many_hits", [False, True])
def test_index_and_like_give_the_same_answers(make, monkeypatch: pytest.MonkeyPatch, many_hits: bool) -> None:
    # Many hits: the query walks the table in sort order and probes the hits (search.MANY_HITS).
    monkeypatch.setattr(search, "MANY_HITS", 0 if many_hits else 2000)
    config, engine, records = make()
    for subject, body in (("Kovács és Társa", "raktár bővítés"), ("ÁRVÍZTŰRŐ tükörfúrógép", None),
                          ("ab", "xy zz"), ("Plain", "nothing")):
        records.create(SYSTEM, "note", {"subject": subject, "body": body})
    queries = ["kovács", "KOVÁCS TÁRSA", "árvíz", "tükör", "ab", "zz", "x", "bővítés raktár", "nope", "és"]
    without = {q: subjects(records, q) for q in queries}
    ensure_search_index(engine, config)
    fresh = Records(config, engine, build_tables(config))      # a new service finds the index itself
    assert {q: subjects(fresh, q) for q in queries} == without
    assert without["kovács"] == ["Kovács és Társa"] and without["ab"] == ["ab"]


def test_a_field_hidden_from_the_user_is_not_searched(make) -> None:
    config, engine, records = make()
    ensure_search_index(engine, config)
    records.create(SYSTEM, "note", {"subject": "Visible", "body": "secret words"})
    table = records.tables.entity("note")
    condition = SearchIndex(engine, config).condition(config.entities["note"], table, "secret", {"body"})
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.id).where(condition)).all() == []
    assert subjects(records, "secret") == ["Visible"]


def test_the_index_is_repaired_after_a_table_copy_and_follows_the_config(make) -> None:
    config, engine, records = make()
    ensure_search_index(engine, config)
    records.create(SYSTEM, "note", {"subject": "Before change", "body": "alpha"})
    # A type change makes SQLite copy the table (dropping its triggers).
    widened = NOTE.replace("score:   {type: int}", "score:   {type: decimal}")
    config2, engine, records2 = make(widened)
    done = ensure_search_index(engine, config2)
    if engine.dialect.name == "sqlite":
        assert done and "crm_fts_note" in done[0]
    records2.create(SYSTEM, "note", {"subject": "After change", "body": "alpha"})
    assert subjects(records2, "alpha") == ["After change", "Before change"]
    # No searchable field but the title left: the index follows.
    config3, engine, records3 = make(widened.replace("body:    {type: text, search: true}", "body:    {type: text}"))
    ensure_search_index(engine, config3)
    assert subjects(records3, "alpha") == []
    assert subjects(records3, "after") == ["After change"]
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'crm_fts_note'")).scalar()
            assert '"body"' not in ddl
    else:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'note' "
                                         "AND indexname LIKE 'crm_trgm%'")).scalars().all()
            assert sorted(names) == ["crm_trgm_note_subject"]
    assert plan_migration(engine, config3).empty


@pytest.mark.parametrize("many_hits", [False, True])
def test_a_searched_list_counts_what_it_lists(make, monkeypatch: pytest.MonkeyPatch, many_hits: bool) -> None:
    # Through the index the capped count reads along its hits (query._counted_along_hits): the same
    # numbers as without the index, with a filter, and with a short word left to LIKE.
    monkeypatch.setattr(search, "MANY_HITS", 0 if many_hits else 2000)
    config, engine, records = make()
    for i in range(12):
        records.create(SYSTEM, "note", {"subject": f"Alpha {i}" if i % 3 else f"Beta {i}",
                                        "body": "xy" if i % 2 else None, "score": i})
    cases = [("alpha", None), ("alpha xy", None), ("alpha", "score >= 8"), ("alp 1", None), ("beta", None),
             ("nope", None)]

    def counts(service: Records) -> dict[tuple[str, str | None], tuple[list[int], bool, int | None]]:
        out = {}
        for q, f in cases:
            page = service.list(SYSTEM, "note", search=q, filter_expr=f, limit=2, count_up_to=5)
            out[(q, f)] = ([r["id"] for r in page.rows], page.has_more, page.matching)
        return out
    without = counts(records)
    ensure_search_index(engine, config)
    fresh = Records(config, engine, build_tables(config))
    assert counts(fresh) == without
    assert [without[c][1:] for c in cases] == [(True, 6), (True, 4), (True, 3), (True, 3), (True, 4), (False, None)]
    if engine.dialect.name == "sqlite":
        assert "_hits" in str(fresh.query.page(SYSTEM, "note", search="alpha").count)


def test_a_search_statement_is_reused_and_sees_new_rows(make) -> None:
    config, engine, records = make()
    ensure_search_index(engine, config)
    records.create(SYSTEM, "note", {"subject": "Gamma one"})
    once = records.query.page(SYSTEM, "note", search="gamma")      # asked once: built, not kept
    first = records.query.page(SYSTEM, "note", search="gamma")      # asked again: kept
    assert first is not once
    assert records.query.page(SYSTEM, "note", search="gamma") is first
    assert records.query.page(SYSTEM, "note", search="gamma two") is not first
    records.create(SYSTEM, "note", {"subject": "Gamma two"})
    assert subjects(records, "gamma") == ["Gamma one", "Gamma two"]
    assert subjects(records, "gamma two") == ["Gamma two"]


def test_a_remembered_plan_still_gives_fresh_answers(make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whether a word hits many rows is reused for a while (search.HITS_TTL): it picks the plan only.
    monkeypatch.setattr(search, "MANY_HITS", 2)
    config, engine, records = make()
    ensure_search_index(engine, config)
    note = config.entities["note"]
    records.create(SYSTEM, "note", {"subject": "Delta 1"})
    assert subjects(records, "delta") == ["Delta 1"]
    for i in (2, 3, 4):
        records.create(SYSTEM, "note", {"subject": f"Delta {i}"})
    assert subjects(records, "delta") == ["Delta 1", "Delta 2", "Delta 3", "Delta 4"]
    page = records.list(SYSTEM, "note", search="delta", limit=1, count_up_to=10)
    assert page.has_more and page.matching == 4
    if engine.dialect.name == "sqlite":
        assert records.query.search.form(note, "delta", ()).many_hits is False      # remembered
        monkeypatch.setattr(search, "HITS_TTL", 0.0)
        assert records.query.search.form(note, "delta", ()).many_hits is True       # asked again
        assert subjects(records, "delta") == ["Delta 1", "Delta 2", "Delta 3", "Delta 4"]
