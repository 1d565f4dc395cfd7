"""The list of an entity's records: `GET /records/{entity}` and its bulk actions.

What the user gets: the configured columns (links shown by the linked record's
title), sortable headers, the configured filters, segments as tabs, search
through the database's full-text index, paging by 50 without counting the
table, checkboxes to export the chosen (or all matching) records or to give
them another owner. Sorting, filtering, searching and paging answer htmx
requests with the table fragment only and push the URL, so the address bar
always holds the whole state: a reload, the back button or a shared link show
the same list.

Every row comes from the records service with the signed-in user: the read
filter is in the SELECT, hidden fields are neither shown nor filterable nor exported.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Mapping

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.errors import DomainError, Forbidden, NotFound
from engine.runtime.exporter import export_records
from engine.runtime.users import UserInfo

from .. import urls
from ..services import Services
from ..templating import page_templates, render
from ..web import formatter, is_htmx, request_locale, services, signed_in_actor, translations
from .list_cells import Cell, Cells, row_html
from .list_spec import ListState, ListView

COUNT_CAP = 1000          # "more than 1,000": counted up to here, never the whole table
BULK_LIMIT = 500          # ids one bulk action takes
RESULTS_ID = "list-results"


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    cells: list[Cell]
    idle: bool = False          # a follow-up rule of the pipeline says nobody touched it (board.idle_ids)
    html: Markup = Markup("")   # the cells as `<td>`s (list_cells.row_html)


@dataclass(frozen=True, slots=True)
class ListPage:
    """Everything the list templates show."""

    view: ListView
    state: ListState
    rows: list[Row]
    has_more: bool
    first: int                 # 1-based number of the first row shown
    last: int
    total: int | None          # exact when known without counting past COUNT_CAP
    more_than_cap: bool
    users: list[UserInfo]
    may_create: bool
    sort: str | None


def readable_entity(svc: Services, actor: Actor, name: str) -> m.Entity:
    entity = svc.config.entities.get(name)
    if entity is None:
        raise NotFound("entity", name)
    if svc.permissions.scope(actor, name, "read") == "none":
        raise Forbidden(f"you may not see {name} records")
    return entity


def list_view(svc: Services, actor: Actor, entity: str) -> ListView:
    return ListView.build(svc.config, svc.permissions, svc.records.exprs, actor, entity)


def load_page(svc: Services, actor: Actor, entity: str,
              params: Mapping[str, str]) -> tuple[ListPage, list[dict[str, Any]]]:
    """One page of the list in the state the URL gives (blocking: run in a thread)."""
    view = list_view(svc, actor, entity)
    users = svc.users.list(include_disabled=True, with_roles=False)      # ids and names are all it needs
    state = view.read(params, frozenset(u.id for u in users))
    filter_expr, values = view.filter_expression(state)
    sort = view.sort_of(state)
    size = view.page_size
    offset = (state.page - 1) * size
    # The first pages also say how many match, counted no further than COUNT_CAP + 1.
    page = svc.records.list(actor, entity, filter_expr=filter_expr, params=values, search=state.q or None,
                            sort=sort, limit=size, offset=offset, with_titles=True, paths=view.paths(),
                            count_up_to=COUNT_CAP if offset + size <= COUNT_CAP else None)
    total: int | None = offset + len(page.rows) if not page.has_more else None
    more = False
    if page.has_more and page.matching is not None:
        more = page.matching > COUNT_CAP
        total = min(page.matching, COUNT_CAP)
    return ListPage(view, state, [], page.has_more, offset + 1 if page.rows else 0, offset + len(page.rows),
                    total, more, [u for u in users if u.active], svc.permissions.may_create(actor, entity),
                    sort), page.rows


async def entity_list(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    entity = readable_entity(svc, actor, request.path_params["entity"])
    page = await run_in_threadpool(_page_with_cells, request, svc, actor, entity.name, request.query_params)
    return _render(request, page)


def _page_with_cells(request: Request, svc: Services, actor: Actor, entity: str,
                     params: Mapping[str, str]) -> ListPage:
    page, records = load_page(svc, actor, entity, params)
    cells = Cells(svc.config, formatter(request), request_locale(request), request.scope.get("root_path", ""))
    ent = svc.config.entities[entity]
    from .board import idle_ids     # here: board imports this module
    idle = idle_ids(svc, entity, [r["id"] for r in records]) if svc.config.pipeline_for(entity) else set()
    # As the template's `_("Idle")` writes it: the translation is trusted markup, formatted with no values.
    badge = Markup(' <span class="badge badge--idle" data-idle>{}</span>').format(
        Markup(translations(request).gettext("Idle")) % {}) if idle else Markup("")
    columns = page.view.columns
    for r in records:
        row_cells = [cells.of(ent, c, r) for c in columns]
        page.rows.append(Row(r["id"], row_cells, r["id"] in idle,
                             row_html(row_cells, badge if r["id"] in idle else Markup(""))))
    return page


def svc_has_board(request: Request, entity: str) -> bool:
    """Whether the entity has a pipeline board (ui/pages/board.py) to link to."""
    svc = services(request)
    return svc.workflow is not None and svc.config.pipeline_for(entity) is not None


def _render(request: Request, page: ListPage, *, message: dict[str, Any] | None = None,
            status_code: int = 200) -> Response:
    root = request.scope.get("root_path", "")
    entity = page.view.entity.name
    context = {"page": page, "view": page.view, "state": page.state, "message": message,
               "list_url": root + urls.entity_list(entity),
               "bulk_url": root + urls.entity_list(entity) + "/bulk",
               "new_url": root + urls.record_action(entity, "new"),
               "board_url": root + urls.board(entity) if svc_has_board(request, entity) else None,
               "results_id": RESULTS_ID}
    # htmx swaps the results region; a history restore or a boosted link wants the whole page.
    partial = is_htmx(request) and request.headers.get("HX-Target") == RESULTS_ID \
        and request.headers.get("HX-History-Restore-Request") != "true"
    template = "_list_table.html" if partial else page_templates("list", entity)
    return render(request, template, context, status_code=status_code, headers={"Vary": "HX-Request, HX-Target"})


async def bulk_action(request: Request) -> Response:
    """`POST /records/{entity}/bulk`: export the chosen records (or all matching), or change their owner."""
    svc, actor = services(request), signed_in_actor(request)
    entity = readable_entity(svc, actor, request.path_params["entity"])
    form = await request.form()
    ids = _ids(form.getlist("ids"))
    state_query = str(form.get("state") or "")
    params = dict(_parse_qs(state_query))
    action = str(form.get("action") or "")
    if action in ("export_csv", "export_xlsx"):
        return await run_in_threadpool(_export, svc, actor, entity.name, ids, params, action[len("export_"):])
    if action == "owner":
        if "owned" not in entity.traits:
            raise NotFound("bulk action", f"owner change on {entity.name}")
        message = await run_in_threadpool(_change_owner, svc, actor, entity.name, ids, str(form.get("owner") or ""))
        page = await run_in_threadpool(_page_with_cells, request, svc, actor, entity.name, params)
        return _render(request, page, message=message)
    raise NotFound("bulk action", action or "(none)")


def _ids(values: list[Any]) -> list[int]:
    out: list[int] = []
    for v in values:
        text = str(v).strip()
        if text.isdigit() and int(text) not in out:
            out.append(int(text))
    return out[:BULK_LIMIT]


def _parse_qs(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl
    return parse_qsl(text[:4000], keep_blank_values=False)


def _export(svc: Services, actor: Actor, entity: str, ids: list[int], params: Mapping[str, str],
            fmt: str) -> Response:
    """The chosen records, else every record the list's filters match: the exporter's guards apply."""
    if ids:
        options: dict[str, Any] = {"where": {"id": ids}}
    else:
        view = list_view(svc, actor, entity)
        state = view.read(params, frozenset(u.id for u in svc.users.list()))
        filter_expr, values = view.filter_expression(state)
        options = {"filter_expr": filter_expr, "params": values, "search": state.q or None}
    if fmt == "csv":
        text = io.StringIO()
        export_records(svc.records, actor, entity, text, fmt="csv", **options)
        body, media = text.getvalue().encode("utf-8-sig"), "text/csv; charset=utf-8"
    else:
        binary = io.BytesIO()
        export_records(svc.records, actor, entity, binary, fmt="xlsx", **options)
        body, media = binary.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{entity}.{fmt}"'})


def _change_owner(svc: Services, actor: Actor, entity: str, ids: list[int], owner: str) -> dict[str, Any]:
    """Each chosen record through `Records.update` (its checks, audit, alerts); errors per record."""
    if not ids:
        return {"kind": "error", "code": "no_selection", "errors": []}
    if not owner.isdigit():
        return {"kind": "error", "code": "no_owner", "errors": []}
    done, errors = 0, []
    for record_id in ids:
        try:
            svc.records.update(actor, entity, record_id, {"owner": int(owner)}, expected_version=None)
            done += 1
        except DomainError as exc:
            errors.append((record_id, _problem_text(exc)))
    return {"kind": "error" if errors else "ok", "code": "done", "done": done, "errors": errors}


def _problem_text(exc: DomainError) -> str:
    details = exc.to_dict()
    fields = details.get("fields") or {}
    parts = [f"{name}: {'; '.join(msgs)}" for name, msgs in fields.items()] + list(details.get("messages") or [])
    return "; ".join(parts) or exc.message


ROUTES = [
    Route(urls.ENTITY_LIST, entity_list, methods=["GET"], name="entity_list"),
    Route(urls.ENTITY_LIST + "/bulk", bulk_action, methods=["POST"], name="entity_bulk"),
]
