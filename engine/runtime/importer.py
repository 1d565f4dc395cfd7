"""`crm import ENTITY FILE.csv`: many records from a CSV file, checked like saves, written in batches.

    result = import_csv(records, actor, "deal", "deals.csv", report="refused.csv")
    result.imported, result.refused, result.rows_per_second

The file is streamed (memory stays flat whatever its size) in chunks of
`chunk_size` rows. Each chunk is checked as a whole (`import_batch`), then its
good rows are written in one transaction: autonumbers reserved as one block
per counter, one multi-row INSERT, one multi-row INSERT of their 'create'
audit rows. Refused rows go to the report (row, field, reason) and never stop
the good ones. `dry_run` checks everything and writes nothing (uniqueness is
then checked within each chunk and against the database only).

A large import on SQLite runs in bulk mode (`import_bulk`): the entity's
secondary indexes and search index are built once when it ends, not row by row.

Row numbers are the file's line numbers as a spreadsheet shows them: the
header is row 1.
"""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import IO, Callable, Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..metadata import model as m
from .actor import Actor
from .csvio import CsvStream, Progress, RefusalReport, open_csv_stream
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .import_batch import ChunkPreparer
from .import_bulk import BulkLoad, estimated_rows, repair_interrupted, worth_it
from .import_columns import ColumnsRefused, map_columns
from .import_parallel import Checked, Chunk, can_run_in_workers, parallel_chunks
from .import_support import spared_from_gc
from .import_write import Batch, BatchWriter
from .records import Records

CHUNK_SIZE = 2000
PARALLEL_BYTES = 4 * 1024 * 1024     # below this, starting a worker costs more than it saves


@dataclass(frozen=True, slots=True)
class ImportResult:
    entity: str
    rows: int               # data rows read
    imported: int           # written (or, in a dry run, that would be)
    refused: int
    seconds: float
    dry_run: bool
    ignored: tuple[str, ...] = ()   # columns not imported (system and computed fields)
    bulk: bool = False              # indexes built once at the end (`import_bulk`)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        ignored = f"; ignored columns: {', '.join(self.ignored)}" if self.ignored else ""
        bulk = "; indexes built after the rows" if self.bulk else ""
        return (f"{self.entity}: {verb} {self.imported:,} of {self.rows:,} rows, {self.refused:,} refused "
                f"({self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s){ignored}{bulk}")


def import_csv(records: Records, actor: Actor, entity: str, path: str | os.PathLike[str], *,
               dry_run: bool = False, report: str | os.PathLike[str] | None = None,
               chunk_size: int = CHUNK_SIZE, progress: IO[str] | None = None,
               workers: int | None = None, bulk: bool | None = None,
               after_batch: Callable[[int], None] | None = None) -> ImportResult:
    """Imports `path` into `entity` as `actor`; refused rows are written to `report` when given.

    `workers` processes check and encode chunks while this one reads and writes
    (None: one worker for a file of PARALLEL_BYTES or more on a machine with
    several CPUs, else none). `bulk`: build the entity's secondary and search
    indexes once at the end (SQLite; None: when `import_bulk.worth_it`, False:
    never, `--keep-indexes`). `after_batch(rows read)` is called after each
    batch is written. Raises NotFound for an unknown entity, Forbidden
    when the user may not create its records, ValidationFailed when the header
    cannot be mapped (nothing imported).
    """
    if entity not in records.config.entities:
        raise NotFound("entity", entity)
    if not records.permissions.may_create(actor, entity):
        raise Forbidden(f"you may not create {entity} records")
    started = time.perf_counter()
    bar = Progress(progress, started)
    refusals = RefusalReport(report)
    rows = imported = 0
    ignored: tuple[str, ...] = ()
    load: BulkLoad | None = None
    if not dry_run:
        repair_interrupted(records.engine)
    try:
        with open_csv_stream(path) as source, spared_from_gc():
            header = next(source.rows, None)
            if header is None:
                raise ValidationFailed(messages=["the file is empty (no header row)"])
            try:
                plan = map_columns(records.config, entity, header,
                                   records.permissions.hidden(actor, entity))
            except ColumnsRefused as exc:
                raise ValidationFailed({"columns": exc.problems}) from None
            ignored = plan.ignored
            chunks = _chunks(source, chunk_size)
            first = next(chunks, [])        # read first: how many rows the file holds, roughly
            chunks = itertools.chain([first], chunks) if first else chunks
            estimate = estimated_rows(len(first), source.fraction())
            if not dry_run and _bulk_wanted(records, plan.entity, bulk, estimate):
                load = BulkLoad.begin(records.engine, plan.entity)
            count = workers if workers is not None else auto_workers(records, source.size)
            checked = (parallel_chunks(records, actor, entity, header, chunks, count)
                       if count > 0 else _checked_here(records, actor, plan, chunks))
            writer = BatchWriter(records, actor, plan.entity)
            for size, refused, batch in checked:
                rows += size
                refusals.add_all(refused)
                imported += len(batch.items) if dry_run else _write(records, writer, batch, refusals)
                bar.update(rows, refusals.rows, source.fraction())
                if after_batch is not None:
                    after_batch(rows)
    finally:
        refusals.close()
        if load is not None:
            if progress is not None:
                progress.write("\r  building the indexes ...")
                progress.flush()
            load.finish()
    bar.update(rows, refusals.rows, 1.0, final=True)
    return ImportResult(entity, rows, imported, refusals.rows, time.perf_counter() - started, dry_run, ignored,
                        load is not None)


def _bulk_wanted(records: Records, entity: m.Entity, bulk: bool | None, estimated: int) -> bool:
    """Bulk mode (SQLite only: PostgreSQL imports keep their indexes; and only where a killed
    import's process can be told gone) when asked, or when worth it."""
    if bulk is False or records.engine.dialect.name != "sqlite" or os.name != "posix":
        return False
    if bulk:
        return True
    with records.engine.connect() as conn:
        table = records.tables.entity(entity.name)
        return worth_it(estimated, conn.execute(select(func.count()).select_from(table)).scalar_one())


def auto_workers(records: Records, size: int) -> int:
    """One worker process for a large file when a CPU is free (by the load average), else none.

    On a machine that is already busy a worker only competes with the writing process.
    """
    cpus = os.cpu_count() or 1
    free = cpus - os.getloadavg()[0] >= 1.0
    return 1 if size >= PARALLEL_BYTES and cpus > 1 and free and can_run_in_workers(records) else 0


def _checked_here(records: Records, actor: Actor, plan, chunks: Iterator[Chunk]) -> Iterator[Checked]:
    """Chunks checked and encoded in this process."""
    preparer = ChunkPreparer(records, actor, plan)
    writer = BatchWriter(records, actor, plan.entity)
    for chunk in chunks:
        now = records.clock()
        with records.engine.connect() as conn:
            result = preparer.prepare(conn, chunk, now)
        yield len(chunk), result.refused, writer.encode(result.ready, now)


def _chunks(source: CsvStream, size: int):
    chunk: list[tuple[int, list[str]]] = []
    line = 1
    for cells in source.rows:
        line += 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue                       # blank lines are not rows
        chunk.append((line, cells))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write(records: Records, writer: BatchWriter, batch: Batch, refusals: RefusalReport) -> int:
    """One transaction for the batch; rows written one by one if the database refuses it."""
    try:
        with records.transaction() as conn:
            writer.write(conn, batch)
        return len(batch.items)
    except (IntegrityError, Conflict) as exc:
        if isinstance(exc, Conflict) and not isinstance(exc.__cause__, IntegrityError):
            raise
        # A value taken meanwhile (another user, or a batch checked before the last one was written).
        return _row_by_row(records, writer, batch, refusals)


def _row_by_row(records: Records, writer: BatchWriter, batch: Batch, refusals: RefusalReport) -> int:
    """The slow path after a refused batch: each row in its own savepoint."""
    written = 0
    with records.transaction() as conn:
        for i, item in enumerate(batch.items):
            try:
                with conn.begin_nested():
                    writer.write(conn, batch.one(i))
                written += 1
            except IntegrityError as exc:
                refusals.add_all([(item.line, [("", f"the database refused the row: {exc.orig}")])])
    return written


__all__ = ["ImportResult", "import_csv"]
