"""What every form handler needs for one entity and user, and how a form is drawn.

    kit = form_kit(request, "deal")
    state = kit.state_from(form)                     # FormState of a POST
    return draw(request, kit, state, record=record, errors=errors, status_code=422)

`draw` renders `form.html` (or `form-<entity>.html`) with the widgets, the
error summary, an optional stale-version conflict table, and the version
the next save will claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.files import Attachment

from . import urls
from .display import Display
from .formstate import FormState, form_fields
from .messages import localize, localize_all
from .recordparts import line_columns
from .services import Services
from .templating import page_templates, render
from .web import formatter, request_locale, services, signed_in_actor, translations
from .widgets import WidgetBuilder


@dataclass(slots=True)
class FormKit:
    svc: Services
    actor: Actor
    entity: m.Entity
    shown: Display
    fields: list[m.Field]
    children: dict[str, m.Entity]
    columns: dict[str, list[m.Field]]
    zone: ZoneInfo
    gettext: Any

    def state_from(self, form: FormData) -> FormState:
        return FormState.from_form(self.entity, self.fields, form, self.children)

    def state_of(self, record: Mapping[str, Any]) -> FormState:
        return FormState.from_record(self.entity, self.fields, record, self.children, self.zone)

    def new_state(self) -> FormState:
        return FormState.defaults(self.entity, self.fields, self.children)

    def problems(self, exc: ValidationFailed, state: FormState) -> tuple[dict[str, list[str]], list[str]]:
        """The refusal's problems keyed as the form names its inputs, in the user's language."""
        fields: dict[str, list[str]] = {}
        for key, msgs in localize_all(exc.fields, self.gettext).items():
            fields.setdefault(state.form_key(key), []).extend(msgs)
        messages = []
        for msg in exc.messages:
            # A validation rule's message goes next to the fields its rule reads, when they are on the form.
            at = self.rule_fields(msg)
            for name in at:
                fields.setdefault(name, []).append(msg)
            if not at:
                messages.append(localize(msg, self.gettext))
        return fields, messages

    def rule_fields(self, message: str) -> list[str]:
        """The form's fields read by the validation rule whose message this is (in any language)."""
        on_form = [f.name for f in self.fields]
        for rule in self.entity.validations:
            if message in rule.message.texts.values():
                read = self.svc.records.exprs.referenced_fields(rule.rule)
                return [name for name in on_form if name in read]
        return []

    def builder(self) -> WidgetBuilder:
        return WidgetBuilder(self.shown, self.entity, urls.record_action(self.entity.name, "lookup"),
                             self.children, self.columns, self.svc.config.company.currency)


def form_kit(request: Request, entity_name: str) -> FormKit:
    svc, actor = services(request), signed_in_actor(request)
    entity = svc.config.entities.get(entity_name)
    if entity is None or svc.permissions.scope(actor, entity_name, "read") == "none":
        raise NotFound("entity", entity_name)
    hidden = svc.permissions.hidden(actor, entity.name)
    fields = form_fields(entity, hidden)
    children = {f.name: svc.config.entities[f.entity or ""] for f in fields if f.type == "lines"}
    columns = {f.name: line_columns(svc, actor, entity, f) for f in fields if f.type == "lines"}
    shown = Display(svc, actor, formatter(request), request_locale(request), request.scope.get("root_path", ""),
                   translations(request).gettext)
    return FormKit(svc, actor, entity, shown, fields, children, columns,
                   ZoneInfo(svc.config.company.timezone), translations(request).gettext)


def draw(request: Request, kit: FormKit, state: FormState, *, record: Mapping[str, Any] | None = None,
         errors: Mapping[str, list[str]] | None = None, messages: list[str] | None = None,
         files: Mapping[str | None, list[Attachment]] | None = None, conflict: list[dict[str, Any]] | None = None,
         version: int | None = None, status_code: int = 200) -> Response:
    """The form page (new when `record` is None), with the problems found next to their fields."""
    errors = dict(errors or {})
    widgets = kit.builder().build(state, errors, record, files or {})
    by_name = {w.name: w for w in widgets}
    sections = []
    for section in kit.entity.views.form:
        items = [by_name[n] for n in section.fields if n in by_name]
        if items:
            sections.append((section.label, items))
    labels = {w.name: w for w in widgets}
    for w in widgets:
        if w.grid:
            for _, cells in w.grid.rows:
                labels.update({c.name: c for c in cells})
    summary = [(labels[k].id if k in labels else "", (labels[k].label if k in labels else k), msg)
               for k, msgs in errors.items() for msg in msgs]
    record_id = record.get("id") if record else None
    context = {
        "entity": kit.entity,
        "sections": sections,
        "record": record,
        "record_id": record_id,
        "title": kit.shown.title_of(kit.entity, record) if record else "",
        "version": version if version is not None else (record or {}).get("version"),
        "action": urls.record_action(kit.entity.name, "edit", record_id) if record_id
        else urls.record_action(kit.entity.name, "new"),
        "cancel_url": urls.record(kit.entity.name, record_id) if record_id else urls.entity_list(kit.entity.name),
        "validate_url": urls.record_action(kit.entity.name, "validate"),
        "lookup_url": urls.record_action(kit.entity.name, "lookup"),
        "lines_url": f"/records/{kit.entity.name}/lines/",
        "multipart": any(f.type == "file" for f in kit.fields),
        "summary": summary,
        "messages": messages or [],
        "conflict": conflict,
        "orig": state.orig if record_id else None,
    }
    return render(request, page_templates("form", kit.entity.name), context, status_code=status_code)
