"""The compiled fast path agrees with jsonschema: it never calls a broken document valid.

The corpus is every shipped document plus deterministic perturbations of each
(unknown keys, wrong types, bad names, removed keys), so every keyword the
schemas use is exercised on both validators.
"""
from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from engine.metadata import shape, shape_fast
from engine.metadata.errors import ErrorSink
from engine.metadata.loader import read_folder
from engine.metadata.yamlsafe import iter_paths, parse_documents

ROOT = Path(__file__).resolve().parents[1]
REPLACEMENTS = [12345, 3.5, "Not A Name!", "", True, None, [], {}, ["x", "x"], "30x"]


def corpus():
    docs = []
    for folder in ("configs", "examples/saas"):
        raw = read_folder(ROOT / folder, ErrorSink())
        docs.extend((kind, doc.data) for kind, doc in raw.docs)
    from engine.metadata.loader import _kind_of
    for path in sorted((ROOT / "tests/fixtures/spec_examples").glob("*.yaml")):
        parsed, _ = parse_documents(path.read_text(), path.name)
        docs.extend((_kind_of(d.data), d.data) for d in parsed if _kind_of(d.data))
    return docs


def slow_errors(kind, data):
    found = list(shape._validator(kind).iter_errors(data))
    if kind == "entity":
        found.extend(shape._field_type_errors(data))
    return found


def perturbations(data, rng: random.Random, count: int):
    paths = [p for p, _ in iter_paths(data) if p]
    for _ in range(count):
        if not paths:
            return
        target = rng.choice(paths)
        changed = copy.deepcopy(data)
        parent = changed
        for part in target[:-1]:
            parent = parent[part]
        how = rng.randrange(3)
        if how == 0 and isinstance(parent, dict):
            del parent[target[-1]]
        elif how == 1 and isinstance(parent, dict):
            parent["zz_" + str(target[-1])] = parent[target[-1]]
        else:
            parent[target[-1]] = rng.choice(REPLACEMENTS)
        yield changed


DOCS = corpus()


def test_every_shipped_document_is_valid_on_both_paths():
    for kind, data in DOCS:
        assert shape_fast.is_valid(data, kind)
        assert not slow_errors(kind, data)


@pytest.mark.parametrize("chunk", range(4))
def test_the_fast_path_never_accepts_what_jsonschema_refuses(chunk):
    rng = random.Random(chunk)
    disagreements, refused = [], 0
    for kind, data in DOCS[chunk::4]:
        for changed in perturbations(data, rng, 12):
            fast = shape_fast.is_valid(changed, kind)
            broken = bool(slow_errors(kind, changed))
            refused += broken
            if fast and broken:
                disagreements.append((kind, changed))
    assert not disagreements, disagreements[:2]
    assert refused > 100   # the corpus really exercised broken documents
