"""The configuration, for administrators: browse it, edit a document, review and apply the change.

    GET  /admin/config                      every document of the active revision, grouped by kind
    GET  /admin/config/doc/{path}           one document in the YAML editor, with the common-edit forms
    POST /admin/config/doc/{path}           the editor again with the text being reviewed ("back to the editor")
    POST /admin/config/check/{path}         htmx: the real validator's errors for the text typed so far
    POST /admin/config/review/{path}        the diff, migration plan and scenario tests; asks for a reason
    POST /admin/config/apply/{path}         applies it as a new revision (revisions.push with base=)
    GET  /admin/config/new                  the form for a new document (folder and file name)
    POST /admin/config/new                  the editor on a new document at folder/name.yaml (path checked)

A new document's editor, review and apply send `new=yes` with the text: the
same handlers then take a path that does not exist yet, after
`ConfigAdmin` has checked it (allowed folder, a lowercase name ending in
.yaml, no `..` or absolute path, not an existing document).

Only administrators: every call goes through `ConfigAdmin`, which refuses
anyone else (403), crafted POSTs included. Nothing is applied without a
review: the apply handler validates again and `revisions.push` plans again
under the migration lock, so what was reviewed is what runs or nothing does.
After a revision is applied the app switches to it (`ui.reload.ensure_current`).
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.runtime import revisions as rv
from engine.runtime.config_admin import NEW_FOLDERS, ConfigAdmin, Review, errors_in
from engine.runtime.errors import ValidationFailed

from .. import urls
from ..templating import render
from ..web import services, signed_in_actor
from .admin_config_forms import form_context

# The browse page's groups, in order: (folder, title); "" is the folder's root (crm.yaml, roles.yaml).
GROUPS = ("", "entities", "pipelines", "approvals", "alerts", "reports", "templates", "tests")


def config_admin(request: Request) -> ConfigAdmin:
    svc = services(request)
    return ConfigAdmin(svc.engine, svc.permissions, svc.config)


def _path(request: Request) -> str:
    return str(request.path_params["path"])


def form_text(value: object, stored: str) -> str:
    """The submitted text as the file would hold it: browsers send a textarea's (and a hidden
    input's) line breaks as CR LF, which would otherwise show as every line changed."""
    text = str(value if value is not None else stored)
    return text if "\r\n" in stored else text.replace("\r\n", "\n")


def is_new(form: Any) -> bool:
    return form.get("new") == "yes"


async def stored(request: Request, path: str, new: bool) -> tuple[rv.Revision | None, str]:
    """The active revision and the document's stored text ("" for a new document, whose path is checked)."""
    admin, actor = config_admin(request), signed_in_actor(request)
    if new:
        return await run_in_threadpool(admin.new_document, actor, path)
    return await run_in_threadpool(admin.document, actor, path)


# What a new document starts with, by folder: its kind and name, valid or nearly (the editor says what is missing).
STARTERS = {
    "entities": "entity: {name}\ntitle: name\nfields:\n  name: {{type: string, required: true}}\n",
    "pipelines": "pipeline: {name}\nentity: \nstages:\n  - {{key: new, probability: 10}}\n",
    "approvals": "approval: {name}\nentity: \nwhen: \"\"\nsteps:\n  - {{role: }}\n",
    "alerts": "alert: {name}\nentity: \n",
    "reports": "report: {name}\nentity: \nmeasures:\n  count: {{expr: \"count()\"}}\n",
    "tests": "test: {name}\nwhen: []\nexpect: []\n",
}


def starter_text(path: str) -> str:
    folder, _, file = path.partition("/")
    return STARTERS.get(folder, "").format(name=file.removesuffix(".yaml"))


async def new_document(request: Request) -> Response:
    """GET: the folder and name form. POST: the editor on the new path (422 with the reason if refused)."""
    admin, actor = config_admin(request), signed_in_actor(request)
    current, _ = await run_in_threadpool(admin.documents, actor)        # 403 for anyone but an admin
    folder, name, problems = NEW_FOLDERS[0], "", {}
    if request.method == "POST":
        form = await request.form()
        folder, name = str(form.get("folder", "")).strip(), str(form.get("name", "")).strip()
        path = f"{folder}/{name}" if name.endswith(".yaml") else f"{folder}/{name}.yaml"
        try:
            await run_in_threadpool(admin.new_document, actor, path)
        except ValidationFailed as exc:
            problems = exc.fields
        else:
            return await editor(request, path, starter_text(path), str(current.id) if current else "", new=True)
    return render(request, "admin_config_new.html", {
        "current": current, "folders": NEW_FOLDERS, "folder": folder, "name": name, "problems": problems,
    }, status_code=422 if problems else 200)


async def browse(request: Request) -> Response:
    current, files = await run_in_threadpool(config_admin(request).documents, signed_in_actor(request))
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    for rel in sorted(files):
        folder = rel.split("/")[0] if "/" in rel else ""
        groups.setdefault(folder if folder in groups else "", []).append(rel)
    return render(request, "admin_config.html", {"current": current, "groups": groups})


async def document(request: Request) -> Response:
    """The editor on the active text (GET) or on the text sent back from a review (POST)."""
    path = _path(request)
    form = await request.form() if request.method == "POST" else {}
    new = is_new(form)
    current, text = await stored(request, path, new)
    base = str(current.id) if current else ""
    if request.method == "POST":
        text, base = form_text(form.get("text"), text), str(form.get("base", base))
    return await editor(request, path, text, base, new=new)


async def editor(request: Request, path: str, text: str, base: str, *, new: bool = False,
                 form_errors: dict[str, list[str]] | None = None, status_code: int = 200) -> Response:
    admin, actor = config_admin(request), signed_in_actor(request)
    current, _ = await run_in_threadpool(admin.documents, actor)
    errors = await run_in_threadpool(lambda: admin.check(actor, path, text, new=new))
    return render(request, "admin_config_doc.html", {
        "path": path, "text": text, "base": base, "current": current, "new": new,
        **_errors_context(errors, path), "forms": None if new else form_context(path, text),
        "form_errors": form_errors or {},
    }, status_code=status_code)


async def check(request: Request) -> Response:
    admin, actor, path = config_admin(request), signed_in_actor(request), _path(request)
    form = await request.form()
    new = is_new(form)
    _, text = await stored(request, path, new)
    errors = await run_in_threadpool(lambda: admin.check(actor, path, form_text(form.get("text"), text), new=new))
    return render(request, "_config_errors.html", {"path": path, **_errors_context(errors, path)})


async def review(request: Request) -> Response:
    path = _path(request)
    form = await request.form()
    new = is_new(form)
    _, text = await stored(request, path, new)
    return await show_review(request, path, form_text(form.get("text"), text), str(form.get("base", "")), new=new)


async def show_review(request: Request, path: str, text: str, base: str, *, refused: Any = None,
                      problems: dict[str, list[str]] | None = None, reason: str = "",
                      status_code: int = 200, new: bool = False) -> Response:
    """The review page: what applying `text` would change, and the form that applies it."""
    admin, actor = config_admin(request), signed_in_actor(request)
    result: Review = await run_in_threadpool(lambda: admin.review(actor, path, text, base or None, new=new))
    return render(request, "admin_config_review.html", {
        "path": path, "text": text, "base": base, "review": result, "reason": reason, "new": new,
        "refused": refused, "problems": problems or {}, **_errors_context(result.errors, path),
        "apply_url": request.url_for("admin_config_apply", path=path).path,
        "back_url": request.url_for("admin_config_doc", path=path).path,
    }, status_code=status_code)


async def apply(request: Request) -> Response:
    admin, actor, path = config_admin(request), signed_in_actor(request), _path(request)
    form = await request.form()
    new = is_new(form)
    _, before = await stored(request, path, new)
    text, base, reason = form_text(form.get("text"), before), str(form.get("base", "")), str(form.get("reason", ""))
    confirm = form.get("confirm") == "yes"
    try:
        rev = await run_in_threadpool(lambda: admin.apply(actor, path, text, base=base or None,
                                                          reason=reason, confirm=confirm, new=new))
    except ValidationFailed as exc:
        return await show_review(request, path, text, base, problems=exc.fields, reason=reason,
                                 status_code=422, new=new)
    except rv.RevisionRefused as exc:
        return await show_review(request, path, text, base, refused=exc, reason=reason, status_code=409, new=new)
    await switch_to_active(request)
    return RedirectResponse(applied_url(request, rev), status_code=303)


async def switch_to_active(request: Request) -> None:
    """The app serves the new revision from the next request on (every worker follows by itself)."""
    from ui.reload import ensure_current
    await run_in_threadpool(lambda: ensure_current(request.app, force=True))


def applied_url(request: Request, rev: rv.Revision) -> str:
    return str(request.url_for("admin_config_history").path) + f"?applied={rev.id}"


def _errors_context(errors: list[Any], path: str) -> dict[str, Any]:
    mine, elsewhere = errors_in(errors, path)
    return {"errors": mine, "other_errors": elsewhere}


ROUTES = [
    Route(urls.ADMIN_CONFIG, browse, methods=["GET"], name="admin_config"),
    Route(urls.ADMIN_CONFIG_NEW, new_document, methods=["GET", "POST"], name="admin_config_new"),
    Route(urls.ADMIN_CONFIG_DOC, document, methods=["GET", "POST"], name="admin_config_doc"),
    Route(urls.ADMIN_CONFIG_CHECK, check, methods=["POST"], name="admin_config_check"),
    Route(urls.ADMIN_CONFIG_REVIEW, review, methods=["POST"], name="admin_config_review"),
    Route(urls.ADMIN_CONFIG_APPLY, apply, methods=["POST"], name="admin_config_apply"),
]
