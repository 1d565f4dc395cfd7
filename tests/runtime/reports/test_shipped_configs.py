"""Every report, KPI and quota of configs/ and examples/saas compiles and runs, empty and with rows.

The rows are written straight into the engine's tables (two per entity,
links pointing at the first row of their target, one user owning
everything), so every join, bucket and formula of the shipped reports
meets real values on both databases.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.db import make_engine
from engine.runtime.reports import Reports
from engine.runtime.reports.kpis import kpi_values
from engine.runtime.reports.quotas import quota_attainment
from engine.runtime.tables import build_tables
from engine.runtime.users import Users

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2025, 3, 12, 10, tzinfo=dt.timezone.utc)


def sample(config, field, user_id: int, n: int):
    t = field.type
    if t in ("string", "text", "email", "phone", "url", "autonumber"):
        return f"{'xy'[n]}{n}"[: field.max_length or 10]
    if t in ("int", "rating"):
        return n + 1
    if t in ("decimal", "money", "percent"):
        return Decimal(10 * (n + 1))
    if t == "bool":
        return n == 0
    if t == "date":
        return dt.date(2025, 3, 1 + n)
    if t == "datetime":
        return NOW - dt.timedelta(days=n)
    if t == "choice":
        return list(field.options)[n % len(field.options)] if field.options else None
    if t == "multichoice":
        return json.dumps(list(field.options)[:1])
    if t == "stage":
        pipeline = config.pipelines[field.pipeline]
        return pipeline.stages[-n - 1].key            # a closed stage, then an open one
    if t == "user":
        return user_id
    return None


def fill(config, engine, tables, user_id: int) -> None:
    with engine.begin() as conn:
        for ent in config.entities.values():
            table = tables.entity(ent.name)
            for n in range(2):
                row = {"created_at": NOW, "updated_at": NOW, "version": 1, "created_by": user_id}
                for f in ent.fields.values():
                    if f.stored and f.name in table.c and f.type != "link":
                        row[f.name] = sample(config, f, user_id, n)
                if "team" in table.c:
                    row["team"] = None
                conn.execute(table.insert().values(**row))
        for ent in config.entities.values():
            table = tables.entity(ent.name)
            links = {f.name: 1 for f in ent.fields.values() if f.type == "link" and f.name in table.c}
            if links:
                conn.execute(table.update().values(**links))


@pytest.mark.parametrize("folder", ["configs", "examples/saas"])
def test_every_report_kpi_and_quota_runs(folder, db_url):
    config = load_config(ROOT / folder)
    engine = make_engine(db_url)
    try:
        tables = build_tables(config)
        tables.metadata.create_all(engine)
        reports = Reports(config, engine, tables, clock=lambda: NOW)
        names = [*config.reports, *config.kpis, *config.quotas]
        assert len(config.reports) >= 10 and config.kpis and config.quotas

        def run_all() -> dict[str, object]:
            out: dict[str, object] = {}
            for name in config.reports:
                out[name] = reports.run_report(SYSTEM, name)
            for name in config.kpis:
                out[name] = kpi_values(reports, SYSTEM, name)
            for name in config.quotas:
                out[name] = quota_attainment(reports, SYSTEM, name)
            return out

        empty = run_all()
        assert set(empty) == set(names)
        user = Users(config, engine, tables).add("filler", roles=["admin"] if "admin" in config.roles else [])
        fill(config, engine, tables, user.id)
        full = run_all()
        with_rows = [n for n in config.reports if full[n].rows]       # type: ignore[attr-defined]
        assert len(with_rows) >= 3, with_rows          # others filter on statuses and periods
    finally:
        engine.dispose()
