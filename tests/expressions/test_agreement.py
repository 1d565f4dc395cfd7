"""Both back ends, one answer: each expression below is computed by the database
(SqlCompiler) and in Python (evaluate) for three deals, on SQLite and PostgreSQL,
and both must give the value written next to it.

The clock says 2024-03-15 23:30 UTC, which is already 16 March in Budapest:
`today()` is the company's date, not UTC's.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from engine.metadata.expressions import INT, PERIOD

from .world import create_world, insert, py_results, same, sql_results

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 15, 23, 30, tzinfo=UTC)
ANNA = {"id": 1, "username": "anna", "team": "north", "active": True}
DATA = {
    "crm_users": [ANNA, {"id": 2, "username": "bob", "team": "south", "active": False}],
    "account": [
        {"id": 1, "name": "ACME", "industry": "it", "score": 5, "vip": True},
        {"id": 2, "name": "Beta", "industry": "retail", "parent": 1},
        {"id": 3},
    ],
    "deal": [
        {"id": 1, "name": "Big 50%_x", "amount": D("100.50"), "qty": 3, "discount": D("10"), "hot": True,
         "close_date": dt.date(2024, 3, 20), "closed_at": dt.datetime(2024, 3, 30, 1, 30, tzinfo=UTC),
         "stage": "new", "tags": '["a", "b_c"]', "account": 2, "owner": 1,
         "created_at": dt.datetime(2024, 3, 15, 10, 30, tzinfo=UTC)},
        {"id": 2, "name": "small", "hot": False, "stage": "won", "tags": "[]", "owner": 2,
         "created_at": dt.datetime(2024, 2, 4, 23, 30, tzinfo=UTC)},
        {"id": 3, "amount": D("0"), "qty": -7, "close_date": dt.date(2024, 10, 27),
         "closed_at": dt.datetime(2024, 10, 26, 0, 30, tzinfo=UTC), "account": 3,
         "created_at": dt.datetime(2023, 12, 31, 23, 30, tzinfo=UTC)},
    ],
    "deal_line": [
        {"id": 1, "deal": 1, "qty": 2, "price": D("10.25")}, {"id": 2, "deal": 1, "qty": 1, "price": D("1")},
        {"id": 3, "deal": 1, "qty": 5, "price": D("-1")}, {"id": 4, "deal": 3, "qty": 1},
    ],
}
T = dt.datetime
CASES: list[tuple[str, tuple]] = [
    # numbers: exact decimals, no integer truncation, division by zero is null
    ("amount + qty", (D("103.50"), None, -7)),
    ("amount * 2 - qty", (D("198.00"), None, 7)),
    ("amount / qty", (D("33.5"), None, 0)),
    ("qty / 0", (None, None, None)),
    ("qty / 2", (D("1.5"), None, D("-3.5"))),
    ("qty % 2", (1, None, -1)),
    ("-qty", (-3, None, 7)),
    ("round(amount / 3, 2)", (D("33.50"), None, 0)),
    ("round(2.5) + round(-2.5) * 10", (-27, -27, -27)),
    ("abs(qty)", (3, None, 7)),
    ("min(amount, 50)", (50, None, 0)),
    ("max(qty, 0)", (3, None, 0)),
    ("coalesce(amount, qty, -1)", (D("100.50"), -1, 0)),
    ("0 <= qty <= 5", (True, None, False)),
    ("1 if amount > 100 else 2.5", (1, D("2.5"), D("2.5"))),
    # text: case-sensitive tests, LIKE wildcards are plain characters
    ("name + '!'", ("Big 50%_x!", "small!", None)),
    ("lower(name)", ("big 50%_x", "small", None)),
    ("upper('árvíztűrő')", ("ÁRVÍZTŰRŐ",) * 3),
    ("len(name)", (9, 5, None)),
    ("name.startswith('Big')", (True, False, None)),
    ("name.startswith('big')", (False, False, None)),
    ("name.contains('%')", (True, False, None)),
    ("name.endswith('_x')", (True, False, None)),
    ("name.contains('0_')", (False, False, None)),
    # multichoice
    ("'b_c' in tags", (True, False, None)),
    ("'x' in tags", (False, False, None)),
    ("'a' not in tags", (False, True, None)),
    ("len(tags)", (2, 0, None)),
    # stages, from the pipeline (no join)
    ("stage", ("new", "won", None)),
    ("stage.open", (True, False, None)),
    ("stage.won", (False, True, None)),
    ("stage.closed", (False, True, None)),
    ("stage.probability", (10, 100, None)),
    ("stage in ['new', 'qualified']", (True, False, None)),
    ("stage not in ['new', null]", (False, None, None)),
    # three-valued logic
    ("hot", (True, False, None)),
    ("not hot", (False, True, None)),
    ("hot or amount > 50", (True, None, None)),
    ("hot and amount > 50", (True, False, False)),
    ("amount == null", (False, True, False)),
    ("amount != null", (True, False, True)),
    ("null == null", (True, True, True)),
    ("amount > null", (None, None, None)),
    ("'yes' if hot else 'no'", ("yes", "no", "no")),
    # links and users
    ("account.name", ("Beta", None, None)),
    ("account.parent.name", ("ACME", None, None)),
    ("account.industry == 'retail'", (True, None, None)),
    ("account.label", ("Beta (retail)", None, None)),
    ("account.id", (2, None, 3)),
    ("account == 2", (True, None, False)),
    ("owner.team", ("north", "south", None)),
    ("owner == current_user", (True, False, None)),
    ("owner.team == current_user.team", (True, False, None)),
    ("owner.active", (True, False, None)),
    # dates in the company's timezone, injected clock
    ("created_at.date()", (dt.date(2024, 3, 15), dt.date(2024, 2, 5), dt.date(2024, 1, 1))),
    ("year(created_at) * 100 + month(created_at)", (202403, 202402, 202401)),
    ("today()", (dt.date(2024, 3, 16),) * 3),
    ("now()", (NOW,) * 3),
    ("days_until(close_date)", (4, None, 225)),
    ("days_since(created_at)", (1, 40, 75)),
    ("age", (1, 40, 75)),
    ("close_date - days(5)", (dt.date(2024, 3, 15), None, dt.date(2024, 10, 22))),
    ("close_date - today()", (4, None, 225)),
    ("coalesce(close_date, today()) + days(1)", (dt.date(2024, 3, 21), dt.date(2024, 3, 17), dt.date(2024, 10, 28))),
    # wall-clock days across DST: 02:30 on 31 March does not exist, 02:30 on 27 October happens twice
    ("closed_at + days(1)", (T(2024, 3, 31, 1, 30, tzinfo=UTC), None, T(2024, 10, 27, 1, 30, tzinfo=UTC))),
    ("closed_at.date()", (dt.date(2024, 3, 30), None, dt.date(2024, 10, 26))),
    ("closed_at >= close_date", (True, None, False)),
    ("close_date if hot else created_at",
     (T(2024, 3, 19, 23, tzinfo=UTC), T(2024, 2, 4, 23, 30, tzinfo=UTC), T(2023, 12, 31, 23, 30, tzinfo=UTC))),
    ("close_date in $period", (True, None, False)),
    ("created_at in $period", (True, False, False)),
    # computed fields
    ("net", (D("198.00"), None, 7)),
    ("big", (True, None, False)),
    ("total", (D("21.50"), None, None)),
    ("lines", (3, 0, 1)),
    ("account.open_deals", (1, None, 0)),
    ("amount >= $limit", (True, None, False)),
    # null in odd places
    ("null in [1, 2]", (None, None, None)),
    ("qty in []", (False, False, False)),
    ("null + 1", (None, None, None)),
    ("-null", (None, None, None)),
    ("coalesce(null, 2)", (2, 2, 2)),
    ("null if hot else 1", (None, 1, 1)),
    ("stage.open == null", (False, False, True)),
    ("'a' in null", (None, None, None)),
    ("not null", (None, None, None)),
    # precedence survives inlined formulas and NOT (PostgreSQL refuses `a > b = c`)
    ("(not big) == hot", (False, None, None)),
    ("not warm", (False, None, None)),
    ("(not warm) == (not hot)", (True, None, None)),
    ("not (hot and big)", (False, True, True)),
    ("net * 2", (D("396.00"), None, 14)),
    ("('a' not in tags) == null", (False, False, True)),
    ("(stage not in ['won']) == null", (False, False, True)),
]
OPTIONS = dict(now=NOW, current_user=ANNA, params={"period": "this_month", "limit": 50},
               param_types={"period": PERIOD, "limit": INT})


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    tables = create_world(engine)
    with engine.begin() as conn:
        insert(conn, tables, DATA)
    with engine.connect() as conn:
        yield conn, tables


@pytest.fixture(autouse=True)
def _rollback_after_each_test(world):
    yield          # a failed statement must not poison the next test's connection (PostgreSQL)
    world[0].rollback()


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0] for c in CASES])
def test_sql_and_python_agree(world, text: str, expected: tuple) -> None:
    conn, tables = world
    from_sql = sql_results(conn, tables, [text], **OPTIONS)
    from_python = py_results(conn, tables, [text], **OPTIONS)
    for ident, want in zip((1, 2, 3), expected):
        assert same(from_sql[ident][0], want), f"SQL gave {from_sql[ident][0]!r} for deal {ident}, not {want!r}"
        assert same(from_python[ident][0], want), f"Python gave {from_python[ident][0]!r} for deal {ident}, not {want!r}"
