"""Record forms: new, edit, inline validation and delete.

    GET/POST /records/{entity}/new                 create (303 to the record page when saved)
    GET/POST /records/{entity}/{id}/edit           update, claiming the version the form was drawn from
    POST     /records/{entity}/validate?field=F    the save's checks without saving; F's errors (htmx)
    GET/POST /records/{entity}/{id}/delete         confirmation, then delete (restrict errors shown)

A refused save draws the form again with what the user typed and every
problem next to its field (422). A save that started from an older version
draws it with a table of what changed meanwhile (409): the user's input is
kept and the next save claims the current version, so nothing is lost and
nothing is overwritten without the user seeing it first.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.runtime.errors import Conflict, Forbidden, StaleVersion, ValidationFailed
from engine.runtime.files import check_upload
from engine.runtime.values import convert

from .. import urls
from ..formkit import FormKit, draw, form_kit
from ..formstate import FormState, is_input
from ..messages import localize
from ..templating import render
from ..web import is_htmx


def _redirect(request: Request, path: str) -> Response:
    target = request.scope.get("root_path", "") + path
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _upload_problems(kit: FormKit, state: FormState) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, uploads in state.uploads.items():
        f = kit.entity.fields[name]
        if len(uploads) > 1 and not f.multiple:
            problems.setdefault(name, []).append(kit.gettext("only one file may be attached here"))
        for upload in uploads:
            for msg in check_upload(f, upload.filename or "", upload.size or 0):
                problems.setdefault(name, []).append(localize(msg, kit.gettext))
    return problems


async def _attach(kit: FormKit, state: FormState, record_id: int, *, created: bool) -> None:
    for name, uploads in state.uploads.items():
        for upload in uploads:
            data = await upload.read()
            await run_in_threadpool(kit.svc.files.attach, kit.actor, kit.entity.name, record_id, name,
                                    upload.filename or "file", upload.content_type or "", data,
                                    check_update=not created)
    if state.removed_files and not created:
        await run_in_threadpool(kit.svc.files.remove, kit.actor, kit.entity.name, record_id, state.removed_files)


async def _dry_run(kit: FormKit, state: FormState, record_id: int | None) -> tuple[dict[str, list[str]], list[str]]:
    """Every problem the save would report, without saving."""
    try:
        await run_in_threadpool(kit.svc.records.validate, kit.actor, kit.entity.name, state.values(), record_id)
    except ValidationFailed as exc:
        return kit.problems(exc, state)
    return {}, []


def _merge(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, []).extend(v)
    return out


# -- new ---------------------------------------------------------------------------------------------
async def new_form(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    if not kit.svc.permissions.may_create(kit.actor, kit.entity.name):
        raise Forbidden(f"you may not create {kit.entity.name} records")
    state = kit.new_state()
    return await run_in_threadpool(draw, request, kit, state)


async def create(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    form = await request.form()
    state = kit.state_from(form)
    upload_errors = _upload_problems(kit, state)
    if upload_errors:
        errors, messages = await _dry_run(kit, state, None)
        return await run_in_threadpool(lambda: draw(request, kit, state, errors=_merge(errors, upload_errors),
                                                    messages=messages, status_code=422))
    try:
        saved = await run_in_threadpool(kit.svc.records.create, kit.actor, kit.entity.name, state.values())
    except ValidationFailed as exc:
        errors, messages = kit.problems(exc, state)
        return await run_in_threadpool(lambda: draw(request, kit, state, errors=errors, messages=messages,
                                                    status_code=422))
    await _attach(kit, state, saved["id"], created=True)
    return _redirect(request, urls.record(kit.entity.name, saved["id"]))


# -- edit --------------------------------------------------------------------------------------------
def _editable(kit: FormKit, record_id: int) -> dict[str, Any]:
    record = kit.svc.records.get(kit.actor, kit.entity.name, record_id)     # 404 unless readable
    if not kit.svc.permissions.can(kit.actor, "update", kit.entity.name, record_id):
        raise Forbidden(f"you may read {kit.entity.name} {record_id} but not change it")
    return record


async def edit_form(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])

    def load() -> Response:
        record = _editable(kit, record_id)
        files = kit.svc.files.of_record(kit.actor, kit.entity.name, record_id)
        return draw(request, kit, kit.state_of(record), record=record, files=files)
    return await run_in_threadpool(load)


async def update(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    form = await request.form()
    state = kit.state_from(form)
    version_text = str(form.get("_version") or "")
    expected = int(version_text) if version_text.isdigit() else None
    record = await run_in_threadpool(_editable, kit, record_id)

    def again(status: int, **extra: Any) -> Response:
        files = kit.svc.files.of_record(kit.actor, kit.entity.name, record_id)
        extra.setdefault("version", expected)
        return draw(request, kit, state, record=record, files=files, status_code=status, **extra)

    upload_errors = _upload_problems(kit, state)
    if upload_errors:
        errors, messages = await _dry_run(kit, state, record_id)
        return await run_in_threadpool(lambda: again(422, errors=_merge(errors, upload_errors), messages=messages))
    try:
        await run_in_threadpool(kit.svc.records.update, kit.actor, kit.entity.name, record_id, state.values(),
                                expected)
    except StaleVersion as exc:
        current = exc.current
        conflict = await run_in_threadpool(_conflict, kit, state, current)
        record = current
        return await run_in_threadpool(lambda: again(409, conflict=conflict, version=current.get("version")))
    except ValidationFailed as exc:
        errors, messages = kit.problems(exc, state)
        return await run_in_threadpool(lambda: again(422, errors=errors, messages=messages))
    await _attach(kit, state, record_id, created=False)
    return _redirect(request, urls.record(kit.entity.name, record_id))


def _conflict(kit: FormKit, state: FormState, current: dict[str, Any]) -> list[dict[str, Any]]:
    """Merges a stale save with the record as it is now, field by field, and says what changed.

    With the texts the form started from (`state.orig`): a field only they
    changed takes their value, a field only the user changed keeps the user's,
    a field both changed keeps the user's input and is listed with both
    values. Without them, every field that differs is listed and the user's
    input is kept. Afterwards the form's starting point is the current record.
    """
    ctx = kit.svc.records.query.values
    theirs_state = kit.state_of(current)
    rows = []
    for f in kit.fields:
        if not is_input(f):
            continue
        if f.type == "lines":
            mine_rows = [r for r in state.lines.get(f.name, []) if not r.deleted and not r.blank()]
            theirs_rows = current.get(f.name) or []
            if len(theirs_rows) != len(mine_rows):
                rows.append({"label": kit.shown.label(f.label), "field": f.name, "yours": str(len(mine_rows)),
                             "theirs": str(len(theirs_rows)), "kept": "yours"})
            continue
        mine, theirs = state.texts.get(f.name), theirs_state.texts.get(f.name)
        if mine is None or _same(mine, theirs):
            continue
        orig = state.orig.get(f.name) if state.orig is not None else None
        if orig is not None and _same(orig, theirs):
            continue                                  # only the user changed it: nothing to tell
        taken = orig is not None and _same(orig, mine)     # only they changed it: take theirs
        value, problems = convert(f, mine if mine != "" else None, ctx)
        rows.append({"label": kit.shown.label(f.label), "field": f.name,
                     "yours": str(mine) if problems else kit.shown.value(f, value).text,
                     "theirs": kit.shown.value(f, current.get(f.name)).text,
                     "kept": "theirs" if taken else "yours"})
        if taken:
            state.texts[f.name] = theirs
    state.orig = theirs_state.orig
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return sorted(a or []) == sorted(b or [])
    return (a or "") == (b or "")


# -- inline validation ----------------------------------------------------------------------------------
async def validate(request: Request) -> Response:
    """The problems of the form as typed so far; the asked field's slot (and the summary, out of band)."""
    kit = form_kit(request, request.path_params["entity"])
    form = await request.form()
    state = kit.state_from(form)
    raw_id = str(form.get("_record_id") or "")
    record_id = int(raw_id) if raw_id.isdigit() else None
    errors, messages = await _dry_run(kit, state, record_id)
    errors = _merge(errors, _upload_problems(kit, state))
    name = request.query_params.get("field", "")
    slot_id = "err-" + name.replace(".", "-")
    return render(request, "_field_errors.html", {"slot_id": slot_id, "errors": errors.get(name, []),
                                                  "messages": messages, "oob_messages": True})


# -- delete --------------------------------------------------------------------------------------------
async def delete_form(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])

    def load() -> Response:
        record = kit.svc.records.get(kit.actor, kit.entity.name, record_id, with_lines=False)
        if not kit.svc.permissions.can(kit.actor, "delete", kit.entity.name, record_id):
            raise Forbidden(f"you may not delete {kit.entity.name} {record_id}")
        return render(request, "delete.html", {"entity": kit.entity, "record": record,
                                               "title": kit.shown.title_of(kit.entity, record), "error": None})
    return await run_in_threadpool(load)


async def delete(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    form = await request.form()
    version_text = str(form.get("_version") or "")
    try:
        await run_in_threadpool(kit.svc.records.delete, kit.actor, kit.entity.name, record_id,
                                int(version_text) if version_text.isdigit() else None)
    except Conflict as exc:
        record = await run_in_threadpool(kit.svc.records.get, kit.actor, kit.entity.name, record_id, with_lines=False)
        return render(request, "delete.html", {"entity": kit.entity, "record": record,
                                               "title": kit.shown.title_of(kit.entity, record),
                                               "error": exc.message}, status_code=409)
    return _redirect(request, urls.entity_list(kit.entity.name))


ROUTES = [
    Route(urls.RECORD_NEW, new_form, methods=["GET"], name="record_new"),
    Route(urls.RECORD_NEW, create, methods=["POST"], name="record_create"),
    Route(urls.RECORD_VALIDATE, validate, methods=["POST"], name="record_validate"),
    Route(urls.RECORD_EDIT, edit_form, methods=["GET"], name="record_edit"),
    Route(urls.RECORD_EDIT, update, methods=["POST"], name="record_update"),
    Route(urls.RECORD_DELETE, delete_form, methods=["GET"], name="record_delete_form"),
    Route(urls.RECORD_DELETE, delete, methods=["POST"], name="record_delete"),
]
