"""Checking an import's chunks in worker processes, so another CPU does the per-row Python work.

    for size, refused, batch in parallel_chunks(records, actor, "deal", header, chunks, workers=1):
        ...   # in file order: write the batch, report the refused rows

Each worker loads the same configuration revision (from its files, in memory),
opens its own connection to the same database (reads only: the link, user and
uniqueness lookups of `import_batch`) and keeps one ChunkPreparer and one
BatchWriter for the whole import. The importing process reads the file, hands
out chunks and gets back encoded batches (plain values) in file order, then
writes them. At most two chunks per worker are in flight, so memory stays
flat. A chunk is checked against what was committed when it is checked: a
clash with a batch still in flight (one unique value in neighbouring chunks)
is caught by the database when written, and that batch is written row by row.
"""
from __future__ import annotations

import datetime as dt
import gc
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Iterator

from .actor import Actor
from .import_write import Batch
from .records import Records

Chunk = list[tuple[int, list[str]]]                                     # (row number, cells)
Checked = tuple[int, list[tuple[int, list[tuple[str, str]]]], Batch]    # (rows, refused, batch)

_WORKER: dict[str, Any] = {}     # one import's state in a worker process


class _ChunkClock:
    """A worker's clock: the moment the importing process gave with the chunk."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def _start(root: str, files: dict[str, str], url: str, actor: Actor, entity: str, header: list[str]) -> None:
    from ..metadata.loader import load_config
    from .db import make_engine
    from .import_batch import ChunkPreparer
    from .import_columns import map_columns
    from .import_write import BatchWriter
    from .tables import build_tables

    config = load_config(root, files=files)
    clock = _ChunkClock()
    records = Records(config, make_engine(url), build_tables(config), clock=clock)
    plan = map_columns(config, entity, header, records.permissions.hidden(actor, entity))
    _WORKER.update(records=records, clock=clock, preparer=ChunkPreparer(records, actor, plan),
                   writer=BatchWriter(records, actor, plan.entity))
    gc.freeze()      # this process lives for one import: its set-up is never garbage (import_support.spared_from_gc)


def _check(chunk: Chunk, now: dt.datetime) -> Checked:
    records: Records = _WORKER["records"]
    _WORKER["clock"].now = now
    with records.engine.connect() as conn:
        result = _WORKER["preparer"].prepare(conn, chunk, now)
    return len(chunk), result.refused, _WORKER["writer"].encode(result.ready, now)


def can_run_in_workers(records: Records) -> bool:
    """A database another process can open (not SQLite in memory)."""
    url = records.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def parallel_chunks(records: Records, actor: Actor, entity: str, header: list[str], chunks: Iterator[Chunk],
                    workers: int) -> Iterator[Checked]:
    """The chunks checked and encoded by `workers` processes, in order."""
    url = records.engine.url.render_as_string(hide_password=False)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(records.config.root, dict(records.config.files), url, actor, entity,
                                         list(header)))
    pending: deque[Future[Checked]] = deque()
    try:
        for chunk in chunks:
            pending.append(pool.submit(_check, chunk, records.clock()))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
