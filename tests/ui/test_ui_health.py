"""/healthz answers without signing in."""
from __future__ import annotations


def test_healthz_is_public(site):
    response = site.client().get("/healthz")
    assert response.status_code == 200 and response.text == "ok"
    assert "set-cookie" not in response.headers


def test_static_files_are_public(site):
    response = site.client().get("/static/crm.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
