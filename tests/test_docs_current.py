"""The committed reference docs are exactly what the generator renders.

When one of these fails, regenerate and commit the result:

    .venv/bin/python -m engine.metadata.docs
"""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.metadata.docs import render_error_codes, render_reference
from engine.metadata.schemas import KINDS

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "docs are stale: run `.venv/bin/python -m engine.metadata.docs` and commit the result"


@pytest.mark.parametrize("name, render", [
    ("language-reference.md", render_reference),
    ("errors.md", render_error_codes),
])
def test_generated_doc_is_current(name: str, render) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == render(), REGENERATE


def test_editor_setup_names_every_kind() -> None:
    text = (DOCS / "editor-setup.md").read_text(encoding="utf-8")
    missing = [kind for kind in KINDS if f"{kind}.schema.json" not in text]
    assert missing == [], f"docs/editor-setup.md does not mention the schema of {missing}"
