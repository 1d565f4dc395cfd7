"""Plan, then migrate: configuration changes on a database that already holds data.

Every test runs on SQLite and PostgreSQL (`db_url`). Data is written with
SQLAlchemy Core straight into the tables, so these tests depend on nothing but
the migration modules.
"""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.cli import main
from engine.metadata.errors import ErrorSink
from engine.metadata.loader import build_config, read_folder, validate_folder
from engine.metadata.model import Config
from engine.runtime import key_steps as ks
from engine.runtime import steps as st
from engine.runtime.db import make_engine
from engine.runtime.migrate import MigrationRefused, StalePlan, apply_plan, migrate
from engine.runtime.plan import Plan, plan_migration

from .killed_cli import crm_killed_at

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "crm.yaml": "company: Test Kft.\nlocales: [en, hu]\ncurrency: HUF\ntimezone: Europe/Budapest\n",
    "roles.yaml": "roles:\n  admin: {all: true}\n",
}
ACCOUNT = """
entity: account
fields:
  name:    {type: string, max_length: 100}
  notes:   {type: text}
  size:    {type: int}
  revenue: {type: decimal, scale: 2}
  segment: {type: choice, options: [a, b, c]}
  parent:  {type: link, entity: account, on_delete: set_null}
"""
NOTE = """
entity: note
fields:
  body:    {type: string}
  account: {type: link, entity: account, on_delete: cascade}
"""
WHEN = dt.datetime(2025, 1, 1, 12, 0)


def config(files: dict[str, str]) -> Config:
    """A Config built from YAML texts (shape and meaning checks are other modules' business)."""
    sink = ErrorSink()
    built = build_config(read_folder("cfg", sink, {**BASE, **files}), sink)
    assert built is not None and not sink, sink.sorted()
    return built


def account(**changes: str) -> str:
    """ACCOUNT with some field lines replaced (`name="{type: text}"`) or removed (`notes=""`)."""
    lines = []
    for line in ACCOUNT.splitlines():
        key = line.strip().split(":")[0]
        if line.startswith("  ") and key in changes:
            if changes[key]:
                lines.append(f"  {key}: {changes.pop(key)}")
            else:
                changes.pop(key)
            continue
        lines.append(line)
    lines += [f"  {k}: {v}" for k, v in changes.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def engine(db_url: str):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def insert(engine: sa.Engine, table: str, **values: Any) -> int:
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    row = {"created_at": WHEN, "updated_at": WHEN, **values}
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(t).values(**row).returning(t.c.id)).scalar_one())


def rows(engine: sa.Engine, table: str, *columns: str) -> list[tuple]:
    t = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*[t.c[c] for c in columns]).order_by(t.c.id))]


def retired(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(e, f) for e, f in conn.execute(sa.text("SELECT entity, field FROM crm_retired"))}


def kinds(plan: Plan) -> list[str]:
    return [type(s).__name__ for s in plan.steps]


def migrated(engine: sa.Engine, cfg: Config, **kw: Any) -> Plan:
    """Plans and applies `cfg`; asserts the database then matches it exactly."""
    plan = plan_migration(engine, cfg, purge=kw.pop("purge", False))
    apply_plan(engine, plan, **kw)
    again = plan_migration(engine, cfg)
    assert again.empty, again.report()
    return plan


# -- from empty, additions -----------------------------------------------------------------

def test_from_empty_every_table_is_created_and_nothing_is_left_to_do(engine):
    cfg = config({"entities/account.yaml": ACCOUNT, "entities/note.yaml": NOTE})
    plan = plan_migration(engine, cfg)
    assert plan.safe == plan.steps and not plan.refused
    created = {s.table for s in plan.steps if isinstance(s, st.CreateTable)}
    assert {"account", "note", "crm_users", "crm_retired", "crm_audit"} <= created
    assert all(s.sql for s in plan.steps), "every step shows the SQL it runs"
    assert any("CREATE TABLE" in sql and "account" in sql for s in plan.steps for sql in s.sql)
    migrated(engine, cfg)
    assert {"account", "note", "crm_retired"} <= set(sa.inspect(engine).get_table_names())


def test_adding_an_entity_a_field_an_option_and_an_index_is_safe_and_keeps_rows(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    acme = insert(engine, "account", name="ACME", segment="b")
    v2 = config({
        "entities/account.yaml": account(segment="{type: choice, options: [a, b, c, d]}",
                                         city="{type: string, max_length: 40, index: true}",
                                         owner_link="{type: link, entity: note, on_delete: set_null}"),
        "entities/note.yaml": NOTE})
    plan = plan_migration(engine, v2, previous=v1)
    assert not plan.refused and not plan.needs_confirmation
    assert {"CreateTable", "AddColumn", "AddIndex", "OptionsChanged"} <= set(kinds(plan))
    option = next(s for s in plan.steps if isinstance(s, st.OptionsChanged))
    assert option.added == ("d",) and option.sql == ()          # no DDL for a new option
    apply_plan(engine, plan)
    assert plan_migration(engine, v2).empty
    assert rows(engine, "account", "id", "name", "segment", "city") == [(acme, "ACME", "b", None)]
    assert "ix_account_city" in {ix["name"] for ix in sa.inspect(engine).get_indexes("account")}
    # the new link keeps its ON DELETE (on SQLite it survives the table copy)
    note = insert(engine, "note", body="hi")
    insert(engine, "account", name="B", owner_link=note)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM note WHERE id = :id"), {"id": note})
    assert rows(engine, "account", "name", "owner_link")[-1] == ("B", None)


def test_entities_linking_each_other_are_created_in_an_order_that_works(engine):
    cfg = config({"entities/account.yaml": account(main_note="{type: link, entity: note, on_delete: set_null}"),
                  "entities/note.yaml": NOTE})
    migrated(engine, cfg)
    acme = insert(engine, "account", name="ACME")
    note = insert(engine, "note", body="hello", account=acme)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE account SET main_note = :n WHERE id = :a"), {"n": note, "a": acme})
        conn.execute(sa.text("DELETE FROM note WHERE id = :n"), {"n": note})
    assert rows(engine, "account", "name", "main_note") == [("ACME", None)]


def test_multichoice_values_are_checked_against_removed_options(engine):
    v1 = config({"entities/account.yaml": account(tags="{type: multichoice, options: [vip, new, old]}")})
    migrated(engine, v1)
    tagged = insert(engine, "account", name="x", tags='["vip", "old"]')
    insert(engine, "account", name="y", tags='["new"]')
    v2 = config({"entities/account.yaml": account(tags="{type: multichoice, options: [vip, new]}")})
    [step] = plan_migration(engine, v2, previous=v1).refused
    assert step.offenders.sample == ((tagged, '["vip", "old"]'),)
    assert plan_migration(engine, v2).empty         # without history only the shape can be checked


# -- renames -------------------------------------------------------------------------------

def test_renaming_a_field_and_an_entity_moves_their_data(engine):
    customer = ACCOUNT.replace("account", "customer")
    v1 = config({"entities/customer.yaml": customer, "entities/note.yaml": NOTE.replace("account,", "customer,")})
    migrated(engine, v1)
    parent = insert(engine, "customer", name="Parent Kft.", size=3, segment="a")
    child = insert(engine, "customer", name="Child Bt.", parent=parent, revenue=Decimal("12.50"))
    insert(engine, "note", body="call back", account=child)

    renamed = ACCOUNT.replace("entity: account\n", "entity: account\nrenamed_from: customer\n").replace(
        "  name:    {type: string, max_length: 100}",
        "  company_name: {type: string, max_length: 100, renamed_from: name}")
    v2 = config({"entities/account.yaml": renamed, "entities/note.yaml": NOTE})
    plan = plan_migration(engine, v2)
    assert not plan.refused and plan.needs_confirmation == ()
    assert {"RenameTable", "RenameColumn"} <= set(kinds(plan))
    assert not {"CreateTable", "RetireTable", "RetireColumn", "AddColumn"} & set(kinds(plan)), plan.report()
    rename = next(s for s in plan.steps if isinstance(s, st.RenameTable))
    assert (rename.old, rename.table, rename.rows) == ("customer", "account", 2)
    apply_plan(engine, plan)
    assert plan_migration(engine, v2).empty
    assert "customer" not in sa.inspect(engine).get_table_names()
    assert rows(engine, "account", "id", "company_name", "parent", "revenue") == [
        (parent, "Parent Kft.", None, None), (child, "Child Bt.", parent, Decimal("12.50"))]
    assert rows(engine, "note", "body", "account") == [("call back", child)]
    assert {ix["name"] for ix in sa.inspect(engine).get_indexes("account")} == {"ix_account_parent"}


def test_a_renamed_entity_can_change_in_the_same_plan(engine):
    v1 = config({"entities/customer.yaml": ACCOUNT.replace("account", "customer")})
    migrated(engine, v1)
    insert(engine, "customer", name="ACME", size=5)
    v2 = config({"entities/account.yaml": ACCOUNT.replace("entity: account\n", "entity: account\nrenamed_from: customer\n")
                 .replace("  size:    {type: int}", "  headcount: {type: decimal, renamed_from: size}")
                 .replace("  notes:   {type: text}\n", "") + "  city: {type: string, index: true}\n"})
    plan = migrated(engine, v2)
    assert kinds(plan) == ["RenameTable", "RenameColumn", "AddColumn", "RetireColumn", "WidenColumn",
                           "RenameIndex", "AddIndex"], plan.report()
    assert rows(engine, "account", "name", "headcount", "city") == [("ACME", Decimal("5"), None)]
    assert retired(engine) == {("account", "notes")}


def test_a_retired_entity_brought_back_under_a_new_name_keeps_its_data(engine):
    v1 = config({"entities/customer.yaml": ACCOUNT.replace("account", "customer")})
    migrated(engine, v1)
    insert(engine, "customer", name="ACME", notes="kept")
    migrated(engine, config({"entities/customer.yaml": ACCOUNT.replace("account", "customer")
                             .replace("  notes:   {type: text}\n", "")}))
    migrated(engine, config({}))
    assert retired(engine) == {("customer", ""), ("customer", "notes")}
    back = config({"entities/account.yaml": ACCOUNT.replace("entity: account\n",
                                                             "entity: account\nrenamed_from: customer\n")})
    plan = migrated(engine, back)
    assert kinds(plan)[:1] == ["RenameTable"] and kinds(plan).count("Unretire") == 2
    assert retired(engine) == set()
    assert rows(engine, "account", "name", "notes") == [("ACME", "kept")]


def test_a_rename_whose_old_and_new_names_both_exist_is_refused(engine):
    v1 = config({"entities/account.yaml": account(title="{type: string}")})
    migrated(engine, v1)
    v2 = config({"entities/account.yaml": account(title="{type: string, renamed_from: name}")})
    plan = plan_migration(engine, v2)
    assert [type(s).__name__ for s in plan.refused] == ["Refusal"]
    assert "both columns exist" in plan.refused[0].describe()


# -- retirement and purge ------------------------------------------------------------------

def test_removed_fields_and_entities_are_retired_with_their_data(engine):
    v1 = config({"entities/account.yaml": ACCOUNT, "entities/note.yaml": NOTE})
    migrated(engine, v1)
    acme = insert(engine, "account", name="ACME", notes="long story")
    insert(engine, "note", body="remember", account=acme)

    v2 = config({"entities/account.yaml": account(notes="")})
    plan = migrated(engine, v2)
    assert {"RetireColumn", "RetireTable"} <= set(kinds(plan)) and plan.safe == plan.steps
    assert not any(isinstance(s, st.Purge) for s in plan.steps)
    assert retired(engine) == {("account", "notes"), ("note", "")}
    assert rows(engine, "account", "name", "notes") == [("ACME", "long story")]
    assert rows(engine, "note", "body", "account") == [("remember", acme)]
    # a retired table's references are dropped, so it never blocks deleting what it pointed at
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM account WHERE id = :id"), {"id": acme})
    assert rows(engine, "note", "body", "account") == [("remember", acme)]


def test_purge_drops_retired_data_only_when_asked_and_confirmed(engine):
    v1 = config({"entities/account.yaml": ACCOUNT, "entities/note.yaml": NOTE})
    migrated(engine, v1)
    insert(engine, "account", name="ACME", notes="long story")
    v2 = config({"entities/account.yaml": account(notes="")})
    migrated(engine, v2)

    plan = plan_migration(engine, v2, purge=True)
    assert {type(s).__name__ for s in plan.needs_confirmation} == {"Purge"}
    purge_notes = next(s for s in plan.steps if isinstance(s, st.Purge) and s.column == "notes")
    assert purge_notes.rows == 1                       # the values it would drop
    with pytest.raises(MigrationRefused, match="need confirmation"):
        apply_plan(engine, plan)
    assert rows(engine, "account", "notes") == [("long story",)]

    apply_plan(engine, plan, confirm=True)
    assert "notes" not in {c["name"] for c in sa.inspect(engine).get_columns("account")}
    assert "note" not in sa.inspect(engine).get_table_names()
    assert retired(engine) == set()
    assert rows(engine, "account", "name") == [("ACME",)]
    assert plan_migration(engine, v2).empty


def test_a_retired_field_that_comes_back_is_unretired_with_its_values(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    insert(engine, "account", name="ACME", notes="kept")
    migrated(engine, config({"entities/account.yaml": account(notes="")}))
    plan = migrated(engine, v1)
    assert kinds(plan) == ["Unretire"]
    assert retired(engine) == set()
    assert rows(engine, "account", "notes") == [("kept",)]


# -- type changes --------------------------------------------------------------------------

def test_widening_string_to_text_and_int_to_decimal_keeps_values(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    acme = insert(engine, "account", name="ACME Kereskedelmi Kft.", size=42)
    v2 = config({"entities/account.yaml": account(name="{type: text}", size="{type: decimal, scale: 2}")})
    plan = migrated(engine, v2)
    changes = [s for s in plan.steps if isinstance(s, st.ChangeType)]
    assert {(s.column, s.change, s.classification) for s in changes} == {
        ("name", "widen", "safe"), ("size", "widen", "safe")}
    assert all(s.rows == 1 for s in changes)
    assert rows(engine, "account", "id", "name", "size") == [(acme, "ACME Kereskedelmi Kft.", Decimal("42"))]


def test_narrowing_is_refused_with_the_rows_that_would_not_fit(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    ok = insert(engine, "account", name="short", revenue=Decimal("10.00"))
    long_ = insert(engine, "account", name="a name far longer than ten", revenue=Decimal("10.25"))
    v2 = config({"entities/account.yaml": account(name="{type: string, max_length: 10}",
                                                  revenue="{type: int}")})
    plan = plan_migration(engine, v2)
    refused = {s.column: s for s in plan.refused if isinstance(s, st.ChangeType)}
    assert set(refused) == {"name", "revenue"}
    assert refused["name"].offenders.count == 1
    assert refused["name"].offenders.sample == ((long_, "a name far longer than ten"),)
    assert refused["revenue"].offenders.sample[0][0] == long_
    assert f"id {long_}: 'a name far longer than ten'" in plan.report()
    with pytest.raises(MigrationRefused) as refusal:
        apply_plan(engine, plan, confirm=True)
    assert "longer than 10 characters" in str(refusal.value)
    assert rows(engine, "account", "id", "name") == [(ok, "short"), (long_, "a name far longer than ten")]

    # once the data fits, the same change needs only a confirmation
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE account SET name = 'fits', revenue = 10 WHERE id = :id"), {"id": long_})
    plan = plan_migration(engine, v2)
    assert not plan.refused and {s.column for s in plan.needs_confirmation} == {"name", "revenue"}
    migrated(engine, v2, confirm=True)
    assert rows(engine, "account", "name", "revenue") == [("short", 10), ("fits", 10)]


def test_a_choice_losing_an_option_that_rows_use_is_refused(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    used = insert(engine, "account", name="x", segment="c")
    v2 = config({"entities/account.yaml": account(segment="{type: choice, options: [a, b]}")})
    for previous in (v1, None):          # without the previous config every value is checked
        plan = plan_migration(engine, v2, previous=previous)
        [step] = plan.refused
        assert isinstance(step, st.OptionsChanged) and step.offenders.sample == ((used, "c"),)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE account SET segment = 'a'"))
    plan = plan_migration(engine, v2, previous=v1)
    assert [(type(s).__name__, s.classification) for s in plan.steps] == [("OptionsChanged", "safe")]


def test_a_link_changing_target_is_refused_while_rows_link(engine):
    v1 = config({"entities/account.yaml": ACCOUNT, "entities/note.yaml": NOTE})
    migrated(engine, v1)
    acme = insert(engine, "account", name="ACME")
    child = insert(engine, "account", name="child", parent=acme)
    v2 = config({"entities/account.yaml": account(parent="{type: link, entity: note, on_delete: set_null}"),
                 "entities/note.yaml": NOTE})
    plan = plan_migration(engine, v2)
    [step] = plan.refused
    assert isinstance(step, ks.ReplaceForeignKey) and step.offenders.sample == ((child, acme),)


def test_on_delete_change_is_safe_and_a_new_unique_refuses_duplicates(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    a = insert(engine, "account", name="same")
    b = insert(engine, "account", name="same")
    v2 = config({"entities/account.yaml": account(parent="{type: link, entity: account, on_delete: cascade}",
                                                  name="{type: string, max_length: 100, unique: true}")})
    plan = plan_migration(engine, v2)
    assert [type(s).__name__ for s in plan.safe] == ["ReplaceForeignKey"]
    [unique] = plan.refused
    assert isinstance(unique, ks.AddUnique) and unique.offenders.sample == ((a, "same"), (b, "same"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE account SET name = 'other' WHERE id = :id"), {"id": b})
    migrated(engine, v2)
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text(f"UPDATE account SET name = 'same' WHERE id = {b}"))


# -- stale plans and interruptions ---------------------------------------------------------

def test_a_plan_made_before_the_schema_changed_is_refused(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    plan = plan_migration(engine, config({"entities/account.yaml": account(city="{type: string}")}))
    migrated(engine, config({"entities/account.yaml": account(country="{type: string}")}))
    with pytest.raises(StalePlan):
        apply_plan(engine, plan)


def test_a_migration_failing_midway_changes_nothing_and_the_next_one_completes(engine):
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    insert(engine, "account", name="ACME", size=7)
    v2 = config({"entities/account.yaml": account(size="{type: decimal}", city="{type: string}",
                                                  notes=""), "entities/note.yaml": NOTE})
    plan = plan_migration(engine, v2)
    assert len(plan.steps) >= 4

    def crash(i: int, step: st.Step) -> None:
        if i == len(plan.steps) - 1:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        apply_plan(engine, plan, before_step=crash)
    assert plan_migration(engine, v2).fingerprint == plan.fingerprint      # nothing changed
    assert "note" not in sa.inspect(engine).get_table_names()
    migrate(engine, v2)
    assert plan_migration(engine, v2).empty
    assert rows(engine, "account", "name", "size", "notes") == [("ACME", Decimal("7"), None)]


def test_a_killed_migrate_process_leaves_a_database_the_next_migrate_completes(db_url, write_config, engine):
    v1 = write_config({"entities/account.yaml": ACCOUNT})
    assert main(["migrate", "--config", str(v1), "--db", db_url]) == 0
    insert(engine, "account", name="ACME", size=7)
    v2 = write_config({"entities/account.yaml": account(size="{type: decimal}", name="{type: text}",
                                                        city="{type: string}"),
                       "entities/note.yaml": NOTE})
    crm_killed_at(["migrate", "--config", str(v2), "--db", db_url], "ran:",
                  pause_env="CRM_MIGRATE_STEP_PAUSE", settle=0.2)      # killed after its first step
    assert "note" not in sa.inspect(engine).get_table_names()      # the transaction never committed
    assert main(["migrate", "--config", str(v2), "--db", db_url]) == 0
    assert rows(engine, "account", "name", "size") == [("ACME", Decimal("7"))]
    assert main(["plan", "--config", str(v2), "--db", db_url]) == 0


@pytest.mark.parametrize("original_survived", [True, False])
def test_a_table_copy_left_by_an_interrupted_batch_migration_is_repaired(engine, original_survived):
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite migrates by copying tables")
    v1 = config({"entities/account.yaml": ACCOUNT})
    migrated(engine, v1)
    insert(engine, "account", name="ACME")
    # What a copy-and-move leaves when stopped between its statements outside a transaction:
    # the complete copy (made before the original is dropped), with or without the original.
    with engine.begin() as conn:
        ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'account'")).scalar_one()
        conn.execute(sa.text(ddl.replace("account", "_alembic_tmp_account", 1)))
        conn.execute(sa.text("INSERT INTO _alembic_tmp_account SELECT * FROM account"))
        if not original_survived:
            conn.execute(sa.text("DROP TABLE account"))
    plan = plan_migration(engine, v1)
    assert kinds(plan) == ["RepairLeftover"] and not plan.complete
    migrate(engine, v1)        # repairs, then plans again (indexes the copy did not have yet)
    assert "_alembic_tmp_account" not in sa.inspect(engine).get_table_names()
    assert rows(engine, "account", "name") == [("ACME",)]
    assert plan_migration(engine, v1).empty


# -- the command line ----------------------------------------------------------------------

def test_crm_plan_prints_each_step_with_its_sql_and_crm_migrate_applies_it(db_url, write_config, engine, capsys):
    folder = write_config({"entities/account.yaml": ACCOUNT})
    assert main(["plan", "--config", str(folder), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "safe (" in out and "create table account" in out and "CREATE TABLE account" in out
    assert main(["migrate", "--config", str(folder), "--db", db_url]) == 0
    assert "Migrated to revision" in capsys.readouterr().out
    assert main(["plan", "--config", str(folder), "--db", db_url]) == 0
    assert "Nothing to do" in capsys.readouterr().out

    insert(engine, "account", name="a rather long company name")
    narrower = write_config({"entities/account.yaml": account(name="{type: string, max_length: 5}")})
    assert main(["plan", "--config", str(narrower), "--db", db_url]) == 2
    out = capsys.readouterr().out
    assert "refused (1):" in out and "'a rather long company name'" in out and "ALTER" in out.upper()
    assert main(["migrate", "--config", str(narrower), "--db", db_url, "--confirm"]) == 1
    assert "refused" in capsys.readouterr().out


# -- the default company -------------------------------------------------------------------

def test_the_default_configuration_migrates_from_empty(engine):
    if not (ROOT / "configs" / "crm.yaml").exists():
        pytest.skip("configs/ is not written yet")
    cfg, errors = validate_folder(ROOT / "configs")
    if errors or cfg is None:
        pytest.skip(f"configs/ does not validate yet ({len(errors)} errors)")
    started = time.perf_counter()
    plan = plan_migration(engine, cfg)
    assert plan.safe == plan.steps
    apply_plan(engine, plan)
    seconds = time.perf_counter() - started
    assert plan_migration(engine, cfg).empty
    assert set(cfg.entities) <= set(sa.inspect(engine).get_table_names())
    print(f"default configuration from empty on {engine.dialect.name}: {len(plan.steps)} steps, {seconds:.2f} s")
