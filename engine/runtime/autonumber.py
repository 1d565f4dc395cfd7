"""Autonumbers: `D-{YYYY}-{seq:05}` from a counter row in `crm_sequences`.

The counter is bumped by one upsert (`INSERT .. ON CONFLICT DO UPDATE SET
value = value + 1 RETURNING value`) inside the transaction that saves the
record, so two saves can never get the same number: PostgreSQL locks the
counter row until the first commits, SQLite's single writer serialises them.
A rolled-back save gives its number back. The counter restarts each period
the format names: each year with `{YYYY}`, each month with `{MM}`.
"""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

_PLACEHOLDER = re.compile(r"\{(YYYY|YY|MM|DD|seq(?::(\d+))?)\}")
DEFAULT_FORMAT = "{seq:05}"


def period_of(fmt: str, day: dt.date) -> str:
    """The counter's period key for a format on a day: '2025', '2025-03' or '' (never restarts)."""
    names = {m.group(1) for m in _PLACEHOLDER.finditer(fmt)}
    if "DD" in names:
        return day.isoformat()
    if "MM" in names:
        return f"{day.year:04d}-{day.month:02d}"
    if names & {"YYYY", "YY"}:
        return f"{day.year:04d}"
    return ""


def render(fmt: str, seq: int, day: dt.date) -> str:
    """`D-{YYYY}-{seq:05}` with seq 7 on 2025-03-01 -> 'D-2025-00007'."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "YYYY":
            return f"{day.year:04d}"
        if name == "YY":
            return f"{day.year % 100:02d}"
        if name == "MM":
            return f"{day.month:02d}"
        if name == "DD":
            return f"{day.day:02d}"
        width = int(match.group(2) or 0)
        return str(seq).zfill(width)
    text = _PLACEHOLDER.sub(one, fmt)
    return text if "{seq" in fmt else f"{text}{seq}"


def next_value(conn: Connection, sequences: Table, entity: str, field: str, fmt: str | None,
               day: dt.date) -> str:
    """The next number of `entity.field` for `day` (the company's local date), formatted."""
    fmt = fmt or DEFAULT_FORMAT
    name = f"{entity}.{field}/{period_of(fmt, day)}"
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(sequences).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(index_elements=[sequences.c.name],
                                      set_={"value": sequences.c.value + 1})
    seq = conn.execute(stmt.returning(sequences.c.value)).scalar_one()
    return render(fmt, int(seq), day)
