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
import time
from dataclasses import dataclass
from typing import IO

from sqlalchemy.exc import IntegrityError

from .actor import Actor
from .csvio import CsvStream, Progress, RefusalReport, open_csv_stream
from .errors import Forbidden, NotFound, ValidationFailed
from .import_batch import ChunkPreparer, Prepared
from .import_columns import ColumnsRefused, map_columns
from .import_write import BatchWriter
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

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (f"{self.entity}: {verb} {self.imported:,} of {self.rows:,} rows, {self.refused:,} refused "
                f"({self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s)")


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
            writer = BatchWriter(records, actor, records.config.entities[entity])
            preparer = ChunkPreparer(records, actor, plan)
            for chunk in _chunks(source, chunk_size):
                rows += len(chunk)
                imported += _one_chunk(records, preparer, writer, chunk, refusals, dry_run)
                bar.update(rows, refusals.rows, source.fraction())
    finally:
        refusals.close()
    bar.update(rows, refusals.rows, 1.0, final=True)
    return ImportResult(entity, rows, imported, refusals.rows, time.perf_counter() - started, dry_run)


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


def _one_chunk(records: Records, preparer: ChunkPreparer, writer: BatchWriter,
               chunk: list[tuple[int, list[str]]], refusals: RefusalReport, dry_run: bool) -> int:
    now = records.clock()
    if dry_run:
        with records.engine.connect() as conn:
            result = preparer.prepare(conn, chunk, now)
    else:
        try:
            with records.transaction() as conn:
                result = preparer.prepare(conn, chunk, now)
                writer.write(conn, result.ready, now)
        except IntegrityError:
            # Someone else wrote a clashing value meanwhile: find the rows row by row.
            result = _row_by_row(records, preparer, writer, chunk, now)
    for line, problems in sorted(result.refused):
        refusals.add(line, problems)
    return len(result.ready)


def _row_by_row(records: Records, preparer: ChunkPreparer, writer: BatchWriter,
                chunk: list[tuple[int, list[str]]], now: dt.datetime):
    """The slow path after a failed batch: each good row in its own savepoint."""
    with records.transaction() as conn:
        result = preparer.prepare(conn, chunk, now)
        written: list[Prepared] = []
        for item in result.ready:
            try:
                with conn.begin_nested():
                    writer.write(conn, [item], now)
                written.append(item)
            except IntegrityError as exc:
                result.refused.append((item.line, [("", f"the database refused the row: {exc.orig}")]))
        result.ready = written
    return result


__all__ = ["ImportResult", "import_csv"]
