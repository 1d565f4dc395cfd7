"""Jinja2 set-up and `render()`: how every page and fragment is produced.

    return render(request, "home.html", {"greeting": ...})
    return render(request, page_templates("list", entity.name), {...})   # list-deal.html, else list.html

Templates live in `ui/templates/` (autoescape on, undefined variables are
errors). Naming: pages are `<kind>.html`, an entity may get its own
`<kind>-<entity>.html` (looked up first by `page_templates`), partials and
htmx fragments start with `_`. Every template receives, from `page_context`:

    request, actor (None when signed out), company, locale, locales [(code, name)],
    nav (None when signed out), csrf_token, htmx_config, current_path, root_path

and can use `_()` / `{% trans %}` (the request's catalog), `csrf_field()`,
`static(path)`, `url_for(name, ...)` (base.html also uses the layout's kept parts:
`navigation_html()`, `topbar_html()`, `csrf_headers()`), and the filters `label` (a configured
Label in the user's language), `number`, `money`, `percent`, `date`, `datetime`.
"""
from __future__ import annotations

import json
import re
import secrets
import weakref
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from engine.metadata import model as m
from engine.runtime.actor import Actor

from . import sessions
from .csrf import FIELD as CSRF_FIELD
from .display import escape_text
from .formatting import Formatter
from .i18n import label_text, language_name
from .navigation import Navigation, build_navigation
from .services import Services
from .web import current_actor, request_locale, services

TEMPLATE_DIR = Path(__file__).parent / "templates"

# htmx 2 settings, read from <meta name="htmx-config">. Why each one:
HTMX_CONFIG: dict[str, Any] = {
    "includeIndicatorStyles": False,   # htmx would inject a <style>; the CSP allows none
    "allowEval": False,                # no eval (hx-on, js: values); the CSP allows none
    "allowScriptTags": False,          # swapped fragments never run scripts
    "historyCacheSize": 0,             # keep customer data out of localStorage
    "refreshOnHistoryMiss": True,      # ... so back/forward reloads the page instead
    "selfRequestsOnly": True,
    # Error responses are swapped too: the error handler retargets them to #flash,
    # and a form answered with 422 replaces itself with its errors shown.
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
        {"code": "...", "swap": False},
    ],
}


HTMX_CONFIG_JSON = json.dumps(HTMX_CONFIG, separators=(",", ":"))
# What `{{ htmx_config }}` writes (the JSON escaped for the attribute), escaped once here.
HTMX_CONFIG_HTML = escape(HTMX_CONFIG_JSON)


def page_templates(kind: str, entity: str | None = None) -> list[str]:
    """Template names to try, most specific first: `list-deal.html`, `list.html`."""
    return ([f"{kind}-{entity}.html"] if entity else []) + [f"{kind}.html"]


def render(request: Request, template: str | Sequence[str], context: Mapping[str, Any] | None = None,
           *, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A full page or fragment; a list of names means the first that exists."""
    templates: Jinja2Templates = request.app.state.templates
    name = template if isinstance(template, str) else _selected(templates.env, tuple(template))
    return templates.TemplateResponse(request, name, dict(context or {}), status_code=status_code,
                                      headers=headers)


def render_slotted(request: Request, template: str | Sequence[str], context: Mapping[str, Any]) -> tuple[str, ...]:
    """The page `render` would answer, as text with a stand-in for the session's CSRF token:
    (text, text, ...) to be joined with the token (`fill_token`). For pages kept for other
    sessions of the same user (ui/page_memo.py): the token is the only part of a page that
    differs between two sessions of one user."""
    templates: Jinja2Templates = request.app.state.templates
    name = template if isinstance(template, str) else _selected(templates.env, tuple(template))
    variables = dict(context)            # what Jinja2Templates.TemplateResponse gives the template
    variables.setdefault("request", request)
    for processor in templates.context_processors:
        variables.update(processor(request))
    variables["csrf_token"] = _TOKEN_SLOT
    return tuple(templates.env.get_template(name).render(variables).split(_TOKEN_SLOT))


TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+")
"""What `sessions.csrf_token` makes (token_urlsafe): written the same escaped as HTML and as JSON."""


def fill_token(parts: Sequence[str], token: str) -> str:
    """A `render_slotted` page with the session's token in every place the template wrote it."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise ValueError("a CSRF token outside the urlsafe alphabet")
    return token.join(parts)


_SELECTED: "weakref.WeakKeyDictionary[Environment, dict[tuple[str, ...], str]]" = weakref.WeakKeyDictionary()


def _selected(env: Environment, names: tuple[str, ...]) -> str:
    """`select_template(names)`'s name, looked up once per Environment: templates ship with the
    code and are not reloaded (`auto_reload=False`), and asking the loader for a missing
    `record-account.html` meant a file system look-up on every request."""
    chosen = _SELECTED.get(env)
    if chosen is None:
        chosen = _SELECTED.setdefault(env, {})
    found = chosen.get(names)
    if found is None:
        found = chosen[names] = str(env.select_template(list(names)).name)
    return found


def page_context(request: Request) -> dict[str, Any]:
    """What every template gets (see the module docstring). All but the CSRF token and the
    current URL depend only on the configuration, the user, the language and the root path,
    and are worked out once for them (`_page_constants`)."""
    svc = services(request)
    actor = current_actor(request)
    locale = request_locale(request)
    root_path = request.scope.get("root_path", "")
    context = dict(svc.derive(("page context", actor, locale, root_path),
                              lambda: _page_constants(svc, actor, locale, root_path)))
    context["actor"] = actor
    context["csrf_token"] = sessions.csrf_token(request)
    context["current_path"], context["current_url"] = _current_url(request)
    return context


def _page_constants(svc: Services, actor: Actor | None, locale: str, root_path: str) -> dict[str, Any]:
    company = svc.config.company
    return {
        "is_admin": bool(actor) and svc.permissions.is_admin(actor),
        "company": company,
        "locale": locale,
        "locales": [(code, language_name(code)) for code in company.locales],
        "nav": _navigation(svc, actor, locale, root_path) if actor else None,
        "htmx_config": HTMX_CONFIG_HTML,
        "root_path": root_path,
        "translations": svc.catalogs.get(locale),
        "translated": svc.catalogs.memory(locale),
        "fmt": svc.derive(("formatter", locale), lambda: Formatter(locale, company.currency, company.timezone)),
    }


def _current_url(request: Request) -> tuple[str, str]:
    """`request.url`'s path, and its path and query, remembered for what Starlette builds
    them from (scheme, server, Host header, path, query string): building and splitting
    the URL again was a measurable part of every page."""
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    key = (scope.get("scheme", "http"), scope.get("server"), host, scope["path"], scope.get("query_string", b""))

    def build() -> tuple[str, str]:
        url = request.url
        return url.path, url.path + (f"?{url.query}" if url.query else "")
    try:
        return _kept(_CURRENT_URLS, key, build)
    except TypeError:                 # a server given as a list: not remembered
        return build()


_CURRENT_URLS: dict[tuple[Any, ...], tuple[str, str]] = {}


def _navigation(svc: Services, actor: Actor, locale: str, root_path: str) -> Navigation:
    """`build_navigation` for this user, language and root path, built once per configuration
    (it depends on nothing else: the roles' grants, the configured labels)."""
    return svc.derive(("navigation", actor, locale, root_path),
                      lambda: build_navigation(svc.config, svc.permissions, actor, locale, root_path))


@pass_context
def _navigation_html(context: Context) -> Markup:
    """`_nav.html` as the page would include it, rendered once per configuration for each
    navigation (user, language, root path), site address, admin flag and set of links marked
    current: it was a tenth of a record page's rendering, and only which links are current
    changes from page to page. `_nav_current` must follow what `_nav.html` compares
    `current_path` with."""
    request, nav, is_admin = context["request"], context["nav"], context["is_admin"]
    router = request.scope.get("router") or request.scope.get("app")
    key = ("navigation html", context["actor"], context["locale"], context["root_path"], id(router),
           str(request.base_url), bool(is_admin), _nav_current(context, nav, is_admin))
    return services(request).derive(   # type: ignore[no-any-return]
        key, lambda: Markup(context.environment.get_template("_nav.html").render(context.get_all())))


# Stand-ins for the per-request parts of the top bar while it is rendered for its cache:
# random, so that no user name or label can contain them.
_TOKEN_SLOT = f"csrf-slot-{secrets.token_hex(16)}"
_URL_SLOT = f"url-slot-{secrets.token_hex(16)}"
_SLOTS = re.compile(f"({_TOKEN_SLOT}|{_URL_SLOT})")


@pass_context
def _topbar_html(context: Context) -> Markup:
    """`_topbar.html` (brand, menu button, user menu) as base.html would include it, rendered
    once per configuration for each user, language, site address and admin flag: only the
    CSRF token (`csrf_field()`) and `current_url` (the language form's way back) change from
    request to request, and they are put in with the escaping the template gives them."""
    request, actor = context["request"], context["actor"]
    router = request.scope.get("router") or request.scope.get("app")
    key = ("topbar html", actor, context["locale"], context["root_path"], id(router),
           str(request.base_url), bool(context["is_admin"]))
    parts: tuple[str, ...] = services(request).derive(key, lambda: _slotted(context, "_topbar.html"))
    token, url = escape_text(context["csrf_token"]), escape_text(context["current_url"])
    if len(parts) == 1:
        return Markup(parts[0])
    pieces = [parts[0]]
    for i in range(1, len(parts), 2):
        pieces.append(token if parts[i] == _TOKEN_SLOT else url)
        pieces.append(parts[i + 1])
    return Markup("".join(pieces))


def _slotted(context: Context, name: str) -> tuple[str, ...]:
    """`name` rendered with the slots for the token and the URL: text, slot, text, ... ."""
    variables = {**context.get_all(), "csrf_token": _TOKEN_SLOT, "current_url": _URL_SLOT}
    return tuple(_SLOTS.split(context.environment.get_template(name).render(variables)))


def _nav_current(context: Context, nav: Navigation, is_admin: bool) -> tuple[Any, ...]:
    """Which of `_nav.html`'s links `current_path` marks current (aria-current); remembered
    per navigation, admin flag, site address and path (the navigation and the router are kept
    with the answer, so their ids are not reused by others while it is kept)."""
    request = context["request"]
    router = request.scope.get("router") or request.scope.get("app")
    key = (id(nav), bool(is_admin), id(router), str(request.base_url), context["current_path"])
    return _kept(_NAV_CURRENT, key, lambda: (nav, router, _find_nav_current(context, nav, is_admin)))[2]


_NAV_CURRENT: dict[tuple[Any, ...], tuple[Navigation, Any, tuple[Any, ...]]] = {}


def _find_nav_current(context: Context, nav: Navigation, is_admin: bool) -> tuple[Any, ...]:
    path = context["current_path"]
    fixed = tuple(path == _url_for(context, name).path for name in ("home", "approvals", "notifications"))
    config = bool(is_admin) and path.startswith(_url_for(context, "admin_config").path)
    items = tuple(i for i, item in enumerate((*nav.dashboards, *nav.forecasts, *nav.entities))
                  if item.is_current(path))
    return fixed + (config, items)


def build_templates(directory: Path = TEMPLATE_DIR) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no stat() of every included template on every render
        # (5 % of a record page's time). Restart the server after editing one.
        auto_reload=False,
    )
    # The catalog is picked per render from the context, so one Environment
    # serves every language at once (no global "current language").
    env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=True)  # type: ignore[attr-defined]
    # `_()` and `{% trans %}` without plural: Jinja's new-style gettext in one call, its answer kept.
    env.globals.update(_=_translated, gettext=_translated)
    env.filters.update(label=_label, number=_number, money=_money, percent=_percent,
                       date=_date, datetime=_datetime)
    env.globals.update(csrf_field=_csrf_field, static=_static, url_for=_url_for, navigation_html=_navigation_html,
                       topbar_html=_topbar_html, csrf_headers=_csrf_headers)
    return Jinja2Templates(env=env, context_processors=[page_context])


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["translations"].gettext(message))


@pass_context
def _translated(context: Context, message: str, /, **variables: Any) -> str:
    """What Jinja's new-style `gettext` gives (the request's catalog; Markup when autoescaping;
    always %-formatted, variables escaped), without its three nested calls. A message without
    variables is worked out once per catalog and autoescape setting and kept in the catalog's
    memory (`Catalogs.memory`, per configuration): a page asks for a couple of dozen."""
    translations = context["translations"]
    autoescape = context.eval_ctx.autoescape
    memory = context.get("translated")
    if variables or memory is None or memory.translations is not translations:
        return _format_translation(translations, message, autoescape, variables)
    key = (message, autoescape)
    found = memory.answers.get(key)
    if found is None:
        found = memory.answers[key] = _format_translation(translations, message, autoescape, variables)
    return found


def _format_translation(translations: Any, message: str, autoescape: bool, variables: Mapping[str, Any]) -> str:
    text: str = str(translations.gettext(message))
    if autoescape:
        text = Markup(text)
    return text % variables  # type: ignore[no-any-return]


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["translations"].ngettext(singular, plural, n))


@pass_context
def _label(context: Context, value: m.Label | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return label_text(value, context["locale"], context["company"].default_locale, context["translations"].gettext)


def _fmt(context: Context) -> Formatter:
    return context["fmt"]  # type: ignore[no-any-return]


@pass_context
def _number(context: Context, value: Any, decimals: int | None = None) -> str:
    return _fmt(context).number(value, decimals)


@pass_context
def _money(context: Context, value: Any, currency: str | None = None) -> str:
    return _fmt(context).money(value, currency)


@pass_context
def _percent(context: Context, value: Any) -> str:
    return _fmt(context).percent(value)


@pass_context
def _date(context: Context, value: Any) -> str:
    return _fmt(context).date(value)


@pass_context
def _datetime(context: Context, value: Any) -> str:
    return _fmt(context).datetime(value)


@pass_context
def _csrf_field(context: Context) -> Markup:
    # What Markup(...).format(...) gives (both values escaped), without its string.Formatter.
    token = escape_text(context["csrf_token"])
    return Markup(f'<input type="hidden" name="{escape_text(CSRF_FIELD)}" value="{token}">')


@pass_context
def _csrf_headers(context: Context) -> Markup:
    """`{"X-CSRF-Token": csrf_token}|tojson` (base.html's `hx-headers`), remembered per token:
    a session asks for the same answer on each of its pages."""
    token, policies = context["csrf_token"], context.environment.policies
    return _kept(_CSRF_HEADERS, token, lambda: htmlsafe_json_dumps(
        {"X-CSRF-Token": token}, dumps=policies["json.dumps_function"], **policies["json.dumps_kwargs"]))


_CSRF_HEADERS: dict[str, Markup] = {}


@pass_context
def _static(context: Context, path: str) -> str:
    """The URL path of a file below ui/static/ (relative, so proxies and CSP agree); remembered
    like `_url_for`'s answers (a page's head asks for three)."""
    request = context["request"]
    router = request.scope.get("router") or request.scope.get("app")
    key = (id(router), str(request.base_url), path)
    return _kept(_STATIC, key, lambda: (router, str(_url_for(context, "static", path=path).path)))[1]


@pass_context
def _url_for(context: Context, name: str, /, **path_params: Any) -> URL:
    """Starlette's `url_for`, each answer remembered (per router, base URL, name and params).

    Starlette finds a route by trying every route in turn (an exception per miss) and then
    builds the absolute URL, and every page asks for a dozen URLs in its head and menu:
    about a tenth of a list page's time before. The base URL (scheme, host, root path) is
    part of the key, so an answer is only reused for the same site address."""
    request = context["request"]
    router = request.scope.get("router") or request.scope.get("app")
    try:
        key = (id(router), str(request.base_url), name, tuple(sorted(path_params.items())) if path_params else ())
        # the router is kept with its answer, so its id is never reused by another router
        return _kept(_URLS, key, lambda: (router, request.url_for(name, **path_params)))[1]
    except TypeError:                 # an unhashable parameter: not remembered
        return request.url_for(name, **path_params)


T = TypeVar("T")
URLS_KEPT = 4096      # a bound: record ids in url_for(), or made-up Host headers, would grow it forever


def _kept(cache: dict[Any, T], key: Hashable, build: Callable[[], T]) -> T:
    """`cache[key]`, built and stored when missing; a full cache (URLS_KEPT answers) is emptied first.
    Raises TypeError for an unhashable key."""
    found = cache.get(key)
    if found is None:
        if len(cache) >= URLS_KEPT:
            cache.clear()
        found = cache[key] = build()
    return found
_URLS: dict[tuple[Any, ...], tuple[Any, URL]] = {}
_STATIC: dict[tuple[Any, ...], tuple[Any, str]] = {}
