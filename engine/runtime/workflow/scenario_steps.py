"""Scenario-test steps and checks of workflows (spec section 12), registered into `crm test`.

Steps: `{move: $X, to: STAGE}`, `{approve: APPROVAL, record: $X}`,
`{reject: APPROVAL, record: $X, reason: "..."}`, `{convert: $X, action: NAME}`
(each with an optional `as_user`). Check: `{approval_pending: APPROVAL, record: $X}`.
Every scene gets a `Workflow` wired into its records service before its first
step, so saves in a test score, assign and start approvals as they would in
the application.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..scenario_checks import CheckFailed
from . import Workflow

if TYPE_CHECKING:
    from ..scenarios import Scene

Handler = Callable[["Scene", Mapping[str, Any]], None]


def setup(scene: "Scene") -> None:
    records = scene.records
    scene.workflow = Workflow(scene.config, records.engine, records.tables, records)  # type: ignore[attr-defined]
    alerts = getattr(scene, "alerts", None)       # approval notices, when the alerts part set up first
    if alerts is not None:
        alerts.follow_approvals(scene.workflow.approvals)  # type: ignore[attr-defined]


def _workflow(scene: "Scene") -> Workflow:
    workflow = getattr(scene, "workflow", None)
    if workflow is None:
        setup(scene)
        workflow = scene.workflow  # type: ignore[attr-defined]
    return workflow


def _approval_record(scene: "Scene", args: Mapping[str, Any], key: str) -> tuple[str, int, str]:
    name = str(args[key])
    approval = scene.config.approvals.get(name)
    if approval is None:
        raise CheckFailed(f"'{name}' is not an approval")
    entity, record_id = scene.record(args["record"])
    if entity != approval.entity:
        raise CheckFailed(f"approval {name} is for {approval.entity} records, {args['record']} is a {entity}")
    return name, record_id, entity


def _move(scene: "Scene", args: Mapping[str, Any]) -> None:
    entity, record_id = scene.record(args["move"])
    _workflow(scene).move(scene.actor(args.get("as_user")), entity, record_id, str(args["to"]))


def _approve(scene: "Scene", args: Mapping[str, Any]) -> None:
    name, record_id, _ = _approval_record(scene, args, "approve")
    _workflow(scene).approve(scene.actor(args.get("as_user")), name, record_id)


def _reject(scene: "Scene", args: Mapping[str, Any]) -> None:
    name, record_id, _ = _approval_record(scene, args, "reject")
    _workflow(scene).reject(scene.actor(args.get("as_user")), name, record_id, args.get("reason"))


def _convert(scene: "Scene", args: Mapping[str, Any]) -> None:
    entity, record_id = scene.record(args["convert"])
    _workflow(scene).convert(scene.actor(args.get("as_user")), entity, record_id, str(args["action"]))


def _approval_pending(scene: "Scene", args: Mapping[str, Any]) -> None:
    name, record_id, entity = _approval_record(scene, args, "approval_pending")
    approvals = _workflow(scene).approvals
    with scene.records.engine.connect() as conn:
        latest = approvals.latest(conn, name, entity, record_id)
    if latest is None:
        raise CheckFailed(f"{args['record']} has no request of approval {name}")
    if latest["status"] != "pending":
        raise CheckFailed(f"the request of approval {name} for {args['record']} is {latest['status']}")


STEPS: dict[str, Handler] = {"move": _move, "approve": _approve, "reject": _reject, "convert": _convert}
CHECKS: dict[str, Handler] = {"approval_pending": _approval_pending}
