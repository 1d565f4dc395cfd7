"""The pipeline board (`GET /records/{entity}/board`) and stage moves (`POST /records/{entity}/{id}/move`).

What the user gets: one column per stage of the entity's pipeline (label in
their language, probability), each with its count and the sum of the list's
first money column, and cards (title, a few list columns, an "idle" badge)
for the first CARD_LIMIT records. The filters, segments and search are the
list page's own (`lists.list_view` / `ListView.read`), so one URL query means
the same on both views. Dragging a card (board.js, SortableJS) posts a move;
the record page's move control posts the same form without JavaScript.

Every read goes through the records service's statement with the signed-in
user (the one permission filter); totals are one GROUP BY over it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlalchemy import func, select
from sqlalchemy.sql.elements import False_
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.runtime.actor import Actor
from engine.runtime.errors import NotFound, ValidationFailed
from engine.runtime.workflow import Workflow

from .. import urls
from ..i18n import label_text
from ..services import Services
from ..templating import render
from ..web import formatter, is_htmx, request_locale, services, signed_in_actor, translations
from .list_cells import Cell, Cells
from .list_spec import ListView
from .lists import list_view, readable_entity

CARD_LIMIT = 50          # cards shown per column; the column's total still counts all
CARD_COLUMNS = 3         # list columns shown on a card besides the title


@dataclass(frozen=True, slots=True)
class Card:
    id: int
    version: int
    title: str
    stage: str
    cells: list[tuple[str, Cell]]       # (column label text, cell)
    idle: bool


@dataclass(slots=True)
class Column:
    stage: m.Stage
    count: int = 0
    total: Any = None
    cards: list[Card] = field(default_factory=list)


def workflow_of(svc: Services) -> Workflow:
    if svc.workflow is None:
        raise NotFound("workflow", "board")
    return svc.workflow


def money_column(view: ListView) -> str | None:
    """The first money column of the list that is the entity's own field (summed per column)."""
    return next((c.key for c in view.columns if c.link is None and c.field.type == "money"), None)


def idle_ids(svc: Services, entity: str, ids: list[int]) -> set[int]:
    """Which of these (already permission-filtered) records are idle: one SELECT with the workflow's flag."""
    if not ids:
        return set()
    table = svc.tables.entity(entity)
    idle = workflow_of(svc).is_idle(entity, table)
    if isinstance(idle, False_):         # the pipeline has no follow-up rule: nothing is idle, nothing to ask
        return set()
    with svc.engine.connect() as conn:
        query = select(table.c.id).where(table.c.id.in_(ids), idle)
        return {int(x) for x in conn.execute(query).scalars()}


def load_board(request: Request, svc: Services, actor: Actor, entity: str,
               params: Mapping[str, str]) -> dict[str, Any]:
    """The board's columns in the state the URL gives (blocking: run in a thread)."""
    ent = svc.config.entities[entity]
    stage_field = svc.config.stage_field(entity)
    stages = workflow_of(svc).pipelines.stages(entity)
    if stage_field is None or not stages:
        raise NotFound("board", entity)
    view = list_view(svc, actor, entity)
    users = svc.users.list(include_disabled=True)
    state = view.read(params, frozenset(u.id for u in users))
    filter_expr, values = view.filter_expression(state)
    money = money_column(view)
    columns = {s.key: Column(s) for s in stages}
    # Totals: one GROUP BY over the user's own list statement (permissions, filters, search included).
    base = svc.records.query.select(actor, entity, filter_expr=filter_expr, params=values,
                                    search=state.q or None).order_by(None).subquery()
    sums = [func.sum(base.c[money])] if money and money in base.c else []
    with svc.engine.connect() as conn:
        for row in conn.execute(select(base.c[stage_field.name], func.count(), *sums)
                                .group_by(base.c[stage_field.name])):
            if row[0] in columns:
                columns[row[0]].count = int(row[1])
                columns[row[0]].total = row[2] if sums else None
    cells = Cells(svc.config, formatter(request), request_locale(request), request.scope.get("root_path", ""))
    shown = [c for c in view.columns if not c.is_title and c.key != stage_field.name][:CARD_COLUMNS]
    locale, fallback = request_locale(request), svc.config.company.default_locale
    rows: list[dict[str, Any]] = []
    for key, column in columns.items():
        if column.count == 0:
            continue
        page = svc.records.list(actor, entity, filter_expr=filter_expr, params=values, where={stage_field.name: key},
                                search=state.q or None, sort=view.sort_of(state), limit=CARD_LIMIT,
                                with_titles=True, paths=view.paths())
        rows.extend(page.rows)
    idle = idle_ids(svc, entity, [r["id"] for r in rows])
    for r in rows:
        card = _card(ent, r, stage_field.name, shown, cells, idle, locale, fallback, translations(request).gettext)
        columns[card.stage].cards.append(card)
    return {"entity": ent, "view": view, "state": state, "columns": list(columns.values()), "money": money,
            "users": [u for u in users if u.active], "card_limit": CARD_LIMIT,
            "board_url": request.scope.get("root_path", "") + urls.board(entity),
            "list_url": request.scope.get("root_path", "") + urls.entity_list(entity)}


def _card(ent: m.Entity, r: Mapping[str, Any], stage: str, shown: list[Any], cells: Cells, idle: set[int],
          locale: str, fallback: str, gettext: Callable[[str], str]) -> Card:
    title_field = ent.fields.get(ent.title)
    title = r.get(ent.title)
    text = cells.value(title_field, title).text if title_field is not None and title not in (None, "") \
        and title_field.type not in ("link", "user") else ""
    return Card(int(r["id"]), int(r["version"]), text or f"#{r['id']}", str(r.get(stage)),
                [(" · ".join(label_text(lbl, locale, fallback, gettext) for lbl in c.labels), cells.of(ent, c, r))
                 for c in shown],
                int(r["id"]) in idle)


async def board_page(request: Request) -> Response:
    svc, actor = services(request), signed_in_actor(request)
    entity = readable_entity(svc, actor, request.path_params["entity"])
    data = await run_in_threadpool(load_board, request, svc, actor, entity.name, request.query_params)
    return render(request, "board.html", data, headers={"Vary": "HX-Request"})


async def move(request: Request) -> Response:
    """A drop on the board (htmx/fetch: the card and both columns' totals) or the record page's form (redirect)."""
    svc, actor = services(request), signed_in_actor(request)
    entity = readable_entity(svc, actor, request.path_params["entity"])
    record_id = int(request.path_params["record_id"])
    form = await request.form()
    stage = str(form.get("stage") or "")
    version_text = str(form.get("version") or "").strip()
    if not stage:
        raise ValidationFailed({"stage": ["choose the stage to move to"]})
    version = int(version_text) if version_text.isdigit() else None
    # A refusal raises StageRefused (422, every missing requirement) or Conflict (409, stale version).
    await run_in_threadpool(workflow_of(svc).move, actor, entity.name, record_id, stage, version)
    if not is_htmx(request):
        return RedirectResponse(request.scope.get("root_path", "") + urls.record(entity.name, record_id),
                                status_code=303)
    query = str(form.get("state") or "")
    data = await run_in_threadpool(_moved, request, svc, actor, entity.name, record_id, query)
    return render(request, "_board_moved.html", data)


def _moved(request: Request, svc: Services, actor: Actor, entity: str, record_id: int,
           query: str) -> dict[str, Any]:
    from urllib.parse import parse_qsl
    board = load_board(request, svc, actor, entity, dict(parse_qsl(query[:4000])))
    card = next((c for col in board["columns"] for c in col.cards if c.id == record_id), None)
    return {**board, "card": card}


ROUTES = [
    Route(urls.BOARD, board_page, methods=["GET"], name="entity_board"),
    Route(urls.RECORD_MOVE, move, methods=["POST"], name="record_move"),
]
