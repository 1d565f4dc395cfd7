"""Report parameters: what a user (or a URL) gives, checked and turned into values.

    values = report_params(config, report, {"owner": "7", "period": "last_month"}, actor)
    # {"owner": 7, "period": "last_month"}

Every parameter the report declares gets a value: the one given, else its
default (`null` means "not applied": comparisons with it are dropped from
`where_params`). A given value that does not fit its type, or a name the
report does not declare, is refused with a 422 naming the parameter, so a
crafted URL can neither reach SQL (values are always bound parameters) nor
smuggle in anything the report does not ask for.

Accepted spellings (forms send text): user and link ids as numbers or
digit strings, `current_user` for a user; periods as a period word, a
`{from, to}` map or `FROM..TO`; dates ISO; bools `true/false/1/0/yes/no`;
an empty string is null.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ...metadata import model as m
from ...metadata.expressions import period_problem
from ..actor import Actor
from ..errors import ValidationFailed

MAX_TEXT = 255


def report_params(report: m.Report, given: Mapping[str, Any] | None, actor: Actor) -> dict[str, Any]:
    """The value of every declared parameter; raises ValidationFailed (422) naming each bad one."""
    given = dict(given or {})
    problems: dict[str, list[str]] = {}
    for name in sorted(set(given) - set(report.params)):
        declared = ", ".join(report.params) or "none"
        problems[name] = [f"is not a parameter of report {report.name} (its parameters: {declared})"]
    out: dict[str, Any] = {}
    for name, param in report.params.items():
        raw = given[name] if name in given else param.default
        try:
            out[name] = convert_param(report, param, raw, actor)
        except ValueError as exc:
            problems[name] = [str(exc)]
    if problems:
        raise ValidationFailed(problems)
    return out


def convert_param(report: m.Report, param: m.Param, raw: Any, actor: Actor) -> Any:
    """One parameter's value as the expression compiler takes it; ValueError says why not."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    kind = param.type
    if kind == "period":
        return _period(raw)
    if kind == "user":
        if raw == "current_user":
            return actor.id
        return _id(raw, "a user")
    if kind == "link":
        return _id(raw, "a record")
    if kind == "int":
        if isinstance(raw, bool):
            raise ValueError("must be a whole number")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"'{raw}' is not a whole number") from None
    if kind in ("decimal", "money"):
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(f"'{raw}' is not a number") from None
        if not value.is_finite():
            raise ValueError(f"'{raw}' is not a number")
        return value
    if kind == "date":
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw
        try:
            return dt.date.fromisoformat(str(raw).strip())
        except ValueError:
            raise ValueError(f"'{raw}' is not a date (YYYY-MM-DD)") from None
    if kind == "bool":
        text = str(raw).strip().lower()
        if raw is True or text in ("true", "1", "yes", "on"):
            return True
        if raw is False or text in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"'{raw}' is not true or false")
    text = str(raw)
    if len(text) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    if kind == "choice":
        options = report.source.get(("params", param.name, "options")) or ()
        if options and text not in options:
            raise ValueError(f"'{text}' is not one of {', '.join(map(str, options))}")
    return text


def _id(raw: Any, what: str) -> int:
    if isinstance(raw, Mapping) and "id" in raw:
        raw = raw["id"]
    if isinstance(raw, bool):
        raise ValueError(f"must be {what} (an id)")
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"'{raw}' is not {what} (an id)")
    return int(text)


def _period(raw: Any) -> Any:
    spec: Any = raw
    if isinstance(raw, str) and ".." in raw:
        start, _, end = raw.partition("..")
        spec = {"from": start.strip() or None, "to": end.strip() or None}
    if isinstance(spec, Mapping):
        spec = {k: v for k, v in spec.items() if v not in (None, "")}
        if not spec:
            return None
    problem = period_problem(spec)
    if problem:
        raise ValueError(problem)
    return spec


def convert_period(raw: Any) -> Any:
    """A period as the compiler takes it (a word, {from, to} or FROM..TO); ValueError says why not."""
    return _period(raw)
