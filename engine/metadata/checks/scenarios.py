"""Scenario tests (tests/*.yaml): steps and checks that can run at all.

    given:
      - {entity: deal, as: d, values: {name: X}}
    when:
      - {move: $dd, to: wonn}     # CRM-E220: $dd is not defined; 'wonn' is not a stage

Every finding here is CRM-E220 (a malformed step or check), with the message
naming what is wrong, so `crm test` output reads as one kind of problem.
Steps are walked in order (given, then when, then expect), so `$X` and users
must be made before they are used.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, did_you_mean
from ..model import Config, Entity, ScenarioStep, ScenarioTest
from .common import error, known_fields

CODE = "CRM-E220"
_AS_USER = frozenset({"as_user"})
STEP_KEYS: dict[str, frozenset[str]] = {
    "user": frozenset({"user", "roles", "team", "email", "phone"}),
    "at": frozenset({"at"}),
    "create": frozenset({"entity", "create", "as", "values"}) | _AS_USER,
    "update": frozenset({"update", "values"}) | _AS_USER,
    "delete": frozenset({"delete"}) | _AS_USER,
    "move": frozenset({"move", "to"}) | _AS_USER,
    "approve": frozenset({"approve", "record"}) | _AS_USER,
    "reject": frozenset({"reject", "record", "reason"}) | _AS_USER,
    "convert": frozenset({"convert", "action"}) | _AS_USER,
    "run_alerts": frozenset({"run_alerts"}),
}
CHECK_KEYS: dict[str, frozenset[str]] = {
    "ok": frozenset({"ok"}), "refused": frozenset({"refused"}), "values": frozenset({"values"}),
    "count": frozenset({"count"}), "approval_pending": frozenset({"approval_pending", "record"}),
    "notified": frozenset({"notified"}), "can_read": frozenset({"can_read"}), "can_update": frozenset({"can_update"}),
}
CHANNELS = ("email", "sms", "in_app")
_REF = re.compile(r"^\$([A-Za-z_]\w*)$")
_REFS_IN_TEXT = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(slots=True)
class _Walk:
    """What one test has made so far while its steps are read in order."""

    config: Config
    test: ScenarioTest
    records: dict[str, str | None] = field(default_factory=dict)   # $X -> entity name (None: unknown)
    users: set[str] = field(default_factory=set)
    errors: list[ConfigError] = field(default_factory=list)

    def report(self, path: tuple, message: str, hint: str | None = None, *, at_key: bool = False) -> None:
        self.errors.append(error(self.test.source, path, CODE, message, hint, at_key=at_key))

    def record(self, path: tuple, value: Any) -> Entity | None:
        """The entity of the record `$X` written at `path`, reporting a bad or early reference."""
        if value is None:
            self.report(path, "the record is missing", "write $name, naming an earlier 'as: name'")
            return None
        match = _REF.match(value) if isinstance(value, str) else None
        if match is None:
            self.report(path, f"'{value}' is not a record reference", "write $name, naming an earlier 'as: name'")
            return None
        name = match.group(1)
        if name not in self.records:
            self.report(path, f"${name} is not defined earlier in the test",
                        did_you_mean(name, self.records) or "create the record first with 'as: " + name + "'")
            return None
        return self.config.entities.get(self.records[name] or "")

    def user(self, path: tuple, name: Any) -> None:
        if str(name) not in self.users:
            self.report(path, f"the user '{name}' is not created earlier in the test",
                        did_you_mean(str(name), self.users) or f"add a step {{user: {name}, roles: [...]}}")


def check_scenarios(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for test in config.tests:
        walk = _Walk(config, test)
        for section in ("given", "when"):
            for i, step in enumerate(getattr(test, section)):
                _step(walk, (section, i), step)
        for i, check in enumerate(test.expect):
            _check(walk, ("expect", i), check)
        errors += walk.errors
    return errors


def _keys(walk: _Walk, at: tuple, args: Any, allowed: frozenset[str]) -> None:
    for key in args if isinstance(args, dict) else ():
        if key not in allowed:
            walk.report(at + (key,), f"'{key}' does not belong here", did_you_mean(key, allowed), at_key=True)


def _step(walk: _Walk, at: tuple, step: ScenarioStep) -> None:
    args = step.args
    if not isinstance(args, dict):
        walk.report(at, "a step is a mapping, like {move: $d, to: won}")
        return
    if step.kind not in STEP_KEYS:
        what = "a check; checks go under 'expect'" if step.kind in CHECK_KEYS else "a step"
        walk.report(at, f"'{step.kind}' is not {what}", did_you_mean(step.kind, STEP_KEYS))
        return
    _keys(walk, at, args, STEP_KEYS[step.kind])
    if "as_user" in args:
        walk.user(at + ("as_user",), args["as_user"])
    if step.kind == "user":
        walk.users.add(str(args["user"]))
        for j, role in enumerate(args.get("roles") or []):
            if role not in walk.config.roles:
                walk.report(at + ("roles", j), f"'{role}' is not a role", did_you_mean(str(role), walk.config.roles))
    elif step.kind == "at":
        if not _is_moment(args["at"]):
            walk.report(at + ("at",), f"'{args['at']}' is not a moment", 'write "YYYY-MM-DD HH:MM"')
    elif step.kind == "create":
        key = "entity" if "entity" in args else "create"
        entity = walk.config.entities.get(str(args[key]))
        if entity is None:
            walk.report(at + (key,), f"'{args[key]}' is not an entity",
                        did_you_mean(str(args[key]), walk.config.entities))
        _values(walk, at + ("values",), entity, args.get("values"))
        if "as" in args:
            walk.records[str(args["as"])] = entity.name if entity else None
    elif step.kind == "update":
        _values(walk, at + ("values",), walk.record(at + ("update",), args["update"]), args.get("values"))
    elif step.kind == "delete":
        walk.record(at + ("delete",), args["delete"])
    elif step.kind == "move":
        _move(walk, at, walk.record(at + ("move",), args["move"]), args.get("to"))
    elif step.kind in ("approve", "reject"):
        _approval(walk, at + (step.kind,), args[step.kind], walk.record(at + ("record",), args.get("record")))
    elif step.kind == "convert":
        entity = walk.record(at + ("convert",), args["convert"])
        action = args.get("action")
        if entity is not None and action not in entity.conversions:
            walk.report(at + ("action",), f"'{action}' is not a conversion of entity '{entity.name}'",
                        did_you_mean(str(action), entity.conversions))


def _values(walk: _Walk, at: tuple, entity: Entity | None, values: Any) -> None:
    """Field names of the entity; a `$X` value must name an earlier record."""
    for name, value in (values or {}).items() if isinstance(values, dict) else ():
        if entity is not None and name not in entity.fields:
            walk.report(at + (name,), f"'{name}' is not a field of entity '{entity.name}'",
                        did_you_mean(name, entity.fields), at_key=True)
        if isinstance(value, str) and _REF.match(value):
            walk.record(at + (name,), value)


def _move(walk: _Walk, at: tuple, entity: Entity | None, stage: Any) -> None:
    if entity is None:
        return
    pipeline = walk.config.pipeline_for(entity.name)
    if pipeline is None:
        walk.report(at + ("move",), f"entity '{entity.name}' has no pipeline, so its records have no stages")
    elif pipeline.stage(str(stage)) is None:
        keys = [s.key for s in pipeline.stages]
        walk.report(at + ("to",), f"'{stage}' is not a stage of pipeline '{pipeline.name}'",
                    did_you_mean(str(stage), keys))


def _approval(walk: _Walk, at: tuple, name: Any, entity: Entity | None) -> None:
    approval = walk.config.approvals.get(str(name))
    if approval is None:
        walk.report(at, f"'{name}' is not an approval", did_you_mean(str(name), walk.config.approvals))
    elif entity is not None and approval.entity != entity.name:
        walk.report(at, f"approval '{name}' is over entity '{approval.entity}', not '{entity.name}'")


def _check(walk: _Walk, at: tuple, check: ScenarioStep) -> None:
    args, kind = check.args, check.kind
    if not isinstance(args, dict):
        walk.report(at, "a check is a mapping, like {ok: true}")
        return
    if kind not in CHECK_KEYS:
        what = "a step; steps go under 'given' or 'when'" if kind in STEP_KEYS else "a check"
        walk.report(at, f"'{kind}' is not {what}", did_you_mean(kind, CHECK_KEYS))
        return
    _keys(walk, at, args, CHECK_KEYS[kind])
    body = args[kind]
    if kind == "ok" and body is not True:
        walk.report(at + ("ok",), "write {ok: true}; to expect a refusal write {refused: TEXT}")
    elif kind == "refused" and not isinstance(body, str):
        walk.report(at + ("refused",), "{refused: TEXT} takes the text the refusal contains")
    elif kind == "values":
        _expected_values(walk, at + ("values",), body)
    elif kind == "count":
        _count(walk, at + ("count",), body)
    elif kind == "approval_pending":
        _approval(walk, at + (kind,), body, walk.record(at + ("record",), args.get("record")))
    elif kind == "notified":
        _notified(walk, at + ("notified",), body)
    elif kind in ("can_read", "can_update"):
        _can(walk, at + (kind,), body)


def _expected_values(walk: _Walk, at: tuple, body: Any) -> None:
    if not isinstance(body, dict):
        walk.report(at, "write {values: {$X: {field: value}}}")
        return
    for ref, fields in body.items():
        entity = walk.record(at + (ref,), ref)
        if not isinstance(fields, dict):
            walk.report(at + (ref,), f"the expected values of {ref} are a map field -> value")
        elif entity is not None:
            known = known_fields(entity)
            for name in fields:
                if name not in known:
                    walk.report(at + (ref, name), f"'{name}' is not a field of entity '{entity.name}'",
                                did_you_mean(name, known), at_key=True)


def _body(walk: _Walk, at: tuple, body: Any, required: tuple[str, ...], allowed: frozenset[str]) -> dict | None:
    if not isinstance(body, dict):
        walk.report(at, f"write a map with {', '.join(required)}")
        return None
    _keys(walk, at, body, allowed)
    for key in required:
        if key not in body:
            walk.report(at, f"'{key}' is missing")
    return body


def _count(walk: _Walk, at: tuple, body: Any) -> None:
    count = _body(walk, at, body, ("entity", "equals"), frozenset({"entity", "filter", "equals"}))
    if count is None:
        return
    if "entity" in count and count["entity"] not in walk.config.entities:
        walk.report(at + ("entity",), f"'{count['entity']}' is not an entity",
                    did_you_mean(str(count["entity"]), walk.config.entities))
    if "equals" in count and not _is_count(count["equals"]):
        walk.report(at + ("equals",), f"'{count['equals']}' is not a number of records")
    for name in _REFS_IN_TEXT.findall(str(count.get("filter") or "")):
        walk.record(at + ("filter",), "$" + name)


def _notified(walk: _Walk, at: tuple, body: Any) -> None:
    notified = _body(walk, at, body, ("user",), frozenset({"user", "alert", "via", "count"}))
    if notified is None:
        return
    if "user" in notified:
        walk.user(at + ("user",), notified["user"])
    # an approval's name counts its `notify` notices (docs/alerts.md "Approval notices")
    if "alert" in notified and notified["alert"] not in walk.config.alerts \
            and notified["alert"] not in walk.config.approvals:
        walk.report(at + ("alert",), f"'{notified['alert']}' is not an alert or an approval",
                    did_you_mean(str(notified["alert"]), [*walk.config.alerts, *walk.config.approvals]))
    if "via" in notified and notified["via"] not in CHANNELS:
        walk.report(at + ("via",), f"'{notified['via']}' is not a channel",
                    did_you_mean(str(notified["via"]), CHANNELS))
    if "count" in notified and not _is_count(notified["count"]):
        walk.report(at + ("count",), f"'{notified['count']}' is not a number of messages")


def _can(walk: _Walk, at: tuple, body: Any) -> None:
    can = _body(walk, at, body, ("user", "record", "equals"), frozenset({"user", "record", "equals"}))
    if can is None:
        return
    if "user" in can:
        walk.user(at + ("user",), can["user"])
    if "record" in can:
        walk.record(at + ("record",), can["record"])
    if "equals" in can and not isinstance(can["equals"], bool):
        walk.report(at + ("equals",), "equals is true or false")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_moment(value: Any) -> bool:
    for form in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            dt.datetime.strptime(str(value), form)
            return True
        except ValueError:
            continue
    return False


CHECKS = [check_scenarios]
