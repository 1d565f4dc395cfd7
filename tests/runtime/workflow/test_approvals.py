"""Approval requests: started by saves, steps by role and team, locks, decisions, expiry, the inbox."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from engine.runtime.errors import Conflict, Forbidden, ValidationFailed
from engine.runtime.records import Records
from engine.runtime.workflow import StageRefused, Workflow
from engine.metadata.loader import load_config

from .conftest import FILES


def discounted(wf, pct=20, actor=None):
    return wf.records.create(actor or wf.alice, "deal", {"name": "D", "amount": 1000, "discount_pct": pct})


def requests(wf, record_id):
    return wf.rows("crm_approval_requests", entity="deal", record_id=record_id)


def test_a_new_record_matching_when_gets_a_pending_request_with_its_applicable_steps(wf):
    d = discounted(wf, 20)
    plain = discounted(wf, 10)
    [req] = requests(wf, d["id"])
    assert req["status"] == "pending" and req["approval"] == "big_discount" and req["step"] == 0
    assert [s["role"] for s in json.loads(req["steps"])] == ["manager"]      # the director's step needs > 30
    assert req["team"] == "north" and req["revision"] == wf.config.revision
    assert req["expires_at"] == wf.clock.now + dt.timedelta(days=5)
    assert {k: Decimal(v) for k, v in json.loads(req["snapshot"]).items()} == {"discount_pct": 20, "amount": 1000}
    assert requests(wf, plain["id"]) == []
    assert wf.workflow.approvals.is_pending("big_discount", "deal", d["id"])


def test_an_update_that_makes_when_true_starts_a_request(wf):
    d = discounted(wf, 0)
    assert requests(wf, d["id"]) == []
    wf.records.update(wf.alice, "deal", d["id"], {"discount_pct": 18}, None)
    assert [r["status"] for r in requests(wf, d["id"])] == ["pending"]


def test_locked_fields_are_refused_by_name_while_pending_and_others_save(wf):
    d = discounted(wf, 20)
    with pytest.raises(ValidationFailed) as info:
        wf.records.update(wf.alice, "deal", d["id"], {"amount": 5000, "discount_pct": 25, "notes": "x"}, None)
    assert info.value.fields == {"amount": ["is locked while approval big_discount is pending"],
                                 "discount_pct": ["is locked while approval big_discount is pending"]}
    with pytest.raises(ValidationFailed) as info:
        wf.records.update(wf.alice, "deal", d["id"], {"items": [{"product": "P"}]}, None)
    assert "items" in info.value.fields
    saved = wf.records.update(wf.alice, "deal", d["id"], {"notes": "fine", "items": []}, None)
    assert saved["notes"] == "fine"
    with pytest.raises(ValidationFailed) as info:     # a row of the locked lines saved on its own
        wf.records.create(wf.alice, "deal_line", {"deal": d["id"], "product": "P"})
    assert info.value.fields == {"deal": ["deal.items is locked while approval big_discount is pending"]}


def test_only_the_steps_role_in_the_owners_team_may_decide_and_every_decision_is_audited(wf):
    d = discounted(wf, 20)
    with pytest.raises(Forbidden, match="role manager"):
        wf.workflow.approve(wf.bob, "big_discount", d["id"])
    with pytest.raises(Forbidden, match="team north"):
        wf.workflow.approve(wf.sam, "big_discount", d["id"])
    done = wf.workflow.approve(wf.mona, "big_discount", d["id"])
    assert done["status"] == "approved" and done["decided_at"] == wf.clock.now
    [decision] = wf.rows("crm_approval_decisions", request_id=done["id"])
    assert (decision["user_id"], decision["decision"], decision["step"]) == (wf.mona.id, "approved", 0)
    audit = [e for e in wf.records.history(wf.admin, "deal", d["id"]) if e.action == "approve"]
    assert [(e.field, e.user_id) for e in audit] == [("big_discount", wf.mona.id)]
    with pytest.raises(Conflict, match="nincs függő big_discount"):      # mona reads Hungarian
        wf.workflow.approve(wf.mona, "big_discount", d["id"])


def test_two_steps_in_order_and_a_role_that_inherits_the_steps_role(wf):
    d = discounted(wf, 35)
    [req] = requests(wf, d["id"])
    assert [s["role"] for s in json.loads(req["steps"])] == ["manager", "director"]
    with pytest.raises(Forbidden, match="team north"):   # dora inherits manager, but is not in north
        wf.workflow.approve(wf.dora, "big_discount", d["id"])
    assert wf.workflow.approve(wf.mona, "big_discount", d["id"])["status"] == "pending"
    with pytest.raises(Forbidden, match="director szerepkörű"):          # mona reads Hungarian
        wf.workflow.approve(wf.mona, "big_discount", d["id"])
    assert wf.workflow.approve(wf.dora, "big_discount", d["id"])["status"] == "approved"
    assert len(wf.rows("crm_approval_decisions", request_id=req["id"])) == 2


def test_changing_a_locked_field_after_approval_asks_again(wf):
    d = discounted(wf, 20)
    wf.workflow.approve(wf.mona, "big_discount", d["id"])
    wf.records.update(wf.alice, "deal", d["id"], {"notes": "not locked"}, None)
    assert [r["status"] for r in requests(wf, d["id"])] == ["approved"]
    wf.records.update(wf.alice, "deal", d["id"], {"amount": 2000}, None)
    assert [r["status"] for r in requests(wf, d["id"])] == ["approved", "pending"]
    assert Decimal(json.loads(requests(wf, d["id"])[1]["snapshot"])["amount"]) == 2000


def test_reject_needs_a_reason_and_blocks_the_stage(wf):
    d = discounted(wf, 20)
    with pytest.raises(ValidationFailed) as info:
        wf.workflow.reject(wf.mona, "big_discount", d["id"], "  ")
    assert "reason" in info.value.fields
    done = wf.workflow.reject(wf.mona, "big_discount", d["id"], "too much")
    assert done["status"] == "rejected"
    [decision] = wf.rows("crm_approval_decisions", request_id=done["id"])
    assert decision["reason"] == "too much"
    wf.records.update(wf.alice, "deal", d["id"], {"lost_reason": "price"}, None)
    with pytest.raises(StageRefused) as refused:
        wf.workflow.move(wf.admin, "deal", d["id"], "won")
    assert ("approval", "big_discount", "rejected") in [(m.kind, m.name, m.detail) for m in refused.value.missing]


def test_a_pending_request_blocks_the_stage_and_an_approved_one_opens_it(wf):
    d = discounted(wf, 20)
    with pytest.raises(StageRefused, match="approval big_discount"):
        wf.workflow.move(wf.admin, "deal", d["id"], "won")
    wf.workflow.approve(wf.mona, "big_discount", d["id"])
    # not required at all for a small discount; approved for this one: only the skipped stages remain
    with pytest.raises(StageRefused) as info:
        wf.workflow.move(wf.admin, "deal", d["id"], "won")
    assert "approval" not in [m.kind for m in info.value.missing]


def test_expire_due_is_one_update_and_an_expired_request_cannot_be_decided(wf):
    d = discounted(wf, 20)
    other = discounted(wf, 25)
    wf.clock.now += dt.timedelta(days=4)
    assert wf.workflow.approvals.expire_due() == 0
    wf.clock.now += dt.timedelta(days=2)
    with pytest.raises(Conflict, match="lejárt"):                         # mona reads Hungarian
        wf.workflow.approve(wf.mona, "big_discount", d["id"])
    assert wf.workflow.approvals.expire_due() == 2
    assert [r["status"] for r in requests(wf, d["id"]) + requests(wf, other["id"])] == ["expired", "expired"]
    assert [e.action for e in wf.records.history(wf.admin, "deal", d["id"])].count("expire") == 1
    # an expired request no longer locks: changing the discount asks again
    wf.records.update(wf.alice, "deal", d["id"], {"discount_pct": 19}, None)
    assert [r["status"] for r in requests(wf, d["id"])] == ["expired", "pending"]


def test_the_inbox_shows_what_each_approver_may_decide(wf):
    d = discounted(wf, 35)
    carol_deal = discounted(wf, 20, actor=wf.carol)
    inbox = lambda who: [(r["record_id"], r["step"]) for r in wf.workflow.approvals.pending_for(who)]  # noqa: E731
    assert inbox(wf.mona) == [(d["id"], 0)]
    assert inbox(wf.sam) == [(carol_deal["id"], 0)]
    assert inbox(wf.bob) == [] and inbox(wf.dora) == []
    wf.workflow.approve(wf.mona, "big_discount", d["id"])
    assert inbox(wf.dora) == [(d["id"], 1)] and inbox(wf.mona) == []
    assert len(wf.workflow.approvals.pending_for(wf.admin)) == 2


def test_a_request_keeps_the_steps_of_the_revision_it_was_made_under(wf, write_config):
    d = discounted(wf, 20)
    edited = FILES["approvals/big_discount.yaml"].replace("{approvers: {role: manager, team: same}}",
                                                           "{approvers: {role: director}}")
    config2 = load_config(write_config({**FILES, "approvals/big_discount.yaml": edited}))
    assert config2.revision != wf.config.revision
    records2 = Records(config2, wf.engine, wf.tables, clock=wf.clock)
    wf2 = Workflow(config2, wf.engine, wf.tables, records2)
    with pytest.raises(Forbidden, match="manager of team north"):
        wf2.approve(wf.dora, "big_discount", d["id"])     # the old request still wants the manager
    assert wf2.approve(wf.mona, "big_discount", d["id"])["status"] == "approved"
    newer = records2.create(wf.alice, "deal", {"name": "E", "amount": 1, "discount_pct": 20})
    [req] = requests(wf, newer["id"])
    assert req["revision"] == config2.revision and json.loads(req["steps"])[0]["role"] == "director"
