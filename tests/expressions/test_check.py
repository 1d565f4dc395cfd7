"""The type checker: one line per rule, text in, code and offset out."""
from __future__ import annotations

import pytest

from engine.metadata.expressions import (BOOL, DATE, DATETIME, DECIMAL, INT, PERIOD, TEXT, USER, CheckContext,
                                         ExpressionError, check, list_of, record, stage)

from .world import WORLD

PARAMS = {"owner": USER, "period": PERIOD, "account": record("account")}


def ctx(**kw) -> CheckContext:
    return CheckContext(WORLD, kw.pop("entity", "deal"), params=kw.pop("params", PARAMS), **kw)


def errors(text: str, **kw) -> list[tuple[str, int]]:
    return [(e.code, e.offset) for e in check(text, ctx(**kw))[1]]


@pytest.mark.parametrize("text,expected", [
    ("amount * (1 - discount / 100)", DECIMAL),
    ("qty * 2 + 1", INT),
    ("qty / 2", DECIMAL),
    ("name + ' ' + account.name", TEXT),
    ("stage", stage("sales")),
    ("stage.probability", INT),
    ("stage.open and not hot", BOOL),
    ("owner", USER),
    ("account", record("account")),
    ("close_date + days(30)", DATE),
    ("created_at - days(1)", DATETIME),
    ("close_date - today()", INT),
    ("created_at.date()", DATE),
    ("coalesce(close_date, created_at)", DATETIME),
    ("tags", list_of(TEXT)),
    ("net", DECIMAL),
    ("total", DECIMAL),
    ("lines", INT),
    ("owner.team == current_user.team", BOOL),
    ("close_date in $period and owner == $owner", BOOL),
    ("account == $account", BOOL),
    ("round(amount)", INT),
    ("round(amount, 2)", DECIMAL),
])
def test_types(text: str, expected) -> None:
    assert check(text, ctx()) == (expected, [])


@pytest.mark.parametrize("text,expected", [
    # CRM-E301 unknown fields, at the offending part of a path
    ("amunt > 0", [("CRM-E301", 0)]),
    ("account.industy == 'it'", [("CRM-E301", 8)]),
    ("owner.tem", [("CRM-E301", 6)]),
    ("current_user.nmae", [("CRM-E301", 13)]),
    ("stage.opne", [("CRM-E301", 6)]),
    ("amount.value", [("CRM-E301", 0)]),
    # CRM-E302 unknown functions and wrong arity
    ("todya()", [("CRM-E302", 0)]),
    ("today(1)", [("CRM-E302", 0)]),
    ("round()", [("CRM-E302", 0)]),
    ("name.strip()", [("CRM-E302", 0)]),
    ("startswith(name, 'a')", [("CRM-E302", 0)]),
    # CRM-E303 types that do not mix
    ("amount + name", [("CRM-E303", 0)]),
    ("close_date + 30", [("CRM-E303", 0)]),
    ("qty % 2.5", [("CRM-E303", 0)]),
    ("amount and hot", [("CRM-E303", 0)]),
    ("not name", [("CRM-E303", 4)]),
    ("hot < true", [("CRM-E303", 0)]),
    ("stage > 'new'", [("CRM-E303", 0)]),
    ("stage == 'wonn'", [("CRM-E303", 9)]),
    ("account.industry in ['it', 'retial']", [("CRM-E303", 27)]),
    ("'z' in tags", [("CRM-E303", 0)]),
    ("name in 'abc'", [("CRM-E303", 8)]),
    ("amount in $period", [("CRM-E303", 0)]),
    ("amount == name", [("CRM-E303", 0)]),
    ("account == owner", [("CRM-E303", 0)]),
    ("1 if hot else 'x'", [("CRM-E303", 0)]),
    ("days(1.5)", [("CRM-E303", 0)]),
    ("upper(amount)", [("CRM-E303", 0)]),
    ("items", [("CRM-E303", 0)]),
    ("[1, 'a']", [("CRM-E304", 0)]),
    # CRM-E305 aggregates outside reports, fields outside aggregates
    ("sum(amount) > 0", [("CRM-E305", 0)]),
    # CRM-E306 names not available here
    ("owner == $ownr", [("CRM-E306", 9)]),
    ("old.stage != stage", [("CRM-E306", 0)]),
    ("changed('stage')", [("CRM-E306", 0)]),
    # several errors are all reported, in order
    ("amunt + nme", [("CRM-E301", 0), ("CRM-E301", 8)]),
])
def test_errors(text: str, expected: list) -> None:
    assert errors(text) == expected


def test_unknown_field_has_a_did_you_mean_hint() -> None:
    _, [err] = check("account.industy", ctx())
    assert err.hint == "did you mean 'industry'?"
    _, [err] = check("owner == $ownr", ctx())
    assert err.hint == "did you mean '$owner'?"


def test_aggregates_in_reports() -> None:
    assert check("count(stage.won) / count(stage.closed)", ctx(allow_aggregates=True)) == (DECIMAL, [])
    assert check("sum(amount * stage.probability / 100)", ctx(allow_aggregates=True)) == (DECIMAL, [])
    assert errors("sum(amount) + amount", allow_aggregates=True) == [("CRM-E305", 14)]
    assert errors("sum(count())", allow_aggregates=True) == [("CRM-E304", 4)]
    assert errors("sum(name)", allow_aggregates=True) == [("CRM-E303", 0)]


def test_old_and_changed_on_update() -> None:
    assert check("changed('stage') and old.stage.open", ctx(allow_old=True)) == (BOOL, [])
    assert errors("old", allow_old=True) == [("CRM-E304", 0)]
    assert errors("changed('amunt')", allow_old=True) == [("CRM-E301", 8)]
    assert errors("changed(stage)", allow_old=True) == [("CRM-E302", 0)]


def test_expected_result_type() -> None:
    assert errors("amount", expected=BOOL) == [("CRM-E307", 0)]
    assert errors("hot", expected=BOOL) == []
    assert errors("null", expected=BOOL) == []
    assert errors("today()", expected=DATETIME) == []           # a date stands for local midnight
    assert errors("qty", expected=DECIMAL) == []
    assert errors("amount / 2", expected=INT) == [("CRM-E307", 0)]
    assert errors("$account", expected=record("account")) == []


def test_syntax_errors_come_back_as_errors() -> None:
    assert errors("amount >") == [("CRM-E300", 8)]


def test_errors_place_themselves_in_the_file() -> None:
    from engine.metadata.errors import Location
    _, [err] = check("amount > 0 and\n  amunt", ctx())
    assert isinstance(err, ExpressionError)
    placed = err.to_config_error("amount > 0 and\n  amunt", Location("deal.yaml", 7, 11), "validations[0].rule")
    assert str(placed).startswith("deal.yaml:8:3: CRM-E301 validations[0].rule: deal has no field 'amunt'")


def test_computed_fields_without_result_take_the_type_of_their_expression() -> None:
    from .factory import make_config
    config = make_config({
        "order": {"qty": "int", "name": "string", "double": {"type": "formula", "expr": "qty * 2"},
                  "title": {"type": "formula", "expr": "'#' + name"},
                  "last_due": {"type": "rollup", "of": "line", "expr": "max(due)"}},
        "line": {"order": {"type": "link", "entity": "order"}, "due": "date"}})
    context = CheckContext(config, "order")
    assert check("double", context) == (INT, [])
    assert check("title", context) == (TEXT, [])
    assert check("last_due", context) == (DATE, [])
