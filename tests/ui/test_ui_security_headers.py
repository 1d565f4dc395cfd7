"""Security headers on every kind of response, and pages our own CSP does not block."""
from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from ui.security import SECURITY_HEADERS


def assert_secure(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/crm.css", "/static/crm.js", "/", "/nowhere"])
def test_signed_out_responses_have_the_headers(site, path):
    assert_secure(site.client().get(path))


@pytest.mark.parametrize("path", ["/", "/nowhere", "/login"])
def test_signed_in_responses_have_the_headers(site, path):
    assert_secure(site.signed_in("anna").get(path))


def test_refusals_have_the_headers(site):
    client = site.signed_in("anna")
    assert_secure(client.post("/preferences/locale", data={}))
    assert_secure(client.post("/logout", headers={"HX-Request": "true"}))


def test_server_errors_have_the_headers_and_no_details(site):
    app = site.app()

    async def broken(request):
        raise RuntimeError("secret detail")
    app.router.routes.append(Route("/broken", broken))
    response = site.signed_in("anna", app, raise_server_exceptions=False).get("/broken")
    assert response.status_code == 500
    assert "Something went wrong" in response.text and "secret detail" not in response.text
    assert_secure(response)


def test_pages_are_not_cached_but_static_files_may_be(site):
    client = site.signed_in("anna")
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/crm.css").headers.get("Cache-Control", "")


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"\shx-on", re.I), "hx-on (needs eval)"),
]


@pytest.mark.parametrize("user,path", [(None, "/login"), ("anna", "/"), ("root", "/"), ("anna", "/nowhere")])
def test_pages_have_no_inline_script_or_style(site, user, path):
    client = site.signed_in(user) if user else site.client()
    html = client.get(path).text
    for pattern, what in INLINE:
        assert not pattern.search(html), f"{what} on {path}"


def test_htmx_is_told_not_to_inject_styles_or_eval(site):
    html = site.client().get("/login").text
    config = re.search(r'<meta name="htmx-config" content="([^"]+)"', html).group(1).replace("&#34;", '"')
    assert '"includeIndicatorStyles":false' in config and '"allowEval":false' in config
