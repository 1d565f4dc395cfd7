"""Small helpers every handler uses: the services, the signed-in user, language, htmx, redirects."""
from __future__ import annotations

import gettext
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from engine.runtime.actor import Actor

from .formatting import Formatter
from .i18n import negotiate
from .services import Services

ACTOR_KEY = "crm.actor"     # scope key the auth middleware fills
SERVICES_KEY = "crm.services"   # scope key: the services a request started with (ui/reload.py pins them)
LOCALE_KEY = "crm.locale"       # scope key: request_locale's answer


def services(request: HTTPConnection) -> Services:
    """The configuration's services for this request: the same object from its start to its end,
    even when a new configuration revision is swapped in meanwhile (ui/reload.py)."""
    pinned = request.scope.get(SERVICES_KEY)
    return pinned if pinned is not None else request.app.state.services  # type: ignore[no-any-return]


def current_actor(request: HTTPConnection) -> Actor | None:
    """The signed-in user, or None on the public pages (login, /healthz, static files)."""
    return request.scope.get(ACTOR_KEY)


def signed_in_actor(request: HTTPConnection) -> Actor:
    """The signed-in user of a page behind the sign-in (the auth middleware guarantees one)."""
    actor = current_actor(request)
    if actor is None:
        raise RuntimeError(f"{request.url.path} is served without a signed-in user")
    return actor


def is_htmx(request: HTTPConnection) -> bool:
    """True for requests htmx sends (they expect a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` when it is a path on this site, else `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def request_locale(request: HTTPConnection) -> str:
    """The UI language: the user's own, else the browser's best match, else the company's.

    Worked out once per request (a page asks several times) and kept in its scope, with the
    user and the services it was worked out for: it depends on nothing else."""
    svc, actor = services(request), current_actor(request)
    known = request.scope.get(LOCALE_KEY)
    if known is not None and known[0] is svc and known[1] is actor:
        return known[2]  # type: ignore[no-any-return]
    company = svc.config.company
    if actor is not None and actor.locale and actor.locale in company.locales:
        locale = actor.locale
    else:
        locale = negotiate(request.headers.get("accept-language"), company.locales, company.default_locale)
    request.scope[LOCALE_KEY] = (svc, actor, locale)
    return locale


def translations(request: HTTPConnection) -> gettext.NullTranslations:
    """The UI catalog of the request's language (`translations(request).gettext("Sign in")`)."""
    return services(request).catalogs.get(request_locale(request))


def formatter(request: HTTPConnection) -> Formatter:
    """Number, money and date formatting in the request's language and the company's zone
    (one per language and configuration: a Formatter holds nothing else)."""
    svc, locale = services(request), request_locale(request)
    company = svc.config.company
    return svc.derive(("formatter", locale),   # type: ignore[no-any-return]
                      lambda: Formatter(locale, company.currency, company.timezone))
