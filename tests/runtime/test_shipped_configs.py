"""Every configuration we ship migrates on both databases from empty, and again
after a consultant's edits (rename, retire, add, widen), with no data lost."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from engine.metadata.errors import ErrorSink
from engine.metadata.loader import read_folder, validate_folder
from engine.runtime.db import make_engine
from engine.runtime.migrate import migrate
from engine.runtime.plan import plan_migration

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["configs", "examples/saas"]
WHEN = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def files_of(folder: str) -> dict[str, str]:
    raw = read_folder(ROOT / folder, ErrorSink())
    return dict(raw.files)


def with_account_fields(files: dict[str, str], change) -> dict[str, str]:
    """The folder's files with entities/account.yaml's fields edited by `change`."""
    account = yaml.safe_load(files["entities/account.yaml"])
    change(account["fields"])
    return {**files, "entities/account.yaml": yaml.safe_dump(account, allow_unicode=True, sort_keys=False)}


def load(folder: str, files: dict[str, str]):
    config, errors = validate_folder(ROOT / folder, files)
    assert not errors, "\n".join(map(str, errors[:5]))
    return config


@pytest.mark.parametrize("folder", SHIPPED)
def test_shipped_configuration_migrates_and_survives_edits(folder, db_url):
    engine = make_engine(db_url)
    try:
        original = files_of(folder)

        def version_one(fields):
            fields["legacy_code"] = {"type": "string", "max_length": 20}
            fields["legacy_note"] = {"type": "string", "max_length": 50}
            fields["legacy_qty"] = {"type": "int"}
            fields["legacy_gone"] = {"type": "string"}

        def version_two(fields):
            fields["legacy_ref"] = {"type": "string", "max_length": 20, "renamed_from": "legacy_code"}
            fields["legacy_note"] = {"type": "text"}                 # widened
            fields["legacy_qty"] = {"type": "decimal", "scale": 2}   # widened
            fields["legacy_flag"] = {"type": "bool"}                 # added; legacy_gone retired

        v1 = load(folder, with_account_fields(original, version_one))
        migrate(engine, v1)
        assert plan_migration(engine, v1).empty

        account = sa.Table("account", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            conn.execute(account.insert().values(
                name="Duna Burkolat Zrt.", created_at=WHEN.replace(tzinfo=None), updated_at=WHEN.replace(tzinfo=None),
                version=1, legacy_code="L-42", legacy_note="kept", legacy_qty=7, legacy_gone="still here"))

        v2 = load(folder, with_account_fields(original, version_two))
        plan = plan_migration(engine, v2)
        assert not plan.refused and not plan.needs_confirmation, plan.report()
        migrate(engine, v2)
        assert plan_migration(engine, v2).empty

        account = sa.Table("account", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            row = conn.execute(sa.select(account)).mappings().one()
            retired = conn.execute(sa.text("SELECT entity, field FROM crm_retired")).all()
        assert row["name"] == "Duna Burkolat Zrt."
        assert row["legacy_ref"] == "L-42" and "legacy_code" not in row
        assert row["legacy_note"] == "kept"
        assert Decimal(str(row["legacy_qty"])) == Decimal("7")
        assert row["legacy_flag"] is None
        assert row["legacy_gone"] == "still here"          # retired, not dropped
        assert ("account", "legacy_gone") in retired
    finally:
        engine.dispose()
