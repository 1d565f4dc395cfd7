"""Forms for the common configuration edits, beside the YAML editor.

    POST /admin/config/form/{path}     edit=add_field | add_option | stage | approval | alert | report

Each form turns into a new text of the document (engine/runtime/config_edits:
comments and formatting kept) and then takes the editor's path: the review
page with the diff, the migration plan and the reason, and the same apply.
`form_context` reads what the forms show (fields, stages, the current
threshold, offsets, filter) from the document's own text rather than from the
built Config: a form pre-fills what the file says (`2w` stays `2w`, not 14
days), and it still works while another document of the folder is broken.
"""
from __future__ import annotations

from typing import Any, Callable

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.runtime import config_edits as ce
from engine.runtime.errors import ValidationFailed

from .. import urls
from ..web import signed_in_actor

# The field types the "add a field" form offers (the ones that need no further settings).
SIMPLE_TYPES = ("string", "text", "int", "decimal", "money", "percent", "bool", "date", "datetime",
                "choice", "multichoice", "email", "phone", "url", "user", "rating")


def form_context(path: str, text: str) -> dict[str, Any]:
    """What the forms beside the editor show for this document (empty when none fits)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(data, dict):
        return {}
    if path.startswith("entities/") and isinstance(data.get("fields"), dict):
        fields = data["fields"]
        choice = [n for n, spec in fields.items() if isinstance(spec, dict)
                  and spec.get("type") in ce.FIELD_TYPES_WITH_OPTIONS]
        return {"kind": "entity", "types": SIMPLE_TYPES, "choice_fields": choice}
    if path.startswith("pipelines/") and isinstance(data.get("stages"), list):
        stages = []
        for s in data["stages"]:
            if isinstance(s, dict) and s.get("key"):
                requires = s.get("requires") if isinstance(s.get("requires"), dict) else {}
                stages.append({"key": s["key"], "probability": s.get("probability", ""),
                               "fields": ", ".join(map(str, requires.get("fields") or [])),
                               "approvals": ", ".join(map(str, requires.get("approvals") or []))})
        return {"kind": "pipeline", "stages": stages}
    if path.startswith("approvals/") and "approval" in data:
        return {"kind": "approval", "when": str(data.get("when") or "")}
    if path.startswith("alerts/") and isinstance(data.get("trigger"), dict) and "date" in data["trigger"]:
        trigger = data["trigger"]
        return {"kind": "alert", "before": ", ".join(map(str, trigger.get("before") or [])),
                "after": ", ".join(map(str, trigger.get("after") or []))}
    if path.startswith("reports/") and ("report" in data or "kpi" in data):
        return {"kind": "report", "filter": str(data.get("filter") or "")}
    return {}


def _add_field(form: FormData, text: str, list_columns: list[str] | None) -> str:
    return ce.add_field(text, str(form.get("name", "")).strip(), str(form.get("type", "string")),
                        label=str(form.get("label", "")).strip() or None, required=form.get("required") == "yes",
                        options=ce.split_list(str(form.get("options", ""))), in_list=form.get("in_list") == "yes",
                        list_columns=list_columns)


def _add_option(form: FormData, text: str) -> str:
    return ce.add_option(text, str(form.get("field", "")), str(form.get("option", "")),
                         label=str(form.get("option_label", "")).strip() or None)


def _stage(form: FormData, text: str) -> str:
    raw = str(form.get("probability", "")).strip()
    if raw and not raw.isdigit():
        raise ce.EditError("probability", "a probability is a whole number between 0 and 100")
    return ce.set_stage(text, str(form.get("stage", "")), probability=int(raw) if raw else None,
                        required_fields=ce.split_list(str(form.get("fields", ""))),
                        approvals=ce.split_list(str(form.get("approvals", ""))))


def _approval(form: FormData, text: str) -> str:
    return ce.set_approval_when(text, str(form.get("when", "")))


def _alert(form: FormData, text: str) -> str:
    return ce.set_alert_offsets(text, before=ce.split_list(str(form.get("before", ""))),
                                after=ce.split_list(str(form.get("after", ""))))


def _report(form: FormData, text: str) -> str:
    return ce.set_report_filter(text, str(form.get("filter", "")))


EDITS: dict[str, Callable[[FormData, str], str]] = {
    "add_option": _add_option, "stage": _stage, "approval": _approval, "alert": _alert, "report": _report,
}


async def form_edit(request: Request) -> Response:
    from .admin_config import config_admin, editor, show_review
    admin, actor, path = config_admin(request), signed_in_actor(request), str(request.path_params["path"])
    current, text = await run_in_threadpool(admin.document, actor, path)     # admins only, from here on
    form = await request.form()
    base, kind = str(form.get("base", "")), str(form.get("edit", ""))
    try:
        if kind == "add_field":
            new_text = await run_in_threadpool(_add_field_shown, admin, actor, path, form, text)
        elif kind in EDITS:
            new_text = EDITS[kind](form, text)
        else:
            raise ce.EditError("edit", f"there is no form '{kind}'")
    except ValidationFailed as exc:
        return await editor(request, path, text, base, form_errors=exc.fields, status_code=422)
    return await show_review(request, path, new_text, base)


def _add_field_shown(admin: Any, actor: Any, path: str, form: FormData, text: str) -> str:
    """The new field; when it is to be listed and the list's default columns would leave it out,
    the columns shown today are written out with the new field after them."""
    new_text = _add_field(form, text, None)
    if form.get("in_list") != "yes":
        return new_text
    from engine.metadata.loader import validate_folder
    entity = path.split("/")[-1].rsplit(".", 1)[0]
    _, files = admin.documents(actor)
    config, _ = validate_folder(".", files={**files, path: new_text})
    if config is None or entity not in config.entities:
        return new_text                  # the review shows why it does not validate
    if str(form.get("name", "")).strip() in config.entities[entity].views.list.columns:
        return new_text
    before, _ = validate_folder(".", files=files)
    columns = list(before.entities[entity].views.list.columns) if before and entity in before.entities else []
    return _add_field(form, text, columns)


ROUTES = [Route(urls.ADMIN_CONFIG_FORM, form_edit, methods=["POST"], name="admin_config_form")]
