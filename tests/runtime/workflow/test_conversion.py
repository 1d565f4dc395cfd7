"""Conversions: `when`, match_on, `$refs`, then.set, one transaction, refusals naming the step."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.runtime.errors import Forbidden, ValidationFailed
from engine.runtime.records import Change
from engine.runtime.workflow import ConversionRefused


def count(wf, entity: str) -> int:
    table = wf.tables.entity(entity)
    with wf.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def qualified(wf, **values):
    return wf.records.create(wf.alice, "lead", {"company": "ACME", "tax_number": "111", "status": "qualified",
                                                "owner": wf.alice.id, **values})


def test_conversion_reuses_a_matching_record_refers_to_it_and_sets_the_source(wf):
    acme = wf.records.create(wf.bob, "account", {"name": "ACME Kft.", "tax_number": "111"})
    lead = qualified(wf)
    made = wf.workflow.convert(wf.alice, "lead", lead["id"], "to_deal")
    assert made["account"]["id"] == acme["id"] and made["account"]["name"] == "ACME Kft."   # reused, untouched
    deal = made["deal"]
    assert (deal["name"], deal["account"], deal["lead"], deal["owner"]) == ("ACME - deal", acme["id"], lead["id"],
                                                                            wf.alice.id)
    assert deal["stage"] == "new"
    assert wf.records.get(wf.alice, "lead", lead["id"])["status"] == "converted"
    assert count(wf, "account") == 1


def test_without_a_match_the_record_is_created(wf):
    lead = qualified(wf, tax_number="222")
    made = wf.workflow.convert(wf.alice, "lead", lead["id"], "to_deal")
    assert made["account"]["tax_number"] == "222" and made["account"]["owner"] == wf.alice.id
    assert made["deal"]["account"] == made["account"]["id"]
    # no tax number: a null value never matches, a new account is made
    other = qualified(wf, tax_number=None, company="Other")
    assert wf.workflow.convert(wf.alice, "lead", other["id"], "to_deal")["account"]["id"] != made["account"]["id"]


def test_a_failing_later_step_leaves_nothing_and_names_the_step(wf):
    heard: list[Change] = []
    wf.records.listeners.append(heard.append)
    lead = qualified(wf, company="FAIL", tax_number="333")
    heard.clear()
    with pytest.raises(ConversionRefused) as info:
        wf.workflow.convert(wf.alice, "lead", lead["id"], "to_deal")
    assert "conversion to_deal, step 2 (deal): This name is refused" in str(info.value)
    assert info.value.status == 422
    assert count(wf, "account") == 0 and count(wf, "deal") == 0
    assert wf.records.get(wf.alice, "lead", lead["id"])["status"] == "qualified"
    assert heard == []                       # nothing committed, nobody told


def test_listeners_hear_of_the_new_records_after_the_conversion_commits(wf):
    heard: list[tuple[str, str]] = []
    wf.records.listeners.append(lambda c: heard.append((c.action, c.entity)))
    lead = qualified(wf)
    heard.clear()
    wf.workflow.convert(wf.alice, "lead", lead["id"], "to_deal")
    assert heard == [("create", "account"), ("create", "deal"), ("update", "lead")]


def test_the_condition_and_the_users_permissions_are_enforced(wf):
    lead = wf.records.create(wf.alice, "lead", {"company": "New Co", "owner": wf.alice.id})
    with pytest.raises(ValidationFailed, match="conversion to_deal is not possible .*status == 'qualified'"):
        wf.workflow.convert(wf.alice, "lead", lead["id"], "to_deal")
    mine = qualified(wf)
    with pytest.raises(Forbidden, match="may not update lead"):
        wf.workflow.convert(wf.bob, "lead", mine["id"], "to_deal")
    assert count(wf, "deal") == 0
