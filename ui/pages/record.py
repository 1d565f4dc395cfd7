"""The record page (`GET /records/{entity}/{id}`): the customer-360 view of one record.

What it shows, in order: the configured form sections as read-only values
(links with the linked records' titles), `detail.related` lists of records
linking here (10 rows, "more" loads the next 10 with htmx), the timeline of
every `timeline` record linked here (newest first, paged), `detail.charts`
slots (`_chart_slot.html`, filled by the reports pages later) and the audit
history in a collapsible section. Every read goes through the records
service with the signed-in user, so what the user may not read is not there;
a record they may not read is a 404, like one that does not exist.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.alerts.inbox import Inbox
from engine.runtime.errors import NotFound

from .. import urls
from ..display import Display
from ..page_memo import kept_or_rendered
from ..services import Services
from ..templating import page_templates, render
from ..web import formatter, request_locale, services, signed_in_actor, translations
from .record_workflow import workflow_panel
from ..recordparts import (PAGE_SIZE, complete_related, history_rows, related_page, related_specs, section_rows,
                          timeline_page, timeline_sources)


def display_for(request: Request, svc: Services, actor: Actor) -> Display:
    return Display(svc, actor, formatter(request), request_locale(request), request.scope.get("root_path", ""),
                   translations(request).gettext)


def entity_or_404(svc: Services, name: str) -> m.Entity:
    entity = svc.config.entities.get(name)
    if entity is None:
        raise NotFound("entity", name)
    return entity


def int_param(request: Request, name: str) -> int:
    try:
        return max(0, int(request.query_params.get(name, "0")))
    except ValueError:
        return 0


async def record_page(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    entity = entity_or_404(svc, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    shown = display_for(request, svc, actor)

    def read(conn: Connection) -> dict[str, Any]:
        # Every part's read on `conn`, the records service's one reading connection for the page.
        record = svc.records.get(actor, entity.name, record_id)        # 404 unless readable
        # Attachments are read only when the form shows a file field (the read re-checks the record).
        files = svc.files.of_record(actor, entity.name, record_id) if _shows_files(entity) else {}
        title = shown.remember(entity, record)      # related rows linking back here need no title query
        shown.prepare(entity, [record])
        related = [(spec, related_page(svc, actor, shown, spec, record_id, 0)) for spec in
                   related_specs(svc, actor, shown, entity)]
        sources = timeline_sources(svc, actor, entity)
        # An entity both listed and on the timeline, with fewer than a page of records: read once.
        timeline = (timeline_page(svc, actor, shown, sources, record_id, 0, known=complete_related(related))
                    if sources else None)
        # Decided from the role's scope and the record's owner in hand where they suffice (no query).
        can_edit = svc.permissions.can(actor, "update", entity.name, record_id, record=record)
        return {
            "entity": entity,
            "record": record,
            "title": title,
            "sections": section_rows(svc, actor, shown, entity, record, files),
            "related": related,
            "timeline": timeline,
            "charts": [_chart(svc, shown, name) for name in entity.views.charts],
            "history": history_rows(svc, actor, shown, entity, record_id),
            "messages": _inbox(svc).record_messages(actor, entity.name, record_id, conn),
            "can_edit": can_edit,
            "can_delete": svc.permissions.can(actor, "delete", entity.name, record_id, record=record),
            "list_url": urls.entity_list(entity.name),
            "page_size": PAGE_SIZE,
            # Move control, approval state, conversion buttons (record_workflow.py, _record_workflow.html).
            "workflow": workflow_panel(svc, actor, entity, record, request_locale(request), may_update=can_edit,
                                       user_names=shown.user_names),
        }
    # Served again while the database is unchanged (ui/page_memo.py), else read and rendered.
    return await kept_or_rendered(request, page_templates("record", entity.name), read)


async def related_more(request: Request) -> Response:
    """The next rows of one related list (htmx), replacing its "more" row."""
    svc, actor = services(request), signed_in_actor(request)
    entity = entity_or_404(svc, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    offset = int_param(request, "offset")
    shown = display_for(request, svc, actor)

    def load() -> dict[str, Any]:
        svc.records.get(actor, entity.name, record_id, with_lines=False)
        spec = next((s for s in related_specs(svc, actor, shown, entity) if s.entity.name == request.path_params["related"]),
                    None)
        if spec is None:
            raise NotFound("related list", request.path_params["related"])
        return {"spec": spec, "page": related_page(svc, actor, shown, spec, record_id, offset)}
    return render(request, "_related_rows.html", await run_in_threadpool(load))


async def timeline_more(request: Request) -> Response:
    """The next entries of the timeline (htmx), replacing its "more" item."""
    svc, actor = services(request), signed_in_actor(request)
    entity = entity_or_404(svc, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    offset = int_param(request, "offset")
    shown = display_for(request, svc, actor)

    def load() -> dict[str, Any]:
        svc.records.get(actor, entity.name, record_id, with_lines=False)
        sources = timeline_sources(svc, actor, entity)
        return {"timeline": timeline_page(svc, actor, shown, sources, record_id, offset)}
    return render(request, "_timeline_items.html", await run_in_threadpool(load))


def _shows_files(entity: m.Entity) -> bool:
    return any(entity.fields[n].type == "file" for section in entity.views.form for n in section.fields
               if n in entity.fields)


def _inbox(svc: Services) -> Inbox:
    return svc.inbox if svc.inbox is not None else Inbox(svc.engine, svc.tables, svc.permissions)


def _chart(svc: Services, shown: Display, name: str) -> dict[str, str]:
    report = svc.config.reports.get(name) or svc.config.kpis.get(name)
    label = getattr(report, "label", None)
    return {"name": name, "label": shown.label(label) if label else name.replace("_", " ").capitalize()}


ROUTES = [
    Route(urls.RECORD, record_page, methods=["GET"], name="record"),
    Route(urls.RECORD_RELATED, related_more, methods=["GET"], name="record_related"),
    Route(urls.RECORD_TIMELINE, timeline_more, methods=["GET"], name="record_timeline"),
]
