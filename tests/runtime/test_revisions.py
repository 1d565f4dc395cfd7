"""Configuration revisions: push, log, pull, rollback, conflicts, on SQLite and PostgreSQL.

Every push goes through the real pipeline: the loader validates the folder,
scenario tests run on their own SQLite files, the migration planner and
`apply_plan` change the real database, and the revision row is written in the
same transaction.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.cli import main
from engine.runtime import revisions as rv
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.records import Records
from engine.runtime.tables import build_tables


def account(max_length: int, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        entity: account
        fields:
          name:  {{type: string, max_length: {max_length}, required: true}}
          notes: {{type: text}}
        {extra}""")


PASSING = """\
test: an account is saved
when:
  - {entity: account, values: {name: ACME}}
expect:
  - {count: {entity: account, equals: 1}}
"""
FAILING = """\
test: this expectation is wrong
when:
  - {entity: account, values: {name: ACME}}
expect:
  - {count: {entity: account, equals: 2}}
"""


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def add_account(engine, name: str) -> int:
    config = rv.active_config(engine)
    records = Records(config, engine, build_tables(config))
    return records.create(SYSTEM, "account", {"name": name})["id"]


def name_length(engine) -> int | None:
    cols = {c["name"]: c for c in sa.inspect(engine).get_columns("account")}
    return getattr(cols["name"]["type"], "length", None)


def test_push_records_the_revision_and_a_same_content_push_is_a_no_op(engine, write_config):
    folder = write_config({"entities/account.yaml": account(50), "tests/ok.yaml": PASSING})
    assert rv.active(engine) is None and rv.log(engine) == []
    first = rv.push(engine, folder, author="anna", reason="first")
    assert first.active and first.parent is None and first.author == "anna"
    assert rv.active(engine).id == first.id
    assert rv.active_config(engine).revision == first.revision
    assert name_length(engine) == 50
    again = rv.push(engine, folder, author="bela", reason="same again")
    assert again.id == first.id
    assert [r.id for r in rv.log(engine)] == [first.id]


def test_widened_field_applies_logs_and_audit_carries_the_active_revision(engine, write_config):
    first = rv.push(engine, write_config({"entities/account.yaml": account(50)}), author="anna", reason="v1")
    old_id = add_account(engine, "Old")
    second = rv.push(engine, write_config({"entities/account.yaml": account(200)}), author="anna", reason="wider")
    assert name_length(engine) == 200
    assert second.parent == first.revision and second.revision != first.revision
    log = rv.log(engine)
    assert [(r.id, r.active, r.reason) for r in log] == [(second.id, True, "wider"), (first.id, False, "v1")]
    new_id = add_account(engine, "N" * 150)          # fits only the widened column
    config = rv.active_config(engine)
    records = Records(config, engine, build_tables(config))
    assert records.history(SYSTEM, "account", new_id)[0].revision == second.revision
    assert records.history(SYSTEM, "account", old_id)[0].revision == first.revision


def test_narrowing_needs_confirmation_and_is_refused_without_it(engine, write_config):
    rv.push(engine, write_config({"entities/account.yaml": account(200)}), author="a", reason="v1")
    add_account(engine, "short")
    narrow = write_config({"entities/account.yaml": account(20)})
    with pytest.raises(rv.RevisionRefused) as refused:
        rv.push(engine, narrow, author="a", reason="narrow")
    assert "confirmation" in str(refused.value) and "account" in str(refused.value)
    assert refused.value.plan is not None and refused.value.plan.needs_confirmation
    assert name_length(engine) == 200 and len(rv.log(engine)) == 1
    done = rv.push(engine, narrow, author="a", reason="narrow", confirm=True)
    assert rv.active(engine).id == done.id and name_length(engine) == 20


def test_failing_scenario_tests_refuse_the_revision(engine, write_config):
    rv.push(engine, write_config({"entities/account.yaml": account(50)}), author="a", reason="v1")
    bad = write_config({"entities/account.yaml": account(80), "tests/wrong.yaml": FAILING})
    with pytest.raises(rv.RevisionRefused) as refused:
        rv.push(engine, bad, author="a", reason="bad tests")
    text = str(refused.value)
    assert "scenario tests failed" in text and "this expectation is wrong" in text
    assert name_length(engine) == 50 and len(rv.log(engine)) == 1


def test_invalid_folder_is_refused_with_where_and_why(engine, write_config):
    bad = write_config({"entities/account.yaml": "entity: account\nfields:\n  name: {type: strin}\n"})
    with pytest.raises(rv.RevisionRefused) as refused:
        rv.push(engine, bad, author="a", reason="typo")
    assert "account.yaml" in str(refused.value) and rv.log(engine) == []


def test_pull_writes_the_same_bytes_and_guards_local_changes(engine, write_config, tmp_path):
    source = write_config({"entities/account.yaml": account(50) + "# ékezet ő\n", "tests/ok.yaml": PASSING})
    rv.push(engine, source, author="a", reason="v1")
    out = tmp_path / "pulled"
    rev = rv.pull(engine, out)
    originals = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    pulled = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert pulled == originals and set(rev.files) == {str(p) for p in originals}
    # A folder at an older revision has no local changes: pulling updates it, removing dropped files.
    rv.push(engine, write_config({"entities/account.yaml": account(60)}), author="a", reason="v2")
    (source / "tests" / "ok.yaml").unlink()
    rv.push(engine, source, author="a", reason="v3 without tests")
    rv.pull(engine, out)
    assert not (out / "tests" / "ok.yaml").exists()
    assert (out / "entities" / "account.yaml").read_bytes() == (source / "entities" / "account.yaml").read_bytes()
    # Edits nobody pushed are not overwritten without --force.
    (out / "entities" / "account.yaml").write_text(account(99), encoding="utf-8")
    with pytest.raises(rv.RevisionRefused) as refused:
        rv.pull(engine, out)
    assert "entities/account.yaml" in str(refused.value)
    assert "99" in (out / "entities" / "account.yaml").read_text(encoding="utf-8")
    rv.pull(engine, out, force=True)
    assert (out / "entities" / "account.yaml").read_bytes() == (source / "entities" / "account.yaml").read_bytes()
    assert not list(out.rglob(".*.pull-*"))


def test_rollback_to_an_earlier_revision_and_refused_when_it_would_narrow_data(engine, write_config):
    first = rv.push(engine, write_config({"entities/account.yaml": account(50)}), author="a", reason="v1")
    second = rv.push(engine, write_config({"entities/account.yaml": account(50, extra="label: Client\n")}),
                     author="a", reason="label")
    back = rv.rollback(engine, str(first.id), author="b", reason=None)
    assert back.revision == first.revision and back.parent == second.revision and back.id > second.id
    assert "rollback to" in (back.reason or "")
    assert rv.active_config(engine).entities["account"].label != "Client"
    wide = rv.push(engine, write_config({"entities/account.yaml": account(200)}), author="a", reason="wide")
    add_account(engine, "L" * 120)                   # would not fit the 50 of the first revision
    with pytest.raises(rv.RevisionRefused) as refused:
        rv.rollback(engine, first.revision[:8], author="b", reason="undo wide", confirm=True)
    assert "would lose or break data" in str(refused.value) and "account" in str(refused.value)
    assert rv.active(engine).id == wide.id and name_length(engine) == 200


def test_base_revision_conflict(engine, write_config):
    first = rv.push(engine, write_config({"entities/account.yaml": account(50)}), author="a", reason="v1")
    rv.push(engine, write_config({"entities/account.yaml": account(60)}), author="anna", reason="anna's")
    with pytest.raises(rv.RevisionConflict) as conflict:
        rv.push(engine, write_config({"entities/account.yaml": account(70)}), author="bela", reason="bela's",
                base=first.revision)
    assert first.revision in str(conflict.value) and conflict.value.status == 409
    assert name_length(engine) == 60
    current = rv.active(engine)
    done = rv.push(engine, write_config({"entities/account.yaml": account(70)}), author="bela", reason="rebased",
                   base=current.revision)
    assert done.parent == current.revision


def test_conflict_detected_inside_the_transaction(engine, write_config, monkeypatch):
    """Another push lands between planning and applying: the later one is refused, nothing changed."""
    rv.push(engine, write_config({"entities/account.yaml": account(50)}), author="a", reason="v1")
    other = rv.load_source(write_config({"entities/account.yaml": account(60)}))
    real_plan = rv.plan_migration

    def plan_then_someone_pushes(eng, config, previous=None, **kw):
        plan = real_plan(eng, config, previous, **kw)
        monkeypatch.setattr(rv, "plan_migration", real_plan)
        with eng.begin() as conn:       # the other admin's revision row becomes active
            rv._insert(conn, other, rv.active(eng), "other", "meanwhile")
        return plan

    monkeypatch.setattr(rv, "plan_migration", plan_then_someone_pushes)
    with pytest.raises(rv.RevisionConflict):
        rv.push(engine, write_config({"entities/account.yaml": account(70)}), author="a", reason="late")
    assert rv.active(engine).reason == "meanwhile" and name_length(engine) == 50


def test_cli_round_trip(db_url, write_config, tmp_path, capsys):
    v1 = write_config({"entities/account.yaml": account(50)})
    assert main(["config", "push", str(v1), "--db", db_url, "--author", "anna", "--reason", "first"]) == 0
    assert "Pushed revision #" in capsys.readouterr().out
    assert main(["config", "push", str(v1), "--db", db_url]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    v2 = write_config({"entities/account.yaml": account(20)})
    engine = make_engine(db_url)
    try:
        add_account(engine, "x" * 30)
    finally:
        engine.dispose()
    assert main(["config", "push", str(v2), "--db", db_url, "--reason", "narrow"]) == 1
    assert "would lose or break data" in capsys.readouterr().err
    v3 = write_config({"entities/account.yaml": account(80)})
    assert main(["config", "push", str(v3), "--db", db_url, "--reason", "wider"]) == 0
    capsys.readouterr()
    assert main(["config", "log", "--db", db_url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("* #2") and "wider" in lines[0] and "anna" in lines[1]
    out = tmp_path / "pulled"
    assert main(["config", "pull", str(out), "--db", db_url]) == 0
    assert (out / "entities" / "account.yaml").read_text(encoding="utf-8") == account(80)
    assert main(["config", "rollback", "1", "--db", db_url, "--reason", "back"]) == 1
    assert "need confirmation" in capsys.readouterr().err          # 80 -> 50 characters narrows the column
    assert main(["config", "rollback", "1", "--db", db_url, "--reason", "back", "--confirm"]) == 0
    assert "Rolled back: revision #3" in capsys.readouterr().out
    assert main(["config", "rollback", "nope", "--db", db_url]) == 1
    assert "no revision 'nope'" in capsys.readouterr().err
