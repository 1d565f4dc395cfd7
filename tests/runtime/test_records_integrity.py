"""Optimistic locking, lines saved atomically, the audit trail, autonumbers under concurrency."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.runtime.errors import StaleVersion, ValidationFailed


def deal_with_items(crm, *items):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    return crm.records.create(crm.alice, "deal", {"name": "D", "account": acc["id"], "amount": 100,
                                                   "items": list(items)})


def product(crm, name="Brick", price="10", active=True):
    return crm.records.create(crm.admin, "product", {"name": name, "list_price": price, "active": active})


def audit_rows(crm, entity, record_id):
    t = crm.tables.audit
    with crm.engine.connect() as conn:
        return conn.execute(select(t).where(t.c.entity == entity, t.c.record_id == record_id)
                            .order_by(t.c.id)).mappings().all()


def test_stale_version_is_refused_with_current_values_and_nothing_overwritten(crm):
    deal = deal_with_items(crm)
    first = crm.records.update(crm.alice, "deal", deal["id"], {"amount": 200}, deal["version"])
    with pytest.raises(StaleVersion) as info:
        crm.records.update(crm.alice, "deal", deal["id"], {"amount": 300, "name": "E"}, deal["version"])
    stale = info.value
    assert stale.status == 409 and stale.current["amount"] == Decimal("200.00")
    assert stale.current["version"] == first["version"] == 2
    now = crm.records.get(crm.alice, "deal", deal["id"])
    assert now["amount"] == Decimal("200.00") and now["name"] == "D" and now["version"] == 2


def test_lines_are_saved_with_the_parent_and_a_bad_row_refuses_everything(crm):
    brick, retired = product(crm), product(crm, "Old", active=False)
    with pytest.raises(ValidationFailed) as info:
        deal_with_items(crm, {"product": brick["id"], "quantity": 2},
                        {"product": retired["id"], "quantity": -1, "deal": 5})
    assert set(info.value.fields) == {"items.1.product", "items.1.quantity", "items.1.deal"}
    assert crm.records.list(crm.admin, "deal").rows == []
    assert crm.records.list(crm.admin, "deal_line").rows == []


def test_lines_update_create_and_delete_in_one_save(crm):
    brick, tile = product(crm), product(crm, "Tile", "3")
    deal = deal_with_items(crm, {"product": brick["id"], "quantity": 2}, {"product": tile["id"]})
    first, second = deal["items"]
    assert first["deal"] == deal["id"] and deal["items_total"] == Decimal("23.00")
    updated = crm.records.update(crm.alice, "deal", deal["id"], {"items": [
        {"id": first["id"], "quantity": 5}, {"product": tile["id"], "quantity": 10}]}, deal["version"])
    assert [(i["quantity"], i["unit_price"]) for i in updated["items"]] == [
        (Decimal("5.000"), Decimal("10.00")), (Decimal("10.000"), Decimal("3.00"))]
    assert updated["items_total"] == Decimal("80.00") and updated["version"] == 2
    assert crm.records.list(crm.admin, "deal_line", where={"id": second["id"]}).rows == []
    # a bad row in an update leaves the old rows as they were
    with pytest.raises(ValidationFailed):
        crm.records.update(crm.alice, "deal", deal["id"], {"name": "E", "items": [
            {"id": first["id"], "quantity": "x"}]}, updated["version"])
    again = crm.records.get(crm.alice, "deal", deal["id"])
    assert again["name"] == "D" and len(again["items"]) == 2
    crm.records.delete(crm.alice, "deal", deal["id"])
    assert crm.records.list(crm.admin, "deal_line").rows == []


def test_one_audit_row_per_changed_field_and_one_for_create_and_delete(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A", "city": "Pécs"})
    acc = crm.records.update(crm.alice, "account", acc["id"], {"city": "Győr", "employees": 5, "name": "A"},
                             acc["version"])
    crm.records.delete(crm.admin, "account", acc["id"])
    rows = audit_rows(crm, "account", acc["id"])
    assert [(r["action"], r["field"]) for r in rows] == [
        ("create", None), ("update", "city"), ("update", "employees"), ("delete", None)]
    create, city, employees, delete = rows
    assert '"name": "A"' in create["new_value"] and create["user_id"] == crm.alice.id
    assert (city["old_value"], city["new_value"]) == ('"Pécs"', '"Győr"')
    assert (employees["old_value"], employees["new_value"]) == (None, "5")
    assert delete["user_id"] is None and '"city": "Győr"' in delete["old_value"]
    assert all(r["revision"] == crm.config.revision for r in rows)


def test_history_hides_hidden_fields(crm):
    acc = crm.records.create(crm.admin, "account", {"name": "A", "revenue": 5, "owner": "alice"})
    crm.records.update(crm.admin, "account", acc["id"], {"revenue": 6, "city": "Eger"}, acc["version"])
    entries = crm.records.history(crm.alice, "account", acc["id"])
    assert [e.field for e in entries] == [None, "city"]
    assert "revenue" not in entries[0].new and entries[0].new["name"] == "A"
    assert [e.field for e in crm.records.history(crm.admin, "account", acc["id"])] == [None, "city", "revenue"]


def test_a_refused_save_leaves_no_audit_and_gives_its_number_back(crm):
    with pytest.raises(ValidationFailed):
        crm.records.create(crm.alice, "account", {"name": "x" * 60})
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    assert acc["code"] == "A-2025-0001"
    assert len(audit_rows(crm, "account", acc["id"])) == 1


def test_autonumbers_have_no_duplicates_under_concurrent_saves(crm):
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    codes, errors = [], []

    def work():
        try:
            for _ in range(5):
                codes.append(crm.records.create(crm.alice, "deal", {"name": "D", "account": acc["id"],
                                                                     "amount": 1})["code"])
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(codes) == [f"D-2025-{n:05d}" for n in range(1, 31)]


def test_autonumbers_restart_each_year(crm):
    import datetime as dt
    acc = crm.records.create(crm.alice, "account", {"name": "A"})
    crm.clock.now = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.timezone.utc)     # 2026-01-01 in Budapest
    b = crm.records.create(crm.alice, "account", {"name": "B"})
    assert (acc["code"], b["code"]) == ("A-2025-0001", "A-2026-0001")
