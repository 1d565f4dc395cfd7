"""The `expect` checks of a scenario test: each raises CheckFailed with what it found instead.

Checks read as the built-in administrator (the test looks at the data, not
through anyone's permissions), except `can_read` / `can_update`, which ask
the permission rules for the named user. Expected values are literal, as in
steps: `$X` names a record, users are compared by username, dates and
date-times are written as in `values:` (date-times in the company's timezone).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy import func, select

from ..metadata import model as m
from .actor import SYSTEM
from .errors import DomainError
from .values import ValueContext, convert

if TYPE_CHECKING:
    from .scenarios import Scene


class CheckFailed(Exception):
    """A check (or a step's reference) that does not hold; the message says what was found."""


def _ok(scene: "Scene", args: Mapping[str, Any]) -> None:
    if scene.refusals:
        number, message = scene.refusals[0]
        raise CheckFailed(f"when step {number} was refused: {message}")


def _refused(scene: "Scene", args: Mapping[str, Any]) -> None:
    wanted = str(args["refused"])
    if not scene.refusals:
        raise CheckFailed(f"expected a refusal containing '{wanted}', but every step succeeded")
    if not any(wanted.casefold() in message.casefold() for _, message in scene.refusals):
        got = "; ".join(message for _, message in scene.refusals)
        raise CheckFailed(f"expected a refusal containing '{wanted}', got: {got}")


def _values(scene: "Scene", args: Mapping[str, Any]) -> None:
    problems = []
    for ref, expected_values in (args["values"] or {}).items():
        entity, record_id = scene.record(ref)
        try:
            record = scene.records.get(SYSTEM, entity, record_id, with_lines=False)
        except DomainError as exc:
            problems.append(f"{ref}: {exc}")
            continue
        ent = scene.config.entities[entity]
        for name, expected in (expected_values or {}).items():
            f = ent.fields.get(name)
            if f is None and name not in m.SYSTEM_COLUMNS:
                problems.append(f"{ref}.{name}: {entity} has no field '{name}'")
                continue
            actual = record.get(name)
            shown_actual = _shown(scene, f, actual)
            if not _same(scene, f, expected, actual):
                problems.append(f"{ref}.{name} is {shown_actual!r}, expected {expected!r}")
    if problems:
        raise CheckFailed("; ".join(problems))


def _same(scene: "Scene", f: m.Field | None, expected: Any, actual: Any) -> bool:
    if expected is None:
        return actual in (None, [], "")
    if f is None:
        return str(actual) == str(expected)
    kind = f.value_type
    if kind == "link":
        return isinstance(expected, str) and expected.startswith("$") and \
            scene.named.get(expected[1:], (None, None))[1] == actual
    if kind == "user":
        return _username(scene, actual) == str(expected) or actual == expected
    if kind == "multichoice":
        wanted = expected if isinstance(expected, list) else [expected]
        return sorted(map(str, wanted)) == sorted(map(str, actual or []))
    probe = f if f.stored else m.Field(f.name, kind, f.label, f.loc, scale=f.scale)
    value, errors = convert(probe, expected, _context(scene))
    if errors:
        return str(actual) == str(expected)
    return value == actual


def _shown(scene: "Scene", f: m.Field | None, actual: Any) -> Any:
    if f is not None and f.value_type == "user" and actual is not None:
        return _username(scene, actual) or actual
    if f is not None and f.value_type == "link" and actual is not None:
        names = [f"${n}" for n, (_, i) in scene.named.items() if i == actual]
        return names[0] if names else actual
    return str(actual) if actual is not None and not isinstance(actual, (str, int, bool, list)) else actual


def _username(scene: "Scene", user_id: Any) -> str | None:
    if user_id is None:
        return None
    users = scene.records.tables.users
    with scene.records.engine.connect() as conn:
        return conn.execute(select(users.c.username).where(users.c.id == user_id)).scalar()


def _context(scene: "Scene") -> ValueContext:
    return ValueContext.for_config(scene.config)


def _count(scene: "Scene", args: Mapping[str, Any]) -> None:
    spec = args["count"]
    entity, wanted = str(spec["entity"]), int(spec["equals"])
    if entity not in scene.config.entities:
        raise CheckFailed(f"'{entity}' is not an entity")
    params = {name: record_id for name, (_, record_id) in scene.named.items()}
    try:
        query = scene.records.query.select(SYSTEM, entity, filter_expr=spec.get("filter"), params=params)
    except DomainError as exc:
        raise CheckFailed(f"the filter cannot be used: {exc}") from None
    with scene.records.engine.connect() as conn:
        found = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    if found != wanted:
        where = f" matching {spec['filter']!r}" if spec.get("filter") else ""
        raise CheckFailed(f"{found} {entity} records{where}, expected {wanted}")


def _permission(action: str) -> Callable[["Scene", Mapping[str, Any]], None]:
    def check(scene: "Scene", args: Mapping[str, Any]) -> None:
        spec = args[f"can_{action}"]
        actor = scene.actor(spec["user"])
        entity, record_id = scene.record(spec["record"])
        allowed = scene.records.permissions.can(actor, action, entity, record_id)  # type: ignore[arg-type]
        if allowed != bool(spec["equals"]):
            raise CheckFailed(f"{spec['user']} {'may' if allowed else 'may not'} {action} "
                              f"{spec['record']}, expected {'may' if spec['equals'] else 'may not'}")
    return check


CHECKS: dict[str, Callable[["Scene", Mapping[str, Any]], None]] = {
    "ok": _ok, "refused": _refused, "values": _values, "count": _count,
    "can_read": _permission("read"), "can_update": _permission("update"),
}
