"""The shape check: YAML text in, error code, dotted path and line out."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from engine.metadata import shape
from engine.metadata.errors import CODES, ConfigError
from engine.metadata.schemas import KINDS, kind_of
from engine.metadata.shape import check_shape
from engine.metadata.yamlsafe import parse_documents

SPEC_EXAMPLES = Path(__file__).parent / "fixtures" / "spec_examples"


def errors_of(text: str, kind: str | None = None) -> list[ConfigError]:
    docs, read_errors = parse_documents(textwrap.dedent(text), "configs/x.yaml")
    assert read_errors == []
    return [e for doc in docs for e in check_shape(doc, kind or kind_of(doc.data) or "entity")]


def only(text: str) -> tuple[str, str, int]:
    """The one error of `text`, as (code, path, line)."""
    errors = errors_of(text)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0].code, errors[0].path, errors[0].location.line


def the_error(text: str) -> ConfigError:
    errors = errors_of(text)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# ------------------------------------------------------------ one test per rule

def test_unknown_key_is_placed_on_the_key_with_a_did_you_mean() -> None:
    error = the_error("""\
        entity: deal
        fields:
          name: {type: string, max_lenght: 200}
        """)
    assert (error.code, error.path, error.location.line, error.location.column) == (
        "CRM-E100", "fields.name.max_lenght", 3, 24)
    assert error.hint == "did you mean 'max_length'?"


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    error = the_error("roles:\n  rep: {colour: red}\n")
    assert error.code == "CRM-E100" and error.hint and error.hint.startswith("allowed here: label, inherits")


def test_each_unknown_key_is_its_own_error() -> None:
    codes = [(e.code, e.path) for e in errors_of("entity: deal\nfields: {}\ncolour: red\nsize: 3\n")]
    assert codes == [("CRM-E100", "colour"), ("CRM-E100", "size")]


def test_key_of_another_field_type_is_an_unknown_key() -> None:
    error = the_error("entity: deal\nfields:\n  n: {type: int, max_length: 5}\n")
    assert (error.code, error.path, error.message) == (
        "CRM-E100", "fields.n.max_length", "'max_length' does not apply to an int field")


def test_misspelt_field_type_reads_like_the_spec() -> None:
    error = the_error("entity: deal\nfields:\n  amount: {type: monye}\n")
    assert str(error) == ("configs/x.yaml:3:18: CRM-E103 fields.amount.type: "
                          "'monye' is not a field type (did you mean 'money'?)")


def test_missing_required_key() -> None:
    assert only("pipeline: sales\nentity: deal\n") == ("CRM-E101", "", 1)


def test_key_a_field_type_needs() -> None:
    error = the_error("entity: deal\nfields:\n  account: {type: link}\n")
    assert (error.code, error.path, error.message) == ("CRM-E101", "fields.account", "a link field needs 'entity'")


def test_wrong_type() -> None:
    assert only("entity: deal\nfields:\n  n: {type: int, min: low}\n") == ("CRM-E102", "fields.n.min", 3)


def test_yes_for_a_bool_hints_true_or_false() -> None:
    error = the_error("entity: deal\nfields:\n  name:\n    type: string\n    required: yes\n")
    assert (error.code, error.path, error.location.line) == ("CRM-E102", "fields.name.required", 5)
    assert error.hint == "write true or false"


def test_text_where_a_list_is_expected_hints_the_list() -> None:
    assert the_error("dashboard: d\nroles: rep\nwidgets: [{kpi: k}]\n").hint == "write a list: [rep]"


def test_word_not_allowed() -> None:
    error = the_error("roles:\n  rep:\n    entities:\n      deal: {read: everyone}\n")
    assert (error.code, error.path, error.message) == ("CRM-E103", "roles.rep.entities.deal.read",
                                                       "'everyone' is not a scope")


def test_bad_name() -> None:
    error = the_error("entity: Deal\nfields: {}\n")
    assert (error.code, error.path, error.location.line) == ("CRM-E104", "entity", 1)
    assert error.message == ("'Deal' is not a valid name: lower-case letters, digits and _, "
                             "starting with a letter")
    assert error.hint == "try 'deal'"


def test_bad_name_as_a_key_is_placed_on_the_key() -> None:
    error = the_error("entity: deal\nfields:\n  Close Date: {type: date}\n")
    assert (error.code, error.path, error.location.line, error.location.column) == (
        "CRM-E104", "fields.Close Date", 3, 3)
    assert error.hint == "try 'close_date'"


def test_bad_duration() -> None:
    error = the_error("approval: a\nentity: deal\nsteps: [{approvers: {role: boss}}]\nexpires: 5 days\n")
    assert (error.code, error.path, error.location.line) == ("CRM-E104", "expires", 4)
    assert error.message.startswith("'5 days' is not a duration")


def test_bad_duration_in_a_list() -> None:
    assert only("alert: a\nentity: c\ntrigger: {date: d, before: [60d, 1y]}\nalso: [{create: task}]\n") == (
        "CRM-E104", "trigger.before[1]", 3)


def test_out_of_range() -> None:
    assert only("pipeline: p\nentity: d\nstages: [{key: a}, {key: b, probability: 120}]\n") == (
        "CRM-E105", "stages[1].probability", 3)


def test_empty_list_where_one_item_is_needed() -> None:
    assert only("pipeline: p\nentity: d\nstages: [{key: a}]\n") == ("CRM-E105", "stages", 3)


def test_repeated_list_item() -> None:
    assert only("entity: deal\ntraits: [owned, timeline, owned]\nfields: {}\n") == ("CRM-E108", "traits[2]", 2)


def test_step_that_is_no_known_step() -> None:
    error = the_error("test: t\nwhen:\n  - {moev: $d, to: won}\nexpect: [{ok: true}]\n")
    assert (error.code, error.path, error.location.line) == ("CRM-E106", "when[0]", 3)
    assert error.hint == "did you mean 'move'?"


def test_error_inside_a_step_is_reported_against_that_step_only() -> None:
    error = the_error("test: t\nwhen:\n  - {move: $d, to: won, as_usr: rep1}\nexpect: [{ok: true}]\n")
    assert (error.code, error.path, error.hint) == ("CRM-E100", "when[0].as_usr", "did you mean 'as_user'?")


def test_step_written_as_text() -> None:
    assert only("test: t\nwhen: [move $d]\nexpect: [{ok: true}]\n") == ("CRM-E102", "when[0]", 2)


def test_one_of_several_keys_is_needed() -> None:
    error = the_error("dashboard: d\nwidgets:\n  - {size: wide}\n")
    assert (error.code, error.path, error.message) == ("CRM-E101", "widgets[0]",
                                                       "needs one of 'kpi', 'report', 'quota' or 'forecast'")


def test_keys_that_exclude_each_other() -> None:
    assert only("alert: a\nentity: c\ntrigger: {date: end_date, event: created}\nalso: [{create: task}]\n") == (
        "CRM-E107", "trigger.event", 3)


def test_key_that_needs_another() -> None:
    assert only("alert: a\nentity: c\ntrigger: {event: created, before: 7d}\nalso: [{create: task}]\n") == (
        "CRM-E107", "trigger.before", 3)


def test_every_problem_is_reported_sorted_by_line() -> None:
    errors = errors_of("entity: Deal\nfields:\n  a: {type: monye}\n  b: {type: int, min: x}\ncolour: red\n")
    assert [(e.code, e.location.line) for e in errors] == [
        ("CRM-E104", 1), ("CRM-E103", 3), ("CRM-E102", 4), ("CRM-E100", 5)]


def test_document_that_is_not_a_mapping() -> None:
    assert only("- entity: deal\n") == ("CRM-E102", "", 1)


def test_shape_emits_only_listed_codes() -> None:
    used = set(re.findall(r"CRM-E\d{3}", Path(shape.__file__).read_text(encoding="utf-8")))
    assert used and used <= set(CODES)


# ------------------------------------------------------------ valid documents

MINIMAL = {
    "crm": "company: ACME\nlocales: [en]\ncurrency: EUR\ntimezone: Europe/Budapest\n",
    "roles": "roles:\n  admin: {all: true}\n",
    "entity": "entity: note\nfields:\n  body: {type: text}\n",
    "pipeline": "pipeline: sales\nentity: deal\nstages: [{key: open}, {key: won, closed: won}]\n",
    "approval": "approval: big\nentity: deal\nsteps: [{approvers: {role: boss}}]\n",
    "alert": "alert: hello\nentity: deal\ntrigger: {event: created}\nnotify: [{to: owner, via: [in_app]}]\n",
    "report": "report: deals\nentity: deal\nmeasures: {n: {expr: count()}}\n",
    "kpi": "kpi: deals\nentity: deal\nvalue: count()\n",
    "quota": "quota: norms\nperiod: week\ntargets: {calls: {kpi: calls_made, target: 40}}\n",
    "dashboard": "dashboard: home\nwidgets: [{kpi: deals}]\n",
    "test": "test: nothing happens\nexpect: [{ok: true}]\n",
}


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_document_of_every_kind_is_valid(kind: str) -> None:
    docs, _ = parse_documents(MINIMAL[kind], f"{kind}.yaml")
    assert kind_of(docs[0].data) == kind
    assert check_shape(docs[0], kind) == []


@pytest.mark.parametrize("path", sorted(SPEC_EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_of_the_spec_is_valid(path: Path) -> None:
    docs, read_errors = parse_documents(path.read_text(encoding="utf-8"), path.name)
    assert read_errors == [] and docs
    for doc in docs:
        kind = kind_of(doc.data)
        assert kind is not None
        assert [str(e) for e in check_shape(doc, kind)] == []


def test_spec_examples_cover_every_kind() -> None:
    kinds = {kind_of(parse_documents(p.read_text(encoding="utf-8"), p.name)[0][0].data)
             for p in SPEC_EXAMPLES.glob("*.yaml")}
    assert kinds == set(KINDS)
