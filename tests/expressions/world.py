"""A small sales world used by the agreement tests: config, rows, and both back ends side by side."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping, Sequence

import sqlalchemy as sa

from engine.metadata.expressions import EvalEnv, SqlCompiler, evaluate, parse, rollup_source
from engine.metadata.expressions.nodes import Aggregate

from .factory import make_config, make_pipeline, make_tables

UTC = dt.timezone.utc

WORLD = make_config(
    entities={
        "account": {
            "name": "string", "industry": {"type": "choice", "options": ["it", "retail", "food"]},
            "score": "int", "vip": "bool", "parent": {"type": "link", "entity": "account"},
            "label": {"type": "formula", "expr": "name + ' (' + coalesce(industry, '-') + ')'", "result": "string"},
            "open_deals": {"type": "rollup", "of": "deal.account", "expr": "count()", "filter": "stage.open",
                           "result": "int"},
        },
        "deal": {
            "name": "string", "amount": "money", "qty": "int", "discount": "percent", "hot": "bool",
            "close_date": "date", "closed_at": "datetime", "stage": {"type": "stage", "pipeline": "sales"},
            "tags": {"type": "multichoice", "options": ["a", "b_c", "x"]},
            "account": {"type": "link", "entity": "account"},
            "net": {"type": "formula", "expr": "amount * 2 - qty", "result": "money"},
            "age": {"type": "formula", "expr": "days_since(created_at)", "result": "int"},
            "big": {"type": "formula", "expr": "net > 100", "result": "bool"},
            "warm": {"type": "formula", "expr": "hot or qty > 0", "result": "bool"},
            "items": {"type": "lines", "entity": "deal_line"},
            "total": {"type": "rollup", "of": "items", "expr": "sum(qty * price)", "filter": "price > 0",
                      "result": "money"},
            "lines": {"type": "rollup", "of": "deal_line", "expr": "count()", "result": "int"},
        },
        "deal_line": {"deal": {"type": "link", "entity": "deal"}, "qty": "int", "price": "money"},
    },
    pipelines={"sales": make_pipeline("sales", "deal", [
        ("new", 10, None), ("qualified", 30, None), ("won", 100, "won"), ("lost", 0, "lost")])},
    traits={"deal": ("owned",)},
)


def create_world(engine: sa.Engine) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    tables = make_tables(WORLD, metadata)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    return tables


def insert(conn: sa.Connection, tables: Mapping[str, sa.Table], data: Mapping[str, Sequence[dict]]) -> None:
    for name in ("crm_users", "account", "deal", "deal_line"):
        rows = data.get(name) or []
        if rows:
            columns = {c.name for c in tables[name].columns}
            conn.execute(tables[name].insert(), [{c: row.get(c) for c in columns} for row in rows])


def sql_results(conn: sa.Connection, tables: Mapping[str, sa.Table], exprs: Sequence[str], *,
                entity: str = "deal", now: dt.datetime, **options: Any) -> dict[int, list[Any]]:
    """{row id: [value of each expression]} computed by the database."""
    compiler = SqlCompiler(WORLD, entity, tables.__getitem__, now=now, **options)
    columns = [compiler.compile(e).label(f"e{i}") for i, e in enumerate(exprs)]
    root = tables[entity]
    query = compiler.select(root.c.id, *columns).order_by(root.c.id)
    return {row[0]: list(row[1:]) for row in conn.execute(query)}


def py_results(conn: sa.Connection, tables: Mapping[str, sa.Table], exprs: Sequence[str], *,
               entity: str = "deal", now: dt.datetime, **options: Any) -> dict[int, list[Any]]:
    """{row id: [value of each expression]} computed in Python, one record at a time."""
    load = loader(conn, tables)
    out = {}
    for record in conn.execute(sa.select(tables[entity]).order_by(tables[entity].c.id)).mappings():
        env = EvalEnv(WORLD, entity, record, load=load, now=now, rollup=python_rollup(conn, tables, now),
                      **options)
        out[record["id"]] = [evaluate(e, env) for e in exprs]
    return out


def loader(conn: sa.Connection, tables: Mapping[str, sa.Table]):
    def load(table: str, ident: int) -> Mapping[str, Any] | None:
        t = tables[table]
        return conn.execute(sa.select(t).where(t.c.id == ident)).mappings().first()
    return load


def python_rollup(conn: sa.Connection, tables: Mapping[str, sa.Table], now: dt.datetime):
    """A rollup computed in Python from the child rows, with SQL's aggregate rules (reference only)."""
    def rollup(entity: str, field: Any, row: Mapping[str, Any]) -> Any:
        child, link = rollup_source(WORLD, entity, field)
        agg = parse(field.expr)
        assert isinstance(agg, Aggregate)
        t = tables[child]
        children = conn.execute(sa.select(t).where(t.c[link] == row["id"])).mappings().all()
        values = []
        for child_row in children:
            env = EvalEnv(WORLD, child, child_row, load=loader(conn, tables), now=now)
            if field.filter and evaluate(field.filter, env) is not True:
                continue
            values.append(evaluate(agg.arg, env) if agg.arg is not None else 1)
        present = [v for v in values if v is not None]
        if agg.name == "count":
            return len(present)
        if not present:
            return None
        return {"sum": sum, "min": min, "max": max,
                "avg": lambda xs: Decimal(sum(xs)) / len(xs)}[agg.name](present)
    return rollup


def same(a: Any, b: Any) -> bool:
    """Equal as the engine means it: numbers to 1e-9, datetimes as instants (naive is UTC)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, int) and isinstance(b, int) and bool(a) == bool(b) and {a, b} <= {0, 1})
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        x, y = Decimal(str(a)), Decimal(str(b))
        return abs(x - y) <= Decimal("1e-9") * max(Decimal(1), abs(x), abs(y))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return (a if a.tzinfo else a.replace(tzinfo=UTC)) == (b if b.tzinfo else b.replace(tzinfo=UTC))
    return type(a) is type(b) and a == b
