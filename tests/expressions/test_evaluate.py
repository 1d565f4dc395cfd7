"""The Python back end on one record: null rules, old values, links, computed fields."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.metadata.expressions import EvalEnv, ExpressionError, evaluate, holds
from engine.metadata.expressions import values

from .factory import make_config
from .world import WORLD

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


def env(record: dict, **kw) -> EvalEnv:
    return EvalEnv(WORLD, kw.pop("entity", "deal"), record, now=NOW, **kw)


def test_conditions_treat_null_as_false() -> None:
    assert evaluate("amount > 10", env({"amount": None})) is None
    assert holds("amount > 10", env({"amount": None})) is False
    assert holds("not (amount > 10)", env({"amount": None})) is False
    assert holds("amount == null", env({"amount": None})) is True


def test_old_and_changed() -> None:
    record = {"stage": "won", "amount": Decimal("5")}
    assert evaluate("changed('stage')", env(record, old={"stage": "new", "amount": Decimal("5")})) is True
    assert evaluate("changed('amount')", env(record, old={"stage": "new", "amount": Decimal("5")})) is False
    assert evaluate("old.stage.open and stage.won", env(record, old={"stage": "new"})) is True
    # on create there is no old record: old.x is null, a field with a value counts as changed
    assert evaluate("old.stage", env(record)) is None
    assert evaluate("changed('stage')", env(record)) is True
    assert evaluate("changed('close_date')", env(record)) is False


def test_computed_fields_are_computed_not_read() -> None:
    record = {"amount": Decimal("10.25"), "qty": 1, "net": Decimal("999"), "created_at": NOW}
    assert evaluate("net", env(record)) == Decimal("19.50")
    assert evaluate("big", env(record)) is False
    assert evaluate("age", env(record)) == 0


def test_rollups_come_from_the_runtime() -> None:
    asked = []

    def rollup(entity, field, row):
        asked.append((entity, field.name, row["id"]))
        return 7
    assert evaluate("total + 1", env({"id": 3}, rollup=rollup)) == 8
    assert asked == [("deal", "total", 3)]
    assert evaluate("total", env({"id": 3, "total": Decimal("2.5")})) == Decimal("2.5")   # no callback: the row's value


def test_links_are_followed_once_through_load() -> None:
    rows = {("account", 1): {"id": 1, "name": "ACME", "parent": 2}, ("account", 2): {"id": 2, "name": "Holding"},
            ("crm_users", 5): {"id": 5, "team": "north"}}
    loads = []

    def load(table, ident):
        loads.append((table, ident))
        return rows.get((table, ident))
    record = {"account": 1, "owner": 5}
    e = env(record, load=load, current_user={"id": 5, "team": "north"})
    assert evaluate("account.name + ' / ' + account.parent.name", e) == "ACME / Holding"
    assert evaluate("owner.team == current_user.team and owner == current_user", e) is True
    assert sorted(set(loads)) == [("account", 1), ("account", 2), ("crm_users", 5)]
    assert evaluate("account.name", env({"account": {"id": 9, "name": "Inline"}})) == "Inline"
    assert evaluate("account.name", env({"account": 404}, load=load)) is None
    with pytest.raises(ValueError, match="load"):
        evaluate("account.name", env({"account": 1}))


def test_dropped_comparisons_with_null_params() -> None:
    record = {"amount": Decimal("5"), "owner": 1}
    text = "amount > $min and owner == $owner"
    params = {"min": None, "owner": 1}
    assert evaluate(text, env(record, params=params)) is None
    assert evaluate(text, env(record, params=params, drop_null_params=True)) is True
    assert evaluate("name.contains($q)", env({"name": "x"}, params={"q": None}, drop_null_params=True)) is True


def test_stored_values_are_normalised() -> None:
    record = {"amount": 0.1, "hot": 1, "close_date": "2024-03-20", "created_at": dt.datetime(2024, 3, 15, 23, 30),
              "tags": '["a"]'}
    assert evaluate("amount * 3", env(record)) == Decimal("0.3")
    assert evaluate("hot", env(record)) is True
    assert evaluate("close_date - days(1)", env(record)) == dt.date(2024, 3, 19)
    assert evaluate("created_at.date()", env(record)) == dt.date(2024, 3, 16)   # naive is UTC; Budapest is +1
    assert evaluate("'a' in tags", env(record)) is True


def test_aggregates_need_many_records() -> None:
    with pytest.raises(ExpressionError) as err:
        evaluate("sum(amount)", env({}))
    assert err.value.code == "CRM-E305"


def test_python_objects_stay_out_of_reach() -> None:
    for text in ("name.format(1)", "name.upper()", "name.__len__()", "amount.real", "name.join([])"):
        with pytest.raises(ExpressionError):
            evaluate(text, env({"name": "x", "amount": Decimal(1)}))


def test_formula_cycles_are_reported() -> None:
    config = make_config({"thing": {"a": {"type": "formula", "expr": "b + 1", "result": "int"},
                                    "b": {"type": "formula", "expr": "a + 1", "result": "int"}}})
    with pytest.raises(ExpressionError) as err:
        evaluate("a", EvalEnv(config, "thing", {}, now=NOW))
    assert err.value.code == "CRM-E210"


def test_the_clock_is_injected_and_local() -> None:
    late = dt.datetime(2024, 12, 31, 23, 30, tzinfo=UTC)          # already 2025 in Budapest
    assert evaluate("year(today())", EvalEnv(WORLD, "deal", {}, now=late)) == 2025
    tokyo = make_config({"thing": {"x": "int"}}, timezone="Asia/Tokyo")
    assert evaluate("today()", EvalEnv(tokyo, "thing", {}, now=NOW.replace(hour=16))) == dt.date(2024, 3, 16)


def test_days_keep_the_wall_clock_across_dst() -> None:
    before = dt.datetime(2024, 3, 30, 11, 0, tzinfo=UTC)               # 12:00 in Budapest (CET)
    assert values.add_days(before, 1, "Europe/Budapest") == dt.datetime(2024, 3, 31, 10, 0, tzinfo=UTC)  # 12:00 CEST
    gap = dt.datetime(2024, 3, 30, 1, 30, tzinfo=UTC)                  # 02:30 CET; 02:30 is skipped on the 31st
    assert values.add_days(gap, 1, "Europe/Budapest") == dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    repeated = dt.datetime(2024, 10, 26, 0, 30, tzinfo=UTC)            # 02:30 CEST; 02:30 happens twice on the 27th
    assert values.add_days(repeated, 1, "Europe/Budapest") == dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
