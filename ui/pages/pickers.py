"""htmx helpers of the record form: link/user type-ahead and the lines grid.

    GET  /records/{entity}/lookup?field=account&q=acm     options for a link or user picker
    POST /records/{entity}/lines/items?op=add             the grid with one more row
    POST /records/{entity}/lines/items?op=remove&row=2    the grid with row 2 marked deleted
    POST /records/{entity}/lines/items?op=totals          the grid's totals and each row's formula
                                                          cells (line total), on change

The lookup lists what the user may read (the records service's permission
filter) that matches the link's `filter`, whose `$field` values are taken
from the form being edited (sent along with `hx-include`). Options are radio
buttons named like the field, so choosing one needs no script. A lines cell
(`items.0.product`) looks up with its own row's values.
"""
from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.metadata import model as m
from engine.runtime.errors import NotFound
from engine.runtime.values import convert

from .. import urls
from ..formkit import FormKit, form_kit
from ..formstate import ROW_KEY, LineRow
from ..templating import render
from ..widgets import widget_id

LOOKUP_LIMIT = 20


def _picked_field(kit: FormKit, name: str) -> tuple[m.Entity, m.Field, str]:
    """The field an input name means, its entity, and the prefix of its row (`items.0.`) if any."""
    match = ROW_KEY.match(name)
    if match and match["field"] in kit.children:
        child = kit.children[match["field"]]
        f = child.fields.get(match["column"])
        if f is not None and f in kit.columns[match["field"]]:
            return child, f, f"{match['field']}.{match['index']}."
    elif name in kit.entity.fields and kit.entity.fields[name] in kit.fields:
        return kit.entity, kit.entity.fields[name], ""
    raise NotFound("field", name)


def _options(kit: FormKit, entity: m.Entity, f: m.Field, prefix: str, q: str, form: Any) -> list[tuple[str, str]]:
    if f.type == "user":
        words = q.lower().split()
        people = [u for u in kit.svc.users.list(include_disabled=False)
                  if all(w in f"{u.username} {u.full_name}".lower() for w in words)]
        return [(str(u.id), u.full_name or u.username) for u in people[:LOOKUP_LIMIT]]
    target = kit.svc.config.entities[f.entity or ""]
    params: dict[str, Any] = {}
    if f.filter:
        ctx = kit.svc.records.query.values
        for name in kit.svc.records.exprs.params_of(f.filter):
            source = entity.fields.get(name)
            raw = form.get(prefix + name) if source is not None else None
            value, problems = convert(source, raw, ctx) if source is not None else (None, [])
            params[name] = None if problems else value
    page = kit.svc.records.list(kit.actor, target.name, filter_expr=f.filter, params=params,
                                search=q or None, limit=LOOKUP_LIMIT)
    return [(str(r["id"]), kit.shown.title_of(target, r)) for r in page.rows]


async def lookup(request: Request) -> Response:
    kit = form_kit(request, request.path_params["entity"])
    params = request.query_params
    name = params.get("field", "")
    entity, f, prefix = _picked_field(kit, name)
    if f.type not in ("link", "user"):
        raise NotFound("picker", name)
    q = (params.get("q") or params.get(name + "__search") or "").strip()[:100]
    current = params.get(name, "")
    options = await run_in_threadpool(_options, kit, entity, f, prefix, q, params)
    return render(request, "_options.html", {"name": name, "id": widget_id(name),
                                             "options": options, "current": current,
                                             "required": f.required, "searched": bool(q)})


async def lines(request: Request) -> Response:
    """The lines grid redrawn from the posted form, with a row added or removed, or only its totals."""
    kit = form_kit(request, request.path_params["entity"])
    field = request.path_params["field"]
    if field not in kit.children:
        raise NotFound("lines field", field)
    form = await request.form()
    state = kit.state_from(form)
    rows = state.lines.setdefault(field, [])
    op = request.query_params.get("op", "totals")
    builder = kit.builder()
    if op == "totals":
        def refresh() -> tuple[dict[str, Any], list[Any]]:
            lines_field = kit.entity.fields[field]
            computed = builder.computed(lines_field, state)      # each row's formulas, as on save
            return builder.totals(lines_field, state, computed), builder.computed_cells(lines_field, state, computed)
        totals, cells = await run_in_threadpool(refresh)
        columns = [(c.name, kit.shown.label(c.label), c.name in totals) for c in kit.columns[field]]
        return render(request, "_lines_refresh.html", {"grid_totals": totals, "field": field, "columns": columns,
                                                       "cells": cells})
    if op == "add":
        rows.append(LineRow(len(rows), None, {}))
    elif op == "remove":
        row_text = request.query_params.get("row", "")
        for row in rows:
            if str(row.index) == row_text:
                row.deleted = True
    raw_id = str(form.get("_record_id") or "")
    record = None
    if raw_id.isdigit():
        record = await run_in_threadpool(kit.svc.records.get, kit.actor, kit.entity.name, int(raw_id))
    widget = await run_in_threadpool(lambda: builder.lines(kit.entity.fields[field], state, {}, record))
    return render(request, "_lines.html", {"w": widget, "lines_url": f"/records/{kit.entity.name}/lines/",
                                           "lookup_url": urls.record_action(kit.entity.name, "lookup"),
                                           "validate_url": urls.record_action(kit.entity.name, "validate")})


ROUTES = [
    Route(urls.RECORD_LOOKUP, lookup, methods=["GET"], name="record_lookup"),
    Route(urls.RECORD_LINES, lines, methods=["POST"], name="record_lines"),
]
