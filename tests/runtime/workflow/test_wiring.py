"""The web application's services come with the workflow wired into their records service."""
from __future__ import annotations

import pytest

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.workflow import StageRefused
from ui.services import build_services

from .conftest import FILES


def test_build_services_wires_scoring_approvals_and_moves(write_config, db_url):
    config = load_config(write_config(FILES))
    engine = make_engine(db_url)
    try:
        services = build_services(config, engine)
        services.tables.metadata.create_all(engine)
        lead = services.records.create(SYSTEM, "lead", {"company": "C", "source": "referral"})
        assert lead["score"] == 30
        deal = services.records.create(SYSTEM, "deal", {"name": "D", "amount": 1, "discount_pct": 20})
        assert services.workflow is not None
        assert services.workflow.approvals.is_pending("big_discount", "deal", deal["id"])
        with pytest.raises(StageRefused, match="field lost_reason"):
            services.workflow.move(SYSTEM, "deal", deal["id"], "lost")
    finally:
        engine.dispose()
