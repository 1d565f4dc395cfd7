"""The published JSON Schemas: valid, closed, documented, one per kind."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from jsonschema import Draft202012Validator

from engine.metadata.schema_entity import FIELD_TYPE_KEYS, FIELD_TYPES
from engine.metadata.schemas import KINDS, kind_of, schema_for, write_schemas


def mappings(schema: Any, at: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema that lists `properties`, with where it is."""
    if isinstance(schema, dict):
        if "properties" in schema and isinstance(schema["properties"], dict):
            yield at, schema
        for key, value in schema.items():
            yield from mappings(value, f"{at}/{key}")
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from mappings(value, f"{at}/{i}")


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(kind) and schema["title"] and schema["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_mapping_is_closed(kind: str) -> None:
    # `if` parts and per-type `then` parts narrow a mapping closed elsewhere.
    open_ones = [at for at, m in mappings(schema_for(kind))
                 if m.get("additionalProperties") is not False and "/if" not in at and "/then" not in at]
    assert open_ones == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_key_has_a_description(kind: str) -> None:
    undocumented = [f"{at}/{key}" for at, m in mappings(schema_for(kind)) if "/if" not in at and "/then" not in at
                    for key, sub in m["properties"].items() if not sub.get("description")]
    assert undocumented == []


def test_there_is_a_rule_for_every_field_type() -> None:
    assert len(FIELD_TYPES) == 23 and set(FIELD_TYPE_KEYS) == set(FIELD_TYPES)
    assert len(schema_for("entity")["properties"]["fields"]["additionalProperties"]["allOf"]) == 23


@pytest.mark.parametrize("data, kind", [
    ({"company": "Kovács"}, "crm"),
    ({"roles": {}}, "roles"),
    ({"entity": "deal"}, "entity"),
    ({"pipeline": "sales", "entity": "deal"}, "pipeline"),
    ({"approval": "big", "entity": "deal"}, "approval"),
    ({"alert": "renewal", "entity": "contract"}, "alert"),
    ({"report": "r", "entity": "deal"}, "report"),
    ({"kpi": "win_rate", "entity": "deal"}, "kpi"),
    ({"quota": "norms"}, "quota"),
    ({"dashboard": "sales", "roles": ["rep"]}, "dashboard"),
    ({"test": "a test"}, "test"),
    ({"fields": {}}, None),
    (["entity"], None),
    ("entity", None),
])
def test_kind_of_reads_the_top_level_key(data: Any, kind: str | None) -> None:
    assert kind_of(data) == kind


def test_schema_for_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown document kind"):
        schema_for("widget")


def test_write_schemas_writes_one_file_per_kind(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "out")
    assert [p.name for p in written] == [f"{kind}.schema.json" for kind in KINDS]
    assert json.loads(written[2].read_text(encoding="utf-8")) == schema_for("entity")
