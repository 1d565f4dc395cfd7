"""The sandboxed Jinja environment for e-mail, SMS and document templates.

Templates are parsed when the configuration loads, so a syntax error is a
validation error at the template's file and line, never a failure at send
time. Rendering happens in an `ImmutableSandboxedEnvironment` with HTML
autoescaping: a template sees the record's fields and the few filters below,
and cannot reach Python internals (attributes starting with `_`, methods of
unsafe types, mutation of data).
"""
from __future__ import annotations

from typing import Any, Callable

from jinja2 import StrictUndefined, TemplateSyntaxError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import ConfigError, Location
from .model import Template

Filters = dict[str, Callable[..., Any]]


def make_environment(filters: Filters | None = None) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Placeholders so templates that use the locale filters parse and type-check;
    # the runtime replaces them with Babel-backed ones for the recipient's locale.
    env.filters.update({"money": str, "date": str, "percent": str, "datetime": str})
    env.filters.update(filters or {})
    return env


def autoescape_for(name: str) -> bool:
    return name.endswith((".html", ".htm"))


def check_templates(templates: dict[str, Template]) -> list[ConfigError]:
    """Parses every template; each syntax error names the template's file and line."""
    env = make_environment()
    errors = []
    for name, template in templates.items():
        try:
            env.parse(template.text, name=name)
        except TemplateSyntaxError as exc:
            errors.append(ConfigError(Location(template.file, exc.lineno or 1, 1), "CRM-E400", "",
                                      f"template syntax error: {exc.message}"))
    return errors
