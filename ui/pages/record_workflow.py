"""The workflow panel of the record page, and conversions (`POST /records/{entity}/{id}/convert/{action}`).

The panel (`_record_workflow.html`, included by record.html) shows:
- a move control for keyboard users: the stages the pipeline allows from the
  current one, posting to the board's move route;
- each approval of the entity for this record: its newest request's state
  (pending at step n, approved, rejected, expired, cancelled) with every
  decision's who, when and reason;
- a button per `conversion` action whose `when` holds and that the user may
  run (may update the record, as `Conversion.convert` requires).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.runtime.actor import Actor

from .. import urls
from ..services import Services
from ..web import services, signed_in_actor
from .board import workflow_of
from .lists import readable_entity


def workflow_panel(svc: Services, actor: Actor, entity: m.Entity, record: Mapping[str, Any],
                   locale: str, *, may_update: bool | None = None,
                   user_names: Callable[[], Mapping[int, str]] | None = None) -> dict[str, Any] | None:
    """What the panel shows for this record, or None when the entity has no workflow.

    The record page passes what it already knows (whether the user may update the record,
    its users' names) so the panel adds no query of its own for them."""
    workflow = svc.workflow
    if workflow is None:
        return None
    fallback = svc.config.company.default_locale
    record_id = int(record["id"])
    if may_update is None:
        may_update = svc.permissions.can(actor, "update", entity.name, record_id)
    if user_names is None:
        user_names = (lambda: {u.id: u.full_name or u.username for u in svc.users.list(include_disabled=True)})
    panel: dict[str, Any] = {"move": None, "approvals": [], "conversions": []}
    stage_field = svc.config.stage_field(entity.name)
    pipeline = svc.config.pipeline_for(entity.name)
    if stage_field is not None and pipeline is not None and may_update:
        current = record.get(stage_field.name)
        targets = workflow.pipelines.targets(entity.name, current)
        panel["move"] = {"version": record.get("version"),
                         "targets": [(k, pipeline.stage(k).label.text(locale, fallback)) for k in targets]}
    approvals = workflow.approvals
    names: Mapping[int, str] | None = None
    with svc.records.reading() as conn:        # the page's connection when it shares one
        for approval in approvals.of_entity(entity.name):
            latest = approvals.latest(conn, approval.name, entity.name, record_id)
            if latest is None:
                continue
            names = names if names is not None else user_names()       # read once, only when needed
            d = approvals.decisions
            rows = conn.execute(select(d).where(d.c.request_id == latest["id"]).order_by(d.c.at, d.c.id)).mappings()
            panel["approvals"].append({
                "label": approval.label.text(locale, fallback) if approval.label else approval.name,
                "status": latest["status"], "step": latest["step"] + 1, "request_id": latest["id"],
                "decisions": [{"by": names.get(x["user_id"], "—"), "decision": x["decision"], "reason": x["reason"],
                               "at": x["at"]} for x in rows]})
        if may_update:
            for conv in workflow.conversion.available(entity.name):
                if conv.when is None or _holds(svc, conn, actor, entity.name, conv.when, record):
                    panel["conversions"].append((conv.name, conv.label.text(locale, fallback)))
    if not (panel["move"] or panel["approvals"] or panel["conversions"]):
        return None
    return panel


def _holds(svc: Services, conn: Any, actor: Actor, entity: str, text: str, record: Mapping[str, Any]) -> bool:
    try:
        return svc.records.exprs.evaluate(conn, entity, text, dict(record), actor) is True
    except Exception:   # noqa: BLE001 - a condition over a missing value does not hold (as in Conversion)
        return False


async def convert(request: Request) -> Response:
    """Runs the conversion; goes to the last record it made (refusals: the error page / #flash says why)."""
    svc, actor = services(request), signed_in_actor(request)
    entity = readable_entity(svc, actor, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    action = request.path_params["action"]
    made = await run_in_threadpool(workflow_of(svc).convert, actor, entity.name, record_id, action)
    root = request.scope.get("root_path", "")
    target = urls.record(entity.name, record_id)
    if made:
        last_entity, last = list(made.items())[-1]
        target = urls.record(last_entity, int(last["id"]))
    if request.headers.get("HX-Request") == "true":
        return Response("", headers={"HX-Redirect": root + target})
    return RedirectResponse(root + target, status_code=303)


ROUTES = [
    Route(urls.RECORD_CONVERT, convert, methods=["POST"], name="record_convert"),
]
