"""A compiled fast path for the shape layer: is this document valid at all?

Most documents a consultant loads are valid, and `jsonschema` spends most of a
folder's load time proving it. fastjsonschema turns the same schemas into
plain Python code that answers "valid or not" about ten times faster; only
when it says "not valid" does `shape.py` run jsonschema to explain every
problem with its place. The answers must agree exactly, so the schemas are
given to fastjsonschema unchanged except for what draft-07 spells differently
(`dependentRequired` is draft-07's array form of `dependencies`); a test
compares both validators on every shipped document and on many broken ones.

Turning the generated source into bytecode is the slow part (about 0.2 s for
all kinds), so the bytecode is cached per schema content, Python version and
fastjsonschema version in `CRM_CACHE_DIR` (default `~/.cache/crm-engine`).
When the cache cannot be written, the validators are compiled in memory.
"""
from __future__ import annotations

import copy
import hashlib
import json
import marshal
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import fastjsonschema
from fastjsonschema import JsonSchemaException

from .model import FIELD_TYPES
from .schema_entity import _per_type
from .schemas import schema_for

Validate = Callable[[Any], Any]


def cache_dir() -> Path:
    explicit = os.environ.get("CRM_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crm-engine"


def _draft7(schema: Any) -> Any:
    """The same schema in draft-07 spelling (fastjsonschema's newest draft)."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key == "$schema":
                continue
            if key == "dependentRequired":
                out["dependencies"] = {k: list(v) for k, v in value.items()}
            else:
                out[key] = _draft7(value)
        return out
    if isinstance(schema, list):
        return [_draft7(item) for item in schema]
    return schema


def document_schema(kind: str) -> dict:
    """The schema of a document kind as the fast path checks it: for entities,
    without the per-field-type rules, which are checked per field."""
    schema = copy.deepcopy(schema_for(kind))
    if kind == "entity":
        schema["properties"]["fields"]["additionalProperties"].pop("allOf", None)
    return schema


def field_type_schema(field_type: str) -> dict:
    return {"allOf": [_per_type(field_type)]}


def _compile(name: str, schema: dict) -> Validate:
    schema = _draft7(schema)
    schema.pop("$id", None)   # the generated function is named after $id; keep it `validate`
    text = json.dumps(schema, sort_keys=True)
    key = hashlib.sha256(
        f"{text}|{fastjsonschema.VERSION}|{sys.implementation.cache_tag}".encode()).hexdigest()[:20]
    path = cache_dir() / f"shape-{name}-{key}.bin"
    code = None
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        code = compile(fastjsonschema.compile_to_code(schema), f"<shape {name}>", "exec")
        _store(path, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # our own generated validator, from our own schema
    return namespace["validate"]


def _store(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".shape-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        pass   # a read-only home: compile in memory next time too


@lru_cache(maxsize=None)
def document_validator(kind: str) -> Validate:
    return _compile(kind, document_schema(kind))


@lru_cache(maxsize=None)
def field_type_validator(field_type: str) -> Validate:
    return _compile(f"field-{field_type}", field_type_schema(field_type))


def is_valid(data: Any, kind: str) -> bool:
    """True when the document has no shape problem at all (then jsonschema is skipped)."""
    try:
        document_validator(kind)(data)
        if kind == "entity":
            for spec in (data.get("fields") or {}).values():
                if spec.get("type") in FIELD_TYPES:
                    field_type_validator(spec["type"])(spec)
    except JsonSchemaException:
        return False
    except (AttributeError, TypeError):   # not even the outer shape: let jsonschema explain
        return False
    return True
