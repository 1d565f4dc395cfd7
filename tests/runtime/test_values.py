"""One field's input -> value or problems (no database)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.metadata.errors import Location
from engine.metadata.model import Field, Label
from engine.runtime.values import ValueContext, convert, from_column, to_column

CTX = ValueContext(timezone=ZoneInfo("Europe/Budapest"), phone_region="HU")


def field(ftype: str, **kw) -> Field:
    if "options" in kw:
        kw["options"] = {k: Label({"*": k}) for k in kw["options"]}
    return Field("f", ftype, Label({"*": "F"}), Location("t.yaml"), **kw)


def ok(f: Field, raw):
    value, problems = convert(f, raw, CTX)
    assert problems == []
    return value


def refused(f: Field, raw) -> list[str]:
    value, problems = convert(f, raw, CTX)
    assert value is None and problems
    return problems


def test_empty_input_is_no_value():
    assert ok(field("int"), "") is None
    assert ok(field("string"), "   ") is None


@pytest.mark.parametrize("ftype,raw", [("int", "abc"), ("int", 1.5), ("int", True), ("decimal", "1,5"),
                                       ("decimal", "NaN"), ("bool", "maybe"), ("date", "10/03/2025"),
                                       ("datetime", "tomorrow"), ("string", 5), ("link", "acme"),
                                       ("multichoice", 5)])
def test_wrong_types_are_refused(ftype, raw):
    refused(field(ftype, options=["a"]) if ftype == "multichoice" else field(ftype), raw)


def test_numbers_parse_from_text_and_keep_exactness():
    assert ok(field("int"), " 42 ") == 42
    assert ok(field("money"), "1234.50") == Decimal("1234.50")
    assert ok(field("decimal", scale=3), 0.125) == Decimal("0.125")
    assert "at most 2 decimal places" in refused(field("money"), "1.234")[0]


def test_ranges_and_length():
    assert refused(field("int", min=0, max=10), 11) == ["must be at most 10"]
    assert refused(field("money", min=0), "-1") == ["must be at least 0"]
    assert "at most 3 characters" in refused(field("string", max_length=3), "abcd")[0]


def test_pattern_must_match_the_whole_value():
    f = field("string", pattern=r"\d{8}-\d-\d{2}")
    assert ok(f, "12345678-2-41") == "12345678-2-41"
    refused(f, "x12345678-2-41")


def test_choice_and_multichoice_keys():
    assert "'d' is not one of: a, b" in refused(field("choice", options=["a", "b"]), "d")[0]
    f = field("multichoice", options=["a", "b", "c"])
    assert ok(f, ["c", "a", "c"]) == ["a", "c"]
    assert ok(f, "b, a") == ["a", "b"]
    refused(f, ["a", "zzz"])
    assert to_column(f, ["a"]) == '["a"]' and from_column(f, '["a"]') == ["a"]


def test_email_phone_url():
    assert ok(field("email"), "Anna@Example.HU") == "Anna@example.hu"
    refused(field("email"), "anna@@example")
    refused(field("email"), "anna example.hu")
    assert ok(field("phone"), "06 30 123 4567") == "+36301234567"
    assert ok(field("phone"), "+43 1 5879 4440") == "+43158794440"
    refused(field("phone"), "12")
    refused(field("phone"), "call me")
    assert ok(field("url"), "example.hu/x") == "https://example.hu/x"
    refused(field("url"), "javascript:alert(1)")
    refused(field("url"), "not a url")


def test_dates_and_datetimes_in_the_company_zone():
    assert ok(field("date"), "2025-03-10") == dt.date(2025, 3, 10)
    when = ok(field("datetime"), "2025-07-01 08:00")
    assert when == dt.datetime(2025, 7, 1, 6, 0, tzinfo=dt.timezone.utc)
    assert ok(field("datetime"), dt.date(2025, 1, 1)) == dt.datetime(2024, 12, 31, 23, 0, tzinfo=dt.timezone.utc)
    assert refused(field("date", min="2000-01-01"), "1999-12-31") == ["must be at least 2000-01-01"]


def test_rating_and_bool():
    assert ok(field("rating", max=5), "4") == 4
    refused(field("rating", max=5), 6)
    assert ok(field("bool"), "yes") is True and ok(field("bool"), 0) is False


def test_user_fields_take_ids_or_usernames():
    assert ok(field("user"), "7") == 7
    assert ok(field("user"), "anna") == "anna"
    assert ok(field("link"), {"id": 3}) == 3


def _bound_today(f: Field, text: str):
    return dt.date(2025, 3, 10) if text == "today()" else None


@pytest.mark.parametrize("f", [
    field("string", max_length=5, pattern="[a-z]+"), field("text"), field("int", min=0, max=10),
    field("decimal", scale=3, min=-1, max=1000), field("money", min=0), field("percent", min=0, max=100),
    field("rating", max=3), field("bool"), field("date", min="2025-01-01", max="today()"),
    field("datetime", min="2025-01-01"), field("choice", options=["a", "b"]),
    field("multichoice", options=["a", "b"]), field("email"), field("phone"), field("url"), field("link"),
    field("user"), field("lines"),
])
def test_a_compiled_converter_gives_what_convert_gives(f):
    """`converter` (an import's per-column conversion) against `convert`, on good and bad values."""
    ctx = ValueContext(timezone=ZoneInfo("Europe/Budapest"), phone_region="HU", bound=_bound_today)
    one = __import__("engine.runtime.values", fromlist=["converter"]).converter(f, ctx)
    raws = [None, "", "  ", "abc", "ABC", "abcdef", "5", " 7 ", "-1", "11", "1.5", "1.50", "1.5000", "0.0010",
            "1e3", "1E+2", "99999999999999999999", "100", "101", True, 0, 1, 2.5, Decimal("1.000"),
            "2024-12-31", "2025-02-01", "2025-03-11", "2025-01-01 10:00", dt.date(2025, 2, 1),
            dt.datetime(2025, 2, 1, 12, 0), "a", "a, b", "b,a,a", "c", ["a"], "x@Example.COM", "not mail",
            "+36 30 123 4567", "06 30 123 4567", "12", "example.com", "http://", "3", "alice", {"id": 4}]
    for raw in raws:
        assert one(raw) == convert(f, raw, ctx), raw


@pytest.mark.parametrize("f", [
    field("string", max_length=5), field("string"), field("money"), field("money", min=0, max=1000),
    field("percent", min=0, max=100), field("decimal", scale=0), field("date"),
    field("date", min=dt.date(2025, 1, 1)), field("datetime"), field("datetime", min="2025-01-01"),
])
def test_the_direct_paths_of_a_converter_give_the_general_paths_value_and_type(f):
    """Plain numbers, ISO dates and times and short strings take `converter`'s direct path; each gives
    what `convert` gives, to the exponent of a decimal and the offset of a time (DST included)."""
    ctx = ValueContext(timezone=ZoneInfo("Europe/Budapest"), phone_region="HU", bound=_bound_today)
    one = __import__("engine.runtime.values", fromlist=["converter"]).converter(f, ctx)
    raws = [None, "", "  ", "abcde", " abc ", "abcdef", "Árvíztűrő", "0", "-0", "-0.00", "+5", ".5", "5.", "1.50",
            "1.555", "00012.10", "1 000", "1e3", "NaN", "Infinity", "١٢", "999999999999999999.99",
            "1000000000000000000", "99999999999999999999", "1000", "1000.01", "-1", "2025-03-30T02:30:00",
            "2025-10-26T02:30:00", "2025-10-26 02:30:00.000123", "2025-03-10T09:30:00+00:00", "2024-12-31",
            "2025-02-30", "20250301", dt.date(2025, 3, 1), dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.timezone.utc),
            Decimal("1.50"), 5, 2.5]
    for raw in raws:
        got, expected = one(raw), convert(f, raw, ctx)
        assert (repr(got[0]), got[1]) == (repr(expected[0]), expected[1]), raw
