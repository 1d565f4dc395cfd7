"""An alert's message shows each recipient the record as their own read gives it: rollups over only
the child rows they may read, formulas through a link they may not read empty (real SMTP bodies)."""
from __future__ import annotations

import re

from engine.runtime.actor import SYSTEM

from .conftest import FILES
from .test_alerts_visibility import bodies

ROLES = """
roles:
  admin: {all: true}
  rep:
    entities:
      contract: {read: own, create: true, update: own, delete: own}
      task:     {read: own, create: true, update: own, delete: own}
      account:  {read: own, create: true, update: own}
  manager:
    inherits: rep
    entities:
      contract: {read: team, update: team}
      account:  {read: team, update: team}
"""

ROLLUP_FILES = {
    "roles.yaml": ROLES,
    "entities/account.yaml": """
entity: account
traits: [owned]
fields:
  name: {type: string, required: true}
  city: {type: string}
  contract_count: {type: rollup, of: contract.account, expr: "count()", result: int}
  contract_total: {type: rollup, of: contract.account, expr: "sum(value)", result: money}
""",
    "entities/contract.yaml": FILES["entities/contract.yaml"] + (
        "  account: {type: link, entity: account}\n"
        "  account_city: {type: formula, expr: \"account.city\", result: string}\n"),
    "alerts/account_review.yaml": """
alert: account_review
entity: account
trigger: {event: updated, fields: [name]}
notify:
  - {to: owner, via: [email]}
  - {to: {user: mona}, via: [email]}
  - {to: {user: root}, via: [email]}
template: account_review
""",
    "templates/account_review.subject.txt": "Review: {{ record.name }}",
    "templates/account_review.email.html": ("<p>Contracts [{{ record.contract_count }}]"
                                            " total [{{ record.contract_total }}]</p>"),
    "alerts/contract_active.yaml": """
alert: contract_active
entity: contract
trigger: {event: updated, fields: [status]}
notify:
  - {to: owner, via: [email]}
  - {to: {user: root}, via: [email]}
template: contract_active
""",
    "templates/contract_active.subject.txt": "Active: {{ record.title }}",
    "templates/contract_active.email.html": ("<p>City [{{ record.account_city }}]"
                                             " account [{{ record.account.name }}]"
                                             " its contracts [{{ record.account.contract_count }}]</p>"),
}


def _bracket(text: str, label: str) -> str:
    found = re.search(re.escape(label) + r" \[([^\]]*)\]", text)
    assert found, f"{label!r} not in {text!r}"
    return found.group(1)


def test_rollup_counts_only_the_children_each_recipient_may_read(world_factory):
    world = world_factory(ROLLUP_FILES)
    root = world.users.add("root", roles=["admin"], team="hq", email="root@example.test")
    ids = world.ids
    account = world.records.create(SYSTEM, "account", {"name": "Alfa Kft", "owner": ids["alice"]})["id"]
    for owner, value in (("alice", 100), ("alice", 200), ("mona", 400), ("sam", 800), ("eve", 1600)):
        world.contract(title=f"{owner} {value}", owner=ids[owner], value=value, account=account, status="draft")
    world.records.update(SYSTEM, "account", account, {"name": "Alfa Zrt"}, None)
    world.alerts.deliver()
    got = bodies(world)
    assert set(got) == {"alice@example.test", "mona@example.test", "root@example.test"}

    # alice (rep) reads her 2 contracts, mona (manager, north) the team's 3, root all 5
    assert _bracket(got["alice@example.test"], "Contracts") == "2"
    assert _bracket(got["mona@example.test"], "Contracts") == "3"
    assert _bracket(got["root@example.test"], "Contracts") == "5"
    totals = {who: _bracket(got[f"{who}@example.test"], "total") for who in ("alice", "mona", "root")}
    assert [float(totals[w]) for w in ("alice", "mona", "root")] == [300, 700, 3100]

    # exactly what each of them is shown on the account's record page
    for who, actor in (("alice", world.users.actor("alice")), ("mona", world.users.actor("mona")), ("root", root)):
        page = world.records.get(actor, "account", account)
        assert _bracket(got[f"{who}@example.test"], "Contracts") == str(page["contract_count"])
        assert float(totals[who]) == float(page["contract_total"])
    assert {r["status"] for r in world.outbox(alert="account_review")} == {"sent"}


def test_formula_through_a_link_the_recipient_may_not_read_is_empty(world_factory):
    world = world_factory(ROLLUP_FILES)
    world.users.add("root", roles=["admin"], team="hq", email="root@example.test")
    ids = world.ids
    south = world.records.create(SYSTEM, "account", {"name": "Béta Zrt", "city": "Pécs", "owner": ids["sam"]})["id"]
    contract = world.contract(title="Alice at Béta", account=south, status="draft")
    world.contract(title="Sam at Béta", owner=ids["sam"], account=south, status="draft")
    world.records.update(SYSTEM, "contract", contract, {"status": "active"}, None)
    world.alerts.deliver()
    got = bodies(world)
    assert set(got) == {"alice@example.test", "root@example.test"}

    alice = got["alice@example.test"]
    assert _bracket(alice, "City") == "" and _bracket(alice, "account") == ""
    assert _bracket(alice, "its contracts") == ""
    assert "Pécs" not in alice and "Béta Zrt" not in alice
    page = world.records.get(world.users.actor("alice"), "contract", contract)
    assert page["account_city"] is None                       # the record page shows the same nothing

    admin = got["root@example.test"]
    assert _bracket(admin, "City") == "Pécs" and _bracket(admin, "account") == "Béta Zrt"
    assert _bracket(admin, "its contracts") == "2"


def test_linked_record_rollup_is_the_recipients_own(world_factory):
    world = world_factory(ROLLUP_FILES)
    world.users.add("root", roles=["admin"], team="hq", email="root@example.test")
    ids = world.ids
    account = world.records.create(SYSTEM, "account", {"name": "Gamma Bt", "city": "Győr",
                                                       "owner": ids["alice"]})["id"]
    contract = world.contract(title="Alice at Gamma", account=account, status="draft")
    world.contract(title="Sam at Gamma", owner=ids["sam"], account=account, status="draft")
    world.records.update(SYSTEM, "contract", contract, {"status": "active"}, None)
    world.alerts.deliver()
    got = bodies(world)
    assert _bracket(got["alice@example.test"], "City") == "Győr"
    assert _bracket(got["alice@example.test"], "its contracts") == "1"     # sam's contract is not hers
    assert _bracket(got["root@example.test"], "its contracts") == "2"



DELETED_FILES = {
    **ROLLUP_FILES,
    "alerts/contract_gone.yaml": """
alert: contract_gone
entity: contract
trigger: {event: deleted}
notify:
  - {to: {user: alice}, via: [email]}
  - {to: {user: mona}, via: [email]}
  - {to: {user: root}, via: [email]}
template: contract_gone
""",
    "templates/contract_gone.subject.txt": "Deleted: {{ record.title }}",
    "templates/contract_gone.email.html": "<p>Gone [{{ record.title }}] city [{{ record.account_city }}]</p>",
}


def test_a_deleted_record_reaches_only_those_whose_scope_granted_it(world_factory):
    """No row is left to read: the stored owner and team decide; formulas (here one through a link)
    have nothing left to compute from and are empty, rather than failing the message."""
    world = world_factory(DELETED_FILES)
    world.users.add("root", roles=["admin"], team="hq", email="root@example.test")
    ids = world.ids
    south = world.records.create(SYSTEM, "account", {"name": "Gamma Bt", "city": "Pécs", "owner": ids["sam"]})["id"]
    contract = world.contract(title="Mona at Gamma", owner=ids["mona"], account=south, status="draft")
    world.records.delete(SYSTEM, "contract", contract)
    world.alerts.deliver()
    got = bodies(world)
    # alice (rep, own) did not own it: nothing; mona owned it; root is an administrator
    assert set(got) == {"mona@example.test", "root@example.test"}
    assert _bracket(got["mona@example.test"], "Gone") == "Mona at Gamma"
    assert _bracket(got["mona@example.test"], "city") == ""
    assert _bracket(got["root@example.test"], "Gone") == "Mona at Gamma"
    assert _bracket(got["root@example.test"], "city") == ""
