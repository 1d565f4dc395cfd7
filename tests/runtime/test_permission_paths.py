"""Permissions on what a read reaches through its rows: link paths and rollups, on every path out.

The company of conftest.py plus rollups of deals on accounts, formulas through
the deal's account, and a few reports, a KPI and a dashboard. The records:

    acc_a  alice's (north), segment a, credit limit 100
           deals: alice 10, bob 500, and one owned by carol (south) 7
    acc_b  bob's (north), segment b: deal bob 20
    acc_c  carol's (south), segment c: deal carol 30

So alice reads acc_a and acc_b (team) but only her own deal on acc_a; carol
reads her two deals but not acc_a, the account of one of them. Contacts have
no owner and follow their account: a rep reads those of accounts they own.
Every test would have failed before link paths and rollups were filtered,
except those about sorting and hidden fields (already refused).
"""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from engine.runtime.errors import Forbidden, ValidationFailed
from engine.runtime.exporter import export_records
from engine.runtime.reports import Reports
from engine.runtime.reports.dashboards import dashboard
from engine.runtime.reports.kpis import kpi_values

ACCOUNT_EXTRA = """
  credit_limit: {type: money, min: 0}
  deal_count:   {type: rollup, of: deal, expr: "count()", result: int}
  deal_total:   {type: rollup, of: deal, expr: "sum(amount)", result: money}
validations:
  - rule: "deal_total == null or credit_limit == null or deal_total <= credit_limit"
    message: {en: The deals exceed the credit limit, hu: Az üzletek túllépik a hitelkeretet}
"""
DEAL_EXTRA = """
  account_city:  {type: formula, expr: "account.city", result: string}
  account_deals: {type: formula, expr: "account.deal_count", result: int}
"""
REPORTS = {
    "reports/deals_by_segment.yaml": """
report: deals_by_segment
entity: deal
params:
  segment: {type: string, default: null}
where_params: "account.segment == $segment"
group_by: [account.segment]
measures:
  deals: {expr: "count()"}
  total: {expr: "sum(amount)"}
  limit: {expr: "max(account.credit_limit)"}
""",
    "reports/account_totals.yaml": """
report: account_totals
entity: account
group_by: [segment]
measures:
  deals: {expr: "sum(deal_count)"}
  total: {expr: "sum(deal_total)"}
""",
    "reports/revenue_by_account.yaml": """
report: revenue_by_account
entity: deal
group_by: [account.revenue]
measures:
  deals: {expr: "count()"}
""",
    "reports/deals_in_a.yaml": """
kpi: deals_in_a
entity: deal
value: "count(account.segment == 'a')"
""",
    "reports/rep_board.yaml": """
dashboard: rep_board
roles: [rep]
widgets:
  - {kpi: deals_in_a}
  - {report: deals_by_segment}
""",
    "reports/deals_by_contact.yaml": """
report: deals_by_contact
entity: deal
group_by: [contact.name]
measures:
  deals: {expr: "count()"}
""",
}
ROLE_REPORTS = ("    reports: [deals_by_segment, account_totals, revenue_by_account, deals_in_a, rep_board,"
                " deals_by_contact]\n")


@pytest.fixture
def world(make_world, base_files):
    roles = base_files["roles.yaml"].replace("    hidden_fields: [account.revenue]\n",
                                             "    hidden_fields: [account.revenue]\n" + ROLE_REPORTS)
    # contacts follow their account: a rep reads the contacts of the accounts they own
    roles = roles.replace("contact:   {read: all, create: true, update: all, delete: all}",
                          "contact:   {read: own, create: true, update: own, delete: own}")
    account = base_files["entities/account.yaml"].rstrip("\n") + ACCOUNT_EXTRA
    deal = base_files["entities/deal.yaml"].replace("validations:", DEAL_EXTRA.strip("\n") + "\nvalidations:")
    return make_world({"roles.yaml": roles, "entities/account.yaml": account, "entities/deal.yaml": deal,
                       **REPORTS})


@pytest.fixture
def data(world):
    crm, r = world, world.records
    brick = r.create(crm.admin, "product", {"name": "Brick", "list_price": 1})
    acc_a = r.create(crm.alice, "account", {"name": "A Kft.", "city": "Budapest", "segment": "a"})
    acc_a = r.update(crm.admin, "account", acc_a["id"], {"credit_limit": 100}, None)
    acc_b = r.create(crm.bob, "account", {"name": "B Kft.", "city": "Eger", "segment": "b"})
    acc_c = r.create(crm.carol, "account", {"name": "C Kft.", "city": "Pécs", "segment": "c"})
    deals = {
        "alice_a": r.create(crm.alice, "deal", {"name": "alice on a", "account": acc_a["id"], "amount": 10}),
        "bob_a": r.create(crm.bob, "deal", {"name": "bob on a", "account": acc_a["id"], "amount": 500}),
        "carol_a": r.create(crm.admin, "deal", {"name": "carol on a", "account": acc_a["id"], "amount": 7,
                                                "owner": crm.carol.id, "items": [{"product": brick["id"]}]}),
        "bob_b": r.create(crm.bob, "deal", {"name": "bob on b", "account": acc_b["id"], "amount": 20}),
        "carol_c": r.create(crm.carol, "deal", {"name": "carol on c", "account": acc_c["id"], "amount": 30,
                                                "items": [{"product": brick["id"]}]}),
    }
    return {"a": acc_a["id"], "b": acc_b["id"], "c": acc_c["id"], **{k: v["id"] for k, v in deals.items()}}


def by_id(rows) -> dict[int, dict]:
    return {row["id"]: row for row in rows}


def export_csv(crm, actor, entity, **kwargs) -> dict[str, dict[str, str]]:
    out = io.StringIO()
    export_records(crm.records, actor, entity, out, fmt="csv", **kwargs)
    return {row["id"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}


# -- rollups ---------------------------------------------------------------------------------------

def test_a_rollup_counts_only_the_child_rows_the_user_may_read(world, data):
    r = world.records
    for actor, count, total in ((world.alice, 1, Decimal("10.00")),      # her own deal only
                                (world.mona, 2, Decimal("510.00")),      # team north: alice's and bob's
                                (world.admin, 3, Decimal("517.00"))):    # every deal
        acc_a = r.get(actor, "account", data["a"])
        assert (acc_a["deal_count"], acc_a["deal_total"]) == (count, total), actor.username
        listed = by_id(r.list(actor, "account").rows)[data["a"]]
        assert (listed["deal_count"], listed["deal_total"]) == (count, total), actor.username
    acc_b = r.get(world.alice, "account", data["b"])          # alice reads bob's account, not his deal
    assert (acc_b["deal_count"], acc_b["deal_total"]) == (0, None)


def test_filters_and_sorts_on_a_rollup_use_the_value_the_user_sees(world, data):
    r = world.records
    assert r.list(world.alice, "account", filter_expr="deal_total > 100").rows == []
    assert [x["id"] for x in r.list(world.mona, "account", filter_expr="deal_total > 100").rows] == [data["a"]]
    assert [x["id"] for x in r.list(world.alice, "account", filter_expr="deal_count == 0").rows] == [data["b"]]
    # mona: acc_a 510, acc_b 20, acc_c (south, read all) 0 deals of hers -> null, last
    assert [x["id"] for x in r.list(world.mona, "account", sort="-deal_total").rows] == \
        [data["a"], data["b"], data["c"]]
    assert [x["id"] for x in r.list(world.alice, "account", sort="deal_count").rows] == [data["b"], data["a"]]


def test_exports_and_related_lists_show_the_same_rollup(world, data):
    rows = export_csv(world, world.alice, "account")
    assert (rows[str(data["a"])]["deal_count"], rows[str(data["a"])]["deal_total"]) == ("1", "10.00")
    assert rows[str(data["b"])]["deal_total"] == ""
    streamed = by_id(world.records.iterate(world.alice, "account"))
    assert streamed[data["a"]]["deal_total"] == Decimal("10.00")
    # a related list of the deals on a record page lists what the rollup counts
    related = world.records.list(world.alice, "deal", where={"account": data["a"]}).rows
    assert [x["id"] for x in related] == [data["alice_a"]]


def test_business_rules_see_every_row_whoever_saves(world, data):
    """A credit limit holds for the account whatever the saving user may read: the rule's
    rollup sums all 517, while alice is shown 10 (docs/records.md, Permissions)."""
    r = world.records
    acc_a = r.get(world.alice, "account", data["a"])
    assert acc_a["deal_total"] == Decimal("10.00") and acc_a["credit_limit"] == Decimal("100.00")
    with pytest.raises(ValidationFailed) as refused:
        r.update(world.alice, "account", data["a"], {"city": "Győr"}, acc_a["version"])
    assert refused.value.messages == ["The deals exceed the credit limit"]
    with pytest.raises(ValidationFailed):
        r.validate(world.alice, "account", {"city": "Győr"}, record_id=data["a"])
    r.update(world.admin, "account", data["a"], {"credit_limit": 1000}, None)
    assert r.update(world.alice, "account", data["a"], {"city": "Győr"}, None)["city"] == "Győr"


# -- link paths ------------------------------------------------------------------------------------

def test_a_filter_through_a_link_does_not_read_an_unreadable_record(world, data):
    r = world.records
    assert r.list(world.carol, "deal", filter_expr="account.segment == 'a'").rows == []
    assert r.list(world.carol, "deal", filter_expr="account.city == 'Budapest'", search="carol").rows == []
    assert [x["id"] for x in r.list(world.carol, "deal", filter_expr="account.deal_total > 0").rows] == \
        [data["carol_c"]]
    # the unreadable account is no value at all, as a missing link would be
    assert [x["id"] for x in r.list(world.carol, "deal", filter_expr="account.segment == null").rows] == \
        [data["carol_a"]]
    assert [x["id"] for x in r.list(world.carol, "deal", filter_expr="account.segment == 'c'").rows] == \
        [data["carol_c"]]
    # whoever reads the account finds the deal through it
    assert [x["id"] for x in r.list(world.admin, "deal", filter_expr="account.segment == 'a' and amount < 9")
            .rows] == [data["carol_a"]]
    # two hops: a deal line through its deal's account
    assert r.list(world.carol, "deal_line", filter_expr="deal.account.segment == 'a'").rows == []
    assert len(r.list(world.carol, "deal_line", filter_expr="deal.account.segment == 'c'").rows) == 1
    # users are not records: every user may be named, so owner.team works for everyone
    assert len(r.list(world.carol, "deal", filter_expr="owner.team == 'south'").rows) == 2


def test_columns_and_formulas_through_a_link_are_empty_for_an_unreadable_record(world, data):
    page = world.records.list(world.carol, "deal", with_titles=True, paths=["account.segment", "account.city"])
    rows = by_id(page.rows)
    hidden, own = rows[data["carol_a"]], rows[data["carol_c"]]
    assert (hidden["account"], hidden["account__title"], hidden["account.segment"]) == (data["a"], None, None)
    assert (hidden["account_city"], hidden["account_deals"]) == (None, None)
    assert (own["account__title"], own["account.segment"], own["account_city"]) == ("C Kft.", "c", "Pécs")
    assert own["account_deals"] == 1
    got = world.records.get(world.carol, "deal", data["carol_a"])
    assert (got["account_city"], got["account_deals"]) == (None, None)
    # alice reads acc_a; its rollup through the link counts her deals only
    assert world.records.get(world.alice, "deal", data["alice_a"])["account_deals"] == 1
    assert world.records.get(world.admin, "deal", data["carol_a"])["account_city"] == "Budapest"


def test_sorting_by_a_link_path_is_refused(world, data):
    with pytest.raises(ValidationFailed):
        world.records.list(world.carol, "deal", sort="account.segment")


def test_an_export_shows_an_unreadable_linked_record_as_its_id(world, data):
    rows = export_csv(world, world.carol, "deal")
    assert rows[str(data["carol_a"])]["account"] == str(data["a"])
    assert rows[str(data["carol_a"])]["account_city"] == ""
    assert rows[str(data["carol_c"])]["account"] == "C Kft."
    assert export_csv(world, world.carol, "deal", filter_expr="account.segment == 'a'") == {}


def test_hidden_fields_of_a_linked_entity_stay_hidden(world, data):
    r = world.records
    row = r.list(world.alice, "deal", paths=["account.revenue", "account.city"]).rows[0]
    assert "account.revenue" not in row and row["account.city"] == "Budapest"
    with pytest.raises(ValidationFailed):
        r.list(world.alice, "deal", filter_expr="account.revenue > 0")
    with pytest.raises(Forbidden):
        Reports(world.config, world.engine, world.tables).run_report(world.alice, "revenue_by_account")


# -- reports, KPIs, dashboards ---------------------------------------------------------------------

def test_a_report_grouped_by_a_link_path_does_not_show_an_unreadable_record(world, data):
    reports = Reports(world.config, world.engine, world.tables, records=world.records)
    result = reports.run_report(world.carol, "deals_by_segment")
    got = {row.groups[0].value: (row.values["deals"], row.values["total"], row.values["limit"])
           for row in result.rows}
    assert got == {None: (1, Decimal(7), None), "c": (1, Decimal(30), None)}
    assert reports.run_report(world.carol, "deals_by_segment", {"segment": "a"}).rows == ()
    admin = {row.groups[0].value: row.values["deals"] for row in reports.run_report(world.admin,
                                                                                     "deals_by_segment").rows}
    assert admin == {"a": 3, "b": 1, "c": 1}
    # drilling into the "no segment" row gives the deal behind it, as the list shows it
    page = reports.drill_down(world.carol, "deals_by_segment", None, (None,))
    assert [x["id"] for x in page.rows] == [data["carol_a"]] and page.rows[0]["account_city"] is None


def test_a_report_over_a_rollup_sums_what_the_user_may_read(world, data):
    reports = Reports(world.config, world.engine, world.tables)
    rows = {row.groups[0].value: (row.values["deals"], row.values["total"])
            for row in reports.run_report(world.alice, "account_totals").rows}
    assert rows == {"a": (1, Decimal(10)), "b": (0, None)}
    rows = {row.groups[0].value: row.values["total"] for row in reports.run_report(world.admin,
                                                                                   "account_totals").rows}
    assert rows == {"a": Decimal(517), "b": Decimal(20), "c": Decimal(30)}


def test_kpis_and_dashboards_read_through_links_with_the_same_filter(world, data):
    reports = Reports(world.config, world.engine, world.tables)
    assert kpi_values(reports, world.carol, "deals_in_a").current == 0
    assert kpi_values(reports, world.alice, "deals_in_a").current == 1
    assert kpi_values(reports, world.admin, "deals_in_a").current == 3
    board = dashboard(reports, world.carol, "rep_board")
    kpi, report = board.widgets
    assert kpi.error is None and kpi.result.current == 0
    assert {row.groups[0].value for row in report.result.rows} == {None, "c"}


def test_a_value_computed_for_display_reads_only_what_the_user_may_read(world, data):
    """A form's line totals are evaluated in Python before a save: with the user's `visible`, a linked
    record they may not read is missing and a rollup counts their rows, as in lists; a business rule
    (no `visible`) reads every row."""
    r, perms = world.records, world.records.permissions
    with world.engine.connect() as conn:
        record = {"id": data["carol_a"], "account": data["a"], "amount": 7}
        assert r.exprs.evaluate(conn, "deal", "account.city", record, world.carol,
                                visible=perms.visible_rows(world.carol)) is None
        assert r.exprs.evaluate(conn, "deal", "account.city", record, world.carol) == "Budapest"
        account = {"id": data["a"]}
        assert r.exprs.evaluate(conn, "account", "deal_count", account, world.alice,
                                visible=perms.visible_rows(world.alice)) == 1
        assert r.exprs.evaluate(conn, "account", "deal_count", account, world.alice) == 3


def test_a_link_to_an_entity_that_follows_its_owner_is_filtered_through_that_owner(world, data):
    """Contacts have no owner: a rep reads those of accounts they own (an EXISTS inside the JOIN)."""
    r = world.records
    ann = r.create(world.admin, "contact", {"name": "Ann", "account": data["a"]})
    r.update(world.admin, "deal", data["bob_a"], {"contact": ann["id"]}, None)
    r.update(world.admin, "deal", data["alice_a"], {"contact": ann["id"]}, None)
    assert r.list(world.bob, "deal", filter_expr="contact.name == 'Ann'").rows == []
    assert [x["id"] for x in r.list(world.alice, "deal", filter_expr="contact.name == 'Ann'").rows] == \
        [data["alice_a"]]
    bob_a = by_id(r.list(world.bob, "deal", with_titles=True, paths=["contact.name"]).rows)[data["bob_a"]]
    assert (bob_a["contact"], bob_a["contact__title"], bob_a["contact.name"]) == (ann["id"], None, None)
    reports = Reports(world.config, world.engine, world.tables, records=world.records)
    got = {row.groups[0].value: row.values["deals"] for row in reports.run_report(world.bob, "deals_by_contact").rows}
    assert got == {None: 2}
    got = {row.groups[0].value: row.values["deals"] for row in reports.run_report(world.alice, "deals_by_contact").rows}
    assert got == {"Ann": 1}                  # alice owns acc_a, so she reads Ann
    got = {row.groups[0].value: row.values["deals"] for row in reports.run_report(world.mona, "deals_by_contact").rows}
    assert got == {None: 3}                   # mona reads the team's deals, but owns no account: no contact
    page = reports.drill_down(world.bob, "deals_by_contact", None, (None,))
    assert sorted(x["id"] for x in page.rows) == sorted([data["bob_a"], data["bob_b"]])


def test_only_what_the_user_may_not_read_in_full_adds_sql(world):
    perms, tables = world.records.permissions, world.tables
    assert perms.visible_rows(world.admin) is None                    # admins: the SQL is unchanged
    visible = perms.visible_rows(world.alice)
    assert visible("product", tables.entity("product")) is None       # read: all
    assert visible("crm_users", tables.users) is None                 # users are not records
    deal = tables.entity("deal")
    assert str(visible("deal", deal)) == str(perms.row_filter(world.alice, "deal", "read", deal))
