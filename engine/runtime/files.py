"""Files of `file` fields: stored in a folder, described by `crm_attachments` rows.

    files = Files(config, engine, tables, records, root=Path("var/files"))
    problems = files.check(field, "offer.pdf", size)          # [] or ["must be at most 10 MB", ...]
    files.attach(actor, "deal", 7, "contract", "offer.pdf", "application/pdf", data)
    files.of_record(actor, "deal", 7)                         # {"contract": [Attachment, ...]}
    attachment, path = files.open(actor, attachment_id)       # 404 unless the user may read the record

The bytes live outside the database under a random storage key (never the
user's file name, so no path can be smuggled in); the folder is set by
`CRM_FILES_DIR` (default `var/files`). Reading goes through the records
service first: a file of a record the user may not read "does not exist".
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePath

from sqlalchemy import Engine, and_, delete, insert, select

from ..metadata import model as m
from .actor import Actor
from .errors import Forbidden, NotFound, ValidationFailed
from .records import Records
from .tables import Tables

DEFAULT_ROOT = "var/files"


def files_root() -> Path:
    """The folder files are stored in: `CRM_FILES_DIR`, else `var/files`."""
    return Path(os.environ.get("CRM_FILES_DIR") or DEFAULT_ROOT)


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    entity: str
    record_id: int
    field: str | None
    filename: str
    content_type: str
    size: int
    storage_key: str
    uploaded_by: int | None
    uploaded_at: dt.datetime


def human_size(size: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def check_upload(field: m.Field, filename: str, size: int) -> list[str]:
    """Why an upload does not fit the field (its `max_size` and `accept`), or []."""
    problems = []
    extension = PurePath(filename).suffix.lower().lstrip(".")
    if field.accept and extension not in field.accept:
        problems.append(f"'{filename}' is not one of the accepted file types ({', '.join(field.accept)})")
    if field.max_size is not None and size > field.max_size:
        problems.append(f"'{filename}' is {human_size(size)}, more than the {human_size(field.max_size)} allowed")
    return problems


class Files:
    """Stores, lists and opens the attachments of records, with the records' permissions."""

    def __init__(self, config: m.Config, engine: Engine, tables: Tables, records: Records,
                 root: Path | None = None, clock=None):
        self.config = config
        self.engine = engine
        self.tables = tables
        self.records = records
        self.root = root or files_root()
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    def attach(self, actor: Actor, entity: str, record_id: int, field: str, filename: str,
               content_type: str, data: bytes, *, check_update: bool = True) -> Attachment:
        """Stores one file on a record's `file` field (replacing the old one unless `multiple`).

        `check_update=False` is for the save that has just created the record
        (creating it was the permission).
        """
        f = self._file_field(entity, field)
        problems = check_upload(f, filename, len(data))
        if problems:
            raise ValidationFailed({field: problems})
        self.records.get(actor, entity, record_id, with_lines=False)          # 404 unless readable
        if check_update and not self.records.permissions.can(actor, "update", entity, record_id):
            raise Forbidden(f"you may read {entity} {record_id} but not change its files")
        key = secrets.token_hex(16)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        table = self.tables("crm_attachments")
        name = PurePath(filename.replace("\\", "/")).name[:255] or "file"
        values = dict(entity=entity, record_id=record_id, field=field, filename=name,
                      content_type=(content_type or "application/octet-stream")[:100], size=len(data),
                      storage_key=key, uploaded_by=actor.id, uploaded_at=self.clock())
        replaced: list[str] = []
        with self.engine.begin() as conn:
            if not f.multiple:
                old = conn.execute(select(table.c.storage_key).where(
                    table.c.entity == entity, table.c.record_id == record_id, table.c.field == field)).scalars().all()
                replaced = list(old)
                conn.execute(delete(table).where(table.c.entity == entity, table.c.record_id == record_id,
                                                 table.c.field == field))
            new_id = conn.execute(insert(table).values(**values)).inserted_primary_key[0]
        for old_key in replaced:        # after the commit: a failed save keeps the old file
            self._path(old_key).unlink(missing_ok=True)
        return Attachment(id=int(new_id), **values)  # type: ignore[arg-type]

    def remove(self, actor: Actor, entity: str, record_id: int, attachment_ids: list[int]) -> None:
        """Deletes attachments of a record the user may update."""
        if not attachment_ids:
            return
        if not self.records.permissions.can(actor, "update", entity, record_id):
            raise NotFound(entity, record_id)
        table = self.tables("crm_attachments")
        where = (table.c.entity == entity, table.c.record_id == record_id, table.c.id.in_(attachment_ids))
        with self.engine.begin() as conn:
            keys = conn.execute(select(table.c.storage_key).where(*where)).scalars().all()
            conn.execute(delete(table).where(*where))
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def of_record(self, actor: Actor, entity: str, record_id: int) -> dict[str, list[Attachment]]:
        """The record's attachments by field (None: the attachments trait); 404 unless readable."""
        if entity not in self.config.entities:
            raise NotFound(entity, record_id)
        permissions = self.records.permissions
        hidden = permissions.hidden(actor, entity)
        table, records = self.tables("crm_attachments"), self.tables.entity(entity)
        # One statement: the record through the user's read filter LEFT JOIN its attachments.
        # No row: not readable (404); one row without an attachment id: readable, no files.
        on = and_(table.c.entity == entity, table.c.record_id == records.c.id)
        with self.records.reading() as conn:     # a page's shared connection, when it has one
            rows = conn.execute(select(table).select_from(records.outerjoin(table, on))
                                .where(records.c.id == record_id, permissions.row_filter(actor, entity, "read", records))
                                .order_by(table.c.id)).mappings().all()
        if not rows:
            raise NotFound(entity, record_id)
        out: dict[str, list[Attachment]] = {}
        for row in rows:
            if row["id"] is None:
                continue
            if row["field"] in hidden:
                continue
            out.setdefault(row["field"], []).append(Attachment(**row))
        return out

    def open(self, actor: Actor, attachment_id: int) -> tuple[Attachment, Path]:
        """The attachment and its file, if the user may read its record and field (else 404)."""
        table = self.tables("crm_attachments")
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == attachment_id)).mappings().first()
        if row is None or row["entity"] not in self.config.entities:
            raise NotFound("file", attachment_id)
        attachment = Attachment(**row)
        try:
            self.records.get(actor, attachment.entity, attachment.record_id, with_lines=False)
        except NotFound:
            raise NotFound("file", attachment_id) from None
        if attachment.field in self.records.permissions.hidden(actor, attachment.entity):
            raise NotFound("file", attachment_id)
        path = self._path(attachment.storage_key)
        if not path.is_file():
            raise NotFound("file", attachment_id)
        return attachment, path

    def _file_field(self, entity: str, field: str) -> m.Field:
        ent = self.config.entities.get(entity)
        f = ent.fields.get(field) if ent else None
        if f is None or f.type != "file":
            raise ValidationFailed({field: [f"is not a file field of {entity}"]})
        return f

    def _path(self, key: str) -> Path:
        # Two-level fan-out keeps folders small; keys are hex, so no path tricks.
        return self.root / key[:2] / key
