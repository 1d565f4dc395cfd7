"""The router that remembers each method and path's route (ui/routing.py) answers as Starlette's own:
the same pages, path parameters, 405s, slash redirects and 404s, whether remembered or not."""
from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.routing import Route, Router

from ui.app import _lifespan
from ui.routing import RememberingRouter
from ui_helpers import page_token

ASKED = [("GET", "/"), ("GET", "/records/deal"), ("GET", "/records/account"), ("GET", "/records/deal/"),
         ("POST", "/records/deal"), ("PUT", "/"), ("DELETE", "/records/account"), ("GET", "/no/such/page"),
         ("GET", "/records/nope"), ("GET", "/static/crm.css"), ("GET", "/static/missing.css"),
         ("HEAD", "/records/deal"), ("GET", "/records/deal?page=2")]


def answers(client) -> list[tuple]:
    token = page_token(client)
    seen = []
    for method, path in ASKED:
        answer = client.request(method, path, headers={"X-CSRF-Token": token})
        body = answer.text.replace(token, "TOKEN")
        seen.append((method, path, answer.status_code, answer.headers.get("location"),
                     answer.headers.get("allow"), body))
    return seen


def test_remembered_routes_answer_as_starlettes_router(site):
    remembering = site.signed_in("anna")
    assert isinstance(remembering.app.router, RememberingRouter)
    first = answers(remembering)
    assert remembering.app.router._first                           # some are remembered now
    again = answers(remembering)
    plain_app = site.app()
    plain_app.router = Router(plain_app.router.routes, lifespan=_lifespan)
    plain = answers(site.signed_in("anna", app=plain_app))
    assert [a[:5] for a in first] == [a[:5] for a in again] == [a[:5] for a in plain]
    assert [a[5] for a in again] == [a[5] for a in plain]
    statuses = {(m, p): s for m, p, s, *_ in plain}
    assert statuses[("POST", "/records/deal")] == 405 and statuses[("GET", "/no/such/page")] == 404
    assert statuses[("GET", "/records/deal/")] in (307, 308)


def test_a_route_added_later_is_found_for_a_remembered_path(site):
    client = site.signed_in("anna")
    assert client.get("/records/deal").status_code == 200        # remembered
    client.app.router.routes.insert(0, Route("/records/deal", lambda request: PlainTextResponse("first")))
    assert client.get("/records/deal").text == "first"
