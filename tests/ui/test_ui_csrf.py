"""Every state-changing request carries the session's CSRF token, or is refused with 403."""
from __future__ import annotations

import pytest
from ui_helpers import csrf_token, page_token


def test_login_form_without_token_is_refused(site):
    client = site.client()
    client.get("/login")
    response = client.post("/login", data={"username": "anna", "password": "pw"})
    assert response.status_code == 403
    assert "The form has expired" in response.text
    assert site.sleep.delays == []          # refused before any password was checked


def test_post_without_token_is_refused(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu"})
    assert response.status_code == 403
    assert site.users.actor("anna").locale == "en"


def test_post_with_a_wrong_token_is_refused(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu", "csrf_token": "forged"})
    assert response.status_code == 403
    assert site.users.actor("anna").locale == "en"


def test_another_sessions_token_is_refused(site):
    victim, attacker = site.signed_in("anna"), site.signed_in("mona")
    response = victim.post("/preferences/locale", data={"locale": "hu", "csrf_token": page_token(attacker)})
    assert response.status_code == 403


def test_htmx_request_with_a_wrong_header_gets_a_403_fragment(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu"},
                           headers={"HX-Request": "true", "X-CSRF-Token": "forged"})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash"
    assert "<html" not in response.text and 'role="alert"' in response.text


def test_htmx_request_without_the_header_is_refused(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu"}, headers={"HX-Request": "true"})
    assert response.status_code == 403


def test_htmx_request_with_the_header_passes(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu"},
                           headers={"HX-Request": "true", "X-CSRF-Token": page_token(client)})
    assert response.status_code == 204
    assert site.users.actor("anna").locale == "hu"


def test_form_field_token_passes_and_the_handler_still_reads_the_form(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu", "csrf_token": page_token(client)})
    assert response.status_code == 303
    assert site.users.actor("anna").locale == "hu"


def test_multipart_form_token_passes(site):
    client = site.signed_in("anna")
    response = client.post("/preferences/locale", data={"locale": "hu", "csrf_token": page_token(client)},
                           files={"unused": ("note.txt", b"hello", "text/plain")})
    assert response.status_code == 303
    assert site.users.actor("anna").locale == "hu"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_other_unsafe_methods_need_the_token_too(site, method):
    client = site.signed_in("anna")
    assert client.request(method, "/preferences/locale").status_code == 403
    allowed = client.request(method, "/preferences/locale", headers={"X-CSRF-Token": page_token(client)})
    assert allowed.status_code == 405       # past the CSRF check; the route takes POST only


def test_pages_carry_the_token_for_htmx_and_forms(site):
    client = site.signed_in("anna")
    page = client.get("/").text
    token = csrf_token(page)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in page


def test_oversized_bodies_are_refused_before_parsing(site):
    client = site.signed_in("anna", max_body_bytes=1000)
    response = client.post("/preferences/locale", data={"locale": "x" * 2000, "csrf_token": page_token(client)})
    assert response.status_code == 413
