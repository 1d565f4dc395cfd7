"""`url_for` and `static` in templates: remembered per route, yet always this request's address."""
from __future__ import annotations

from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ui.templating import page_context


def _urls_page(app):
    template = app.state.templates.env.from_string(
        "{{ url_for('home') }}|{{ url_for('home').path }}|{{ static('crm.css') }}|"
        "{{ url_for('record', entity='account', record_id=n) }}")

    async def urls(request):
        context = {**page_context(request), "request": request, "n": int(request.query_params["n"])}
        return HTMLResponse(template.render(context))
    app.router.routes.append(Route("/urls", urls))


def test_remembered_urls_follow_the_host_root_path_and_parameters(site):
    app = site.app()
    _urls_page(app)
    client = site.signed_in("anna", app)
    assert client.get("/urls?n=1").text == \
        "http://testserver/|/|/static/crm.css|http://testserver/records/account/1"
    # Asked again from another address, and for another record: never an answer meant for the first.
    assert client.get("/urls?n=2", headers={"Host": "crm.example.com"}).text == \
        "http://crm.example.com/|/|/static/crm.css|http://crm.example.com/records/account/2"
    assert client.get("/urls?n=1").text == \
        "http://testserver/|/|/static/crm.css|http://testserver/records/account/1"
    # Behind a proxy that mounts the site below a path, every URL carries that root path.
    with TestClient(app, root_path="/crm") as proxied:
        assert 'href="/crm/static/crm.css"' in proxied.get("/login").text
    assert 'href="/static/crm.css"' in client.get("/").text                # and again without it
