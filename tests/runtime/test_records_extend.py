"""Concurrent updates, expression defaults of users, and the extension points of a save."""
from __future__ import annotations

import threading

import pytest

from engine.runtime.errors import StaleVersion, ValidationFailed
from engine.runtime.records import Change

LEAD = {"entities/lead.yaml": """
entity: lead
traits: [owned]
fields:
  name: {type: string, required: true}
assignment:
  strategy: round_robin
  among: {team: south}
"""}


def test_only_one_of_concurrent_updates_from_the_same_version_wins(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    outcomes: list[str] = []
    barrier = threading.Barrier(5)

    def work(n: int) -> None:
        barrier.wait()
        try:
            crm.records.update(crm.alice, "account", acc["id"], {"city": f"City {n}"}, acc["version"])
            outcomes.append("saved")
        except StaleVersion:
            outcomes.append("stale")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["saved"] + ["stale"] * 4
    assert crm.records.get(crm.alice, "account", acc["id"])["version"] == 2


def test_current_user_default_and_where_values_are_converted(crm):
    acc = crm.records.create(crm.bob, "account", {"name": "A"})
    deal = crm.records.create(crm.bob, "deal", {"name": "D", "account": acc["id"], "amount": 1})
    assert deal["reviewer"] == crm.bob.id
    assert [d["id"] for d in crm.records.list(crm.bob, "deal", where={"account": str(acc["id"])}).rows] == [deal["id"]]
    with pytest.raises(ValidationFailed):
        crm.records.list(crm.bob, "deal", where={"account": "x"})


def test_filter_expressions_and_sorting_on_formulas(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    for name, amount, discount in (("small", 100, 0), ("big", 1000, 10), ("mid", 500, 40)):
        crm.records.create(crm.alice, "deal", {"name": name, "account": acc["id"], "amount": amount,
                                                "discount_pct": discount})
    page = crm.records.list(crm.alice, "deal", filter_expr="net_amount >= 300", sort="-net_amount")
    assert [d["name"] for d in page.rows] == ["big", "mid"]
    assert len(crm.records.list(crm.alice, "deal", filter_expr="owner == current_user").rows) == 3
    assert crm.records.list(crm.bob, "deal", filter_expr="owner == current_user").rows == []
    page = crm.records.list(crm.alice, "deal", filter_expr="amount > $least", params={"least": 600})
    assert [d["name"] for d in page.rows] == ["big"]
    page = crm.records.list(crm.alice, "deal", sort="net_amount", limit=2)
    assert [d["name"] for d in page.rows] == ["small", "mid"] and page.has_more
    page = crm.records.list(crm.alice, "deal", sort="net_amount", limit=2, offset=2)
    assert [d["name"] for d in page.rows] == ["big"] and not page.has_more
    with pytest.raises(ValidationFailed) as info:
        crm.records.list(crm.alice, "deal", filter_expr="amount + name > 1", sort="nope")
    assert set(info.value.fields) == {"filter", "sort"}


def test_checks_can_refuse_and_listeners_hear_committed_changes(crm):
    heard: list[Change] = []
    crm.records.listeners.append(heard.append)

    def no_pecs(conn, actor, draft, current, problems):
        if draft.values.get("city") == "Pécs":
            problems.field("city", "we do not sell in Pécs")
    crm.records.checks.append(no_pecs)
    with pytest.raises(ValidationFailed) as info:
        crm.records.create(crm.alice, "account", {"name": "A", "city": "Pécs"})
    assert info.value.fields == {"city": ["we do not sell in Pécs"]} and heard == []
    acc = crm.records.create(crm.alice, "account", {"name": "A", "city": "Eger"})
    crm.records.update(crm.alice, "account", acc["id"], {"city": "Győr"}, acc["version"])
    assert [(c.action, c.changes.get("city")) for c in heard] == [("create", (None, "Eger")),
                                                                   ("update", ("Eger", "Győr"))]


def test_assignment_picks_the_owner_else_the_acting_user(make_world, base_files):
    roles = base_files["roles.yaml"].replace("      note:", "      lead:      {read: own, create: true}\n      note:", 1)
    crm = make_world({**LEAD, "roles.yaml": roles})
    assert crm.records.create(crm.alice, "lead", {"name": "L"})["owner"] == crm.alice.id
    crm.records.preparer.assign = lambda conn, actor, entity, values: crm.carol.id
    lead = crm.records.create(crm.alice, "lead", {"name": "M"})
    assert lead == {"id": lead["id"], "version": 1}          # alice cannot read carol's lead
    assert crm.records.get(crm.admin, "lead", lead["id"])["team"] == "south"
