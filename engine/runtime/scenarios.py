"""`crm test DIR`: the configuration's scenario tests (spec section 12), each on its own empty database.

    outcomes = run_tests(config)             # one Outcome per test, in file order
    print(report_line(outcome)) ...          # PASS file: name / FAIL file: name — reason

Each test gets a fresh SQLite file in a temporary folder (tables from
`build_tables`), a clock that `at:` steps set (company timezone; before the
first `at:` it stands at the moment the test started), and the records and
users services of the configuration. `given` steps must all succeed; a
refusal in `when` is recorded for `expect` and the next step runs. Steps and
checks of parts the engine does not have yet fail their test with "not
supported yet: <step>"; an unexpected error fails its test, never the run.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from ..metadata import model as m
from .actor import SYSTEM, Actor
from .db import make_engine
from .errors import DomainError
from .records import Records
from .scenario_checks import CHECKS, CheckFailed
from .tables import build_tables
from .users import Users

STEPS_SUPPORTED = ("user", "at", "create", "update", "delete")
CHECKS_SUPPORTED = ("ok", "refused", "values", "count", "can_read", "can_update")


SCENE_SETUP: list[Callable[["Scene"], None]] = []
"""Called with each new Scene before its first step (registered by engine/runtime/workflow)."""


class Unsupported(Exception):
    """A step or check of a part the engine does not have yet."""


@dataclass(frozen=True, slots=True)
class Outcome:
    file: str
    name: str
    passed: bool
    reason: str = ""


def report_line(outcome: Outcome) -> str:
    if outcome.passed:
        return f"PASS {outcome.file}: {outcome.name}"
    return f"FAIL {outcome.file}: {outcome.name} — {outcome.reason}"


def summary_line(outcomes: list[Outcome]) -> str:
    passed = sum(1 for o in outcomes if o.passed)
    return f"{passed} passed, {len(outcomes) - passed} failed"


class Clock:
    """The test's clock: frozen, moved only by `at:` steps."""

    def __init__(self, now: dt.datetime | None = None):
        self.now = now or dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Scene:
    """What one test has made so far: services, named records, users, refusals in `when`."""

    config: m.Config
    records: Records
    users: Users
    clock: Clock
    named: dict[str, tuple[str, int]] = field(default_factory=dict)     # $name -> (entity, id)
    refusals: list[tuple[int, str]] = field(default_factory=list)       # (when step, message)

    def actor(self, username: str | None) -> Actor:
        if not username:
            return SYSTEM
        actor = self.users.actor(str(username))
        if actor is None:
            raise CheckFailed(f"there is no user '{username}' (add it with a `user:` step first)")
        return actor

    def record(self, ref: Any) -> tuple[str, int]:
        """`$X` -> (entity, id) of the record named X earlier in the test."""
        name = str(ref)[1:] if str(ref).startswith("$") else str(ref)
        if name not in self.named:
            raise CheckFailed(f"no record is named ${name} (name one with `as: {name}`)")
        return self.named[name]

    def literal(self, value: Any) -> Any:
        """A value of `values:`: `$X` becomes X's id, lists are resolved item by item."""
        if isinstance(value, str) and value.startswith("$") and value[1:] in self.named:
            return self.named[value[1:]][1]
        if isinstance(value, list):
            return [self.literal(v) for v in value]
        return value


def run_tests(config: m.Config, *, work_dir: str | Path | None = None,
              start: dt.datetime | None = None) -> list[Outcome]:
    return [run_test(config, test, work_dir=work_dir, start=start) for test in config.tests]


def run_test(config: m.Config, test: m.ScenarioTest, *, work_dir: str | Path | None = None,
             start: dt.datetime | None = None) -> Outcome:
    """One test on a fresh database; `start` is the clock before the first `at:` (default: now)."""
    file = test.source.file
    unsupported = [s.kind for s in (*test.given, *test.when) if s.kind not in STEPS_SUPPORTED]
    unsupported += [c.kind for c in test.expect if c.kind not in CHECKS_SUPPORTED]
    if unsupported:
        return Outcome(file, test.name, False, "not supported yet: " + ", ".join(dict.fromkeys(unsupported)))
    with tempfile.TemporaryDirectory(prefix="crm-test-", dir=work_dir) as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'test.sqlite3'}")
        try:
            tables = build_tables(config)
            tables.metadata.create_all(engine)
            clock = Clock(start)
            scene = Scene(config, Records(config, engine, tables, clock=clock),
                          Users(config, engine, tables, clock=clock), clock)
            for prepare in SCENE_SETUP:     # services other parts add (workflow: scoring, approvals, ...)
                prepare(scene)
            return _run(scene, test, file)
        except Exception as exc:   # a bug must fail its test, not the whole run
            return Outcome(file, test.name, False, f"error: {type(exc).__name__}: {exc}")
        finally:
            engine.dispose()


def _run(scene: Scene, test: m.ScenarioTest, file: str) -> Outcome:
    for number, step in enumerate(test.given, 1):
        try:
            _step(scene, step)
        except DomainError as exc:
            return Outcome(file, test.name, False, f"given step {number} ({_describe(step)}) was refused: {exc}")
        except CheckFailed as exc:
            return Outcome(file, test.name, False, f"given step {number} ({_describe(step)}): {exc}")
    for number, step in enumerate(test.when, 1):
        try:
            _step(scene, step)
        except DomainError as exc:
            scene.refusals.append((number, str(exc)))
        except CheckFailed as exc:
            return Outcome(file, test.name, False, f"when step {number} ({_describe(step)}): {exc}")
    failures = []
    for check in test.expect:
        try:
            CHECKS[check.kind](scene, check.args)
        except CheckFailed as exc:
            failures.append(f"{check.kind}: {exc}")
    if failures:
        return Outcome(file, test.name, False, "; ".join(failures))
    return Outcome(file, test.name, True)


def _step(scene: Scene, step: m.ScenarioStep) -> None:
    STEPS[step.kind](scene, step.args)


def _describe(step: m.ScenarioStep) -> str:
    value = step.args.get(step.kind if step.kind != "create" else ("entity" if "entity" in step.args else "create"))
    return f"{step.kind} {value}" if value is not None else step.kind


# -- steps -----------------------------------------------------------------------------------------
def _user(scene: Scene, args: Mapping[str, Any]) -> None:
    name = str(args["user"])
    scene.users.add(name, roles=list(args.get("roles") or []), team=args.get("team"),
                    email=args.get("email") or f"{name}@example.test", phone=args.get("phone"))


def _at(scene: Scene, args: Mapping[str, Any]) -> None:
    scene.clock.now = local_moment(str(args["at"]), scene.config.company.timezone)


def local_moment(text: str, timezone: str) -> dt.datetime:
    """`YYYY-MM-DD HH:MM` (or a date: midnight) in the company's timezone, as an aware datetime."""
    text = text.strip()
    moment = dt.datetime.fromisoformat(text) if len(text) > 10 else dt.datetime.combine(
        dt.date.fromisoformat(text), dt.time())
    return moment.replace(tzinfo=ZoneInfo(timezone)) if moment.tzinfo is None else moment


def _create(scene: Scene, args: Mapping[str, Any]) -> None:
    entity = str(args.get("entity") or args.get("create"))
    values = {k: scene.literal(v) for k, v in (args.get("values") or {}).items()}
    record = scene.records.create(scene.actor(args.get("as_user")), entity, values)
    if args.get("as"):
        scene.named[str(args["as"])] = (entity, int(record["id"]))


def _update(scene: Scene, args: Mapping[str, Any]) -> None:
    entity, record_id = scene.record(args["update"])
    values = {k: scene.literal(v) for k, v in (args.get("values") or {}).items()}
    scene.records.update(scene.actor(args.get("as_user")), entity, record_id, values, expected_version=None)


def _delete(scene: Scene, args: Mapping[str, Any]) -> None:
    entity, record_id = scene.record(args["delete"])
    scene.records.delete(scene.actor(args.get("as_user")), entity, record_id)


STEPS: dict[str, Callable[[Scene, Mapping[str, Any]], None]] = {
    "user": _user, "at": _at, "create": _create, "update": _update, "delete": _delete,
}


def _extend(part: Any) -> None:
    """Adds a part's scenario steps, checks and per-scene set-up (its module's STEPS,
    CHECKS and setup) to the runner, so tests using them stop reporting "not supported"."""
    global STEPS_SUPPORTED, CHECKS_SUPPORTED
    STEPS.update(part.STEPS)
    CHECKS.update(part.CHECKS)
    if part.setup not in SCENE_SETUP:
        SCENE_SETUP.append(part.setup)
    STEPS_SUPPORTED = tuple(dict.fromkeys((*STEPS_SUPPORTED, *part.STEPS)))
    CHECKS_SUPPORTED = tuple(dict.fromkeys((*CHECKS_SUPPORTED, *part.CHECKS)))


# Workflow steps (move, approve, reject, convert) with the approval_pending check, and alert
# steps (run_alerts) with the notified check (real SMTP / SMS receivers), live in their parts.
from .alerts import scenario_steps as _alert_steps  # noqa: E402
from .workflow import scenario_steps as _workflow_steps  # noqa: E402

_extend(_workflow_steps)
_extend(_alert_steps)
