"""Kept read statements run on the driver's cursor (direct_reads.py): the keys, rows and values
SQLAlchemy's own execution gives, for every user, and listeners still see each statement."""
from __future__ import annotations

import sqlalchemy as sa

from engine.runtime.direct_reads import all_mappings, first_mapping, run_read
from engine.runtime.query import MATCHING

from .test_list_statements import make_deals


def through_sqlalchemy(crm, statement, params):
    with crm.engine.connect() as conn:
        result = conn.execute(statement, params)
        return list(result.keys()), [tuple(row) for row in result.all()]


def directly(crm, statement, params):
    with crm.engine.connect() as conn:
        keys, rows = run_read(conn, statement, params)
        return list(keys), [tuple(row) for row in rows]


def test_list_pages_give_what_sqlalchemy_gives(crm):
    made = make_deals(crm)
    account = crm.records.list(crm.admin, "account", limit=1).rows[0]["id"]
    shapes = [
        ("deal", dict(sort="-amount", titles=True)),                        # money, dates, link titles
        ("deal", dict(sort=["-items_total", "name"])),                      # rollup, formula columns
        ("deal", dict(where={"account": account}, titles=True)),            # a related list's bind
        ("deal", dict(where={"amount": ["100", "200"]})),                   # IN: expanding bind
        ("account", dict(titles=True)),                                     # hidden field for reps
    ]
    for actor in (crm.admin, crm.alice, crm.mona, crm.vic):
        for entity, kwargs in shapes:
            if crm.records.permissions.scope(actor, entity, "read") == "none":
                continue
            statements, binds = crm.records.query.bound_page(actor, entity, **kwargs)
            params = {**statements.page_params(50, 0), **binds}
            expected = through_sqlalchemy(crm, statements.rows, params)
            assert directly(crm, statements.rows, params) == expected, (actor.username, entity, kwargs)
            assert directly(crm, statements.rows, params) == expected        # compiled once, run again
    assert made["alice"]


def test_one_record_and_its_lines_as_mappings(crm):
    made = make_deals(crm)
    for actor in (crm.admin, crm.alice, crm.mona):
        statement = crm.records.query.matching(actor, "deal")
        lines = crm.records.query.matching(actor, "deal_line", "deal", sort=["id"])
        for deal in made["alice"] + made["bob"][:2]:
            with crm.engine.connect() as conn:
                expected = conn.execute(statement, {MATCHING: deal}).mappings().first()
                found = first_mapping(conn, statement, {MATCHING: deal})
                assert (dict(expected) if expected is not None else None) == found
                expected_lines = [dict(r) for r in conn.execute(lines, {MATCHING: deal}).mappings().all()]
                assert all_mappings(conn, lines, {MATCHING: deal}) == expected_lines


def test_values_keep_their_python_types(crm):
    make_deals(crm)
    statements, binds = crm.records.query.bound_page(crm.admin, "deal", sort="-amount")
    keys, rows = directly(crm, statements.rows, {**statements.page_params(50, 0), **binds})
    for want, got in zip(through_sqlalchemy(crm, statements.rows, {**statements.page_params(50, 0)})[1], rows):
        assert [type(v) for v in want] == [type(v) for v in got]
    created = rows[0][keys.index("created_at")]
    assert created.tzinfo is not None


def test_a_missing_bind_is_refused_as_sqlalchemy_refuses_it(crm):
    statement = crm.records.query.matching(crm.admin, "deal")
    with crm.engine.connect() as conn:
        try:
            run_read(conn, statement, {})
        except sa.exc.StatementError as exc:
            assert MATCHING in str(exc)
        else:
            raise AssertionError("a statement without its bind ran")


def test_listeners_see_every_statement(crm):
    make_deals(crm)
    statement = crm.records.query.matching(crm.alice, "deal")
    seen: list[tuple[str, object]] = []
    sa.event.listen(crm.engine, "before_cursor_execute", lambda c, cur, sql, params, *_: seen.append((sql, params)))
    after: list[str] = []
    sa.event.listen(crm.engine, "after_cursor_execute", lambda c, cur, sql, *_: after.append(sql))
    with crm.engine.connect() as conn:
        first_mapping(conn, statement, {MATCHING: 1})
        first_mapping(conn, statement, {MATCHING: 2})
    assert len(seen) == 2 and len(after) == 2
    assert all("FROM deal" in sql for sql, _ in seen)


def test_kept_statements_are_run_directly_on_sqlite(crm):
    """The comparisons above compare the direct path itself on SQLite (not its fallback)."""
    from engine.runtime import direct_reads
    make_deals(crm)
    statements, binds = crm.records.query.bound_page(crm.alice, "deal", where={"account": 1}, titles=True)
    with crm.engine.connect() as conn:
        plan = direct_reads._plan(conn, statements.rows)
        related = direct_reads._plan(conn, crm.records.query.matching(crm.alice, "deal"))
        expanding, _ = crm.records.query.bound_page(crm.alice, "deal", where={"amount": ["1", "2"]})
        assert direct_reads._plan(conn, expanding.rows) is None               # an IN list: SQLAlchemy's
        if conn.dialect.name == "sqlite":
            assert plan is not None and related is not None
        else:
            assert plan is None and related is None


def test_an_empty_page_and_its_rows_as_dicts(crm):
    # Result processors and converters run column by column: a page with no row has no columns.
    make_deals(crm)
    statements, binds = crm.records.query.bound_page(crm.admin, "deal", where={"amount": "987654321"}, titles=True)
    params = {**statements.page_params(50, 0), **binds}
    assert directly(crm, statements.rows, params) == through_sqlalchemy(crm, statements.rows, params)
    keys, rows = directly(crm, statements.rows, params)
    assert rows == [] and statements.shape(keys).dicts(rows) == []
