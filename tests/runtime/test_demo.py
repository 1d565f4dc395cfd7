"""`crm demo`: demo data for the default company and for any configuration, valid and permission-scoped.

Runs on SQLite and PostgreSQL (`db_url`) at a small scale: every entity gets
rows, a sample of every entity reads back through `Records.get`, numbers follow
their formats with the counters advanced, each record has its 'create' audit
row, and a rep sees only their own or their team's records.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cli import main
from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.demo.cli import _reset
from engine.runtime.demo.company import make_domain
from engine.runtime.demo.people import DEMO_PASSWORD
from engine.runtime.demo.run import generate
from engine.runtime.migrate import migrate
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.05


@functools.lru_cache(maxsize=None)
def _config(folder: str):
    return load_config(str(ROOT / folder))


@pytest.fixture(autouse=True)
def _files_dir(tmp_path, monkeypatch):
    """The demo's documents (a sales material's file) go to the test's own folder."""
    monkeypatch.setenv("CRM_FILES_DIR", str(tmp_path / "files"))


def _filled(db_url: str, folder: str):
    config = _config(folder)
    engine = make_engine(db_url)
    migrate(engine, config)
    records = Records(config, engine, build_tables(config))
    result = generate(records, scale=SCALE, seed=7, domain=make_domain(config))
    return config, engine, records, result


def _check_every_entity(config, engine, records, result, sample: int = 4) -> None:
    for name, ent in config.entities.items():
        table = records.tables.entity(name)
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
            ids = conn.execute(select(table.c.id).order_by(table.c.id).limit(sample)).scalars().all()
        assert count >= 1, f"{name} has no demo rows"
        assert count == result.counts[name]
        for record_id in ids:
            record = records.get(SYSTEM, name, record_id)     # computed fields and lines too: no error
            assert record["id"] == record_id
            for f in ent.fields.values():
                if f.required and f.stored:
                    assert record[f.name] not in (None, ""), f"{name}.{f.name} is required but empty"


def test_default_company_demo(db_url):
    config, engine, records, result = _filled(db_url, "configs")
    try:
        assert not result.refused, result.refusal_lines()
        _check_every_entity(config, engine, records, result)
        tables = records.tables
        with engine.connect() as conn:
            # Every record has its 'create' audit row, dated at the record's creation.
            audits = conn.execute(select(func.count()).select_from(tables.audit)
                                  .where(tables.audit.c.action == "create")).scalar_one()
            assert audits == result.total
            deal = tables.entity("deal")
            codes = conn.execute(select(deal.c.code, deal.c.created_at, deal.c.stage)).all()
            sequences = dict(conn.execute(select(tables("crm_sequences").c.name, tables("crm_sequences").c.value)).all())
            account = tables.entity("account")
            accounts = conn.execute(select(account.c.name, account.c.tax_number, account.c.team)).all()
            invoice = tables.entity("invoice")
            stages = set(conn.execute(select(invoice.c.stage)).scalars())
        # Autonumbers: the format, one counter per year, advanced past the highest number.
        for code, created_at, _stage in codes:
            assert re.fullmatch(r"U-\d{4}-\d{5}", code)
            assert code[2:6] == str(created_at.year) or code[2:6] == str(created_at.year + 1)
        for year in {c[2:6] for c, _, _ in codes}:
            top = max(int(c[-5:]) for c, _, _ in codes if c[2:6] == year)
            assert sequences[f"deal.code/{year}"] >= top
        assert {s for _, _, s in codes} <= {s.key for s in config.pipelines["sales"].stages}
        assert all(re.fullmatch(r"\d{8}-[1-5]-\d{2}", tax) for _, tax, _ in accounts)
        assert all(name.endswith(("Kft.", "Zrt.", "Bt.", "Nyrt.")) for name, _, _ in accounts)
        assert all(team in ("key_accounts", "inside_sales") for _, _, team in accounts)
        assert "paid" in stages
        # A required file (the sales material's document) is there, as a PDF the files service opens.
        with engine.connect() as conn:
            attachments = conn.execute(select(tables("crm_attachments"))).mappings().all()
        assert len(attachments) == result.counts["sales_material"]
        assert all(a["entity"] == "sales_material" and a["filename"].endswith(".pdf") for a in attachments)
        # Permissions: a rep reads their team's accounts and only their own leads; a manager reads all.
        users = Users(config, engine, tables)
        rep = users.actor("rep1")
        assert rep is not None and rep.team == "key_accounts"
        assert users.authenticate("rep1", DEMO_PASSWORD) is not None
        seen = records.list(rep, "account", limit=1000).rows
        assert seen and all(row["team"] == rep.team for row in seen)
        assert len(seen) < len(accounts)
        leads = records.list(rep, "lead", limit=1000).rows
        assert all(row["owner"] == rep.id for row in leads)
        manager = users.actor("sales_manager2")
        assert len(records.list(manager, "account", limit=1000).rows) == len(accounts)
    finally:
        engine.dispose()


def test_generic_demo_for_another_configuration(db_url):
    config, engine, records, result = _filled(db_url, "examples/saas")
    try:
        assert make_domain(config) is None
        _check_every_entity(config, engine, records, result, sample=3)
        assert {u.username for u in result.users} >= {"admin"}
        assert len([u for u in result.users if u.team]) >= 6          # reps (and managers) in two teams
    finally:
        engine.dispose()


def test_cli_fills_refuses_keeps_and_resets(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    config = str(ROOT / "configs")
    assert main(["demo", "--config", config, "--db", url, "--scale", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "rep1" in out and DEMO_PASSWORD in out and "http://127.0.0.1:8000" in out
    assert main(["demo", "--config", config, "--db", url, "--scale", "0.02"]) == 1
    assert "already has records" in capsys.readouterr().err
    assert main(["demo", "--config", config, "--db", url, "--keep"]) == 0
    assert "already has demo data" in capsys.readouterr().out
    assert _reset(url) is None                       # what --reset does first: the file and its WAL are gone
    assert not list(tmp_path.glob("demo.sqlite3*"))


def test_reset_refuses_postgresql(capsys):
    assert main(["demo", "--db", "postgresql://postgres@127.0.0.1:5432/nowhere", "--reset"]) == 1
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "createdb" in err
