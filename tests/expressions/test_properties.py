"""Generated expressions over generated rows: SQL and Python must agree, on SQLite and PostgreSQL.

Numbers are multiples of 0.25 and divisions that feed comparisons are by
powers of two, so SQLite's binary floating point stays exact; an inexact
division appears only as a whole result, compared to 1e-9.
"""
from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.metadata.expressions import DECIMAL, PERIOD, ExpressionError, SqlCompiler

from .world import WORLD, create_world, insert, py_results, same, sql_results

UTC = dt.timezone.utc
# CRM_EXPR_EXAMPLES=2000 for a long hunt; the default keeps the suite quick.
SETTINGS = settings(max_examples=int(os.environ.get("CRM_EXPR_EXAMPLES", "100")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- values ---------------------------------------------------------------------------------

quarters = st.integers(-400, 400).map(lambda k: Decimal(k) / 4)
small_ints = st.integers(-50, 50)
alphabet = "aAéÉőŐß%_\\ x"
texts = st.text(alphabet, max_size=6)
dates = st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31))
tricky_instants = [dt.datetime(2024, 3, 30, 1, 30, tzinfo=UTC), dt.datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
                   dt.datetime(2024, 10, 26, 0, 30, tzinfo=UTC), dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
                   dt.datetime(2024, 12, 31, 23, 30, tzinfo=UTC), dt.datetime(2024, 2, 29, 22, 59, tzinfo=UTC)]
instants = st.one_of(st.sampled_from(tricky_instants),
                     st.datetimes(dt.datetime(2023, 1, 1), dt.datetime(2025, 12, 31)).map(
                         lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)))


def maybe(strategy):
    return st.one_of(st.none(), strategy)


@st.composite
def datasets(draw):
    users = [{"id": i, "username": draw(texts), "team": draw(maybe(st.sampled_from(["north", "south"]))),
              "active": draw(maybe(st.booleans()))} for i in (1, 2)]
    accounts = [{"id": i, "name": draw(maybe(texts)), "industry": draw(maybe(st.sampled_from(["it", "retail"]))),
                 "score": draw(maybe(small_ints)), "vip": draw(maybe(st.booleans())),
                 "parent": draw(maybe(st.sampled_from([1, 2, 3])))} for i in (1, 2, 3)]
    deals = []
    for i in range(1, draw(st.integers(1, 4)) + 1):
        tags = draw(maybe(st.lists(st.sampled_from(["a", "b_c", "x"]), unique=True, max_size=3)))
        deals.append({
            "id": i, "name": draw(maybe(texts)), "amount": draw(maybe(quarters)), "qty": draw(maybe(small_ints)),
            "discount": draw(maybe(quarters.map(abs))), "hot": draw(maybe(st.booleans())),
            "close_date": draw(maybe(dates)), "closed_at": draw(maybe(instants)),
            "created_at": draw(instants), "stage": draw(maybe(st.sampled_from(["new", "qualified", "won", "lost"]))),
            "tags": None if tags is None else "[" + ", ".join(f'"{t}"' for t in tags) + "]",
            "account": draw(maybe(st.sampled_from([1, 2, 3]))), "owner": draw(maybe(st.sampled_from([1, 2]))),
        })
    lines = [{"id": i, "deal": draw(st.sampled_from([d["id"] for d in deals])), "qty": draw(maybe(small_ints)),
              "price": draw(maybe(quarters))} for i in range(1, draw(st.integers(0, 4)) + 1)]
    return {"crm_users": users, "account": accounts, "deal": deals, "deal_line": lines}


periods = st.one_of(
    st.sampled_from(["today", "this_week", "last_week", "this_month", "last_month", "this_quarter",
                     "last_quarter", "this_year", "last_year", "this_fiscal_year", "last_fiscal_year",
                     "last_30_days", "next_10_days", "last_2_months", "next_1_months", None]),
    st.tuples(dates, dates).map(lambda ab: {"from": min(ab).isoformat(), "to": max(ab).isoformat()}))

# --- expressions ------------------------------------------------------------------------------

NUM_FIELDS = ["amount", "qty", "discount", "net", "account.score", "stage.probability", "lines", "total",
              "account.open_deals", "account.parent.open_deals"]
TEXT_FIELDS = ["name", "account.name", "account.industry", "owner.team", "stage", "account.label",
               "account.parent.name", "owner.username"]
BOOL_FIELDS = ["hot", "account.vip", "owner.active", "big", "warm", "stage.open", "stage.won", "stage.closed",
               "account.parent.vip"]
DATE_FIELDS = ["close_date", "today()", "created_at.date()", "closed_at.date()"]
DATETIME_FIELDS = ["created_at", "closed_at", "now()"]


def lit_text(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def number(depth: int, whole: bool = False):
    leaves = [st.sampled_from(["qty", "account.score", "stage.probability", "lines", "age"] if whole else NUM_FIELDS),
              small_ints.map(str)]
    if not whole:
        leaves.append(quarters.map(str))
    if depth <= 0:
        return st.one_of(*leaves)
    sub = number(depth - 1, whole)
    ops = [
        st.tuples(sub, st.sampled_from(["+", "-", "*"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        sub.map(lambda x: f"-({x})"), sub.map(lambda x: f"abs({x})"),
        st.tuples(st.sampled_from(["min", "max", "coalesce"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(boolean(depth - 1), sub, sub).map(lambda t: f"({t[1]} if {t[0]} else {t[2]})"),
        st.sampled_from(["len(name)", "len(tags)", "days_since(created_at)", "year(closed_at)",
                         "month(close_date)", "days_until(closed_at)", "(close_date - created_at.date())"]),
        number(depth - 1, True).map(lambda x: f"({x} % 7)"),
        number(depth - 1).map(lambda x: f"round({x})"),
    ]
    if not whole:
        ops += [sub.map(lambda x: f"({x} / 4)"), number(depth - 1).map(lambda x: f"round({x}, 1)")]
    return st.one_of(*leaves, *ops)


def text(depth: int):
    leaves = [st.sampled_from(TEXT_FIELDS), texts.map(lit_text)]
    if depth <= 0:
        return st.one_of(*leaves)
    sub = text(depth - 1)
    return st.one_of(
        *leaves,
        st.tuples(st.sampled_from(["lower", "upper"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"({t[0]} + {t[1]})"),
        st.tuples(sub, sub).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(boolean(depth - 1), sub, sub).map(lambda t: f"({t[1]} if {t[0]} else {t[2]})"),
    )


def day(depth: int):
    shift = st.one_of(st.integers(-400, 400).map(str), st.just("qty"))
    leaves = st.sampled_from(DATE_FIELDS)
    if depth <= 0:
        return leaves
    sub = day(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(sub, st.sampled_from(["+", "-"]), shift).map(lambda t: f"({t[0]} {t[1]} days({t[2]}))"),
        st.tuples(st.sampled_from(["coalesce", "min", "max"]), sub, sub).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
    )


def moment(depth: int):
    shift = st.one_of(st.integers(-400, 400).map(str), st.just("qty"))
    leaves = st.sampled_from(DATETIME_FIELDS)
    if depth <= 0:
        return leaves
    sub = moment(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(sub, st.sampled_from(["+", "-"]), shift).map(lambda t: f"({t[0]} {t[1]} days({t[2]}))"),
        st.tuples(sub, day(depth - 1)).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        st.tuples(boolean(depth - 1), day(depth - 1), sub).map(lambda t: f"({t[1]} if {t[0]} else {t[2]})"),
    )


COMPARE = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def boolean(depth: int):
    leaves = [st.sampled_from(BOOL_FIELDS + ["true", "false"])]
    if depth <= 0:
        return st.one_of(*leaves)
    sub = boolean(depth - 1)
    temporal = st.one_of(day(depth - 1), moment(depth - 1))
    null_test = st.tuples(st.one_of(number(0), text(0), temporal, sub), st.sampled_from(["==", "!="])).map(
        lambda t: f"({t[0]} {t[1]} null)")
    return st.one_of(
        *leaves,
        st.tuples(number(depth - 1), COMPARE, number(depth - 1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(text(depth - 1), COMPARE, text(depth - 1)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(temporal, COMPARE, temporal).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["==", "!="]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.lists(sub, min_size=2, max_size=3), st.sampled_from([" and ", " or "])).map(
            lambda t: "(" + t[1].join(t[0]) + ")"),
        sub.map(lambda x: f"(not {x})"),
        null_test,
        st.tuples(number(0), st.sampled_from(["in", "not in"]),
                  st.lists(st.one_of(small_ints.map(str), quarters.map(str), st.just("null")), max_size=3)).map(
            lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"),
        st.tuples(text(0), st.sampled_from(["in", "not in"]), st.lists(texts.map(lit_text), max_size=3)).map(
            lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"),
        st.tuples(st.sampled_from(["'a'", "'b_c'", "'x'"]), st.sampled_from(["in", "not in"])).map(
            lambda t: f"({t[0]} {t[1]} tags)"),
        st.tuples(text(depth - 1), st.sampled_from(["startswith", "endswith", "contains"]), text(0)).map(
            lambda t: f"{t[0]}.{t[1]}({t[2]})"),
        st.tuples(temporal, st.sampled_from(["in", "not in"])).map(lambda t: f"({t[0]} {t[1]} $period)"),
        st.tuples(number(0), COMPARE).map(lambda t: f"({t[0]} {t[1]} $limit)"),
        st.tuples(sub, sub, sub).map(lambda t: f"({t[1]} if {t[0]} else {t[2]})"),
    )


expressions = st.one_of(number(2), text(2), boolean(2), day(2), moment(2),
                        st.tuples(number(1), number(1)).map(lambda t: f"({t[0]}) / ({t[1]})"))


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    tables = create_world(engine)
    with engine.connect() as conn:
        yield conn, tables


@SETTINGS
@given(data=datasets(), exprs=st.lists(expressions, min_size=1, max_size=4), now=instants,
       user=st.sampled_from([None, 1, 2]), period=periods, limit=maybe(quarters), drop=st.booleans())
def test_generated_expressions_agree(world, data, exprs, now, user, period, limit, drop) -> None:
    conn, tables = world
    with conn.begin() as transaction:
        insert(conn, tables, data)
        current_user = next((u for u in data["crm_users"] if u["id"] == user), None)
        options = dict(now=now, current_user=current_user, params={"period": period, "limit": limit},
                       param_types={"period": PERIOD, "limit": DECIMAL}, drop_null_params=drop)
        try:
            from_sql = sql_results(conn, tables, exprs, **options)
        except ExpressionError as exc:
            # The generator is typed loosely around keys: a text literal that is no option or
            # stage key, or an ordering of stage keys, is refused by the checker on purpose.
            assume(not any(m in exc.message for m in ("is not an option", "is not a stage", "stage of")))
            raise
        from_python = py_results(conn, tables, exprs, **options)
        transaction.rollback()
    for ident, sql_values in from_sql.items():
        for text_, a, b in zip(exprs, sql_values, from_python[ident]):
            assert same(a, b), f"{text_!r} on deal {ident}: SQL {a!r}, Python {b!r}"


def _aggregate(name: str, xs: list) -> object:
    present = [x for x in xs if x is not None]
    if name == "count":
        return len(present)
    if not present:
        return None
    if name == "avg":
        return Decimal(sum(present)) / len(present)
    return {"sum": sum, "min": min, "max": max}[name](present)


@SETTINGS
@given(data=datasets(), num=number(1), cond=boolean(1), txt=text(1), when=day(1), now=instants, period=periods)
def test_aggregates_agree_with_python_over_the_rows(world, data, num, cond, txt, when, now, period) -> None:
    conn, tables = world
    measures = [("count", None), ("count", cond), ("sum", num), ("avg", num), ("min", num), ("max", num),
                ("count", num), ("min", txt), ("max", when)]
    texts = [f"{name}({arg or ''})" for name, arg in measures]
    params = dict(params={"period": period, "limit": Decimal(1)}, param_types={"period": PERIOD, "limit": DECIMAL})
    with conn.begin() as transaction:
        insert(conn, tables, data)
        try:
            compiler = SqlCompiler(WORLD, "deal", tables.__getitem__, now=now, **params)
            row = conn.execute(compiler.select(*(compiler.compile(t) for t in texts))).one()
        except ExpressionError as exc:
            assume(not any(m in exc.message for m in ("is not an option", "is not a stage", "stage of")))
            raise
        per_row = py_results(conn, tables, [a for _, a in measures if a], now=now, **params)
        transaction.rollback()
    columns = list(zip(*per_row.values())) if per_row else [()] * 8
    position = 0
    for (name, arg), got, text_ in zip(measures, row, texts):
        if arg is None:
            want = len(per_row)
        else:
            xs = list(columns[position])
            position += 1
            want = _aggregate(name, [True if x is True else None for x in xs] if arg == cond and name == "count"
                              else xs)
        assert same(got, want), f"{text_}: SQL {got!r}, Python {want!r} {per_row} {row}"
