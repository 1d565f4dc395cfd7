"""Rendering an alert's templates for one recipient, in the recipient's language.

Templates were parsed at load time (`engine.metadata.templates`), so a syntax
error never reaches here; what can still fail at send time is data (a value a
filter cannot format), and that fails the one message, with the error kept on
its outbox row. The sandboxed environment only sees plain dicts: `record`
(fields, each link followed one hop as a dict: `record.account.name`),
`company`, `user` (the recipient) and `today`; `money`, `date`, `datetime` and
`percent` are Babel formats for the recipient's locale. An empty value (None)
prints as nothing.
"""
from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from babel import dates, numbers
from jinja2 import Template as JinjaTemplate

from ...metadata import model as m
from ...metadata.templates import autoescape_for, make_environment


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str          # the SMS, or the e-mail's plain-text alternative / in-app body
    html: str | None   # the e-mail's HTML part


def locale_filters(locale: str, currency: str, timezone: str) -> dict[str, Any]:
    """`money`, `percent`, `date`, `datetime` for one locale (None formats as '')."""
    zone = ZoneInfo(timezone)

    def money(value: Any, code: str | None = None) -> str:
        return "" if value in (None, "") else numbers.format_currency(Decimal(str(value)), code or currency,
                                                                     locale=locale)

    def percent(value: Any) -> str:
        if value in (None, ""):
            return ""
        return numbers.format_percent(Decimal(str(value)) / 100, locale=locale, decimal_quantization=False)

    def date(value: Any) -> str:
        if value in (None, ""):
            return ""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        if isinstance(value, dt.datetime):
            value = value.astimezone(zone).date()
        return dates.format_date(value, "medium", locale=locale)

    def datetime(value: Any) -> str:
        if value in (None, ""):
            return ""
        return dates.format_datetime(value.astimezone(zone), "medium", tzinfo=zone, locale=locale)

    return {"money": money, "percent": percent, "date": date, "datetime": datetime}


class Renderer:
    """The templates of one configuration, compiled once per (template, locale)."""

    def __init__(self, config: m.Config):
        self.config = config
        self._compiled = lru_cache(maxsize=512)(self._compile)

    def _compile(self, name: str, locale: str) -> JinjaTemplate:
        company = self.config.company
        env = make_environment(locale_filters(locale, company.currency, company.timezone))
        env.autoescape = autoescape_for(name)     # from_string has no file name to decide by: say it here
        env.finalize = _blank_if_none              # an empty value prints as nothing, never "None"
        return env.from_string(self.config.templates[name].text)

    def has(self, name: str) -> bool:
        return name in self.config.templates

    def render(self, alert: m.Alert, channel: str, record: Mapping[str, Any], user: Mapping[str, Any],
               today: dt.date) -> Rendered:
        locale = user.get("locale") or self.config.company.locales[0]
        context = {"record": record, "company": self.config.company.name, "user": user, "today": today}
        name = alert.template
        subject = self._render(f"{name}.subject.txt", locale, context).strip()
        if channel == "email":
            body_html = self._render(f"{name}.email.html", locale, context)
            return Rendered(subject, html_to_text(body_html), body_html)
        if channel == "sms":
            return Rendered(subject, self._render(f"{name}.sms.txt", locale, context).strip(), None)
        # in-app: the subject is the title; the body is the e-mail's text if there is one
        body = ""
        if self.has(f"{name}.email.html"):
            body = html_to_text(self._render(f"{name}.email.html", locale, context))
        return Rendered(subject, body, None)

    def _render(self, name: str, locale: str, context: Mapping[str, Any]) -> str:
        return self._compiled(name, locale).render(**context)


def _blank_if_none(value: Any) -> Any:
    """`{{ x }}` of a value that is not there (an empty field, a rollup over no readable rows, a
    formula through a link the recipient may not read) prints as nothing, like the record page."""
    return "" if value is None else value


_TAGS = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|div|tr|h[1-6]|li|table)>|<br\s*/?>", re.I)


def html_to_text(markup: str) -> str:
    """The plain-text alternative of an HTML e-mail: block ends become line breaks, tags go."""
    text = _BLOCK_END.sub("\n", markup)
    text = html.unescape(_TAGS.sub("", text))
    lines = [re.sub(r"[ \t\r]+", " ", line).strip(" ") for line in text.splitlines()]   # keep U+00A0
    return "\n".join(line for line in lines if line).strip()
