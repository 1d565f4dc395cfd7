"""The SQL back end: joins, aggregates, rollups, parameters and what it refuses."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.metadata.expressions import BOOL, PERIOD, USER, ExpressionError, SqlCompiler

from .test_agreement import ANNA, DATA, NOW
from .world import WORLD, create_world, insert, same


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


def compiler(tables, **kw) -> SqlCompiler:
    return SqlCompiler(WORLD, kw.pop("entity", "deal"), tables.__getitem__, now=NOW, current_user=ANNA, **kw)


def ids(conn, tables, condition: str, **kw) -> list[int]:
    c = compiler(tables, **kw)
    where = c.compile(condition, expected=BOOL)
    deal = tables["deal"]
    return list(conn.execute(c.select(deal.c.id).where(where).order_by(deal.c.id)).scalars())


def test_filters(world) -> None:
    conn, tables = world
    assert ids(conn, tables, "stage.open") == [1]
    assert ids(conn, tables, "not stage.open") == [2]                     # null stage is neither
    assert ids(conn, tables, "owner == current_user or account.name == null") == [1, 2, 3]
    assert ids(conn, tables, "total > 10 and account.parent.industry == 'it'") == [1]
    assert ids(conn, tables, "name == 'x'' OR 1=1 --'") == []              # text is always a bound value


def test_link_paths_share_one_join_each(world) -> None:
    conn, tables = world
    c = compiler(tables)
    for text in ("account.name", "account.industry", "account.parent.name", "account.parent.vip", "owner.team"):
        c.compile(text)
    sql = str(c.from_clause())
    assert sql.count("LEFT OUTER JOIN") == 3
    assert sql.count("JOIN account AS") == 2 and sql.count("JOIN crm_users AS") == 1
    assert "account.id" not in str(c.compile("account.id"))               # the link column itself, no join


def test_report_measures(world) -> None:
    conn, tables = world
    c = compiler(tables)
    measures = [c.compile(m) for m in (
        "count()", "sum(amount)", "sum(amount * stage.probability / 100)", "count(stage.won) / count(stage.closed)",
        "avg(qty)", "min(close_date)", "max(created_at)", "count(hot)", "count(amount)", "sum(amount) / 0",
        "sum(total)", "max(account.open_deals)")]
    row = conn.execute(c.select(*measures)).one()
    expected = [3, Decimal("100.50"), Decimal("10.05"), Decimal("1"), Decimal("-2"), dt.date(2024, 3, 20),
                dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.timezone.utc), 1, 2, None, Decimal("21.50"), 1]
    for got, want in zip(row, expected):
        assert same(got, want), (got, want)


def test_group_by_with_measures(world) -> None:
    conn, tables = world
    c = compiler(tables)
    key = c.compile("coalesce(owner.team, '-')").label("team")
    deals = c.compile("count()").label("deals")
    rows = conn.execute(c.select(key, deals).group_by(key).order_by(key)).all()
    assert [tuple(r) for r in rows] == [("-", 1), ("north", 1), ("south", 1)]


def test_where_params_drop_null_parameters(world) -> None:
    conn, tables = world
    where = "owner == $owner and close_date in $period"
    types = {"owner": USER, "period": PERIOD}
    both_null = dict(params={"owner": None, "period": None}, param_types=types)
    assert ids(conn, tables, where, drop_null_params=True, **both_null) == [1, 2, 3]
    assert ids(conn, tables, where, **both_null) == []
    assert ids(conn, tables, where, drop_null_params=True, params={"owner": None, "period": "this_year"},
               param_types=types) == [1, 3]
    assert ids(conn, tables, where, drop_null_params=True, params={"owner": ANNA, "period": None},
               param_types=types) == [1]


def test_compiled_sql_is_reused_with_new_values(world) -> None:
    # SQLAlchemy caches compiled SQL by structure: values must travel as parameters.
    conn, tables = world
    assert ids(conn, tables, "name.startswith('Big')") == [1]
    assert ids(conn, tables, "name.startswith('sma')") == [2]
    assert ids(conn, tables, "'a' in tags") == [1]
    assert ids(conn, tables, "'x' in tags") == []


def test_clock_is_a_parameter(world) -> None:
    conn, tables = world
    later = SqlCompiler(WORLD, "deal", tables.__getitem__, now=NOW + dt.timedelta(days=10))
    assert conn.execute(sa.select(later.compile("today()"))).scalar() == dt.date(2024, 3, 26)
    assert ids(conn, tables, "days_until(close_date) == 4") == [1]


def test_what_sql_refuses(world) -> None:
    conn, tables = world
    for text, code in (("old.stage", "CRM-E306"), ("amunt", "CRM-E301"), ("amount + name", "CRM-E303"),
                       ("amount", "CRM-E307")):
        with pytest.raises(ExpressionError) as err:
            compiler(tables).compile(text, expected=BOOL if text == "amount" else None)
        assert err.value.code == code
    with pytest.raises(ExpressionError) as err:
        SqlCompiler(WORLD, "deal", tables.__getitem__, params={}).compile("changed('stage')")
    assert err.value.code == "CRM-E306"


def test_formula_cycles_are_reported() -> None:
    from .factory import make_config, make_tables
    config = make_config({"thing": {"a": {"type": "formula", "expr": "b + 1", "result": "int"},
                                    "b": {"type": "formula", "expr": "a + 1", "result": "int"}}})
    tables = make_tables(config)
    with pytest.raises(ExpressionError) as err:
        SqlCompiler(config, "thing", tables.__getitem__).compile("a")
    assert err.value.code == "CRM-E210"


def test_list_parameters(world) -> None:
    conn, tables = world
    assert ids(conn, tables, "stage in $stages", params={"stages": ["new", "won"]}) == [1, 2]
    assert ids(conn, tables, "stage not in $stages", params={"stages": ["new"]}) == [2]


def test_a_rollup_must_aggregate() -> None:
    from .factory import make_config, make_tables
    config = make_config({"order": {"lines": {"type": "rollup", "of": "line", "expr": "qty", "result": "int"}},
                          "line": {"order": {"type": "link", "entity": "order"}, "qty": "int"}})
    with pytest.raises(ExpressionError) as err:
        SqlCompiler(config, "order", make_tables(config).__getitem__).compile("lines")
    assert err.value.code == "CRM-E303"
