"""Every workflow refusal a user can see speaks their language: a Hungarian user gets Hungarian text,
with the configuration references (field, approval, stage names) that read the same in every language."""
from __future__ import annotations

import pytest

from engine.runtime.errors import Forbidden, NotFound, ValidationFailed
from engine.runtime.workflow import ConversionRefused, StageRefused


@pytest.fixture
def hanna(wf):
    """A Hungarian-speaking rep of team north (alice's colleague)."""
    return wf.users.add("hanna", roles=["rep"], team="north", locale="hu")


def test_approval_refusals_in_hungarian(wf, hanna):
    deal = wf.records.create(hanna, "deal", {"name": "D", "amount": 1000, "discount_pct": 20})
    with pytest.raises(ValidationFailed) as info:            # a locked field while the request is pending
        wf.records.update(hanna, "deal", deal["id"], {"amount": 5000}, None)
    assert info.value.fields == {"amount": ["zárolva, amíg a(z) big_discount jóváhagyás függőben van"]}
    with pytest.raises(ValidationFailed) as info:            # a row of the locked lines saved on its own
        wf.records.create(hanna, "deal_line", {"deal": deal["id"], "product": "P"})
    assert info.value.fields == {"deal": ["deal.items zárolva, amíg a(z) big_discount jóváhagyás függőben van"]}
    with pytest.raises(Forbidden) as info:                   # not the step's role
        wf.workflow.approve(hanna, "big_discount", deal["id"])
    assert str(info.value.message) == "a(z) big_discount jóváhagyás 1. lépéséhez manager szerepkörű felhasználó kell"
    with pytest.raises(ValidationFailed) as info:            # a rejection without a reason
        wf.workflow.reject(wf.mona, "big_discount", deal["id"], " ")
    assert info.value.fields == {"reason": ["a(z) big_discount elutasításához indoklás kell"]}
    south = wf.records.create(wf.carol, "deal", {"name": "S", "amount": 1, "discount_pct": 20})
    with pytest.raises(Forbidden, match="a\\(z\\) south csapat \\(a tulajdonos csapata\\) manager szerepkörű"):
        wf.workflow.approve(wf.mona, "big_discount", south["id"])
    with pytest.raises(NotFound, match="nem létezik"):
        wf.workflow.approve(wf.mona, "big_discount", 999999)


def test_stage_refusals_in_hungarian(wf, hanna):
    order = wf.records.create(hanna, "order", {"ref": "R1", "packer": "Pali"})
    wf.workflow.move(hanna, "order", order["id"], "packed")
    with pytest.raises(StageRefused) as info:                # not an edge of the explicit transitions
        wf.workflow.move(hanna, "order", order["id"], "cancelled")
    assert str(info.value.messages[0]).startswith("order ")
    assert "nem léphet a(z) packed szakaszból a(z) cancelled szakaszba" in info.value.messages[0]
    with pytest.raises(StageRefused, match="nem szakasza a\\(z\\) fulfil folyamatnak"):
        wf.workflow.move(hanna, "order", order["id"], "lost")
    deal = wf.records.create(hanna, "deal", {"name": "D2"})
    with pytest.raises(StageRefused) as info:
        wf.workflow.move(hanna, "deal", deal["id"], "lost")
    assert info.value.messages[0] == "a(z) lost (Elvesztett) szakaszhoz hiányzik: mező „lost_reason” [field lost_reason]"


def test_conversion_refusals_in_hungarian(wf, hanna):
    lead = wf.records.create(hanna, "lead", {"company": "Acme", "owner": hanna.id})
    with pytest.raises(ConversionRefused) as info:           # its condition does not hold
        wf.workflow.convert(hanna, "lead", lead["id"], "to_deal")
    assert info.value.messages == [f"a(z) to_deal átalakítás nem lehetséges (lead {lead['id']}): a feltétele "
                                   "nem teljesül (status == 'qualified')"]
    failing = wf.records.create(hanna, "lead", {"company": "FAIL", "tax_number": "9", "status": "qualified",
                                                "owner": hanna.id})
    with pytest.raises(ConversionRefused) as info:           # a later step refused: named, in Hungarian
        wf.workflow.convert(hanna, "lead", failing["id"], "to_deal")
    assert any(text.startswith("to_deal átalakítás, 2. lépés (deal): ") for text in info.value.messages)
    with pytest.raises(NotFound, match="nincs nope nevű átalakítás"):
        wf.workflow.convert(hanna, "lead", lead["id"], "nope")
    with pytest.raises(Forbidden, match="to_deal átalakítás: nem módosíthatja"):
        wf.workflow.convert(hanna, "lead", wf.records.create(wf.alice, "lead", {"company": "B"})["id"], "to_deal")
