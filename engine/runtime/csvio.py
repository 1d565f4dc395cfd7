"""Streaming CSV plumbing shared by import and export.

    with open_csv_stream("deals.csv") as source:      # reads as it goes, never the whole file
        header = next(source.rows)
        for row in source.rows: ...
        source.fraction()                              # 0.0 .. 1.0 of the bytes read

`Progress` draws a one-line bar on stderr (rows, rows/s, refused) at most a few
times a second; `RefusalReport` writes refused rows (row, field, reason) as CSV
while the import runs; `safe_cell` guards spreadsheet formula injection.
"""
from __future__ import annotations

import csv
import io
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Iterator

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text that a spreadsheet would run as a formula gets a leading single quote.

    Numbers stay numbers: only text is guarded (`-5` as a number is data, `-5` typed
    as text in a name field is what an attacker would write).
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes handed out, so progress works while streaming."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(slots=True)
class CsvStream:
    """A CSV file read row by row; `fraction()` tells how far it is."""

    rows: Iterator[list[str]]
    size: int
    _counter: _CountingReader
    _text: IO[str]

    def fraction(self) -> float:
        return min(1.0, self._counter.count / self.size) if self.size else 1.0

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> "CsvStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_csv_stream(path: str | os.PathLike[str]) -> CsvStream:
    """Opens a UTF-8 CSV (a BOM is skipped); the delimiter (`,` `;` or tab) is sniffed."""
    raw = open(path, "rb")
    counter = _CountingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding="utf-8-sig", newline="")
    sample = text.read(4096)
    delimiter = _sniff_delimiter(sample)
    rest = _chain(sample, text)
    reader = csv.reader(rest, delimiter=delimiter)
    return CsvStream(reader, os.path.getsize(path), counter, text)


def _sniff_delimiter(sample: str) -> str:
    first_line = sample.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _chain(sample: str, text: IO[str]) -> Iterator[str]:
    """The lines of `sample` + the rest of `text`, as the csv module wants them."""
    head = io.StringIO(sample + text.readline())   # finish the sample's last line
    yield from head
    yield from text


@dataclass(slots=True)
class Progress:
    """`\\r  12,000 rows  23,411 rows/s  3 refused  [#####     ] 48%` on stderr."""

    stream: IO[str] | None = field(default_factory=lambda: sys.stderr)
    started: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def update(self, rows: int, refused: int, fraction: float | None = None, *, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        bar = ""
        if fraction is not None:
            filled = int(fraction * 20)
            bar = f"  [{'#' * filled}{' ' * (20 - filled)}] {fraction * 100:3.0f}%"
        self.stream.write(f"\r  {rows:,} rows  {rows / elapsed:,.0f} rows/s  {refused:,} refused{bar}")
        if final:
            self.stream.write("\n")
        self.stream.flush()


class RefusalReport:
    """Refused rows as CSV (`row,field,reason`), written as they are found; None = count only."""

    HEADER = ("row", "field", "reason")

    def __init__(self, path: str | os.PathLike[str] | None):
        self._file = open(path, "w", newline="", encoding="utf-8") if path else None
        self._writer = csv.writer(self._file) if self._file else None
        if self._writer:
            self._writer.writerow(self.HEADER)
        self.rows = 0          # refused rows
        self.problems = 0      # (row, field, reason) lines
        self._lock = threading.Lock()

    def add(self, row: int, problems: list[tuple[str, str]]) -> None:
        self.add_all([(row, problems)])

    def add_all(self, refused: list[tuple[int, list[tuple[str, str]]]]) -> None:
        """Several refused rows, in row order (safe from the import's writer thread too)."""
        with self._lock:
            for row, problems in sorted(refused):
                self.rows += 1
                self.problems += len(problems)
                if self._writer:
                    for field_name, reason in problems:
                        self._writer.writerow((row, field_name, safe_cell(reason)))

    def close(self) -> None:
        if self._file:
            self._file.close()
