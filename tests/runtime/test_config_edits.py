"""Form edits on YAML text (engine/runtime/config_edits.py): the change is made, everything else survives.

"Survives" is checked byte for byte: a line the edit does not touch is the
same text, comments, quotes and column alignment included.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from engine.metadata.loader import validate_folder
from engine.runtime import config_edits as ce

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"

ENTITY = """\
# Deals: one per sales opportunity.
entity: deal
title: name
fields:
  name:        {type: string, required: true}   # shown in links
  lost_reason: {type: choice, options: [price, competitor]}
  source:
    type: choice
    options:
      web: Website     # the contact form
      fair: Trade fair

# How the list looks.
views:
  list:
    columns: [name, lost_reason]
  form:
    sections:
      - {label: General, fields: [name, lost_reason, source]}
"""


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def test_add_field_keeps_comments_and_alignment_and_joins_list_and_form() -> None:
    after = ce.add_field(ENTITY, "region", "choice", label="Region", required=True, options=["north", "south"],
                         in_list=True)
    removed, added = changed_lines(ENTITY, after)
    assert removed == ["    columns: [name, lost_reason]",
                       "      - {label: General, fields: [name, lost_reason, source]}"]
    assert added == ["  region:      {type: choice, label: Region, required: true, options: [north, south]}",
                     "    columns: [name, lost_reason, region]",
                     "      - {label: General, fields: [name, lost_reason, source, region]}"]
    # The new field sits with the fields, above the comment that belongs to `views`.
    assert "      fair: Trade fair\n  region:" in after and "\n\n# How the list looks.\nviews:" in after


def test_add_field_writes_out_the_list_columns_when_the_document_has_none() -> None:
    text = "entity: note\nfields:\n  body: {type: string}  # the text\n"
    after = ce.add_field(text, "topic", "string", in_list=True, list_columns=["body"])
    assert after == ("entity: note\nfields:\n  body: {type: string}  # the text\n  topic: {type: string}\n"
                     "views:\n  list:\n    columns: [body, topic]\n")


def test_add_option_to_a_list_and_to_a_mapping() -> None:
    after = ce.add_option(ENTITY, "lost_reason", "timing")
    assert changed_lines(ENTITY, after) == (["  lost_reason: {type: choice, options: [price, competitor]}"],
                                            ["  lost_reason: {type: choice, options: [price, competitor, timing]}"])
    after = ce.add_option(ENTITY, "source", "referral", label="Referral")
    assert changed_lines(ENTITY, after) == ([], ["      referral: Referral"])
    assert "      web: Website     # the contact form\n      fair: Trade fair\n      referral: Referral\n" in after


def test_stage_probability_and_requirements() -> None:
    text = (CONFIGS / "pipelines" / "sales.yaml").read_text(encoding="utf-8")
    after = ce.set_stage(text, "qualified", probability=25, required_fields=["amount", "contact"])
    assert changed_lines(text, after) == (
        ["    probability: 20", "    requires: {fields: [amount, close_date, contact]}"],
        ["    probability: 25", "    requires: {fields: [amount, contact]}"])
    after = ce.set_stage(text, "new", required_fields=["amount"], approvals=["big_discount"])
    assert changed_lines(text, after) == ([], ["    requires: {fields: [amount], approvals: [big_discount]}"])
    # Emptying the only requirement removes `requires`; the stage's other requirements stay.
    after = ce.set_stage(text, "qualified", required_fields=[])
    assert changed_lines(text, after) == (["    requires: {fields: [amount, close_date, contact]}"], [])
    after = ce.set_stage(text, "won", required_fields=["close_date", "amount"])
    assert "requires: {fields: [close_date, amount], approvals: [big_discount]}" in after
    with pytest.raises(ce.EditError, match="no stage 'nope'"):
        ce.set_stage(text, "nope", probability=5)
    with pytest.raises(ce.EditError, match="between 0 and 100"):
        ce.set_stage(text, "new", probability=101)


def test_approval_threshold_alert_offsets_report_filter() -> None:
    approval = (CONFIGS / "approvals" / "big_discount.yaml").read_text(encoding="utf-8")
    after = ce.set_approval_when(approval, "discount_pct > 20")
    assert changed_lines(approval, after)[1] == ['when: "discount_pct > 20"']
    alert = (CONFIGS / "alerts" / "contract_renewal.yaml").read_text(encoding="utf-8")
    after = ce.set_alert_offsets(alert, before=["30d", "7d"], after=["1d"])
    assert changed_lines(alert, after)[1] == ['trigger: {date: end_date, before: [30d, 7d], at: "08:00", after: [1d]}']
    with pytest.raises(ce.EditError, match="not a duration"):
        ce.set_alert_offsets(alert, before=["soon"])
    with pytest.raises(ce.EditError, match="no date trigger"):
        ce.set_alert_offsets((CONFIGS / "alerts" / "new_lead.yaml").read_text(encoding="utf-8"), before=["1d"])
    report = (CONFIGS / "reports" / "pipeline_by_stage.yaml").read_text(encoding="utf-8")
    after = ce.set_report_filter(report, "stage.open and amount > 0")
    assert changed_lines(report, after) == (['filter: "stage.open"'], ['filter: "stage.open and amount > 0"'])
    assert "filter:" not in ce.set_report_filter(report, "")


def test_refusals_name_the_form_input() -> None:
    with pytest.raises(ce.EditError) as exc:
        ce.add_field(ENTITY, "name", "string")
    assert exc.value.fields == {"name": ["the entity already has a field 'name'"]}
    with pytest.raises(ce.EditError, match="already has the option 'price'"):
        ce.add_option(ENTITY, "lost_reason", "price")
    with pytest.raises(ce.EditError, match="not a choice"):
        ce.add_option(ENTITY, "name", "x")
    with pytest.raises(ce.EditError, match="needs at least one option"):
        ce.add_field(ENTITY, "kind", "choice")
    with pytest.raises(ce.EditError, match="not valid YAML"):
        ce.add_field("entity: x\nfields: {a: [\n", "b", "string")


@pytest.mark.parametrize("path", sorted((CONFIGS / "entities").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_entity_takes_a_new_field_that_validates(path: Path) -> None:
    """Only added lines, and the whole shipped configuration still validates with the new field."""
    text = path.read_text(encoding="utf-8")
    after = ce.add_field(text, "zz_note", "string", label="Note", in_list=True,
                         list_columns=["zz_placeholder"])
    removed, added = changed_lines(text, after)
    # A changed line is the old one with the new field appended to its list; nothing else moved.
    assert sorted(removed) == sorted(a.replace(", zz_note", "") for a in added if ", zz_note" in a)
    assert all("zz_note" in a or a.strip() in ("views:", "list:") for a in added)
    data_before, data_after = yaml.safe_load(text), yaml.safe_load(after)
    assert data_after["fields"]["zz_note"] == {"type": "string", "label": "Note"}
    assert {k: v for k, v in data_after["fields"].items() if k != "zz_note"} == data_before["fields"]
    files = {p.relative_to(CONFIGS).as_posix(): p.read_text(encoding="utf-8")
             for p in CONFIGS.rglob("*") if p.is_file() and p.suffix in (".yaml", ".txt", ".html")}
    rel = path.relative_to(CONFIGS).as_posix()
    if "columns" not in ((data_before.get("views") or {}).get("list") or {}):
        after = ce.add_field(text, "zz_note", "string", label="Note")
    config, errors = validate_folder(CONFIGS, files={**files, rel: after})
    assert errors == [] and "zz_note" in config.entities[path.stem].fields
