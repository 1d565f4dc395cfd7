"""Reading YAML safely: every refusal is located, nothing hostile gets through."""
from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from engine.metadata.yamlsafe import MAX_FILE_BYTES, parse_documents, read_text


def one(text: str):
    docs, errors = parse_documents(text, "f.yaml")
    return docs, errors


def only_error(text: str):
    docs, errors = one(text)
    assert not docs and len(errors) == 1, errors
    return errors[0]


def test_values_keep_their_line_and_column():
    docs, errors = one("entity: deal\nfields:\n  amount: {type: money}\n")
    assert not errors
    doc = docs[0]
    assert doc.loc(("fields", "amount", "type")).line == 3
    assert doc.loc(("fields", "amount", "type")).column == 18
    assert doc.key_loc(("fields", "amount")).column == 3


def test_duplicate_key_is_refused_at_the_second_key():
    error = only_error("entity: deal\nlabel: A\nlabel: B\n")
    assert (error.code, error.location.line, error.path) == ("CRM-E005", 3, "label")
    assert "line 2" in error.hint


def test_python_tags_are_refused():
    error = only_error("entity: !!python/object/apply:os.system ['echo hi']\n")
    assert error.code == "CRM-E006" and error.location.line == 1


def test_custom_tags_are_refused():
    assert only_error("a: !secret x\n").code == "CRM-E006"


def test_merge_keys_are_refused():
    error = only_error("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert error.code == "CRM-E006" and error.location.line == 3


def test_billion_laughs_is_refused_quickly_with_bounded_memory():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i-1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    text = "\n".join(lines) + "\n"
    tracemalloc.start()
    started = time.perf_counter()
    error = only_error(text)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert error.code == "CRM-E007"
    assert elapsed < 1.0
    assert peak < 100 * 1024 * 1024


def test_small_alias_use_is_fine():
    docs, errors = one("a: &x {k: 1}\nb: *x\n")
    assert not errors and docs[0].data == {"a": {"k": 1}, "b": {"k": 1}}


def test_yaml_11_booleans_stay_text():
    docs, errors = one("options: [yes, no, on, off, y, n]\nflag: true\nFlag2: False\n")
    assert not errors
    assert docs[0].data["options"] == ["yes", "no", "on", "off", "y", "n"]
    assert docs[0].data["flag"] is True and docs[0].data["Flag2"] is False


def test_times_and_dates_stay_text():
    docs, _ = one("at: 8:00\nday: 2025-01-01\nfiscal: 01-01\n")
    assert docs[0].data == {"at": "8:00", "day": "2025-01-01", "fiscal": "01-01"}


def test_numbers_and_nulls():
    docs, _ = one("a: 42\nb: 3.5\nc: null\nd: ~\ne:\nf: -7\ng: 1e3\n")
    assert docs[0].data == {"a": 42, "b": 3.5, "c": None, "d": None, "e": None, "f": -7, "g": 1000.0}


def test_syntax_error_is_located():
    error = only_error("entity: deal\nfields: [a, b\nx: 1\n")
    assert error.code == "CRM-E001" and error.location.line >= 2


def test_empty_file_is_refused():
    assert only_error("").code == "CRM-E003"
    assert only_error("# only a comment\n\n").code == "CRM-E003"


def test_several_documents_are_read_in_order():
    docs, errors = one("test: a\n---\ntest: b\n")
    assert not errors and [d.data["test"] for d in docs] == ["a", "b"] and docs[1].loc().line == 3


def test_non_utf8_file_is_refused_at_the_byte(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"company: ok\nname: caf\xe9\n")
    text, errors = read_text(path, "x.yaml")
    assert text is None and errors[0].code == "CRM-E002" and errors[0].location.line == 2


def test_oversize_file_is_refused(tmp_path: Path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    text, errors = read_text(path, "big.yaml")
    assert text is None and errors[0].code == "CRM-E004"


def test_byte_order_mark_is_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffcompany: x\n".encode())
    text, errors = read_text(path, "bom.yaml")
    assert not errors and parse_documents(text, "bom.yaml")[0][0].data == {"company": "x"}


@pytest.mark.parametrize("text", ["a: [" * 200 + "]" * 200, "- " * 300 + "x"])
def test_deep_nesting_is_refused_not_crashing(text):
    docs, errors = one(text)
    assert errors and errors[0].code in ("CRM-E007", "CRM-E001")


def test_recursive_alias_is_refused():
    assert only_error("a: &a [*a]\n").code == "CRM-E007"
