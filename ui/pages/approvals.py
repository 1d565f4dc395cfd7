"""The approval inbox: `GET /approvals`, its navigation badge, and approve / reject.

What the user gets: every pending request whose current step they may decide
(`approvals.pending_for`: role, team, same-team, on records they may read),
oldest first, with the record's title and link, the approval's label, the
step ("2 of 3"), who asked and when, and the values the request locks.
Approve and reject are htmx posts that replace the row with the outcome;
rejecting needs a reason. The badge in the navigation counts the same list.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.runtime.actor import Actor
from engine.runtime.errors import NotFound, ValidationFailed

from .. import urls
from ..services import Services
from ..templating import render
from ..web import formatter, is_htmx, request_locale, services, signed_in_actor, translations
from .board import workflow_of


def inbox(svc: Services, actor: Actor, locale: str, fmt: Any) -> list[dict[str, Any]]:
    """The pending requests the user may decide, with their records' titles (one list query per entity)."""
    requests = workflow_of(svc).approvals.pending_for(actor)
    fallback = svc.config.company.default_locale
    names = {u.id: u.full_name or u.username for u in svc.users.list(include_disabled=True)}
    titles: dict[tuple[str, int], str] = {}
    for entity in {r["entity"] for r in requests}:
        ids = [r["record_id"] for r in requests if r["entity"] == entity]
        ent = svc.config.entities[entity]
        page = svc.records.list(actor, entity, where={"id": ids}, limit=len(ids))
        for rec in page.rows:
            value = rec.get(ent.title)
            titles[(entity, rec["id"])] = str(value) if value not in (None, "") else f"#{rec['id']}"
    out = []
    for r in requests:
        approval = svc.config.approvals.get(r["approval"])
        ent = svc.config.entities[r["entity"]]
        steps = json.loads(r["steps"] or "[]")
        locked = json.loads(r["snapshot"] or "{}")
        out.append({
            "id": r["id"], "approval": r["approval"],
            "label": approval.label.text(locale, fallback) if approval and approval.label else r["approval"],
            "entity_label": ent.label.text(locale, fallback) if ent.label else ent.name,
            "title": titles.get((r["entity"], r["record_id"]), f"#{r['record_id']}"),
            "url": urls.record(r["entity"], r["record_id"]),
            "step": r["step"] + 1, "steps": len(steps),
            "by": names.get(r["requested_by"], "—"), "at": r["created_at"],
            "locked": [(_field_label(ent, k, locale, fallback), _shown(ent, k, v, fmt)) for k, v in locked.items()],
        })
    return out


def _field_label(ent: Any, name: str, locale: str, fallback: str) -> str:
    f = ent.fields.get(name)
    return f.label.text(locale, fallback) if f is not None and getattr(f, "label", None) else name


def _shown(ent: Any, name: str, value: Any, fmt: Any) -> str:
    f = ent.fields.get(name)
    if value is None:
        return "—"
    if f is not None and f.type == "money":
        return fmt.money(value)
    if f is not None and f.type == "percent":
        return fmt.percent(value)
    if f is not None and f.type in ("integer", "decimal"):
        return fmt.number(value)
    return str(value)


async def inbox_page(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    items = await run_in_threadpool(inbox, svc, actor, request_locale(request), formatter(request))
    return render(request, "approvals.html", {"items": items})


async def inbox_count(request: Request) -> Response:
    """The navigation badge: empty when nothing waits."""
    svc, actor = services(request), signed_in_actor(request)
    if svc.workflow is None or not svc.config.approvals:
        return Response("", media_type="text/html")
    count = len(await run_in_threadpool(svc.workflow.approvals.pending_for, actor))
    return render(request, "_approvals_count.html", {"count": count})


async def decide(request: Request) -> Response:
    """`POST /approvals/{id}/approve|reject`: the outcome replaces the inbox row (or back to the record)."""
    svc, actor = services(request), signed_in_actor(request)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise NotFound("decision", decision)
    request_id = int(request.path_params["request_id"])
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    if decision == "reject" and not reason:
        raise ValidationFailed({"reason": [translations(request).gettext("Give a reason for rejecting.")]})
    workflow = workflow_of(svc)

    def run() -> dict[str, Any]:
        r = workflow.approvals.requests
        with svc.engine.connect() as conn:
            row = conn.execute(select(r.c.approval, r.c.record_id, r.c.entity).where(r.c.id == request_id)).first()
        if row is None:
            raise NotFound("approval request", request_id)
        if decision == "approve":
            result = workflow.approve(actor, row.approval, int(row.record_id))
        else:
            result = workflow.reject(actor, row.approval, int(row.record_id), reason)
        return {"result": result, "entity": row.entity, "record_id": int(row.record_id)}
    done = await run_in_threadpool(run)
    if not is_htmx(request):
        back = str(form.get("next") or "")
        target = back if back.startswith("/") and not back.startswith("//") else urls.APPROVALS
        return RedirectResponse(request.scope.get("root_path", "") + target, status_code=303)
    return render(request, "_approval_done.html", {"decision": decision, "request_id": request_id, **done},
                  headers={"HX-Trigger": "approvals-changed"})


ROUTES = [
    Route(urls.APPROVALS, inbox_page, methods=["GET"], name="approvals"),
    Route(urls.APPROVALS_COUNT, inbox_count, methods=["GET"], name="approvals_count"),
    Route(urls.APPROVAL_DECIDE, decide, methods=["POST"], name="approval_decide"),
]
