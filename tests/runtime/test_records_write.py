"""Saving records: conversion, defaults, required fields, links, rules, all problems at once."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.runtime.errors import Forbidden, NotFound, ValidationFailed


def refusal(fn, *args, **kw) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        fn(*args, **kw)
    return info.value


def count(crm, entity: str) -> int:
    return len(crm.records.list(crm.admin, entity, limit=1000).rows)


def test_create_returns_the_record_with_defaults_owner_and_team(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "ACME", "employees": "12", "tags": ["upsell"]})
    assert acc["id"] and acc["version"] == 1
    assert acc["employees"] == 12 and acc["tags"] == ["upsell"]
    assert acc["status"] == "prospect" and acc["active"] is True          # literal defaults
    assert acc["renewal"] == dt.date(2025, 4, 9)                          # today() + days(30)
    assert acc["owner"] == crm.alice.id and acc["team"] == "north"
    assert acc["code"] == "A-2025-0001"
    assert acc["created_by"] == crm.alice.id and acc["created_at"] == crm.clock.now


def test_every_problem_is_reported_at_once_per_field(crm):
    error = refusal(crm.records.create, crm.alice, "account", {
        "employees": "many", "segment": "z", "email": "not-an-address", "phone": "12",
        "website": "no such thing", "city": "x" * 41, "tax_number": "123", "founded": "1999-01-01",
        "tags": ["strategic", "bogus"], "colour": "red"})
    assert set(error.fields) == {"name", "employees", "segment", "email", "phone", "website", "city",
                                 "tax_number", "founded", "tags", "colour"}
    assert error.fields["name"] == ["is required"]
    assert error.fields["colour"] == ["is not a field of account"]
    assert error.status == 422 and error.to_dict()["fields"] == error.fields
    assert count(crm, "account") == 0


def test_out_of_range_and_expression_bounds(crm):
    crm.users.set_roles("mona", ["admin"])
    crm.people["mona"] = crm.users.actor("mona")
    error = refusal(crm.records.create, crm.mona, "account",
                    {"name": "A", "employees": -1, "revenue": "-5", "founded": "2025-03-11"})
    assert error.fields == {"employees": ["must be at least 0"], "revenue": ["must be at least 0"],
                            "founded": ["must be at most 2025-03-10"]}


def test_system_and_computed_fields_cannot_be_written(crm):
    error = refusal(crm.records.create, crm.admin, "deal",
                    {"name": "D", "account": 1, "amount": 1, "id": 5, "net_amount": 3, "code": "X", "team": "x"})
    assert error.fields["id"] == ["is set by the engine"]
    assert error.fields["net_amount"] == ["is computed"]
    assert error.fields["code"] == ["is numbered by the engine"]
    assert error.fields["team"] == ["follows the owner"]


def test_hidden_fields_are_refused_not_dropped(crm):
    with pytest.raises(Forbidden, match="revenue"):
        crm.records.create(crm.alice, "account", {"name": "A", "revenue": 100})
    assert count(crm, "account") == 0


def test_creating_needs_the_create_permission(crm):
    with pytest.raises(Forbidden):
        crm.records.create(crm.vic, "account", {"name": "A"})
    with pytest.raises(NotFound):
        crm.records.create(crm.alice, "no_such_entity", {})


def test_broken_and_unreadable_links_are_refused(crm):
    south = crm.records.create(crm.carol, "account", {"name": "South Kft."})
    error = refusal(crm.records.create, crm.alice, "deal", {"name": "D", "account": 999, "amount": 1})
    assert error.fields == {"account": ["account 999 does not exist"]}
    # carol's account is in another team: for alice it does not exist either
    error = refusal(crm.records.create, crm.alice, "deal", {"name": "D", "account": south["id"], "amount": 1})
    assert error.fields == {"account": [f"account {south['id']} does not exist"]}


def test_link_filter_uses_the_record_being_edited(crm):
    a1 = crm.records.create(crm.alice, "account", {"name": "One"})
    a2 = crm.records.create(crm.alice, "account", {"name": "Two"})
    c2 = crm.records.create(crm.alice, "contact", {"name": "Bea", "account": a2["id"]})
    error = refusal(crm.records.create, crm.alice, "deal",
                    {"name": "D", "account": a1["id"], "contact": c2["id"], "amount": 1})
    assert list(error.fields) == ["contact"] and "not allowed" in error.fields["contact"][0]
    deal = crm.records.create(crm.alice, "deal", {"name": "D", "account": a2["id"], "contact": c2["id"], "amount": 1})
    # moving the deal to another account re-checks the contact's filter
    error = refusal(crm.records.update, crm.alice, "deal", deal["id"], {"account": a1["id"]}, deal["version"])
    assert list(error.fields) == ["contact"]


def test_validation_rules_report_every_failure_in_the_users_locale(crm):
    acc = crm.records.create(crm.mona, "account", {"name": "A"})
    values = {"name": "D", "account": acc["id"], "amount": 100, "discount_pct": 50, "close_date": "2025-01-01"}
    error = refusal(crm.records.create, crm.alice, "deal", values)
    assert error.messages == ["The discount can be at most 40%", "Close date cannot be before creation"]
    error = refusal(crm.records.create, crm.mona, "deal", values)
    assert error.messages == ["Legfeljebb 40% engedmény adható", "A zárás dátuma nem lehet a létrehozás előtti"]


def test_formulas_are_computed_on_read(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    deal = crm.records.create(crm.alice, "deal", {"name": "D", "account": acc["id"], "amount": "1000",
                                                   "discount_pct": "12.5"})
    assert deal["net_amount"] == Decimal("875.00")
    assert deal["discount_pct"] == Decimal("12.50")


def test_expression_default_reads_a_link_once_set(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    product = crm.records.create(crm.admin, "product", {"name": "Brick", "list_price": "250"})
    deal = crm.records.create(crm.alice, "deal", {"name": "D", "account": acc["id"], "amount": 1,
                                                   "items": [{"product": product["id"], "quantity": 4}]})
    line = deal["items"][0]
    assert line["unit_price"] == Decimal("250.00") and line["line_total"] == Decimal("1000.00")
    assert deal["items_total"] == Decimal("1000.00") and deal["item_count"] == 1


def test_user_fields_take_usernames_and_owner_sets_team(crm):
    acc = crm.records.create(crm.admin, "account", {"name": "A", "owner": "carol"})
    assert acc["owner"] == crm.carol.id and acc["team"] == "south"
    acc = crm.records.update(crm.admin, "account", acc["id"], {"owner": crm.bob.id}, acc["version"])
    assert acc["team"] == "north"
    error = refusal(crm.records.create, crm.admin, "account", {"name": "B", "owner": "nobody"})
    assert error.fields == {"owner": ["there is no user 'nobody'"]}
    crm.users.disable("bob")
    error = refusal(crm.records.create, crm.admin, "account", {"name": "B", "owner": "bob"})
    assert error.fields == {"owner": ["user 'bob' is disabled"]}


def test_update_changes_only_given_fields(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A", "city": "Pécs"})
    crm.clock.now += dt.timedelta(hours=1)
    updated = crm.records.update(crm.alice, "account", acc["id"], {"city": "Győr"}, acc["version"])
    assert updated["city"] == "Győr" and updated["name"] == "A" and updated["version"] == 2
    assert updated["updated_at"] == crm.clock.now and updated["created_at"] == acc["created_at"]
    same = crm.records.update(crm.alice, "account", acc["id"], {"city": "Győr"}, 2)
    assert same["version"] == 2                                          # nothing changed, nothing written


def test_delete_is_refused_while_restricted_links_point_here(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    deal = crm.records.create(crm.alice, "deal", {"name": "D", "account": acc["id"], "amount": 1})
    from engine.runtime.errors import Conflict
    with pytest.raises(Conflict, match="deal.account"):
        crm.records.delete(crm.admin, "account", acc["id"])
    crm.records.delete(crm.alice, "deal", deal["id"])
    crm.records.delete(crm.admin, "account", acc["id"])
    with pytest.raises(NotFound):
        crm.records.get(crm.admin, "account", acc["id"])


def test_unique_values_are_checked_before_writing(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A", "tax_number": "12345678-2-41"})
    error = refusal(crm.records.create, crm.bob, "account", {"name": "B", "tax_number": "12345678-2-41"})
    assert error.fields == {"tax_number": ["is already used by another record"]}
    crm.records.update(crm.alice, "account", acc["id"], {"tax_number": "12345678-2-41", "city": "Eger"}, 1)
