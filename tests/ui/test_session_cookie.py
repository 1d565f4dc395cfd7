"""The session cookie's verification memory (ui/session_cookie.py): a remembered cookie is refused
exactly when the signer would refuse it, whether the memory is cold (a new app) or warm."""
from __future__ import annotations

import json
import time
from base64 import b64encode

import itsdangerous
import pytest
from ui_helpers import PASSWORD, SECRET, page_token

from ui.session_cookie import SessionCookieMiddleware

COOKIE = "crm_session"


def session_middleware(app) -> SessionCookieMiddleware:
    node = app.middleware_stack
    while not isinstance(node, SessionCookieMiddleware):
        node = node.app
    return node


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Seconds added to the real wall clock (the signer's and the middleware's `time.time`)."""
    shift = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + shift[0])
    return shift


def cold_and_warm(site, cookie: str, **options):
    """The answer to GET / with `cookie` from a new app (nothing remembered), then from an app
    that has just verified the signed-in user's own cookie (memory warm)."""
    cold = get_with(site.client(**options), cookie)
    warm = site.signed_in("anna", **options)
    warm.get("/")
    assert session_middleware(warm.app).verified
    return cold, get_with(warm, cookie)


def get_with(client, cookie: str):
    """GET / sending exactly `cookie` (the test client's own jar would drop an expired one itself)."""
    client.cookies.clear()
    return client.get("/", headers={"cookie": f"{COOKIE}={cookie}"})


def test_a_verified_cookie_is_remembered_and_not_sent_again(site):
    client = site.signed_in("anna")
    first = client.get("/")
    assert first.status_code == 200
    assert "set-cookie" not in first.headers            # unchanged session: no new cookie
    assert first.headers["vary"] == "Cookie"
    middleware = session_middleware(client.app)
    assert (f"{COOKIE}={client.cookies[COOKIE]}".encode(),) in middleware.verified
    again = client.get("/")
    assert again.status_code == 200 and "set-cookie" not in again.headers
    assert page_token(client) == page_token(client)   # the same session, read from memory


def test_an_expired_cookie_is_refused_cold_and_warm(site, clock):
    client = site.signed_in("anna", session_max_age=60)
    cookie = client.cookies[COOKIE]
    assert get_with(client, cookie).status_code == 200          # remembered now
    clock[0] = 59
    assert get_with(client, cookie).status_code == 200
    clock[0] = 62
    answer = get_with(client, cookie)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert (f"{COOKIE}={cookie}".encode(),) not in session_middleware(client.app).verified  # forgotten
    assert get_with(site.client(session_max_age=60), cookie).status_code == 303


def test_a_cookie_signed_in_the_future_is_refused_even_when_remembered(site, clock):
    clock[0] = 30
    client = site.signed_in("anna")
    cookie = client.cookies[COOKIE]
    assert get_with(client, cookie).status_code == 200
    clock[0] = 0
    assert get_with(client, cookie).status_code == 303


def test_a_tampered_cookie_is_refused_cold_and_warm(site):
    client = site.signed_in("anna")
    client.get("/")
    cookie = client.cookies[COOKIE]
    payload, stamp, signature = cookie.rsplit(".", 2)
    other = "A" if signature[0] != "A" else "B"
    for tampered in (f"{payload}.{stamp}.{other}{signature[1:]}",
                     f"{b64encode(json.dumps({'uid': 1}).encode()).decode()}.{stamp}.{signature}"):
        cold, warm = cold_and_warm(site, tampered)
        assert cold.status_code == 303 and warm.status_code == 303


def test_a_cookie_in_starlettes_own_format_is_accepted(site):
    """Sessions signed before (Starlette's SessionMiddleware) stay valid: same signer, same payload."""
    data = b64encode(json.dumps({"uid": site.users.actor("anna").id, "since": int(time.time()),
                                 "csrf": "t" * 43}).encode())
    cookie = itsdangerous.TimestampSigner(SECRET).sign(data).decode()
    cold, warm = cold_and_warm(site, cookie)
    assert cold.status_code == 200 and warm.status_code == 200
    assert 'content="' + "t" * 43 + '"' in warm.text


def test_a_changed_session_is_sent_again_and_sign_out_expires_it(site):
    client = site.signed_in("anna")
    client.get("/")
    old = client.cookies[COOKIE]
    token = page_token(client)
    # Signing in again (a changed session, memory warm) sends a new cookie.
    signed = client.post("/login", data={"username": "mona", "password": PASSWORD,
                                         "csrf_token": token, "next": "/"})
    assert signed.status_code == 303
    assert signed.headers["set-cookie"].startswith(f"{COOKIE}=")
    assert client.cookies[COOKIE] != old
    assert "Mona" in client.get("/").text
    out = client.post("/logout", data={"csrf_token": page_token(client)})
    assert out.status_code == 303
    cleared = out.headers["set-cookie"]
    assert cleared.startswith(f"{COOKIE}=null;") and "expires=Thu, 01 Jan 1970 00:00:00 GMT" in cleared
    assert "httponly" in cleared.lower() and "samesite=lax" in cleared.lower()
    assert client.get("/").status_code == 303          # signed out


def test_a_new_session_is_sent_with_the_same_flags(site):
    answer = site.client(secure_cookies=True).get("/login")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "; path=/; Max-Age=43200; httponly; samesite=lax; secure" in cookie
