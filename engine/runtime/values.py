"""One field's input -> its Python value, or the reasons it is refused.

Every writer (forms, the API, import, scenario tests, conversions) goes
through `convert`, so "12.5" from a CSV and 12.5 from JSON end the same way:

    value, problems = convert(field, " +36 30 123 4567 ", ctx)   # '+36301234567', []
    value, problems = convert(field, "abc", ctx)                 # None, ['must be a number']
    convert_amount = converter(field, ctx)                       # the same, for many values of one field

Conventions: an empty string means "no value" (None); surrounding blanks are
trimmed except in `text`; a `string` pattern must match the whole value; a
date-time without a zone is read in the company's time zone and a date where
a date-time is expected means midnight there; phone numbers are normalised to
E.164 with `phonenumbers`, numbers without a country code read in the
company's country (from its time zone, else its first locale); a URL without a scheme
gets `https://`. Ranges whose bound is an expression (`min: today()`) are
resolved by the caller through `ValueContext.bound`.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field as dc_field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import phonenumbers

from ..metadata import model as m

INT_LIMIT = 2**31 - 1
NUMERIC_DIGITS = 20          # Numeric(20, scale) in tables.py
_EMAIL = re.compile(r"^[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;.]{2,}$")
_TRUE = {"true", "1", "yes", "on", "igen"}
_FALSE = {"false", "0", "no", "off", "nem"}


@dataclass(frozen=True, slots=True)
class ValueContext:
    """What converting a value needs besides the value: zone, phone region, stage keys, bounds."""

    timezone: ZoneInfo
    phone_region: str | None = None
    stages: dict[str, tuple[str, ...]] = dc_field(default_factory=dict)   # pipeline -> stage keys
    bound: Callable[[m.Field, Any], Any] | None = None                    # expression bound -> value

    @classmethod
    def for_config(cls, config: m.Config, bound: Callable[[m.Field, Any], Any] | None = None) -> "ValueContext":
        return cls(timezone=ZoneInfo(config.company.timezone), phone_region=phone_region(config),
                   stages={p.name: tuple(s.key for s in p.stages) for p in config.pipelines.values()},
                   bound=bound)


def phone_region(config: m.Config) -> str | None:
    """The region national phone numbers are read in: the country of the company's time zone
    (Europe/Budapest -> HU), else the territory of its first locale (hu -> HU, en_GB -> GB)."""
    from babel.core import get_global

    region = get_global("zone_territories").get(config.company.timezone)
    if region and region != "001":
        return str(region)
    likely = get_global("likely_subtags")
    for locale in config.company.locales:
        parts = locale.replace("-", "_").split("_")
        if len(parts) > 1 and parts[-1].isalpha() and len(parts[-1]) == 2:
            return parts[-1].upper()
        full = likely.get(parts[0].lower())
        if full:
            return str(full).split("_")[-1].upper()
    return None


def convert(field: m.Field, raw: Any, ctx: ValueContext) -> tuple[Any, list[str]]:
    """`raw` as the value of `field`, with every problem found (value is None when there are any)."""
    if raw is None or (isinstance(raw, str) and raw.strip() == "" and field.type != "multichoice"):
        return None, []
    converter = _CONVERTERS.get(field.type)
    if converter is None:
        return None, [f"values of type {field.type} cannot be written here"]
    try:
        value = converter(field, raw, ctx)
    except _Refused as exc:
        return None, exc.problems
    problems = _check_range(field, value, ctx)
    return (None, problems) if problems else (value, [])


def converter(field: m.Field, ctx: ValueContext) -> Callable[[Any], tuple[Any, list[str]]]:
    """`convert` for many values of one field (an import's column): the same results, with
    the type's function and constant range bounds looked up once instead of per value.

    A bound given as an expression (`max: today()`) is still resolved per value, as `convert` does.
    The usual text of a number, date, date-time or string is converted directly (`_DIRECT`);
    anything else, and every refusal, takes the general path.
    """
    base = _CONVERTERS.get(field.type)
    if base is None:
        return lambda raw: convert(field, raw, ctx)
    keep_blank = field.type == "multichoice"
    check = _range_checker(field, ctx)

    def convert_one(raw: Any) -> tuple[Any, list[str]]:
        if raw is None or (not keep_blank and isinstance(raw, str) and not raw.strip()):
            return None, []
        try:
            value = base(field, raw, ctx)
        except _Refused as exc:
            return None, exc.problems
        if check is not None:
            problems = check(value)
            if problems:
                return None, problems
        return value, []
    direct = _DIRECT.get(field.type)
    fast = direct(field, ctx, convert_one, check) if direct is not None else None
    return fast if fast is not None else convert_one


# -- direct paths: the usual input of a type converted in one call, the rest (and every refusal) by
# the general path; the value is the same either way -------------------------------------------------

General = Callable[[Any], tuple[Any, list[str]]]


def _direct_string(field: m.Field, ctx: ValueContext, general: General, check: Any) -> General | None:
    """A text within the field's length (none for a field with a pattern)."""
    if field.pattern or field.type != "string":
        return None
    limit = field.max_length if field.max_length is not None else float("inf")

    def convert_string(raw: Any) -> tuple[Any, list[str]]:
        if type(raw) is str:
            text = raw.strip()
            if text and len(text) <= limit:
                return text, []
        return general(raw)
    return convert_string


def _direct_decimal(field: m.Field, ctx: ValueContext, general: General, check: Any) -> General | None:
    """A number written with digits, a sign and a point only, with at most the field's decimal places
    and the digits its column holds, within its range: `_decimal`'s value (it passes its checks)."""
    scale = max(field.scale, 2) if field.type == "percent" else field.scale
    whole = NUMERIC_DIGITS - scale
    plain = re.compile(f"-?[0-9]{{1,{whole}}}" + (f"(?:\\.[0-9]{{1,{scale}}})?" if scale > 0 else "")).fullmatch
    low, high = (_bound_value(field, bound, ctx) for bound in (field.min, field.max))
    if not all(b is None or type(b) is Decimal for b in (low, high)):
        return None

    def convert_decimal(raw: Any) -> tuple[Any, list[str]]:
        if type(raw) is str:
            text = raw.strip()
            if plain(text):
                value = Decimal(text)
                if (low is None or value >= low) and (high is None or value <= high):
                    return value, []
        return general(raw)
    return convert_decimal


def _direct_temporal(field: m.Field, ctx: ValueContext, general: General, check: Any) -> General | None:
    """A text `fromisoformat` reads (a date-time without a zone in the company's zone, then UTC);
    for a date field also a date as it is (a default's value)."""
    dated = field.type == "date"
    parse_iso = dt.date.fromisoformat if dated else dt.datetime.fromisoformat
    ready = dt.date if dated else None
    zone, utc = ctx.timezone, dt.timezone.utc

    def convert_temporal(raw: Any) -> tuple[Any, list[str]]:
        kind = type(raw)
        if kind is str:
            try:
                value = parse_iso(raw.strip())
            except ValueError:
                return general(raw)
            if not dated:
                if value.tzinfo is None:
                    value = value.replace(tzinfo=zone)
                value = value.astimezone(utc)
        elif kind is ready:
            value = raw
        else:
            return general(raw)
        if check is not None:
            problems = check(value)
            if problems:
                return None, problems
        return value, []
    return convert_temporal


_DIRECT: dict[str, Callable[[m.Field, ValueContext, General, Any], General | None]] = {
    "string": _direct_string, "decimal": _direct_decimal, "money": _direct_decimal,
    "percent": _direct_decimal, "date": _direct_temporal, "datetime": _direct_temporal,
}


def _range_checker(field: m.Field, ctx: ValueContext) -> Callable[[Any], list[str]] | None:
    """`_check_range` for one field; its constant bounds resolved once (None: nothing to check)."""
    if field.type not in _RANGED or (field.min is None and field.max is None):
        return None
    if any(_is_expression_bound(field, b) for b in (field.min, field.max)):
        return lambda value: _check_range(field, value, ctx)
    limits = [(limit, word, failed) for bound, word, failed in _LIMITS
              if (limit := _bound_value(field, bound(field), ctx)) is not None]
    dated = field.type in ("date", "datetime")

    def check(value: Any) -> list[str]:
        problems = []
        for limit, word, failed in limits:
            try:
                if failed(_comparable(value, limit, ctx) if dated else value, limit):
                    problems.append(f"must be {word} {_show(limit)}")
            except TypeError:
                continue
        return problems
    return check


def _is_expression_bound(field: m.Field, bound: Any) -> bool:
    """A date bound that is not a date (`today()`): resolved through `ctx.bound` each time."""
    if bound is None or field.type not in ("date", "datetime") or isinstance(bound, (dt.date, dt.datetime)):
        return False
    try:
        dt.date.fromisoformat(str(bound))
    except ValueError:
        return True
    return False


def to_column(field: m.Field, value: Any) -> Any:
    """A converted value as its column stores it (multichoice -> JSON text)."""
    if field.type == "multichoice" and value is not None:
        return json.dumps(list(value), ensure_ascii=False)
    return value


def from_column(field: m.Field, value: Any) -> Any:
    """A column's value as the records service returns it (JSON text -> list of keys)."""
    if field.type == "multichoice":
        if value in (None, ""):
            return []
        try:
            loaded = json.loads(value)
        except (TypeError, ValueError):
            return []
        return list(loaded) if isinstance(loaded, list) else []
    if field.type == "bool" and value is not None:
        return bool(value)
    return value


def stored_record(entity: m.Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """A raw table row (system columns and stored fields) as Python values."""
    out = {c: row[c] for c in m.SYSTEM_COLUMNS}
    for f in entity.fields.values():
        if f.stored:
            out[f.name] = from_column(f, row.get(f.name))
    return out


class _Refused(Exception):
    def __init__(self, *problems: str):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def _text(raw: Any, *, strip: bool = True) -> str:
    if not isinstance(raw, str):
        raise _Refused("must be text")
    return raw.strip() if strip else raw


def _string(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    value = _text(raw, strip=field.type != "text")
    problems = []
    if field.max_length is not None and len(value) > field.max_length:
        problems.append(f"must be at most {field.max_length} characters (has {len(value)})")
    if field.pattern and not re.fullmatch(field.pattern, value):
        problems.append(f"does not have the expected form ({field.pattern})")
    if problems:
        raise _Refused(*problems)
    return value


def _int(field: m.Field, raw: Any, ctx: ValueContext) -> int:
    if isinstance(raw, bool):
        raise _Refused("must be a whole number")
    if isinstance(raw, int):
        value = raw
    else:
        number = _decimal_of(raw, "must be a whole number")
        if number != number.to_integral_value():
            raise _Refused("must be a whole number")
        value = int(number)
    if abs(value) > INT_LIMIT:
        raise _Refused(f"must be between {-INT_LIMIT} and {INT_LIMIT}")
    return value


def _decimal_of(raw: Any, message: str) -> Decimal:
    if isinstance(raw, bool):
        raise _Refused(message)
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, (int, float)):
        number = Decimal(str(raw))
    elif isinstance(raw, str):
        try:
            number = Decimal(raw.strip().replace(" ", "").replace("\u00a0", ""))
        except InvalidOperation:
            raise _Refused(message) from None
    else:
        raise _Refused(message)
    if not number.is_finite():
        raise _Refused(message)
    return number


def _decimal(field: m.Field, raw: Any, ctx: ValueContext) -> Decimal:
    number = _decimal_of(raw, "must be a number")
    scale = max(field.scale, 2) if field.type == "percent" else field.scale
    exponent = number.as_tuple().exponent
    # Normalising only drops trailing zeros (raising the exponent): needed only when the digits look too many.
    if isinstance(exponent, int) and -exponent > scale:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > scale:
            raise _Refused(f"must have at most {scale} decimal places")
    if abs(number) >= _too_large(scale):
        raise _Refused("is too large")
    return number


_TOO_LARGE: dict[int, Decimal] = {}


def _too_large(scale: int) -> Decimal:
    """The smallest number a Numeric(NUMERIC_DIGITS, scale) column cannot hold."""
    limit = _TOO_LARGE.get(scale)
    if limit is None:
        limit = _TOO_LARGE[scale] = Decimal(10) ** (NUMERIC_DIGITS - scale)
    return limit


def _rating(field: m.Field, raw: Any, ctx: ValueContext) -> int:
    value = _int(field, raw, ctx)
    top = field.max if field.max is not None else 5
    if not 1 <= value <= top:
        raise _Refused(f"must be between 1 and {top}")
    return value


def _bool(field: m.Field, raw: Any, ctx: ValueContext) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _Refused("must be true or false")


def _date(field: m.Field, raw: Any, ctx: ValueContext) -> dt.date:
    if isinstance(raw, dt.datetime):
        return (raw.astimezone(ctx.timezone) if raw.tzinfo else raw).date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise _Refused("must be a date (YYYY-MM-DD)")


def _datetime(field: m.Field, raw: Any, ctx: ValueContext) -> dt.datetime:
    value: dt.datetime | None = None
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, dt.date):
        value = dt.datetime.combine(raw, dt.time())
    elif isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.strip())
        except ValueError:
            value = None
    if value is None:
        raise _Refused("must be a date and time (YYYY-MM-DD HH:MM)")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ctx.timezone)
    return value.astimezone(dt.timezone.utc)


def _choice(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    key = _text(raw)
    if key not in field.options:
        raise _Refused(f"'{key}' is not one of: {', '.join(field.options)}")
    return key


def _stage(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    key = _text(raw)
    keys = ctx.stages.get(field.pipeline or "", ())
    if keys and key not in keys:
        raise _Refused(f"'{key}' is not a stage of {field.pipeline}: {', '.join(keys)}")
    return key


def _multichoice(field: m.Field, raw: Any, ctx: ValueContext) -> list[str]:
    if isinstance(raw, str):
        items = [part.strip() for part in raw.split(",") if part.strip()]
    elif isinstance(raw, (list, tuple, set, frozenset)):
        items = list(raw)
    else:
        raise _Refused("must be a list of keys")
    unknown = [str(i) for i in items if not isinstance(i, str) or i not in field.options]
    if unknown:
        raise _Refused(f"{', '.join(repr(u) for u in unknown)} not among: {', '.join(field.options)}")
    chosen = set(items)
    return [key for key in field.options if key in chosen]     # option order, no repeats


def _email(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    value = _text(raw)
    if len(value) > 254 or not _EMAIL.match(value):
        raise _Refused(f"'{value}' is not an e-mail address")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _phone(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    value = _text(raw)
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else ctx.phone_region)
    except phonenumbers.NumberParseException:
        raise _Refused(f"'{value}' is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise _Refused(f"'{value}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _url(field: m.Field, raw: Any, ctx: ValueContext) -> str:
    value = _text(raw)
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
    except ValueError:
        raise _Refused(f"'{raw}' is not a web address") from None
    host = parts.hostname or ""
    if (parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in value)
            or ("." not in host and host != "localhost") or len(value) > 2048):
        raise _Refused(f"'{raw}' is not a web address")
    return value


def _reference(field: m.Field, raw: Any, ctx: ValueContext) -> int | str:
    """A record id; for `user` fields also a username (the records service resolves it)."""
    if isinstance(raw, dict) and "id" in raw:
        raw = raw["id"]
    if isinstance(raw, bool):
        raise _Refused("must be a record id")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    if field.type == "user" and isinstance(raw, str):
        return raw.strip()
    raise _Refused("must be a record id" if field.type == "link" else "must be a user (id or username)")


_CONVERTERS: dict[str, Callable[[m.Field, Any, ValueContext], Any]] = {
    "string": _string, "text": _string, "int": _int, "decimal": _decimal, "money": _decimal,
    "percent": _decimal, "rating": _rating, "bool": _bool, "date": _date, "datetime": _datetime,
    "choice": _choice, "stage": _stage, "multichoice": _multichoice, "email": _email,
    "phone": _phone, "url": _url, "link": _reference, "user": _reference,
}


_RANGED = frozenset({"int", "decimal", "money", "percent", "date", "datetime"})
_LIMITS: tuple[tuple[Callable[[m.Field], Any], str, Callable[[Any, Any], bool]], ...] = (
    (lambda f: f.min, "at least", lambda v, b: v < b),
    (lambda f: f.max, "at most", lambda v, b: v > b),
)


def _check_range(field: m.Field, value: Any, ctx: ValueContext) -> list[str]:
    if field.type not in _RANGED:
        return []
    problems = []
    for bound_of, word, failed in _LIMITS:
        limit = _bound_value(field, bound_of(field), ctx)
        if limit is None:
            continue
        try:
            if failed(_comparable(value, limit, ctx), limit):
                problems.append(f"must be {word} {_show(limit)}")
        except TypeError:
            continue   # a bound of another type is a configuration slip the checker reports
    return problems


def _bound_value(field: m.Field, bound: Any, ctx: ValueContext) -> Any:
    if bound is None:
        return None
    if field.type in ("date", "datetime"):
        if isinstance(bound, (dt.date, dt.datetime)):
            return bound
        text = str(bound)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return ctx.bound(field, text) if ctx.bound else None
    return Decimal(str(bound)) if not isinstance(bound, bool) else None


def _comparable(value: Any, limit: Any, ctx: ValueContext) -> Any:
    """Dates and date-times compare on the company's calendar when the bound is a date."""
    if isinstance(value, dt.datetime) and not isinstance(limit, dt.datetime):
        return value.astimezone(ctx.timezone).date()
    if isinstance(limit, dt.datetime) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), ctx.timezone)
    return value


def _show(limit: Any) -> str:
    if isinstance(limit, Decimal):
        return format(limit.normalize(), "f")
    return limit.isoformat() if isinstance(limit, (dt.date, dt.datetime)) else str(limit)
