"""The configuration's history, for administrators: every revision, and rolling back to one.

    GET  /admin/config/history                  revisions newest first: who, when, why, the diff to its parent
    GET  /admin/config/history/{rev}/rollback   what returning to revision #rev would do (diff + plan)
    POST /admin/config/history/{rev}/rollback   does it (a reason is required; confirm when the plan asks)

A rollback is `revisions.rollback`: the earlier content pushed as a new
revision, through the same plan and confirmation rules as any change.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.runtime import revisions as rv
from engine.runtime.errors import ValidationFailed

from .. import urls
from ..templating import render
from ..web import signed_in_actor
from .admin_config import applied_url, config_admin, switch_to_active


async def history(request: Request) -> Response:
    entries = await run_in_threadpool(config_admin(request).history, signed_in_actor(request))
    applied = request.query_params.get("applied", "")
    return render(request, "admin_config_history.html", {
        "entries": entries, "applied": int(applied) if applied.isdigit() else None})


async def rollback(request: Request) -> Response:
    rev = int(request.path_params["rev"])
    if request.method == "GET":
        current, _ = await run_in_threadpool(config_admin(request).documents, signed_in_actor(request))
        return await _review(request, rev, str(current.id) if current else "")
    admin, actor = config_admin(request), signed_in_actor(request)
    form = await request.form()
    base, reason = str(form.get("base", "")), str(form.get("reason", ""))
    try:
        new = await run_in_threadpool(lambda: admin.rollback(actor, str(rev), base=base or None, reason=reason,
                                                             confirm=form.get("confirm") == "yes"))
    except ValidationFailed as exc:
        return await _review(request, rev, base, problems=exc.fields, reason=reason, status_code=422)
    except rv.RevisionRefused as exc:
        return await _review(request, rev, base, refused=exc, reason=reason, status_code=409)
    await switch_to_active(request)
    return RedirectResponse(applied_url(request, new), status_code=303)


async def _review(request: Request, rev: int, base: str, *, refused: Any = None,
                  problems: dict[str, list[str]] | None = None, reason: str = "",
                  status_code: int = 200) -> Response:
    admin, actor = config_admin(request), signed_in_actor(request)
    target, result = await run_in_threadpool(admin.review_rollback, actor, str(rev), base or None)
    return render(request, "admin_config_review.html", {
        "path": None, "target": target, "text": "", "base": base, "review": result,
        "reason": reason, "refused": refused, "problems": problems or {}, "errors": result.errors,
        "other_errors": [],
        "apply_url": request.url_for("admin_config_rollback", rev=rev).path,
        "back_url": request.url_for("admin_config_history").path,
    }, status_code=status_code)


ROUTES = [
    Route(urls.ADMIN_CONFIG_HISTORY, history, methods=["GET"], name="admin_config_history"),
    Route(urls.ADMIN_CONFIG_ROLLBACK, rollback, methods=["GET", "POST"], name="admin_config_rollback"),
]
