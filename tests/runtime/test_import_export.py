"""`crm import` and `crm export`: rows checked like saves, set-based writes, permissions on the way out.

Every test runs on SQLite and PostgreSQL (`db_url`). The company: accounts
(owned, with a hidden revenue), contacts linked to accounts, deals linking an
account and a contact limited to that account, with rules, literal and
expression defaults and an autonumber.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from engine.cli import main as crm_main
from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.audit import _entry, to_json
from engine.runtime.db import make_engine
from engine.runtime.errors import Forbidden, ValidationFailed
from engine.runtime.exporter import export_records
from engine.runtime.import_support import AuditJson
from engine.runtime.import_users import import_users
from engine.runtime.importer import import_csv
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users

FILES = {
    "roles.yaml": """
roles:
  admin: {all: true}
  rep:
    entities:
      account: {read: team, create: true, update: own}
      contact: {read: all, create: true}
      deal:    {read: own, create: true, update: own}
    hidden_fields: [account.revenue]
  viewer:
    entities:
      account: {read: all}
""",
    "entities/account.yaml": """
entity: account
title: name
traits: [owned]
fields:
  name:     {type: string, required: true, max_length: 60, label: {en: Company, hu: Cégnév}}
  industry: {type: choice, options: {it: {en: IT services, hu: Informatika}, retail: Retail}}
  revenue:  {type: money, min: 0}
  tax_id:   {type: string, unique: true}
  code:     {type: autonumber, format: "A-{seq:03}"}
  score:    {type: int}
scoring:
  field: score
  rules:
    - {when: "industry == 'it'", points: 10}
    - {when: "revenue > 5", points: 5}
""",
    "entities/contact.yaml": """
entity: contact
title: name
fields:
  name:    {type: string, required: true}
  account: {type: link, entity: account, required: true}
""",
    "entities/deal.yaml": """
entity: deal
title: name
traits: [owned]
fields:
  code:         {type: autonumber, format: "D-{YYYY}-{seq:04}"}
  name:         {type: string, required: true, max_length: 100}
  account:      {type: link, entity: account, required: true}
  contact:      {type: link, entity: contact, filter: "account == $account"}
  amount:       {type: money, min: 0}
  discount_pct: {type: percent, default: 0, label: {en: Discount, hu: Engedmény}}
  net_amount:   {type: formula, expr: "amount * (1 - discount_pct / 100)", result: money}
  close_date:   {type: date}
  follow_up:    {type: date, default: "close_date + days(7)"}
  tags:         {type: multichoice, options: [big, repeat]}
validations:
  - rule: "discount_pct <= 40"
    message: {en: The discount can be at most 40%}
  - rule: "net_amount == null or net_amount <= 1000000"
    message: {en: The net amount is too large}
""",
}
NOW = dt.datetime(2025, 3, 10, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def crm(db_url: str, write_config):
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    records = Records(config, engine, tables, clock=lambda: NOW)
    users = Users(config, engine, tables, clock=lambda: NOW)
    people = {"alice": users.add("alice", roles=["rep"], team="north"),
              "bob": users.add("bob", roles=["rep"], team="south"),
              "vera": users.add("vera", roles=["viewer"])}
    yield records, people
    engine.dispose()


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def read_report(path: Path) -> list[tuple[int, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(int(r["row"]), r["field"], r["reason"]) for r in csv.DictReader(f)]


def count(records: Records, entity: str) -> int:
    table = records.tables.entity(entity)
    with records.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def all_rows(records: Records, entity: str) -> list[dict]:
    table = records.tables.entity(entity)
    with records.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def add_accounts(records: Records, *names: str, owner=SYSTEM) -> dict[str, int]:
    return {n: records.create(owner, "account", {"name": n})["id"] for n in names}


# -- import -----------------------------------------------------------------------------------------
def test_good_rows_are_written_and_bad_rows_reported(crm, tmp_path):
    records, _ = crm
    ids = add_accounts(records, "ACME", "Globex", "Twin", "Twin")
    path = write_csv(tmp_path / "deals.csv", [
        ["name", "Account", "amount", "Discount", "close_date"],
        ["Good by title", "ACME", "1000", "10", "2025-04-01"],
        ["Good by id", str(ids["Globex"]), "2000.50", "", ""],
        ["Bad amount", "ACME", "abc", "", ""],
        ["Negative", "ACME", "-5", "", ""],
        ["", "ACME", "5", "", ""],
        ["Unknown account", "Initech", "5", "", ""],
        ["Ambiguous", "Twin", "5", "", ""],
        ["Too much discount", "ACME", "100", "50", ""],
        ["Bad date", "ACME", "100", "", "2025-13-01"],
        ["Good again", "Globex", "3", "", ""],
    ])
    result = import_csv(records, SYSTEM, "deal", path, report=tmp_path / "refused.csv")
    assert (result.rows, result.imported, result.refused) == (10, 3, 7)
    deals = all_rows(records, "deal")
    assert [d["name"] for d in deals] == ["Good by title", "Good by id", "Good again"]
    assert [d["account"] for d in deals] == [ids["ACME"], ids["Globex"], ids["Globex"]]
    report = read_report(tmp_path / "refused.csv")
    assert report == [
        (4, "amount", "must be a number"),
        (5, "amount", "must be at least 0"),
        (6, "name", "is required"),
        (7, "account", "there is no account 'Initech'"),
        (8, "account", "'Twin' matches 2 account records; give the id instead"),
        (9, "", "The discount can be at most 40%"),
        (10, "close_date", "must be a date (YYYY-MM-DD)"),
    ]


def test_imported_records_get_defaults_owner_numbers_and_one_audit_row_each(crm, tmp_path):
    records, people = crm
    add_accounts(records, "ACME", owner=people["alice"])
    path = write_csv(tmp_path / "deals.csv", [["name", "account", "close_date", "owner", "tags"]] +
                     [[f"Deal {i}", "ACME", "2025-05-01", "bob" if i % 2 else "", "big, repeat"] for i in range(7)])
    result = import_csv(records, people["alice"], "deal", path, chunk_size=3)
    assert result.imported == 7
    deals = all_rows(records, "deal")
    assert [d["code"] for d in deals] == [f"D-2025-{n:04d}" for n in range(1, 8)]
    assert {d["discount_pct"] for d in deals} == {Decimal("0")}
    assert {d["follow_up"] for d in deals} == {dt.date(2025, 5, 8)}
    assert [(d["owner"], d["team"]) for d in deals[:2]] == [(people["alice"].id, "north"), (people["bob"].id, "south")]
    assert json.loads(deals[0]["tags"]) == ["big", "repeat"]
    audit = records.tables.audit
    with records.engine.connect() as conn:
        trail = conn.execute(select(audit).where(audit.c.entity == "deal").order_by(audit.c.id)).mappings().all()
    assert [(a["record_id"], a["action"], a["user_id"]) for a in trail] == [
        (d["id"], "create", people["alice"].id) for d in deals]
    assert json.loads(trail[0]["new_value"])["code"] == "D-2025-0001"
    # A record saved afterwards continues the numbering.
    later = records.create(SYSTEM, "deal", {"name": "Later", "account": deals[0]["account"]})
    assert later["code"] == "D-2025-0008"


def test_a_worker_process_checks_chunks_with_the_same_result(crm, tmp_path):
    records, people = crm
    add_accounts(records, "ACME", owner=people["alice"])
    rows = [["name", "account", "amount", "Discount"]]
    rows += [[f"D{i}", "ACME" if i % 5 else "Nobody", str(i), "50" if i == 7 else ""] for i in range(1, 13)]
    path = write_csv(tmp_path / "deals.csv", rows)
    result = import_csv(records, people["alice"], "deal", path, chunk_size=4, workers=1,
                        report=tmp_path / "r.csv")
    assert (result.rows, result.imported, result.refused) == (12, 9, 3)
    deals = all_rows(records, "deal")
    assert [d["code"] for d in deals] == [f"D-2025-{n:04d}" for n in range(1, 10)]
    assert {(d["owner"], d["team"]) for d in deals} == {(people["alice"].id, "north")}
    assert read_report(tmp_path / "r.csv") == [
        (6, "account", "there is no account 'Nobody'"), (8, "", "The discount can be at most 40%"),
        (11, "account", "there is no account 'Nobody'")]


def test_links_resolve_by_title_by_id_and_through_their_filter(crm, tmp_path):
    records, _ = crm
    ids = add_accounts(records, "ACME", "Globex")
    anna = records.create(SYSTEM, "contact", {"name": "Anna", "account": ids["ACME"]})["id"]
    path = write_csv(tmp_path / "deals.csv", [
        ["name", "account_id", "contact"],
        ["By id", str(ids["Globex"]), ""],
        ["Contact of the account", str(ids["ACME"]), "Anna"],
        ["Contact of another account", str(ids["Globex"]), "Anna"],
        ["Title where an id is wanted", "ACME", ""],
        ["Missing id", "99999", ""],
    ])
    result = import_csv(records, SYSTEM, "deal", path, report=tmp_path / "r.csv")
    assert result.imported == 2
    assert [(d["account"], d["contact"]) for d in all_rows(records, "deal")] == [
        (ids["Globex"], None), (ids["ACME"], anna)]
    assert read_report(tmp_path / "r.csv") == [
        (4, "contact", f"contact {anna} is not allowed here (account == $account)"),
        (5, "account", "must be a record id"),
        (6, "account", "account 99999 does not exist"),
    ]


def test_columns_match_labels_in_any_locale_choice_labels_and_scores_are_computed(crm, tmp_path):
    records, _ = crm
    path = write_csv(tmp_path / "accounts.csv", [
        ["CÉGNÉV", "industry", "Revenue", "tax id"],
        ["ACME", "Informatika", "10", "1"],
        ["Globex", "retail", "", "2"],
        ["Initech", "IT SERVICES", "", "3"],
        ["Bad", "farming", "", "4"],
    ])
    result = import_csv(records, SYSTEM, "account", path, report=tmp_path / "r.csv")
    assert result.imported == 3
    assert [(a["name"], a["industry"], a["score"]) for a in all_rows(records, "account")] == [
        ("ACME", "it", 15), ("Globex", "retail", 0), ("Initech", "it", 10)]
    assert read_report(tmp_path / "r.csv") == [(5, "industry", "'farming' is not one of: it, retail")]


def test_unique_values_are_checked_in_the_file_and_in_the_database(crm, tmp_path):
    records, _ = crm
    records.create(SYSTEM, "account", {"name": "Old", "tax_id": "111"})
    path = write_csv(tmp_path / "a.csv", [["name", "tax_id"], ["A", "111"], ["B", "222"], ["C", "222"]])
    result = import_csv(records, SYSTEM, "account", path, report=tmp_path / "r.csv")
    assert result.imported == 1
    assert [r[:2] for r in read_report(tmp_path / "r.csv")] == [(2, "tax_id"), (4, "tax_id")]


def test_a_dry_run_checks_every_row_and_writes_nothing(crm, tmp_path):
    records, _ = crm
    add_accounts(records, "ACME")
    path = write_csv(tmp_path / "deals.csv", [["name", "account"], ["One", "ACME"], ["Two", "Nobody"]])
    result = import_csv(records, SYSTEM, "deal", path, dry_run=True, report=tmp_path / "r.csv")
    assert (result.imported, result.refused, result.dry_run) == (1, 1, True)
    assert count(records, "deal") == 0
    with records.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records.tables.audit)
                            .where(records.tables.audit.c.entity == "deal")).scalar_one() == 0
    assert read_report(tmp_path / "r.csv") == [(3, "account", "there is no account 'Nobody'")]


def test_a_header_that_cannot_be_mapped_stops_the_import_before_any_row(crm, tmp_path):
    records, people = crm
    path = write_csv(tmp_path / "a.csv", [["name", "colour", "name"], ["A", "red", "B"]])
    with pytest.raises(ValidationFailed) as refused:
        import_csv(records, SYSTEM, "deal", path)
    problems = refused.value.fields["columns"]
    assert any("'colour' is not a field of deal" in p for p in problems)
    assert any("columns 'name' and 'name' both set name" in p for p in problems)
    hidden = write_csv(tmp_path / "h.csv", [["name", "revenue"], ["A", "1"]])
    with pytest.raises(ValidationFailed, match="you may not set revenue"):
        import_csv(records, people["alice"], "account", hidden)
    with pytest.raises(Forbidden):
        import_csv(records, people["vera"], "account", tmp_path / "a.csv")
    assert count(records, "account") == 0


def test_computed_and_system_columns_of_an_export_are_ignored(crm, tmp_path):
    records, _ = crm
    path = write_csv(tmp_path / "a.csv", [["name", "code", "updated_at"], ["A", "X-1", "2020-01-01"]])
    result = import_csv(records, SYSTEM, "account", path)
    assert (result.imported, result.ignored) == (1, ("code", "updated_at"))
    assert "ignored columns: code, updated_at" in result.summary()
    assert all_rows(records, "account")[0]["code"] == "A-001"


def test_a_batch_the_database_refuses_is_written_row_by_row(crm, tmp_path, monkeypatch):
    from engine.runtime.import_batch import ChunkPreparer
    records, _ = crm
    # As if another user took the tax number between the check and the write.
    monkeypatch.setattr(ChunkPreparer, "_check_unique", lambda self, conn, rows: None)
    path = write_csv(tmp_path / "a.csv", [["name", "tax_id"], ["A", "1"], ["B", "1"], ["C", "2"]])
    result = import_csv(records, SYSTEM, "account", path, report=tmp_path / "r.csv")
    assert (result.imported, result.refused) == (2, 1)
    assert [(a["name"], a["code"]) for a in all_rows(records, "account")] == [("A", "A-001"), ("C", "A-002")]
    ((row, field, reason),) = read_report(tmp_path / "r.csv")
    assert (row, field) == (3, "") and reason.startswith("the database refused the row")
    audit = records.tables.audit
    with records.engine.connect() as conn:
        trail = [json.loads(v) for v in conn.execute(select(audit.c.new_value).order_by(audit.c.id)).scalars()]
    assert [(t["name"], t["code"]) for t in trail] == [("A", "A-001"), ("C", "A-002")]


def test_links_only_resolve_to_records_the_importing_user_may_read(crm, tmp_path):
    records, people = crm
    add_accounts(records, "Mine", owner=people["alice"])
    add_accounts(records, "Theirs", owner=people["bob"])
    path = write_csv(tmp_path / "c.csv", [["name", "account"], ["A", "Mine"], ["B", "Theirs"]])
    result = import_csv(records, people["alice"], "contact", path, report=tmp_path / "r.csv")
    assert result.imported == 1
    assert read_report(tmp_path / "r.csv") == [(3, "account", "there is no account 'Theirs'")]


def test_kept_ids_move_the_id_sequence_past_them(crm, tmp_path):
    records, _ = crm
    path = write_csv(tmp_path / "a.csv", [["id", "name"], ["100", "A"], ["101", "B"], ["101", "Twice"]])
    result = import_csv(records, SYSTEM, "account", path, report=tmp_path / "r.csv")
    assert result.imported == 2
    assert read_report(tmp_path / "r.csv") == [(4, "id", "account 101 already exists")]
    assert records.create(SYSTEM, "account", {"name": "C"})["id"] > 101


def test_users_are_imported_with_teams_roles_and_their_ids(crm, tmp_path):
    records, _ = crm
    path = write_csv(tmp_path / "users.csv", [
        ["id", "username", "full_name", "email", "team", "roles"],
        ["50", "zoe", "Zoe Z", "zoe@example.com", "West", ""],
        ["51", "yan", "Yan Y", "not-an-email", "West", ""],
        ["52", "xia", "Xia X", "", "East", "admin; rep"],
        ["53", "alice", "Dup", "", "", ""],
    ])
    result = import_users(records, path, default_roles=["rep"], report=tmp_path / "r.csv")
    assert (result.imported, result.refused) == (2, 2)
    users = Users(records.config, records.engine, records.tables)
    zoe, xia = users.actor("zoe"), users.actor("xia")
    assert (zoe.id, zoe.team, zoe.roles) == (50, "West", frozenset({"rep"}))
    assert xia.roles == frozenset({"admin", "rep"})
    assert [r[:2] for r in read_report(tmp_path / "r.csv")] == [(3, "email"), (5, "username")]
    deals = write_csv(tmp_path / "d.csv", [["name", "owner_id", "account"], ["X", "50", "ACME"]])
    add_accounts(records, "ACME")
    assert import_csv(records, SYSTEM, "deal", deals).imported == 1
    assert all_rows(records, "deal")[0]["team"] == "West"


# -- export -----------------------------------------------------------------------------------------
def exported_csv(records: Records, actor, entity: str, **kwargs) -> list[dict[str, str]]:
    out = io.StringIO()
    export_records(records, actor, entity, out, fmt="csv", **kwargs)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_export_shows_only_what_the_user_may_read(crm):
    records, people = crm
    records.create(people["alice"], "account", {"name": "North one"})
    records.create(SYSTEM, "account", {"name": "South one", "revenue": 5, "owner": "bob"})
    as_alice = exported_csv(records, people["alice"], "account")
    assert [r["name"] for r in as_alice] == ["North one"]
    assert "revenue" not in as_alice[0]
    as_admin = exported_csv(records, SYSTEM, "account")
    assert [(r["name"], r["revenue"], r["owner"]) for r in as_admin] == [
        ("North one", "", "alice"), ("South one", "5.00", "bob")]


def test_export_filters_pages_by_id_and_writes_links_as_titles(crm):
    records, _ = crm
    acme = add_accounts(records, "ACME")["ACME"]
    for i in range(7):
        records.create(SYSTEM, "deal", {"name": f"D{i}", "account": acme, "amount": i * 100, "discount_pct": 10})
    rows = exported_csv(records, SYSTEM, "deal", filter_expr="amount >= 200", page_size=2)
    assert [r["name"] for r in rows] == ["D2", "D3", "D4", "D5", "D6"]
    assert {r["account"] for r in rows} == {"ACME"}
    assert rows[0]["net_amount"] == "180.00"
    with pytest.raises(ValidationFailed):
        exported_csv(records, SYSTEM, "deal", filter_expr="nonsense > 1")


def test_export_guards_against_formula_injection_in_csv_and_xlsx(crm, tmp_path):
    from openpyxl import load_workbook
    records, _ = crm
    for name in ("=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "Plain"):
        records.create(SYSTEM, "account", {"name": name, "revenue": 7})
    names = [r["name"] for r in exported_csv(records, SYSTEM, "account")]
    assert names == ["'=HYPERLINK(\"http://evil\")", "'+1", "'-2", "'@SUM(A1)", "Plain"]
    with open(tmp_path / "a.xlsx", "wb") as f:
        export_records(records, SYSTEM, "account", f, fmt="xlsx")
    sheet = load_workbook(tmp_path / "a.xlsx").active
    header = [c.value for c in sheet[1]]
    cells = [row[header.index("name")] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == names
    assert {c.data_type for c in cells} == {"s"}
    assert {row[header.index("revenue")].value for row in sheet.iter_rows(min_row=2)} == {7}


def test_an_export_imports_again(crm, tmp_path):
    records, _ = crm
    records.create(SYSTEM, "account", {"name": "ACME", "industry": "it", "revenue": "12.5"})
    with open(tmp_path / "a.csv", "w", newline="", encoding="utf-8") as f:
        export_records(records, SYSTEM, "account", f)
    with records.transaction() as conn:
        conn.execute(records.tables.entity("account").delete())
    assert import_csv(records, SYSTEM, "account", tmp_path / "a.csv").imported == 1
    (again,) = all_rows(records, "account")
    assert (again["name"], again["industry"], again["revenue"]) == ("ACME", "it", Decimal("12.50"))


# -- the command line and the audit encoder ------------------------------------------------------------
def test_the_command_line_imports_reports_and_exports(crm, tmp_path, capsys, db_url):
    records, people = crm
    config_dir = str(Path(records.config.root))
    add_accounts(records, "ACME", owner=people["alice"])
    path = write_csv(tmp_path / "d.csv", [["name", "account"], ["A", "ACME"], ["B", "Nope"]])
    code = crm_main(["import", "deal", str(path), "--config", config_dir, "--db", db_url,
                     "--report", str(tmp_path / "r.csv"), "--as", "alice"])
    captured = capsys.readouterr()
    assert code == 3
    assert "deal: imported 1 of 2 rows, 1 refused" in captured.out
    assert "rows/s" in captured.err
    assert read_report(tmp_path / "r.csv") == [(3, "account", "there is no account 'Nope'")]
    code = crm_main(["export", "deal", "--config", config_dir, "--db", db_url, "--as", "bob",
                     "--out", str(tmp_path / "bob.csv")])
    assert code == 0
    assert list(csv.DictReader(open(tmp_path / "bob.csv", encoding="utf-8"))) == []
    assert crm_main(["export", "deal", "--config", config_dir, "--db", db_url, "--as", "nobody"]) == 1


def test_the_audit_encoder_writes_what_the_audit_trail_writes():
    config = load_config(Path(__file__).parents[2] / "bench" / "config")
    deal = config.entities["deal"]
    record = {f.name: None for f in deal.fields.values()}
    record.update(name='Quote "A" – ü\n', amount=Decimal("12.50"), discount_pct=Decimal("0"), account=7,
                  close_date=dt.date(2025, 1, 2), code="D-1", owner=3, stage="won")
    expected = to_json({k: v for k, v in record.items() if v is not None and deal.fields[k].stored})
    assert json.loads(AuditJson(deal)(record)) == json.loads(expected)
    assert list(json.loads(AuditJson(deal)(record))) == list(json.loads(expected))     # keys sorted alike


_UTC = dt.timezone.utc
# One value per stored field type (and the edge cases of each), as the importer's converters produce them.
_AUDITED_VALUES = {
    "string": ["Árvíztűrő tükörfúrógép", 'idéző "jel" \\ és \x00\x1f\t\n\u2028 vezérlő', "", "🙂"],
    "text": ["sor 1\r\nsor 2 – ő ű"], "email": ["kovács.éva@példa.hu"], "phone": ["+36 1 234 5678"],
    "url": ["https://példa.hu/a?b=c&d=\"e\""], "choice": ["web"], "stage": ["won"], "autonumber": ["D-2025-0000001"],
    "int": [0, -5, 2**63 - 1, 2**70], "rating": [5], "link": [123456], "user": [3], "bool": [True, False],
    "decimal": [Decimal("12.50"), Decimal("-0.00"), Decimal("1E+3"), Decimal("0.000001"), Decimal("123456789012.3456")],
    "money": [Decimal("151327.78")], "percent": [Decimal("39")],
    "date": [dt.date(2024, 2, 29), dt.date(1, 1, 1)],
    "datetime": [dt.datetime(2025, 3, 30, 1, 30, tzinfo=_UTC), dt.datetime(2025, 3, 30, 1, 30, 0, 7, tzinfo=_UTC),
                 dt.datetime(2025, 3, 30, 3, 30, tzinfo=ZoneInfo("Europe/Budapest"))],
    "multichoice": [["a", "ő"], []],
}


def test_the_audit_encoder_decodes_to_the_audit_trails_values_for_every_field_type():
    for kind, samples in _AUDITED_VALUES.items():
        fields = {name: SimpleNamespace(name=name, stored=True, type=kind) for name in ("a_value", "b_missing")}
        encode = AuditJson(SimpleNamespace(fields=fields))  # type: ignore[arg-type]
        for value in samples:
            record = {"a_value": value, "b_missing": None}
            written = encode(record)
            assert json.loads(written) == json.loads(to_json({"a_value": value})), (kind, value, written)
            # What the history page, records history and exports read back (`audit._entry`).
            entry = _entry({"id": 1, "entity": "x", "record_id": 1, "action": "create", "field": None,
                            "old_value": None, "new_value": written, "user_id": None,
                            "at": dt.datetime(2025, 1, 1, tzinfo=_UTC), "revision": None})
            assert entry.new == json.loads(to_json({"a_value": value}))


def test_the_audit_encoder_takes_the_general_path_for_types_it_does_not_know():
    fields = {"tags": SimpleNamespace(name="tags", stored=True, type="multichoice")}
    encode = AuditJson(SimpleNamespace(fields=fields))  # type: ignore[arg-type]
    assert json.loads(encode({"tags": frozenset({"x"})})) == {"tags": ["x"]}
    assert json.loads(encode({"tags": 2**80})) == {"tags": 2**80}


def test_an_imported_record_is_stored_and_audited_as_the_same_record_saved(crm, tmp_path):
    """Raw columns and decoded audit values of an import equal those of `records.create`."""
    records, people = crm
    account = add_accounts(records, "Kovács és Társa Kft.", owner=people["alice"])["Kovács és Társa Kft."]
    values = {"name": "Árvíztűrő \"tükörfúrógép\" – ő", "account": account, "amount": Decimal("1234.50"),
              "discount_pct": Decimal("12.5"), "close_date": dt.date(2025, 5, 1), "tags": ["repeat", "big"]}
    saved = records.create(people["alice"], "deal", values)
    path = write_csv(tmp_path / "deals.csv", [["name", "account", "amount", "discount_pct", "close_date", "tags"],
                                              [values["name"], account, "1234.50", "12.5", "2025-05-01", "repeat, big"],
                                              [values["name"], account, "", "", "", ""]])
    assert import_csv(records, people["alice"], "deal", path).imported == 2
    table, audit = records.tables.entity("deal"), records.tables.audit
    with records.engine.connect() as conn:
        raw = [dict(r) for r in conn.execute(text(f"SELECT * FROM {table.name} ORDER BY id")).mappings()]
        trail = [json.loads(v) for v in conn.execute(select(audit.c.new_value).where(audit.c.entity == "deal")
                                                     .order_by(audit.c.id)).scalars()]
    differ = {"id", "code"}
    assert [{k: v for k, v in r.items() if k not in differ} for r in raw[:2]] == [
        {k: v for k, v in raw[0].items() if k not in differ}] * 2
    assert raw[0]["id"] == saved["id"]
    assert [{k: v for k, v in t.items() if k != "code"} for t in trail[:2]] == [
        {k: v for k, v in trail[0].items() if k != "code"}] * 2
    assert trail[1]["code"] == raw[1]["code"] and "amount" not in trail[2] and raw[2]["amount"] is None


def test_objects_set_aside_from_garbage_collection_during_an_import_return_afterwards(crm, tmp_path):
    import gc
    records, _ = crm
    add_accounts(records, "ACME")
    path = write_csv(tmp_path / "deals.csv", [["name", "account"], ["One", "ACME"]])
    seen = []

    class Watch(io.StringIO):
        def write(self, text):              # the progress line is written while the import runs
            seen.append(gc.get_freeze_count())
            return len(text)
    assert gc.get_freeze_count() == 0
    assert import_csv(records, SYSTEM, "deal", path, progress=Watch()).imported == 1
    assert seen[0] > 0                       # the first line, after the chunk (the last one follows the import)
    assert gc.get_freeze_count() == 0       # back to the collector
    gc.freeze()                              # a process that set objects aside itself (the web server) keeps them so
    try:
        import_csv(records, SYSTEM, "deal", write_csv(tmp_path / "more.csv", [["name", "account"], ["Two", "ACME"]]))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_an_import_by_the_system_user_stores_and_audits_as_its_save(crm, tmp_path):
    """The system user (no id): its NULL `created_by`, `updated_by` and audit `user_id`, and an audit
    row's NULL `field` and `old_value`, written in the statement, store what a save stores."""
    records, people = crm
    account = add_accounts(records, "ACME")["ACME"]
    values = {"name": "Deal", "account": account, "amount": Decimal("10.00"), "close_date": dt.date(2025, 5, 1)}
    saved = records.create(SYSTEM, "deal", values)
    path = write_csv(tmp_path / "deals.csv", [["name", "account", "amount", "close_date"],
                                              ["Deal", account, "10.00", "2025-05-01"]])
    assert import_csv(records, SYSTEM, "deal", path).imported == 1
    table, audit = records.tables.entity("deal"), records.tables.audit
    with records.engine.connect() as conn:
        raw = [dict(r) for r in conn.execute(text(f"SELECT * FROM {table.name} ORDER BY id")).mappings()]
        trail = [dict(r) for r in conn.execute(text(f"SELECT * FROM {audit.name} WHERE entity = 'deal' ORDER BY id"))
                 .mappings()]
    assert raw[0]["id"] == saved["id"] and raw[0]["created_by"] is None and raw[0]["updated_by"] is None
    assert [{k: v for k, v in r.items() if k not in ("id", "code")} for r in raw] == [
        {k: v for k, v in raw[0].items() if k not in ("id", "code")}] * 2
    assert [{k: v for k, v in t.items() if k not in ("id", "record_id", "new_value")} for t in trail] == [
        {k: v for k, v in trail[0].items() if k not in ("id", "record_id", "new_value")}] * 2
    assert trail[1]["user_id"] is None and trail[1]["old_value"] is None and trail[1]["record_id"] == raw[1]["id"]


def test_imported_times_dates_and_numbers_are_stored_as_sqlalchemy_stores_them(crm, tmp_path):
    """Each imported value, read back and inserted again through SQLAlchemy, is stored identically:
    the importer's own binding of times (DST, microseconds), dates and numbers is SQLAlchemy's."""
    records, people = crm
    account = add_accounts(records, "ACME", owner=people["alice"])["ACME"]
    times = ["2025-03-30 01:59:59", "2025-03-30T03:00:00", "2025-10-26T02:30:00", "2024-02-29T23:59:59.999999",
             "2025-01-01T00:00:00+05:30", "2025-06-01", ""]
    path = write_csv(tmp_path / "deals.csv", [["name", "account", "amount", "discount_pct", "close_date", "created_at"]]
                     + [[f"D{i}", account, f"{i}.5{i}", "12.5", f"2025-0{i + 1}-1{i}", when]
                        for i, when in enumerate(times)])
    assert import_csv(records, people["alice"], "deal", path).imported == len(times)
    table = records.tables.entity("deal")
    with records.engine.begin() as conn:
        typed = [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
        conn.execute(table.insert(), [{**r, "id": r["id"] + 1000, "code": r["code"] + "x"} for r in typed])
        raw = {r["id"]: dict(r) for r in conn.execute(text(f"SELECT * FROM {table.name}")).mappings()}
    assert typed[-1]["created_at"] == NOW                   # an empty cell: the import's moment
    for r in typed:
        imported, again = raw[r["id"]], raw[r["id"] + 1000]
        assert {k: v for k, v in imported.items() if k not in ("id", "code")} == {
            k: v for k, v in again.items() if k not in ("id", "code")}


def test_a_chunks_lookup_as_one_parameter_finds_what_an_in_list_finds(crm):
    from engine.runtime.import_support import among
    records, people = crm
    names = ["O'Brien & Co", 'Say "hi"', "Árvíztűrő", "123", "back\\slash"]
    ids = add_accounts(records, *names, owner=people["alice"])
    account = records.tables.entity("account")
    wanted = [[*names, "missing", "123 "], [*ids.values(), 99999], [], [Decimal("1.5")]]
    with records.engine.connect() as conn:
        for column, values in ((account.c.name, wanted[0]), (account.c.id, wanted[1]), (account.c.id, wanted[2]),
                               (account.c.revenue, wanted[3])):
            found = conn.execute(select(account.c.id).where(among(conn, column, values))).scalars().all()
            assert sorted(found) == sorted(conn.execute(select(account.c.id).where(column.in_(values))).scalars().all())
        assert sorted(conn.execute(select(account.c.name).where(among(conn, account.c.name, wanted[0]))).scalars()) == \
            sorted(names)


@pytest.mark.parametrize("column,cell", [("owner", "99999999999"), ("account", "²"), ("id", "²"), ("owner", "²"),
                                         ("account", "99999999999")])
def test_a_cell_that_only_looks_like_a_number_refuses_its_own_row(crm, tmp_path, column, cell):
    # '²'.isdigit() is true but int('²') fails; a number past 32 bits fails a whole PostgreSQL statement.
    records, _ = crm
    account = add_accounts(records, "ACME")["ACME"]
    rows = [["name", "account", "owner", "id"], ["ok", account, "", ""], ["bad", account, "", ""]]
    rows[2][rows[0].index(column)] = cell
    result = import_csv(records, SYSTEM, "deal", write_csv(tmp_path / "deals.csv", rows))
    assert (result.imported, result.refused) == (1, 1)
    assert [d["name"] for d in records.list(SYSTEM, "deal").rows] == ["ok"]


def test_a_title_longer_than_its_column_finds_nothing(crm, tmp_path):
    # A lookup array of the column's VARCHAR(n) would cut the text to n on PostgreSQL and match a
    # shorter stored title; texts are looked up as TEXT[].
    records, _ = crm
    from engine.runtime.import_support import among
    table = records.tables.entity("account")
    add_accounts(records, "ACME")
    longest = table.c.name.type.length or 200
    stored = "x" * longest
    add_accounts(records, stored)
    import sqlalchemy as sa
    with records.engine.connect() as conn:
        found = conn.execute(sa.select(table.c.name).where(among(conn, table.c.name, [stored + "y", "ACME"])))
        assert sorted(r[0] for r in found) == ["ACME"]
