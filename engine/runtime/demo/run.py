"""Filling a database with demo data: users, then every entity in link order, then history.

    result = generate(records, scale=1, seed=1)
    result.counts["deal"], result.refused, result.users

A `Domain` knows one company (the default configuration's Hungarian
wholesaler, `company.py`): how many rows each entity gets and how a row looks.
Anything it leaves alone the generic generator fills, so a configuration the
domain does not know (examples/saas) gets plausible rows all the same.
"""
from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass, field as dc_field
from typing import Any, Protocol

from sqlalchemy import func, insert, select

from ..records import Records
from .generic import DemoState, DemoUser, entity_order, fill, generic_seeds
from . import pools
from .load import Loader
from .people import DEFAULT_TEAMS, make_users

RETRIES = 3


class Domain(Protocol):
    teams: tuple[str, str]

    def seeds(self, state: DemoState, entity: str) -> list[dict[str, Any]] | None:
        """The rows to make (partial dicts), or None for the generic plan."""

    def shape(self, state: DemoState, entity: str, row: dict[str, Any]) -> None:
        """Adjusts a filled row in place (realistic names, amounts, consistent dates)."""

    def after(self, state: DemoState, records: Records) -> None:
        """Changes once every entity is written (an invoice is paid once its payments exist)."""


@dataclass
class DemoResult:
    counts: dict[str, int] = dc_field(default_factory=dict)
    refused: dict[str, list[tuple[dict[str, Any], list[tuple[str, str]]]]] = dc_field(default_factory=dict)
    users: list[DemoUser] = dc_field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def refusal_lines(self, limit: int = 10) -> list[str]:
        out = []
        for entity, items in self.refused.items():
            for row, reasons in items[:limit]:
                out.append(f"{entity} {row.get('id')}: " + "; ".join(f"{f or 'record'} {r}" for f, r in reasons))
        return out


def generate(records: Records, *, scale: float = 1.0, seed: int = 1, domain: Domain | None = None,
             now: dt.datetime | None = None) -> DemoResult:
    """Makes the demo users and records; the database must have the configuration's tables."""
    started = time.perf_counter()
    rng = random.Random(seed)
    users, owners = make_users(records, rng, domain.teams if domain else DEFAULT_TEAMS)
    state = DemoState(records.config, rng, now or records.clock(), users, owners, scale)
    loader = Loader(records)
    result = DemoResult(users=users)
    for entity in entity_order(records.config, getattr(domain, "needs", None)):
        seeds = (domain.seeds(state, entity) if domain else None)
        if seeds is None:
            seeds = generic_seeds(state, entity)
        rows = [_made(state, domain, entity, s, minimal=False) for s in seeds]
        # A link to the same entity (a contract renewing another) needs its target written first.
        selfish = [f.name for f in records.config.entities[entity].links() if f.entity == entity]
        later = {r["id"] for r in rows if any(r.get(name) is not None for name in selfish)}
        accepted, refused = loader.write(entity, [r for r in rows if r["id"] not in later])
        if later:
            more, refused_later = loader.write(entity, [r for r in rows if r["id"] in later])
            accepted, refused = accepted + more, refused + refused_later
        for attempt in range(RETRIES):
            if not refused:
                break
            # Made again (same id, fewer optional values): a rule the generator does not know refused it.
            again = [_made(state, domain, entity, {**_seed_of(row), "id": row["id"]}, minimal=attempt == RETRIES - 1)
                     for row, _ in refused]
            more, refused = loader.write(entity, again)
            accepted += more
        state.accept(entity, accepted)
        result.counts[entity] = len(accepted)
        if refused:
            result.refused[entity] = refused
    if domain is not None:
        domain.after(state, records)
    attach_required_files(records, state)
    write_stage_history(records, state)
    loader.backdate()
    result.seconds = time.perf_counter() - started
    return result


def _made(state: DemoState, domain: Domain | None, entity: str, seed: dict[str, Any], *, minimal: bool) -> dict[str, Any]:
    row = fill(state, entity, seed, minimal=minimal)
    if domain is not None and not minimal:
        domain.shape(state, entity, row)
    row["_seed"] = seed
    return row


def _seed_of(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.get("_seed", {}).items() if k != "id"}


def attach_required_files(records: Records, state: DemoState) -> None:
    """A small document for every required `file` field (a sales material's file), through the files service.

    Optional files (delivery notes, signed contracts) are left empty: the demo would otherwise
    write thousands of placeholder files.
    """
    from ..actor import SYSTEM
    from ..files import Files
    files = Files(records.config, records.engine, records.tables, records)
    for entity, ent in records.config.entities.items():
        for f in ent.fields.values():
            if f.type != "file" or not f.required:
                continue
            ext = "pdf" if not f.accept or "pdf" in f.accept else f.accept[0]
            for row in state.rows.get(entity, []):
                title = str(row.get(ent.title) or f"{entity} {row['id']}")
                files.attach(SYSTEM, entity, row["id"], f.name, f"{pools.slug(title)[:40] or entity}.{ext}",
                             "application/pdf" if ext == "pdf" else "application/octet-stream",
                             demo_pdf(title) if ext == "pdf" else title.encode("utf-8"), check_update=False)


def demo_pdf(title: str) -> bytes:
    """A one-page PDF that says what it is (valid enough for any viewer)."""
    text = "".join(c for c in pools.ascii_fold(title) if c.isalnum() or c in " -.,")[:80]
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj 0 -30 Td (Demo document) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer << /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_stage_history(records: Records, state: DemoState) -> None:
    """`crm_stage_history` for every record with a stage: the path through the pipeline to where it stands."""
    table = records.tables("crm_stage_history")
    rows: list[dict[str, Any]] = []
    for pipeline in records.config.pipelines.values():
        stage = records.config.stage_field(pipeline.entity)
        if stage is None:
            continue
        keys = [s.key for s in pipeline.stages]
        closed = {s.key: s.closed for s in pipeline.stages if s.closed}
        for row in state.rows.get(pipeline.entity, []):
            current = row.get(stage.name)
            if current not in keys:
                continue
            path = _path(keys, closed, current, state.rng)
            start = row["created_at"]
            end = max(start, min(state.now, row.get("_stage_at") or state.now))
            owner = row.get("owner")
            previous = None
            for i, key in enumerate(path):
                at = start if i == 0 else start + (end - start) * (i / max(1, len(path) - 1))
                rows.append(dict(entity=pipeline.entity, record_id=row["id"], from_stage=previous, to_stage=key,
                                 user_id=owner, at=at))
                previous = key
    if rows:
        with records.transaction() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[i:i + 5000])


def _path(keys: list[str], closed: dict[str, str], current: str, rng: random.Random) -> list[str]:
    """The stages a record passed: open stages in order up to `current`; a lost record leaves early."""
    open_keys = [k for k in keys if k not in closed]
    if current not in closed:
        return open_keys[: open_keys.index(current) + 1]
    reached = open_keys[: rng.randint(1, len(open_keys))] if open_keys else []
    won = closed[current] == "won"
    return (open_keys if won else reached) + [current]


def has_records(records: Records) -> bool:
    """Whether any entity table holds a row."""
    with records.engine.connect() as conn:
        for entity in records.config.entities:
            table = records.tables.entity(entity)
            if conn.execute(select(func.count()).select_from(select(table.c.id).limit(1).subquery())).scalar():
                return True
    return False
