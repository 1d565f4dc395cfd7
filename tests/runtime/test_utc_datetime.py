"""UtcDateTime (tables.py): aware datetimes in, the same moments back as UTC, on both databases;
its one-step result processor gives what `process_result_value` gives after the dialect's own."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine.runtime.db import make_engine
from engine.runtime.tables import UtcDateTime

MOMENTS = [
    dt.datetime(2025, 1, 15, 9, 30, tzinfo=dt.timezone.utc),                        # no microseconds
    dt.datetime(2025, 3, 30, 1, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Budapest")),
    dt.datetime(1999, 12, 31, 23, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
]


def test_moments_come_back_as_utc(db_url):
    engine = make_engine(db_url)
    table = sa.Table("moments", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("at", UtcDateTime()))
    table.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "at": at} for i, at in enumerate(MOMENTS)] + [{"id": 9, "at": None}])
        with engine.connect() as conn:
            found = conn.execute(sa.select(table.c.at).order_by(table.c.id)).scalars().all()
        assert found[:-1] == MOMENTS and found[-1] is None
        assert all(v.tzinfo is dt.timezone.utc for v in found[:-1])
    finally:
        engine.dispose()


def test_the_result_processor_is_process_result_value():
    from sqlalchemy.dialects import sqlite
    dialect = sqlite.dialect()
    kind = UtcDateTime().dialect_impl(dialect)
    processor = kind.result_processor(dialect, None)
    native = kind.impl_instance.result_processor(dialect, None)
    for stored in ["2025-01-15 09:30:00.000000", "2025-01-15 09:30:00.123456", "2025-01-15 09:30:00",
                   "2025-01-15T09:30:00.123456", "2025-01-15 09:30:00.123+01:00", "2025-01-15 10:30:00+01:00"]:
        want = kind.process_result_value(native(stored) if native else stored, dialect)
        got = processor(stored)
        assert got == want and got.tzinfo is want.tzinfo and str(got) == str(want), stored
    assert processor(None) is None
