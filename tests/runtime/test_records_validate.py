"""`Records.validate`: the save's own checks as a dry run, for inline form validation."""
from __future__ import annotations

import pytest

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.errors import Forbidden, NotFound, ValidationFailed
from engine.runtime.records import Records
from engine.runtime.tables import build_tables
from engine.runtime.users import Users

FILES = {
    "roles.yaml": "roles:\n  admin: {all: true}\n  reader:\n    entities:\n      account: {read: all}\n",
    "entities/account.yaml": """
entity: account
title: name
fields:
  name:   {type: string, required: true}
  code:   {type: autonumber, format: "A-{seq:03}"}
  amount: {type: money, min: 0}
validations:
  - rule: "amount == null or amount < 1000"
    message: {en: Too much, hu: Túl sok}
""",
}


@pytest.fixture
def records(db_url, write_config):
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    tables = build_tables(config)
    tables.metadata.create_all(engine)
    yield Records(config, engine, tables), Users(config, engine, tables)
    engine.dispose()


def test_validate_reports_what_the_save_would_and_writes_nothing(records):
    recs, users = records
    with pytest.raises(ValidationFailed) as dry:
        recs.validate(SYSTEM, "account", {"name": "", "amount": "-1"})
    with pytest.raises(ValidationFailed) as real:
        recs.create(SYSTEM, "account", {"name": "", "amount": "-1"})
    assert dry.value.fields == real.value.fields == {"name": ["is required"], "amount": ["must be at least 0"]}
    with pytest.raises(ValidationFailed) as rule:
        recs.validate(SYSTEM, "account", {"name": "X", "amount": "5000"})
    assert rule.value.messages == ["Too much"]
    recs.validate(SYSTEM, "account", {"name": "Fine", "amount": "5"})       # no problem: returns quietly
    assert recs.list(SYSTEM, "account").rows == []
    saved = recs.create(SYSTEM, "account", {"name": "First"})
    assert saved["code"] == "A-001"                                          # no number was used up
    with pytest.raises(ValidationFailed):
        recs.validate(SYSTEM, "account", {"amount": "abc"}, record_id=saved["id"])
    assert recs.get(SYSTEM, "account", saved["id"])["version"] == 1


def test_validate_checks_permissions_like_the_save(records):
    recs, users = records
    reader = users.add("rita", roles=["reader"])
    saved = recs.create(SYSTEM, "account", {"name": "First"})
    with pytest.raises(Forbidden):
        recs.validate(reader, "account", {"name": "Mine"})
    with pytest.raises(Forbidden):
        recs.validate(reader, "account", {"name": "Mine"}, record_id=saved["id"])
    with pytest.raises(NotFound):
        recs.validate(SYSTEM, "account", {"name": "Mine"}, record_id=999)
