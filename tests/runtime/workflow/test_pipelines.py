"""Moving records through stages: transitions, requirements (incl. skipped stages), history, idleness."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from engine.runtime.errors import StaleVersion, ValidationFailed
from engine.runtime.workflow import StageRefused


def deal(wf, actor=None, **values):
    actor = actor or wf.alice
    return wf.records.create(actor, "deal", {"name": "D", **values})


def test_a_new_record_starts_in_the_first_stage_with_a_history_row(wf):
    d = deal(wf)
    assert d["stage"] == "new"
    rows = wf.rows("crm_stage_history", entity="deal", record_id=d["id"])
    assert [(r["from_stage"], r["to_stage"], r["user_id"]) for r in rows] == [(None, "new", wf.alice.id)]


def test_the_stage_cannot_be_written_by_a_plain_update(wf):
    d = deal(wf)
    with pytest.raises(ValidationFailed) as info:
        wf.records.update(wf.alice, "deal", d["id"], {"stage": "won"}, d["version"])
    assert "stage" in info.value.fields


def test_forward_past_stages_lists_every_missing_requirement_of_target_and_skipped_stages(wf):
    d = deal(wf)
    with pytest.raises(StageRefused) as info:
        wf.workflow.move(wf.alice, "deal", d["id"], "won")
    missing = [(m.kind, m.name, m.via) for m in info.value.missing]
    assert missing == [("field", "amount", "qualified"), ("field", "close_date", "qualified"),
                       ("activity", "meeting", "proposal"), ("related", "quote", "proposal"),
                       ("activity", "call", "negotiation")]
    assert info.value.status == 422
    text = str(info.value)
    assert text.startswith("stage won (Won) needs: field amount")
    assert text == ("stage won (Won) needs: field amount (skipped stage qualified); field close_date "
                    "(skipped stage qualified); activity meeting (0 of 1, skipped stage proposal); related quote "
                    "(0 of 1, skipped stage proposal); activity call (0 of 2, skipped stage negotiation)")
    assert wf.records.get(wf.alice, "deal", d["id"])["stage"] == "new"
    assert len(wf.rows("crm_stage_history", record_id=d["id"])) == 1


def test_a_move_succeeds_once_everything_holds_and_is_recorded(wf):
    d = deal(wf, amount=1000, close_date="2025-04-01")
    wf.records.create(wf.alice, "activity", {"subject": "Visit", "kind": "meeting", "deal": d["id"]})
    wf.records.create(wf.alice, "quote", {"title": "Q1", "deal": d["id"]})
    for n in range(2):
        wf.records.create(wf.alice, "activity", {"subject": f"Call {n}", "kind": "call", "deal": d["id"]})
    wf.clock.now += dt.timedelta(hours=1)
    moved = wf.workflow.move(wf.alice, "deal", d["id"], "negotiation", expected_version=d["version"])
    assert moved["stage"] == "negotiation" and moved["version"] == d["version"] + 1
    rows = wf.rows("crm_stage_history", record_id=d["id"])
    assert [(r["from_stage"], r["to_stage"]) for r in rows] == [(None, "new"), ("new", "negotiation")]
    assert rows[1]["at"] == wf.clock.now and rows[1]["user_id"] == wf.alice.id
    trail = wf.records.history(wf.alice, "deal", d["id"])
    assert [(e.field, e.old, e.new) for e in trail if e.field == "stage"] == [("stage", "new", "negotiation")]
    # moving to the stage it is in changes nothing
    assert wf.workflow.move(wf.alice, "deal", d["id"], "negotiation")["version"] == moved["version"]


def test_forward_or_lost_refuses_backward_moves_and_leaving_a_closed_stage(wf):
    d = deal(wf, amount=1000, close_date="2025-04-01")
    wf.workflow.move(wf.alice, "deal", d["id"], "qualified")
    with pytest.raises(StageRefused, match="cannot move from stage qualified to new"):
        wf.workflow.move(wf.alice, "deal", d["id"], "new")
    with pytest.raises(StageRefused) as info:       # lost from any open stage, with its own requires
        wf.workflow.move(wf.alice, "deal", d["id"], "lost")
    assert [(m.kind, m.name) for m in info.value.missing] == [("field", "lost_reason")]
    wf.records.update(wf.alice, "deal", d["id"], {"lost_reason": "price"}, None)
    assert wf.workflow.move(wf.alice, "deal", d["id"], "lost")["stage"] == "lost"
    with pytest.raises(StageRefused, match="forward_or_lost"):
        wf.workflow.move(wf.alice, "deal", d["id"], "won")


def test_the_board_can_ask_which_columns_a_card_may_move_to(wf):
    assert wf.workflow.pipelines.targets("deal", "proposal") == ["negotiation", "won", "lost"]
    assert wf.workflow.pipelines.targets("deal", "won") == []
    assert wf.workflow.pipelines.targets("order", "placed") == ["packed", "shipped", "cancelled"]
    assert wf.workflow.pipelines.targets("ticket", "solved") == ["open", "working"]
    assert [s.key for s in wf.workflow.pipelines.stages("ticket")] == ["open", "working", "solved"]


def test_explicit_transitions_allow_only_listed_edges_and_do_not_ask_for_what_an_edge_skips(wf):
    o = wf.records.create(wf.admin, "order", {"ref": "O-1"})
    assert o["stage"] == "placed"
    with pytest.raises(StageRefused) as info:
        wf.workflow.move(wf.alice, "order", o["id"], "packed")
    assert "field packer" in str(info.value)
    assert wf.workflow.move(wf.alice, "order", o["id"], "shipped")["stage"] == "shipped"   # listed shortcut
    with pytest.raises(StageRefused, match="cannot move from stage shipped to placed"):
        wf.workflow.move(wf.alice, "order", o["id"], "placed")
    with pytest.raises(StageRefused, match="not a stage"):
        wf.workflow.move(wf.alice, "order", o["id"], "lost")


def test_any_transition_allows_moving_back_out_of_a_closed_stage(wf):
    t = wf.records.create(wf.a1, "ticket", {"title": "Broken"})
    wf.workflow.move(wf.a1, "ticket", t["id"], "solved")
    assert wf.workflow.move(wf.a1, "ticket", t["id"], "open")["stage"] == "open"
    rows = wf.rows("crm_stage_history", entity="ticket", record_id=t["id"])
    assert [r["to_stage"] for r in rows] == ["open", "solved", "open"]


def test_refusals_are_in_the_users_language_and_keep_the_references(wf):
    d = deal(wf, actor=wf.mona)              # mona's locale is hu
    with pytest.raises(StageRefused) as info:
        wf.workflow.move(wf.mona, "deal", d["id"], "lost")
    assert str(info.value) == "a(z) lost (Elvesztett) szakaszhoz hiányzik: mező „lost_reason” [field lost_reason]"


def test_moves_keep_optimistic_locking_and_permissions(wf):
    d = deal(wf, amount=1, close_date="2025-04-01")
    wf.records.update(wf.alice, "deal", d["id"], {"notes": "x"}, d["version"])
    with pytest.raises(StaleVersion):
        wf.workflow.move(wf.alice, "deal", d["id"], "qualified", expected_version=d["version"])
    with pytest.raises(Exception) as info:      # bob may read (team) but not update alice's deal
        wf.workflow.move(wf.bob, "deal", d["id"], "qualified")
    assert getattr(info.value, "status", None) == 403


def test_idle_records_and_the_is_idle_flag(wf):
    quiet = deal(wf, name="quiet")
    busy = deal(wf, name="busy")
    closed = deal(wf, name="closed", lost_reason="price")
    wf.workflow.move(wf.alice, "deal", closed["id"], "lost")
    wf.clock.now += dt.timedelta(days=10)
    wf.records.create(wf.alice, "activity", {"subject": "Call", "kind": "call", "deal": busy["id"]})
    wf.clock.now += dt.timedelta(days=5)     # 15 days after creation, 5 after busy's call
    rule = wf.config.pipelines["sales"].follow_up[0]
    with wf.engine.connect() as conn:
        idle = {r[0] for r in conn.execute(wf.workflow.idle_records("deal", rule))}
        table = wf.tables.entity("deal")
        flags = dict(conn.execute(select(table.c.name, wf.workflow.is_idle("deal", table).label("idle"))).all())
    assert idle == {quiet["id"]}
    assert {k: bool(v) for k, v in flags.items()} == {"quiet": True, "busy": False, "closed": False}
