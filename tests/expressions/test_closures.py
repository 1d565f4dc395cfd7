"""The compiled closures give what the language says, including where work is done in advance.

Constant parts are computed when a program is built, fields are read with a
fast path for values already in the evaluator's form, formulas are compiled
into the expressions that read them, `x.date()` remembers its last datetime.
None of that may change an answer, or the moment an error shows.
"""
from __future__ import annotations

import ast
import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from engine.metadata.expressions import EvalEnv, ExpressionError, Run, compile_program, evaluate

from .factory import make_config
from .world import WORLD

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=UTC)


def env(record: dict, config=WORLD, entity: str = "deal") -> EvalEnv:
    return EvalEnv(config, entity, record, now=NOW)


def test_constant_parts_keep_the_null_rules() -> None:
    record = {"amount": Decimal("10.50"), "qty": 3, "close_date": dt.date(2024, 4, 1)}
    assert evaluate("amount / 0", env(record)) is None
    assert evaluate("1 / 0", env(record)) is None
    assert evaluate("qty % 0", env(record)) is None
    assert evaluate("amount * (1 - 10 / 100)", env(record)) == Decimal("9.450")
    assert evaluate("(1 - 0.25) * amount", env(record)) == Decimal("7.8750")
    assert evaluate("amount > 1 / 0", env(record)) is None
    assert evaluate("qty in [1, null]", env(record)) is None
    assert evaluate("3 in [1, null, 3] and qty not in [1, 2]", env(record)) is True
    assert evaluate("close_date + days(7)", env(record)) == dt.date(2024, 4, 8)
    assert evaluate("days(2) + close_date - days(1)", env(record)) == dt.date(2024, 4, 2)
    assert evaluate("close_date + days(7)", env({"close_date": None})) is None
    assert evaluate("2 + 3 * 4", env({})) == 14 and type(evaluate("2 + 3 * 4", env({}))) is int


def test_a_constant_that_cannot_be_computed_fails_per_record_as_before() -> None:
    program = compile_program(WORLD, "deal", "round(1, 99999)")           # builds
    with pytest.raises(InvalidOperation):
        program(Run(env({})), {})
    # too many days for a date: fine while the date is null, an error once it is not
    assert evaluate("close_date + days(999999999999)", env({"close_date": None})) is None
    with pytest.raises(OverflowError):
        evaluate("close_date + days(999999999999)", env({"close_date": dt.date(2024, 1, 1)}))


def test_stored_forms_take_the_slow_path_to_the_same_answers() -> None:
    python = {"amount": Decimal("10.5"), "qty": 2, "hot": True, "close_date": dt.date(2024, 3, 20),
              "created_at": dt.datetime(2024, 3, 15, 23, 30, tzinfo=UTC), "tags": ["a"]}
    sqlite = {"amount": 10.5, "qty": 2.0, "hot": 1, "close_date": "2024-03-20",
              "created_at": dt.datetime(2024, 3, 15, 23, 30), "tags": '["a"]'}
    texts = ["amount > 10", "amount == null", "10 < amount", "qty * 2", "hot == true", "close_date >= created_at.date()",
             "close_date == null or close_date >= created_at.date()", "'a' in tags", "tags == null",
             "created_at.date()", "close_date - days(1)", "amount * (1 - qty / 100)"]
    for text in texts:
        assert evaluate(text, env(python)) == evaluate(text, env(sqlite)), text
    # a multichoice stored as JSON that is no list normalises to null, in an IS NULL test too
    assert evaluate("tags == null", env({"tags": '"a"'})) is True
    assert evaluate("tags != null", env({"tags": '"a"'})) is False


def test_date_of_a_datetime_follows_the_value_it_is_given() -> None:
    program = compile_program(WORLD, "deal", "created_at.date()")
    run = Run(env({}))
    evening = dt.datetime(2024, 3, 15, 23, 30, tzinfo=UTC)            # already the 16th in Budapest
    morning = dt.datetime(2024, 3, 15, 8, 0, tzinfo=UTC)
    assert [program(run, {"created_at": t}) for t in (evening, evening, morning, evening)] == [
        dt.date(2024, 3, 16), dt.date(2024, 3, 16), dt.date(2024, 3, 15), dt.date(2024, 3, 16)]
    tokyo = make_config({"deal": {"created_at_copy": "datetime"}}, timezone="Asia/Tokyo")
    assert evaluate("created_at.date()", env({"created_at": morning}, tokyo)) == dt.date(2024, 3, 15)
    assert evaluate("created_at.date()", env({"created_at": evening}, tokyo)) == dt.date(2024, 3, 16)


def test_formulas_read_through_formulas_and_cycles_are_still_refused() -> None:
    config = make_config({"thing": {
        "qty": "int",
        "double": {"type": "formula", "expr": "qty * 2", "result": "int"},
        "quad": {"type": "formula", "expr": "double + double", "result": "int"},
        "a": {"type": "formula", "expr": "b + 1", "result": "int"},
        "b": {"type": "formula", "expr": "a + 1", "result": "int"},
        "uses_cycle": {"type": "formula", "expr": "a + qty", "result": "int"},
        "broken": {"type": "formula", "expr": "nothing + 1", "result": "int"},
    }})
    assert evaluate("quad + 1", env({"qty": 3, "quad": 999}, config, "thing")) == 13
    assert evaluate("quad == null", env({"qty": None}, config, "thing")) is True
    for text in ("a", "uses_cycle", "qty == null or b > 0"):
        with pytest.raises(ExpressionError) as err:
            evaluate(text, env({"qty": 1}, config, "thing"))
        assert err.value.code == "CRM-E210"
    # a formula that does not check fails when it is read, not when the reading expression compiles
    program = compile_program(config, "thing", "qty == null or broken > 0")
    assert program(Run(env({}, config, "thing")), {"qty": None}) is True
    with pytest.raises(ExpressionError) as err:
        program(Run(env({}, config, "thing")), {"qty": 1})
    assert err.value.code == "CRM-E301"


def test_the_python_back_end_never_runs_text_as_python() -> None:
    """Expressions become closures over the checked tree: no eval, exec or compile anywhere in it."""
    folder = Path(__file__).resolve().parents[2] / "engine" / "metadata" / "expressions"
    for name in ("closures.py", "evaluate.py", "functions.py", "values.py"):
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        called = {node.func.id for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert not called & {"eval", "exec", "compile", "__import__"}, name


def test_a_formula_read_twice_is_computed_once_per_evaluation() -> None:
    asked = []

    def rollup(entity, field, row):
        asked.append(row["id"])
        return row["id"] * 10
    text = "total_x2 == null or total_x2 > 15"
    config = make_config({
        "deal": {"items": {"type": "lines", "entity": "deal_line"},
                 "total": {"type": "rollup", "of": "items", "expr": "sum(qty)", "result": "int"},
                 "total_x2": {"type": "formula", "expr": "total * 2", "result": "int"}},
        "deal_line": {"deal": {"type": "link", "entity": "deal"}, "qty": "int"}})
    program = compile_program(config, "deal", text)
    run = Run(EvalEnv(config, "deal", {}, now=NOW, rollup=rollup))
    assert [program(run, {"id": i}) for i in (1, 0, 2)] == [True, False, True]
    assert asked == [1, 0, 2]                    # once per evaluation, never a value of another row
    assert evaluate("total_x2 + total_x2", EvalEnv(config, "deal", {"id": 3}, now=NOW, rollup=rollup)) == 120
