"""Signing in and out: sessions, redirects, slowed and logged failures, inactive users."""
from __future__ import annotations

import logging

from ui_helpers import PASSWORD, csrf_token, page_token, sign_in


def test_pages_need_sign_in_and_remember_where_the_user_was_going(site):
    client = site.client()
    response = client.get("/records/deal?page=2")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/records/deal%3Fpage%3D2"


def test_unknown_paths_send_strangers_to_login_not_to_a_404(site):
    assert site.client().get("/no/such/page").headers["location"].startswith("/login")


def test_htmx_requests_without_sign_in_get_401_with_hx_redirect(site):
    response = site.client().get("/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


def test_login_page_is_public_and_has_labelled_fields(site):
    response = site.client().get("/login")
    assert response.status_code == 200
    assert '<label for="username">' in response.text and '<label for="password">' in response.text
    assert 'autocomplete="current-password"' in response.text


def test_sign_in_redirects_to_next_and_shows_the_welcome(site):
    client = site.client()
    response = sign_in(client, "anna", next_path="/records/deal")
    assert response.status_code == 303 and response.headers["location"] == "/records/deal"
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Anna Adams!" in home.text


def test_sign_in_never_redirects_to_another_site(site):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = sign_in(site.client(), "anna", next_path=target)
        assert response.headers["location"] == "/"


def test_signing_in_starts_a_new_session_with_a_new_csrf_token(site):
    client = site.client()
    before_token = csrf_token(client.get("/login").text)
    before_cookie = client.cookies.get("crm_session")
    sign_in(client, "anna")
    assert client.cookies.get("crm_session") != before_cookie
    assert page_token(client) != before_token


def test_session_cookie_is_httponly_samesite_lax_and_secure_when_asked(site):
    plain = site.client().get("/login").headers["set-cookie"].lower()
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    secure = site.client(secure_cookies=True).get("/login").headers["set-cookie"].lower()
    assert "; secure" in secure


def test_wrong_password_is_refused_and_logged_without_the_password(site, caplog):
    client = site.client()
    with caplog.at_level(logging.WARNING, logger="crm.ui.auth"):
        response = sign_in(client, "anna", password="guess-123")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert 'value="anna"' in response.text                 # the username is kept, the password not
    assert "guess-123" not in response.text
    assert any("sign-in failed for 'anna'" in r.getMessage() for r in caplog.records)
    assert "guess-123" not in caplog.text
    assert client.get("/").status_code == 303               # still signed out


def test_failed_logins_are_slowed_more_each_time_up_to_a_cap(site):
    client = site.client()
    for _ in range(6):
        sign_in(client, "anna", password="wrong")
    assert site.sleep.delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_success_forgets_the_failures(site):
    client = site.client()
    sign_in(client, "anna", password="wrong")
    sign_in(client, "anna", password="wrong")
    assert sign_in(client, "anna").status_code == 303
    other = site.client()
    sign_in(other, "anna", password="wrong")
    assert site.sleep.delays == [0.5, 1.0, 0.5]


def test_delays_are_counted_per_username(site):
    client = site.client()
    sign_in(client, "anna", password="wrong")
    sign_in(client, "anna", password="wrong")
    sign_in(client, "mona", password="wrong")
    sign_in(client, "nobody", password="wrong")
    assert site.sleep.delays == [0.5, 1.0, 0.5, 0.5]


def test_inactive_users_cannot_sign_in(site):
    response = sign_in(site.client(), "dora", password=PASSWORD)
    assert response.status_code == 401
    assert "Wrong username or password." in response.text


def test_a_user_disabled_after_signing_in_is_signed_out_at_the_next_request(site):
    client = site.signed_in("anna")
    assert client.get("/").status_code == 200
    site.users.disable("anna")
    assert client.get("/").headers["location"] == "/login"


def test_logout_ends_the_session(site):
    client = site.signed_in("anna")
    response = client.post("/logout", data={"csrf_token": page_token(client)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_logout_by_htmx_redirects_through_hx_redirect(site):
    client = site.signed_in("anna")
    response = client.post("/logout", headers={"HX-Request": "true", "X-CSRF-Token": page_token(client)})
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/login"


def test_logout_is_not_a_link(site):
    client = site.signed_in("anna")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_signed_in_users_visiting_login_go_home(site):
    client = site.signed_in("anna")
    assert client.get("/login").headers["location"] == "/"
