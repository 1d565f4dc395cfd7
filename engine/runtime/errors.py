"""Domain errors of the runtime services, each knowing its HTTP status.

The web layer has one handler that renders any `DomainError` as a page, an
htmx fragment or JSON (`to_dict()`); the CLI prints `str(error)`. Services
raise them only after rolling back, so a refused call never leaves anything
half-written.

    try:
        records.update(actor, "deal", 7, {"amount": -1}, expected_version=3)
    except ValidationFailed as exc:
        exc.fields      # {"amount": ["must be at least 0"]}
        exc.messages    # record-level messages (validation rules)
"""
from __future__ import annotations

from typing import Any, Mapping


class DomainError(Exception):
    """A refusal a user can understand. `status` is the HTTP status to answer with."""

    status: int = 400
    code: str = "refused"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


class NotFound(DomainError):
    """The record does not exist, or the user may not see it (the two look the same)."""

    status = 404
    code = "not_found"

    def __init__(self, entity: str, record_id: object, message: str | None = None):
        """`message`: the same refusal in the user's language (the workflow services give it)."""
        super().__init__(message or f"{entity} {record_id} does not exist")
        self.entity = entity
        self.record_id = record_id


class Forbidden(DomainError):
    """The user may see the record (or entity) but not do this to it."""

    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """The change contradicts the data (e.g. deleting a record others still link to)."""

    status = 409
    code = "conflict"


class StaleVersion(Conflict):
    """The record changed since the caller read it; `current` holds its values now."""

    code = "stale_version"

    def __init__(self, entity: str, record_id: int, expected: int | None, current: Mapping[str, Any]):
        super().__init__(
            f"{entity} {record_id} was changed by someone else (you edited version {expected}, "
            f"it is now at version {current.get('version')}); reload it and apply your change again")
        self.entity = entity
        self.record_id = record_id
        self.expected = expected
        self.current = dict(current)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "current": self.current}


class ValidationFailed(DomainError):
    """Every problem with the submitted values at once: per field, and for the record."""

    status = 422
    code = "invalid"

    def __init__(self, fields: Mapping[str, list[str]] | None = None, messages: list[str] | None = None):
        self.fields = {k: list(v) for k, v in (fields or {}).items() if v}
        self.messages = list(messages or [])
        parts = [f"{name}: {'; '.join(msgs)}" for name, msgs in sorted(self.fields.items())]
        super().__init__("; ".join(parts + self.messages) or "the values are not valid")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fields": self.fields, "messages": self.messages}


class Problems:
    """Collects validation problems while a save is checked; `raise_if_any()` at the end."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}
        self.messages: list[str] = []

    def field(self, name: str, message: str) -> None:
        bucket = self.fields.setdefault(name, [])
        if message not in bucket:
            bucket.append(message)

    def record(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)

    def merge(self, other: "Problems", prefix: str = "") -> None:
        for name, msgs in other.fields.items():
            for msg in msgs:
                self.field(prefix + name, msg)
        for msg in other.messages:
            if prefix:
                self.field(prefix.rstrip("."), msg)
            else:
                self.record(msg)

    def __bool__(self) -> bool:
        return bool(self.fields or self.messages)

    def raise_if_any(self) -> None:
        if self:
            raise ValidationFailed(self.fields, self.messages)
