"""Errors as pages or htmx fragments; 404 and 403 never tell whether a record exists."""
from __future__ import annotations

import pytest
from starlette.routing import Route

from engine.runtime.errors import Conflict, Forbidden, NotFound, ValidationFailed


def test_unknown_route_renders_the_404_page_inside_the_layout(site):
    response = site.signed_in("anna").get("/no/such/page")
    assert response.status_code == 404
    assert "<h1 class=\"error__title\">Not found</h1>" in response.text
    assert 'id="site-nav"' in response.text


def test_404_in_the_users_language(site):
    response = site.signed_in("mona").get("/no/such/page")
    assert "Nem található" in response.text


def test_htmx_errors_are_fragments_retargeted_to_the_message_area(site):
    response = site.signed_in("anna").get("/no/such/page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#flash" and response.headers["HX-Reswap"] == "innerHTML"
    assert "<html" not in response.text and "Not found" in response.text


def raising(exc: Exception):
    async def endpoint(request):
        raise exc
    return endpoint


@pytest.fixture
def erring(site):
    """A signed-in client on an app with routes that raise domain errors."""
    app = site.app()
    app.router.routes.extend([
        Route("/missing", raising(NotFound("deal", 7))),
        Route("/forbidden", raising(Forbidden("deal 7 belongs to Mona's team"))),
        Route("/conflict", raising(Conflict("the account still has deals"))),
        Route("/invalid", raising(ValidationFailed({"amount": ["must be at least 0"]}, ["Close date is wrong"]))),
    ])
    return site.signed_in("anna", app)


def test_missing_and_forbidden_look_generic(erring):
    missing = erring.get("/missing")
    unknown = erring.get("/no/such/page")
    assert missing.status_code == unknown.status_code == 404
    assert "deal 7" not in missing.text
    assert missing.text.replace("/missing", "") == unknown.text.replace("/no/such/page", "")
    forbidden = erring.get("/forbidden")
    assert forbidden.status_code == 403
    assert "You may not do this." in forbidden.text and "Mona" not in forbidden.text


def test_other_domain_errors_show_their_message_with_their_status(erring):
    conflict = erring.get("/conflict")
    assert conflict.status_code == 409 and "the account still has deals" in conflict.text
    invalid = erring.get("/invalid", headers={"HX-Request": "true"})
    assert invalid.status_code == 422
    assert "must be at least 0" in invalid.text and "Close date is wrong" in invalid.text
    assert "<html" not in invalid.text


def test_wrong_method_is_405_with_a_page(site):
    response = site.signed_in("anna").get("/logout")
    assert response.status_code == 405 and "Not possible here" in response.text
