"""Permissions on every read path (get, list, search, related lists, export) and on writes."""
from __future__ import annotations

import pytest

from engine.runtime.errors import Forbidden, NotFound, ValidationFailed
from engine.runtime.permissions import Permissions


@pytest.fixture
def data(crm):
    """One account per rep (alice, bob north; carol south), each with a deal and a line."""
    brick = crm.records.create(crm.admin, "product", {"name": "Brick", "list_price": 10})
    out = {}
    for name in ("alice", "bob", "carol"):
        user = getattr(crm, name)
        acc = crm.records.create(user, "account", {"name": f"{name} Kft.", "city": "Budapest"})
        crm.records.update(crm.admin, "account", acc["id"], {"revenue": 1000}, acc["version"])
        deal = crm.records.create(user, "deal", {"name": f"{name} deal", "account": acc["id"], "amount": 10,
                                                  "items": [{"product": brick["id"]}]})
        out[name] = (acc, deal)
    return out


def names(page) -> list[str]:
    return sorted(r["name"] for r in page.rows)


def readable(crm, user, entity, record_id) -> bool:
    try:
        crm.records.get(user, entity, record_id)
        return True
    except NotFound:
        return False


def test_scopes_on_list_and_get(crm, data):
    r = crm.records
    assert names(r.list(crm.alice, "account")) == ["alice Kft.", "bob Kft."]            # team
    assert names(r.list(crm.alice, "deal")) == ["alice deal"]                            # own
    assert names(r.list(crm.mona, "account")) == ["alice Kft.", "bob Kft.", "carol Kft."]  # all
    assert names(r.list(crm.mona, "deal")) == ["alice deal", "bob deal"]                 # team
    assert r.list(crm.vic, "deal").rows == []                                            # none
    assert names(r.list(crm.admin, "deal")) == ["alice deal", "bob deal", "carol deal"]
    carol_deal = data["carol"][1]["id"]
    assert not readable(crm, crm.alice, "deal", carol_deal)
    assert not readable(crm, crm.vic, "deal", carol_deal)
    assert readable(crm, crm.carol, "deal", carol_deal)


def test_missing_and_unreadable_look_the_same(crm, data):
    with pytest.raises(NotFound) as hidden:
        crm.records.get(crm.alice, "deal", data["carol"][1]["id"])
    with pytest.raises(NotFound) as missing:
        crm.records.get(crm.alice, "deal", 10_000)
    assert hidden.value.status == missing.value.status == 404


def test_search_related_lists_and_export_are_filtered_too(crm, data):
    r = crm.records
    assert names(r.list(crm.alice, "account", search="kft")) == ["alice Kft.", "bob Kft."]
    assert names(r.list(crm.carol, "account", search="KFT budapest")) == ["carol Kft."]
    crm.records.create(crm.carol, "account", {"name": "Pécsi Tégla Zrt.", "city": "PÉCS"})
    assert names(r.list(crm.carol, "account", search="pécs TÉGLA")) == ["Pécsi Tégla Zrt."]
    assert r.list(crm.carol, "account", search="100%_").rows == []
    carol_acc = data["carol"][0]["id"]
    assert r.list(crm.alice, "deal", where={"account": carol_acc}).rows == []           # related list
    assert names(r.list(crm.carol, "deal", where={"account": carol_acc})) == ["carol deal"]
    assert sorted(x["name"] for x in r.iterate(crm.alice, "account")) == ["alice Kft.", "bob Kft."]
    assert list(r.iterate(crm.vic, "account")) == []


def test_hidden_fields_are_never_returned_and_cannot_be_filtered_or_sorted_on(crm, data):
    r = crm.records
    acc_id = data["alice"][0]["id"]
    assert "revenue" not in r.get(crm.alice, "account", acc_id)
    assert all("revenue" not in row for row in r.list(crm.alice, "account").rows)
    assert all("revenue" not in row for row in r.iterate(crm.alice, "account"))
    assert r.get(crm.admin, "account", acc_id)["revenue"] == 1000
    for kwargs in ({"filter_expr": "revenue > 10"}, {"sort": "-revenue"}, {"where": {"revenue": 1000}}):
        with pytest.raises(ValidationFailed):
            r.list(crm.alice, "account", **kwargs)
    with pytest.raises(ValidationFailed):                        # through a link, too
        r.list(crm.alice, "deal", filter_expr="account.revenue > 10")
    with pytest.raises(Forbidden):
        r.update(crm.alice, "account", acc_id, {"revenue": 1}, None)


def test_a_non_owned_entity_follows_its_owned_link(crm, data):
    r = crm.records
    alice_line = data["alice"][1]["items"][0]
    carol_line = data["carol"][1]["items"][0]
    assert [x["id"] for x in r.list(crm.alice, "deal_line").rows] == [alice_line["id"]]
    assert sorted(x["id"] for x in r.list(crm.mona, "deal_line").rows) == sorted(
        [alice_line["id"], data["bob"][1]["items"][0]["id"]])
    assert not readable(crm, crm.alice, "deal_line", carol_line["id"])
    with pytest.raises(NotFound):
        r.update(crm.alice, "deal_line", carol_line["id"], {"quantity": 2}, None)
    r.update(crm.alice, "deal_line", alice_line["id"], {"quantity": 2}, None)


def test_an_entity_without_owned_links_falls_back_to_its_creator(crm):
    note = crm.records.create(crm.alice, "note", {"body": "hello"})
    crm.records.create(crm.bob, "note", {"body": "bye"})
    assert [n["body"] for n in crm.records.list(crm.alice, "note").rows] == ["hello"]
    assert sorted(n["body"] for n in crm.records.list(crm.mona, "note").rows) == ["bye", "hello"]
    assert crm.records.list(crm.carol, "note").rows == []
    assert crm.records.get(crm.alice, "note", note["id"])["body"] == "hello"


def test_update_and_delete_scopes(crm, data):
    r = crm.records
    bob_acc = data["bob"][0]
    with pytest.raises(Forbidden):                       # alice reads bob's account (team) but updates own only
        r.update(crm.alice, "account", bob_acc["id"], {"city": "Eger"}, None)
    with pytest.raises(NotFound):                        # carol cannot even see it
        r.update(crm.carol, "account", bob_acc["id"], {"city": "Eger"}, None)
    assert r.update(crm.mona, "account", bob_acc["id"], {"city": "Eger"}, None)["city"] == "Eger"
    with pytest.raises(Forbidden):                       # reps never delete accounts
        r.delete(crm.alice, "account", data["alice"][0]["id"])
    bob_deal = data["bob"][1]
    with pytest.raises(NotFound):
        r.delete(crm.alice, "deal", bob_deal["id"])
    r.delete(crm.mona, "deal", bob_deal["id"])           # team


def test_linked_children_need_their_own_permissions(crm, data):
    deal = data["alice"][1]
    product = crm.records.list(crm.admin, "product").rows[0]
    with pytest.raises(Forbidden):                        # vic may not even create deals
        crm.records.create(crm.vic, "deal", {"name": "x", "account": data["alice"][0]["id"], "amount": 1,
                                              "items": [{"product": product["id"]}]})
    updated = crm.records.update(crm.alice, "deal", deal["id"], {"items": []}, deal["version"])
    assert updated["items"] == []


def test_can_and_explain(crm, data):
    perms = Permissions(crm.config, crm.tables, crm.engine)
    bob_acc = data["bob"][0]["id"]
    assert perms.can(crm.alice, "read", "account", bob_acc)
    assert not perms.can(crm.alice, "update", "account", bob_acc)
    assert perms.can(crm.mona, "update", "account", bob_acc)
    assert perms.can(crm.alice, "create", "deal") and not perms.can(crm.vic, "create", "deal")
    assert not perms.can(crm.vic, "read", "account")
    lines = perms.explain(crm.mona, "account", bob_acc)
    text = "\n".join(lines)
    assert "role manager (inherits rep): account read all" in text
    assert "effective on account: read all, create yes, update team, delete none" in text
    assert "owner bob, team north" in text and "update yes (team)" in text
    assert "hidden fields: revenue" in text
    text = "\n".join(perms.explain(crm.alice, "deal_line"))
    assert "own/team follow its link 'deal' to deal" in text


def test_roles_are_unioned_most_permissive_wins(crm, data):
    both = crm.users.add("zed", roles=["viewer", "manager"], team="north")
    perms = Permissions(crm.config, crm.tables, crm.engine)
    assert perms.scope(both, "account", "read") == "all"
    assert perms.hidden(both, "account") == {"revenue"}            # viewer does not read accounts
    unknown = crm.users.add("yul", roles=[], team="north")
    assert crm.records.list(unknown, "account").rows == []


def test_a_computed_field_over_a_hidden_field_is_hidden_too(write_config):
    from engine.metadata.loader import load_config
    from engine.runtime.actor import Actor
    from engine.runtime.tables import build_tables
    config = load_config(write_config({
        "roles.yaml": "roles:\n  admin: {all: true}\n  rep:\n    entities:\n"
                      "      account: {read: all}\n      deal: {read: all}\n"
                      "    hidden_fields: [account.revenue]\n",
        "entities/account.yaml": "entity: account\ntitle: name\nfields:\n"
                                 "  name: {type: string}\n  revenue: {type: money}\n"
                                 "  revenue_k: {type: formula, expr: 'revenue / 1000', result: decimal}\n"
                                 "  deals_total: {type: rollup, of: deal, expr: 'sum(amount)', result: money}\n"
                                 "  upper_name: {type: formula, expr: 'upper(name)', result: string}\n",
        "entities/deal.yaml": "entity: deal\ntitle: name\nfields:\n  name: {type: string}\n"
                              "  account: {type: link, entity: account}\n  amount: {type: money}\n"
                              "  account_revenue: {type: formula, expr: 'account.revenue_k * 2', result: decimal}\n",
    }))
    perms = Permissions(config, build_tables(config))
    rep = Actor(id=1, username="rep", roles=frozenset({"rep"}))
    admin = Actor(id=2, username="root", roles=frozenset({"admin"}))
    assert perms.hidden(rep, "account") == {"revenue", "revenue_k"}       # the rollup and upper_name read nothing hidden
    assert perms.hidden(rep, "deal") == {"account_revenue"}               # through a link and another formula
    assert perms.hidden(admin, "account") == frozenset()


def test_can_on_a_record_in_hand_answers_as_the_database_does(crm, data):
    """`can(..., record=)` decides own/team/all/none from the record just read; every answer is the query's."""
    from sqlalchemy import event
    perms = Permissions(crm.config, crm.tables, crm.engine)
    statements: list[str] = []
    event.listen(crm.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    asked = 0
    for user in (crm.alice, crm.bob, crm.carol, crm.mona, crm.vic, crm.admin):
        for entity, index in (("account", 0), ("deal", 1)):        # deal is owned too; deal_line follows links
            for owner in ("alice", "bob", "carol"):
                record_id = data[owner][index]["id"]
                if not readable(crm, user, entity, record_id):
                    continue
                record = crm.records.get(user, entity, record_id)
                for action in ("read", "update", "delete"):
                    statements.clear()
                    quick = perms.can(user, action, entity, record_id, record=record)
                    asked += len(statements)
                    assert quick == perms.can(user, action, entity, record_id), (user.username, entity, owner, action)
    assert asked == 0, statements          # owned entities: never a query
    line = crm.records.get(crm.alice, "deal", data["alice"][1]["id"])["items"][0]
    statements.clear()                     # deal_line's own scope goes through its deal: the database decides
    assert perms.can(crm.alice, "update", "deal_line", line["id"], record=line) == perms.can(
        crm.alice, "update", "deal_line", line["id"]) and statements
    other = data["bob"][0]                 # a record that is not the one asked about is not trusted
    assert perms.can(crm.alice, "update", "account", data["alice"][0]["id"], record=other)


def test_history_files_and_messages_check_the_read_in_their_own_statement(crm, data):
    """One statement each: 404 for a record the user may not read (or that does not exist), else the rows."""
    from engine.runtime.alerts.inbox import Inbox
    from engine.runtime.files import Files
    from sqlalchemy import event
    bob_acc = data["bob"][0]["id"]
    inbox = Inbox(crm.engine, crm.tables, crm.records.permissions)
    files = Files(crm.config, crm.engine, crm.tables, crm.records)
    statements: list[str] = []
    event.listen(crm.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for ask in (lambda u, i: crm.records.history(u, "account", i), lambda u, i: inbox.record_messages(u, "account", i),
                lambda u, i: files.of_record(u, "account", i)):
        for user, record_id in ((crm.carol, bob_acc), (crm.alice, 999_999), (crm.vic, bob_acc)):
            with pytest.raises(NotFound):
                ask(user, record_id)
        statements.clear()
        assert ask(crm.alice, bob_acc) is not None and len(statements) == 1, statements
    assert [e.action for e in crm.records.history(crm.admin, "account", bob_acc)] == ["create", "update"]
    trail = crm.records.history(crm.mona, "account", bob_acc)         # the update set revenue, hidden from her
    assert [e.action for e in trail] == ["create"] and "revenue" not in trail[0].new
    assert inbox.record_messages(crm.alice, "account", bob_acc) == []
    assert files.of_record(crm.alice, "account", bob_acc) == {}
