"""`crm export ENTITY`: the records a user may read, as CSV or XLSX, streamed page by page.

    count = export_records(records, actor, "deal", out_file, fmt="csv", filter_expr="amount > 1000")

Rows come from the records service's own SELECT (`RecordQuery.select`): the
user's read filter is in its WHERE and hidden fields are never among its
columns, so an export cannot show more than the list page. Pages are read by
keyset (`id > last id`, ordered by id), so a large export neither holds the
table in memory nor slows down page after page as OFFSET would.

Columns are `id`, every visible field (computed ones included) and the
creation/update times. Links are written as the linked record's title (the
id when the user may not read that record), users as their username, so the
file can be imported again. Text that a spreadsheet would run as a formula
(starting with = + - @) gets a leading single quote, in CSV and XLSX alike.
"""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from typing import IO, Any, Iterator, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from ..metadata import model as m
from .actor import Actor
from .csvio import safe_cell
from .errors import NotFound
from .query import row_to_dict, visible_fields
from .records import Records

PAGE_SIZE = 2000
FORMATS = ("csv", "xlsx")


def export_records(records: Records, actor: Actor, entity: str, out: IO[Any], *, fmt: str = "csv",
                   filter_expr: str | None = None, page_size: int = PAGE_SIZE,
                   where: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
                   search: str | None = None) -> int:
    """Writes the export to `out` (text for csv, binary for xlsx); returns the number of records.

    `where`, `params` and `search` are the records service's (the list page
    exports selected ids with `where={"id": [...]}`, or its filters and search).

    Raises ValidationFailed for a bad filter (or one reading a hidden field), NotFound for an unknown entity.
    """
    if entity not in records.config.entities:
        raise NotFound("entity", entity)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (csv or xlsx)")
    ent = records.config.entities[entity]
    fields = visible_fields(ent, records.permissions.hidden(actor, entity))
    header = ["id"] + [f.name for f in fields] + ["created_at", "updated_at"]
    cells = _Cells(records, actor, ent, fields)
    sink = _CsvSink(out) if fmt == "csv" else _XlsxSink(out, ent.name)
    sink.row(header)
    count = 0
    with records.engine.connect() as conn:
        for page in _pages(records, actor, conn, entity, filter_expr, page_size,
                           dict(where=where, params=params, search=search)):
            for row in cells.rows(conn, page):
                sink.row(row)
            count += len(page)
    sink.close()
    return count


def _pages(records: Records, actor: Actor, conn: Connection, entity: str, filter_expr: str | None,
           size: int, extra: Mapping[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Pages of records in id order, each read with `id > last id` (keyset)."""
    table = records.tables.entity(entity)
    ent = records.config.entities[entity]
    base = records.query.select(actor, entity, filter_expr=filter_expr, sort="id", **(extra or {}))
    base = base.order_by(None).order_by(table.c.id)
    last = 0
    while True:
        rows = conn.execute(base.where(table.c.id > last).limit(size)).mappings().all()
        if not rows:
            return
        yield [row_to_dict(ent, r) for r in rows]
        if len(rows) < size:
            return
        last = rows[-1]["id"]


class _Cells:
    """Turns records into export cells; link titles and usernames are looked up once per page."""

    def __init__(self, records: Records, actor: Actor, ent: m.Entity, fields: list[m.Field]):
        self.records = records
        self.actor = actor
        self.fields = fields
        self.zone = ZoneInfo(records.config.company.timezone)

    def rows(self, conn: Connection, page: list[dict[str, Any]]) -> Iterator[list[Any]]:
        names = {f.name: self._names(conn, f, page) for f in self.fields if f.type in ("link", "user")}
        for record in page:
            row: list[Any] = [record["id"]]
            for f in self.fields:
                value = record.get(f.name)
                if f.name in names and value is not None:
                    value = names[f.name].get(value, value)
                row.append(self._plain(value))
            row += [self._plain(record.get("created_at")), self._plain(record.get("updated_at"))]
            yield row

    def _names(self, conn: Connection, f: m.Field, page: list[dict[str, Any]]) -> Mapping[int, str]:
        ids = list({r[f.name] for r in page if r.get(f.name) is not None})
        if not ids:
            return {}
        if f.type == "user":
            users = self.records.tables.users
            return dict(conn.execute(select(users.c.id, users.c.username).where(users.c.id.in_(ids))).all())
        target_ent = self.records.config.entities[f.entity or ""]
        title = target_ent.fields.get(target_ent.title)
        permissions = self.records.permissions
        if title is None or not title.stored or title.name in permissions.hidden(self.actor, target_ent.name):
            return {}
        target = self.records.tables.entity(target_ent.name)
        query = select(target.c.id, target.c[title.name]).where(
            target.c.id.in_(ids), permissions.row_filter(self.actor, target_ent.name, "read", target))
        return {i: t for i, t in conn.execute(query).all() if t is not None}

    def _plain(self, value: Any) -> Any:
        """Python values as cells: local wall times, multichoice keys joined, text guarded."""
        if isinstance(value, dt.datetime):
            return value.astimezone(self.zone).replace(tzinfo=None)
        if isinstance(value, (list, tuple)):
            return safe_cell(", ".join(str(v) for v in value))
        return safe_cell(value)


class _CsvSink:
    def __init__(self, out: IO[str]):
        self.writer = csv.writer(out)

    def row(self, cells: list[Any]) -> None:
        self.writer.writerow([_csv_text(c) for c in cells])

    def close(self) -> None:
        pass


def _csv_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _XlsxSink:
    """openpyxl's write-only workbook: rows go to a temporary file as they come, not kept in memory."""

    def __init__(self, out: IO[bytes], title: str):
        from openpyxl import Workbook
        self.out = out
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title[:31])

    def row(self, cells: list[Any]) -> None:
        self.sheet.append([_xlsx_value(c) for c in cells])

    def close(self) -> None:
        self.book.save(self.out)


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, str):
        # openpyxl writes a text starting with '=' as a formula; the guard already quoted those.
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value
