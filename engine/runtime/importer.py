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

Row numbers are the file's line numbers as a spreadsheet shows them: the
header is row 1.
"""
from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import IO

from sqlalchemy.exc import IntegrityError

from .actor import Actor
from .csvio import CsvStream, Progress, RefusalReport, open_csv_stream
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .import_batch import ChunkPreparer, Prepared
from .import_columns import ColumnsRefused, map_columns
from .import_write import Batch, BatchWriter
from .records import Records

CHUNK_SIZE = 2000


@dataclass(frozen=True, slots=True)
class ImportResult:
    entity: str
    rows: int               # data rows read
    imported: int           # written (or, in a dry run, that would be)
    refused: int
    seconds: float
    dry_run: bool
    ignored: tuple[str, ...] = ()   # columns not imported (system and computed fields)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        ignored = f"; ignored columns: {', '.join(self.ignored)}" if self.ignored else ""
        return (f"{self.entity}: {verb} {self.imported:,} of {self.rows:,} rows, {self.refused:,} refused "
                f"({self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s){ignored}")


def import_csv(records: Records, actor: Actor, entity: str, path: str | os.PathLike[str], *,
               dry_run: bool = False, report: str | os.PathLike[str] | None = None,
               chunk_size: int = CHUNK_SIZE, progress: IO[str] | None = None) -> ImportResult:
    """Imports `path` into `entity` as `actor`; refused rows are written to `report` when given.

    Raises NotFound for an unknown entity, Forbidden when the user may not create
    its records, ValidationFailed when the header cannot be mapped (nothing imported).
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
    try:
        with open_csv_stream(path) as source:
            header = next(source.rows, None)
            if header is None:
                raise ValidationFailed(messages=["the file is empty (no header row)"])
            try:
                plan = map_columns(records.config, entity, header,
                                   records.permissions.hidden(actor, entity))
            except ColumnsRefused as exc:
                raise ValidationFailed({"columns": exc.problems}) from None
            ignored = plan.ignored
            preparer = ChunkPreparer(records, actor, plan)
            writer = None if dry_run else _WriterThread(records, BatchWriter(records, actor, plan.entity), refusals)
            try:
                for chunk in _chunks(source, chunk_size):
                    rows += len(chunk)
                    now = records.clock()
                    with records.engine.connect() as conn:
                        result = preparer.prepare(conn, chunk, now)
                    refusals.add_all(result.refused)
                    if writer is None:
                        imported += len(result.ready)
                    else:
                        writer.submit(result.ready, now)
                    bar.update(rows, refusals.rows, source.fraction())
            finally:
                if writer is not None:
                    imported = writer.finish()
    finally:
        refusals.close()
    bar.update(rows, refusals.rows, 1.0, final=True)
    return ImportResult(entity, rows, imported, refusals.rows, time.perf_counter() - started, dry_run, ignored)


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


class _WriterThread:
    """Writes prepared batches in a thread of its own while the next chunk is being checked.

    The database's own work (index updates, commit) runs without Python's lock,
    so checking and writing overlap. One batch waits at most; an error in the
    writer stops the import at the next `submit`.
    """

    def __init__(self, records: Records, writer: BatchWriter, refusals: RefusalReport):
        self.records = records
        self.writer = writer
        self.refusals = refusals
        self.written = 0
        self.error: BaseException | None = None
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._run, name="crm-import-writer", daemon=True)
        self.thread.start()

    def submit(self, ready: list[Prepared], now: dt.datetime) -> None:
        """Queues the batch; its rows are encoded here, beside the write of the batch before."""
        if self.error is not None:
            raise self.error
        self.queue.put(self.writer.encode(ready, now))

    def finish(self) -> int:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.written

    def _run(self) -> None:
        while (batch := self.queue.get()) is not None:
            if self.error is not None:
                continue              # drain: the main thread raises at its next submit
            try:
                self.written += self._write(batch)
            except BaseException as exc:
                self.error = exc

    def _write(self, batch: Batch) -> int:
        try:
            with self.records.transaction() as conn:
                self.writer.write(conn, batch)
            return len(batch.items)
        except (IntegrityError, Conflict) as exc:
            if isinstance(exc, Conflict) and not isinstance(exc.__cause__, IntegrityError):
                raise
            # A value taken meanwhile (another user, or the batch before this one): row by row.
            return self._row_by_row(batch)

    def _row_by_row(self, batch: Batch) -> int:
        """The slow path after a refused batch: each row in its own savepoint."""
        written = 0
        with self.records.transaction() as conn:
            for i, item in enumerate(batch.items):
                try:
                    with conn.begin_nested():
                        self.writer.write(conn, batch.one(i))
                    written += 1
                except IntegrityError as exc:
                    self.refusals.add_all([(item.line, [("", f"the database refused the row: {exc.orig}")])])
        return written


__all__ = ["ImportResult", "import_csv"]
