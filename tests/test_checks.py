"""Meaning checks (engine/metadata/check.py): one small test per rule.

Each test writes a tiny configuration folder, runs read -> build -> check
(not the shape layer, which has its own tests), and asserts the code, file and
line of every error found: text in, code and line out.
"""
from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

from engine.metadata.check import check_config
from engine.metadata.errors import CODES, ConfigError, ErrorSink
from engine.metadata.loader import build_config, format_errors, read_folder

def yaml(text: str) -> str:
    """YAML written indented inside a test, as the file's text."""
    return dedent(text).lstrip("\n")


BASE = {
    "crm.yaml": "company: Test Kft.\n",
    "roles.yaml": "roles:\n  rep: {}\n  manager: {inherits: rep}\n  admin: {all: true}\n",
}
ACCOUNT = yaml("""
    entity: account
    fields:
      name: {type: string}
      industry: {type: choice, options: [it, retail]}
    """)
DEAL = yaml("""
    entity: deal
    traits: [owned]
    fields:
      name: {type: string}
      account: {type: link, entity: account}
      amount: {type: money}
      close_date: {type: date}
      stage: {type: stage, pipeline: sales}
    """)
SALES = yaml("""
    pipeline: sales
    entity: deal
    stages:
      - {key: new}
      - {key: won, closed: won}
      - {key: lost, closed: lost}
    """)


def write_config(tmp_path: Path, files: dict[str, str]) -> Path:
    """A configuration folder: BASE's crm.yaml and roles.yaml plus `files` (dedented)."""
    for rel, text in {**BASE, **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml(text), encoding="utf-8")
    return tmp_path


def sales(files: dict[str, str] | None = None) -> dict[str, str]:
    """Account, an owned deal and its `sales` pipeline, plus (or replaced by) `files`."""
    return {"entities/account.yaml": ACCOUNT, "entities/deal.yaml": DEAL, "pipelines/sales.yaml": SALES,
            **(files or {})}


def meaning_errors(root: Path) -> list[ConfigError]:
    """read -> build -> check_config, skipping the shape layer; the build must be clean."""
    sink = ErrorSink()
    config = build_config(read_folder(root, sink), sink)
    assert config is not None and not sink, format_errors(sink.errors)
    return sorted(check_config(config), key=ConfigError.sort_key)


def found(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str, int]]:
    """(code, file relative to the folder, line) of every meaning error."""
    errors = meaning_errors(write_config(tmp_path, files))
    for e in errors:
        assert e.code in CODES
    return [(e.code, Path(os.path.relpath(e.location.file, tmp_path)).as_posix(), e.location.line)
            for e in errors]


def the_error(tmp_path: Path, files: dict[str, str]) -> ConfigError:
    errors = meaning_errors(write_config(tmp_path, files))
    assert len(errors) == 1, format_errors(errors)
    return errors[0]


# -- a whole, valid configuration -------------------------------------------------


def test_the_spec_example_has_no_meaning_errors(tmp_path):
    assert found(tmp_path, spec_files()) == []


def test_every_error_names_file_line_path_and_hint(tmp_path):
    error = the_error(tmp_path, sales({"entities/contact.yaml": """
        entity: contact
        fields:
          account: {type: link, entity: acount}
        """}))
    assert str(error).endswith("entities/contact.yaml:3:33: CRM-E200 fields.account.entity: "
                               "'acount' is not an entity of this configuration (did you mean 'account'?)")


# -- entity references -------------------------------------------------------------


def test_link_names_a_missing_entity(tmp_path):
    assert found(tmp_path, {"entities/contact.yaml": """
        entity: contact
        fields:
          name: {type: string}
          account: {type: link, entity: acount}
        """}) == [("CRM-E200", "entities/contact.yaml", 4)]


def test_lines_names_a_missing_entity(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + "  items: {type: lines, entity: deal_line}\n"})) \
        == [("CRM-E200", "entities/deal.yaml", 9)]


def test_stage_field_names_a_missing_pipeline(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL.replace("pipeline: sales", "pipeline: sale")})) == [
        ("CRM-E202", "entities/deal.yaml", 8)]


def test_stage_field_names_a_pipeline_over_another_entity(tmp_path):
    assert found(tmp_path, sales({"entities/lead.yaml": """
        entity: lead
        fields:
          name: {type: string}
          stage: {type: stage, pipeline: sales}
        """})) == [("CRM-E215", "entities/lead.yaml", 4)]


def test_pipeline_entity_without_a_stage_field(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL.replace("pipeline: sales", "pipeline: renewals"),
                                  "pipelines/renewals.yaml": SALES.replace("sales", "renewals")})) == [
        ("CRM-E215", "pipelines/sales.yaml", 2)]


def test_two_pipelines_over_one_entity(tmp_path):
    deal = DEAL + "  renewal: {type: stage, pipeline: renewals}\n"
    assert found(tmp_path, sales({"entities/deal.yaml": deal,
                                  "pipelines/renewals.yaml": SALES.replace("sales", "renewals")})) == [
        ("CRM-E215", "entities/deal.yaml", 9)]


def test_title_names_a_missing_field(tmp_path):
    assert found(tmp_path, {"entities/account.yaml": """
        entity: account
        title: nam
        fields:
          name: {type: string}
        """}) == [("CRM-E201", "entities/account.yaml", 2)]


def test_list_column_link_path_must_follow_links(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + yaml("""
        views:
          list:
            columns: [name, account.name, name.length, account.nam]
        """)})) == [("CRM-E217", "entities/deal.yaml", 11), ("CRM-E201", "entities/deal.yaml", 11)]


def test_list_sort_may_be_descending_but_must_name_a_field(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + yaml("""
        views:
          list:
            sort: -amont
        """)})) == [("CRM-E201", "entities/deal.yaml", 11)]


def test_list_filter_follows_links_and_user_fields(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + yaml("""
        views:
          list:
            filters: [stage, owner.team, account.industry,
                      account.industri]
        """)})) == [("CRM-E201", "entities/deal.yaml", 12)]


def test_form_section_names_a_missing_field(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + yaml("""
        views:
          form:
            sections:
              - {label: General, fields: [name, owner]}
              - {label: Value, fields: [amount, discount]}
        """)})) == [("CRM-E201", "entities/deal.yaml", 13)]


def test_detail_related_must_be_an_entity_linking_here(tmp_path):
    assert found(tmp_path, sales({"entities/account.yaml": ACCOUNT + yaml("""
        views:
          detail:
            related: [deal, quote, account]
        """)})) == [("CRM-E200", "entities/account.yaml", 7), ("CRM-E201", "entities/account.yaml", 7)]


def test_detail_chart_must_be_a_report_over_a_linking_entity(tmp_path):
    report = "report: {name}\nentity: {entity}\ngroup_by: [name]\nmeasures: {{n: {{expr: 'count()'}}}}\n"
    assert found(tmp_path, sales({
        "entities/account.yaml": ACCOUNT + yaml("""
            views:
              detail:
                charts: [deals_by_name, revenue, contacts]
            """),
        "reports/deals_by_name.yaml": report.format(name="deals_by_name", entity="deal"),
        "reports/contacts.yaml": report.format(name="contacts", entity="contact"),
        "entities/contact.yaml": "entity: contact\nfields:\n  name: {type: string}\n",
    })) == [("CRM-E205", "entities/account.yaml", 7), ("CRM-E201", "entities/account.yaml", 7)]


def test_index_names_a_missing_or_columnless_field(tmp_path):
    assert found(tmp_path, sales({"entities/deal.yaml": DEAL + yaml("""
          net: {type: formula, expr: "amount * 2", result: money}
        indexes: [[owner, stage], [created_at], [amont], [net]]
        """)})) == [("CRM-E201", "entities/deal.yaml", 10), ("CRM-E218", "entities/deal.yaml", 10)]


def test_scoring_field_must_exist(tmp_path):
    assert found(tmp_path, {"entities/lead.yaml": """
        entity: lead
        fields:
          name: {type: string}
        scoring:
          rules: [{when: "name != null", points: 5}]
        """}) == [("CRM-E201", "entities/lead.yaml", 4)]


def test_scoring_field_must_be_a_number(tmp_path):
    assert found(tmp_path, {"entities/lead.yaml": """
        entity: lead
        fields:
          rank: {type: string}
        scoring:
          field: rank
          rules: [{when: "rank != null", points: 5}]
        """}) == [("CRM-E218", "entities/lead.yaml", 5)]


def test_assignment_roles_exist_and_teams_are_data(tmp_path):
    assert found(tmp_path, {"entities/lead.yaml": """
        entity: lead
        traits: [owned]
        fields:
          name: {type: string}
        assignment:
          strategy: by_rule
          among: {team: anyone_at_all}
          rules:
            - {when: "name != null", to: {role: reps}}
        """}) == [("CRM-E204", "entities/lead.yaml", 9)]


def test_assignment_needs_an_owned_entity(tmp_path):
    assert found(tmp_path, {"entities/lead.yaml": """
        entity: lead
        fields:
          name: {type: string}
        assignment:
          strategy: round_robin
        """}) == [("CRM-E211", "entities/lead.yaml", 4)]


def test_conversion_names_entities_and_their_fields(tmp_path):
    assert found(tmp_path, sales({"entities/lead.yaml": """
        entity: lead
        fields:
          company: {type: string}
          status: {type: choice, options: [new, converted]}
        conversion:
          to_deal:
            create:
              - {entity: acount, map: {name: company}}
              - {entity: account, match_on: [nme], map: {name: company}}
              - entity: deal
                map:
                  titel: company
                  account: $account
            then: {set: {status: convertd, stat: new}}
        """})) == [("CRM-E200", "entities/lead.yaml", 8), ("CRM-E201", "entities/lead.yaml", 9),
                   ("CRM-E201", "entities/lead.yaml", 12), ("CRM-E214", "entities/lead.yaml", 14),
                   ("CRM-E201", "entities/lead.yaml", 14)]


def test_document_template_must_exist(tmp_path):
    assert found(tmp_path, {"entities/quote.yaml": """
        entity: quote
        fields:
          number: {type: string}
        documents:
          quote_pdf: {template: quote.html}
        """, "templates/offer.html": "<p>{{ record.number }}</p>\n"}) == [("CRM-E208", "entities/quote.yaml", 5)]


# -- reserved names --------------------------------------------------------------------


def test_entity_names_user_team_and_crm_prefix_are_reserved(tmp_path):
    one = "entity: {name}\nfields:\n  name: {{type: string}}\n"
    assert found(tmp_path, {f"entities/{n}.yaml": one.format(name=n) for n in ("user", "team", "crm_log")}) == [
        ("CRM-E216", "entities/crm_log.yaml", 1), ("CRM-E216", "entities/team.yaml", 1),
        ("CRM-E216", "entities/user.yaml", 1)]


def test_system_column_names_are_reserved(tmp_path):
    assert found(tmp_path, {"entities/account.yaml": """
        entity: account
        fields:
          name: {type: string}
          created_at: {type: datetime}
        """}) == [("CRM-E216", "entities/account.yaml", 4)]


def test_owned_entity_cannot_declare_owner_or_team(tmp_path):
    error = the_error(tmp_path, {"entities/account.yaml": """
        entity: account
        traits: [owned]
        fields:
          name: {type: string}
          owner: {type: user}
        """})
    assert (error.code, error.location.line, error.hint) == (
        "CRM-E216", 5, "remove the field, or drop 'owned' from traits")


def test_expression_words_cannot_be_field_names(tmp_path):
    assert found(tmp_path, {"entities/account.yaml": """
        entity: account
        fields:
          name: {type: string}
          in: {type: bool}
        """}) == [("CRM-E216", "entities/account.yaml", 4)]


# -- computed fields --------------------------------------------------------------------


def test_formula_cycle_is_reported_once(tmp_path):
    error = the_error(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          amount: {type: money}
          gross: {type: formula, expr: "net * 1.27 + amount"}
          net: {type: formula, expr: "gross / 1.27"}
        """})
    assert (error.code, error.location.line) == ("CRM-E210", 4)
    assert "gross -> net -> gross" in error.message


def test_formula_reading_itself_is_a_cycle(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          total: {type: formula, expr: "total + 1"}
          label: {type: formula, expr: "'total' + lower(name)", result: string}
          name: {type: string}
        """}) == [("CRM-E210", "entities/deal.yaml", 3)]


def test_rollup_and_child_formula_cycle_across_entities(tmp_path):
    error = the_error(tmp_path, {
        "entities/order.yaml": """
            entity: order
            fields:
              total: {type: rollup, of: lines, expr: "sum(share)"}
              lines: {type: lines, entity: order_line}
            """,
        "entities/order_line.yaml": """
            entity: order_line
            fields:
              order: {type: link, entity: order}
              share: {type: formula, expr: "order.total / 10"}
            """})
    assert (error.code, error.location.file.endswith("order.yaml"), error.location.line) == ("CRM-E210", True, 3)
    assert "total -> order_line.share -> total" in error.message


def test_rollup_of_names_lines_or_a_linking_entity(tmp_path):
    sources = {"a": "deal", "b": "deal.account", "c": "deals", "d": "name", "e": "deal.name"}
    rollups = "".join(f"  {name}: {{type: rollup, of: {of}, expr: 'count()'}}\n" for name, of in sources.items())
    assert found(tmp_path, sales({"entities/account.yaml": ACCOUNT + rollups})) == [
        ("CRM-E201", "entities/account.yaml", 7), ("CRM-E218", "entities/account.yaml", 8),
        ("CRM-E217", "entities/account.yaml", 9)]


# -- traits -----------------------------------------------------------------------------


def test_calendar_needs_start_and_end_datetimes(tmp_path):
    assert found(tmp_path, {"entities/meeting.yaml": """
        entity: meeting
        traits: [commentable, calendar]
        fields:
          start: {type: datetime}
          end: {type: date}
        """}) == [("CRM-E211", "entities/meeting.yaml", 2)]


def test_task_needs_due_assignee_and_done(tmp_path):
    assert found(tmp_path, {"entities/todo.yaml": """
        entity: todo
        traits: [task]
        fields:
          due: {type: datetime}
          assignee: {type: user}
        """}) == [("CRM-E211", "entities/todo.yaml", 2)]


def test_survey_needs_a_rating_and_library_a_file(tmp_path):
    assert found(tmp_path, {
        "entities/response.yaml": "entity: response\ntraits: [survey]\nfields:\n  comment: {type: text}\n",
        "entities/brochure.yaml": "entity: brochure\ntraits: [document_library]\nfields:\n  title: {type: string}\n",
    }) == [("CRM-E211", "entities/brochure.yaml", 2), ("CRM-E211", "entities/response.yaml", 2)]


def test_lines_entity_must_link_back(tmp_path):
    assert found(tmp_path, {
        "entities/order.yaml": "entity: order\nfields:\n  items: {type: lines, entity: item}\n",
        "entities/item.yaml": "entity: item\nfields:\n  name: {type: string}\n",
    }) == [("CRM-E212", "entities/order.yaml", 3)]


# -- field options -----------------------------------------------------------------------


def test_min_above_max(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          discount: {type: percent,
                     min: 50, max: 10}
        """}) == [("CRM-E214", "entities/deal.yaml", 4)]


def test_default_must_be_an_option_and_in_range(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          kind: {type: choice, options: [new, repeat], default: nwe}
          tags: {type: multichoice, options: [a, b], default: [a, c]}
          size: {type: int, min: 1, max: 10, default: 11}
        """}) == [("CRM-E214", "entities/deal.yaml", 3), ("CRM-E214", "entities/deal.yaml", 4),
                  ("CRM-E214", "entities/deal.yaml", 5)]


def test_choice_needs_options(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": "entity: deal\nfields:\n  kind: {type: choice}\n"}) == [
        ("CRM-E214", "entities/deal.yaml", 3)]


def test_rating_max_is_at_least_one(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": "entity: deal\nfields:\n  stars: {type: rating, max: 0}\n"}) == [
        ("CRM-E214", "entities/deal.yaml", 3)]


def test_required_link_cannot_be_set_null(tmp_path):
    assert found(tmp_path, sales({"entities/contact.yaml": """
        entity: contact
        fields:
          account: {type: link, entity: account, required: true,
                    on_delete: set_null}
        """})) == [("CRM-E214", "entities/contact.yaml", 4)]


def test_currency_is_a_three_letter_code(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": "entity: deal\nfields:\n  amount: {type: money, currency: eur}\n"}) \
        == [("CRM-E213", "entities/deal.yaml", 3)]


def test_autonumber_format_needs_seq(tmp_path):
    assert found(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          code: {type: autonumber, format: "D-{YYYY}"}
          ref: {type: autonumber, format: "R-{YYYY}-{sequence}"}
        """}) == [("CRM-E213", "entities/deal.yaml", 3), ("CRM-E213", "entities/deal.yaml", 4)]


def test_pattern_must_be_a_regex(tmp_path):
    error = the_error(tmp_path, {"entities/deal.yaml": """
        entity: deal
        fields:
          code: {type: string, pattern: "^[A-Z+$"}
        """})
    assert (error.code, error.location.line) == ("CRM-E213", 3)
    assert "unterminated character set" in error.message


def test_option_of_another_field_type(tmp_path):
    error = the_error(tmp_path, {"entities/deal.yaml": "entity: deal\nfields:\n  size: {type: int, pattern: x}\n"})
    assert (error.code, error.location.line, error.path) == ("CRM-E213", 3, "fields.size.pattern")
    assert error.hint == "'pattern' is an option of string fields"


# -- pipelines ---------------------------------------------------------------------------


def test_pipeline_entity_must_exist(tmp_path):
    assert found(tmp_path, {"pipelines/sales.yaml": SALES.replace("entity: deal", "entity: dael")}) == [
        ("CRM-E200", "pipelines/sales.yaml", 2)]


def test_stage_requires_fields_of_the_entity(tmp_path):
    pipeline = SALES + "  - {key: paid, requires: {fields: [amount, clos_date]}}\n"
    assert found(tmp_path, sales({"pipelines/sales.yaml": pipeline})) == [("CRM-E201", "pipelines/sales.yaml", 7)]


def test_stage_requires_related_entities_that_link_here(tmp_path):
    pipeline = SALES + "  - {key: quoted, requires: {related: [{entity: quote}, {entity: account}]}}\n"
    assert found(tmp_path, sales({"pipelines/sales.yaml": pipeline})) == [
        ("CRM-E200", "pipelines/sales.yaml", 7), ("CRM-E201", "pipelines/sales.yaml", 7)]


def test_stage_requires_activities_of_a_timeline_entity_with_that_kind(tmp_path):
    activity = """
        entity: activity
        traits: [timeline]
        fields:
          deal: {type: link, entity: deal}
          kind: {type: choice, options: [call, meeting]}
        """
    pipeline = SALES + "  - {key: met, requires: {activities: [{kind: meting}]}}\n"
    assert found(tmp_path, sales({"entities/activity.yaml": activity, "pipelines/sales.yaml": pipeline})) == [
        ("CRM-E214", "pipelines/sales.yaml", 7)]
    assert found(tmp_path, sales({"entities/activity.yaml": activity.replace("timeline", "commentable"),
                                  "pipelines/sales.yaml": pipeline})) == [
        ("CRM-E200", "pipelines/sales.yaml", 7)]


def test_stage_requires_approvals_over_the_same_entity(tmp_path):
    approval = "approval: {name}\nentity: {entity}\nwhen: 'true'\nsteps: [{{approvers: {{role: manager}}}}]\n"
    assert found(tmp_path, sales({
        "pipelines/sales.yaml": SALES + "  - {key: signed, requires: {approvals: [big, account_check, bigg]}}\n",
        "approvals/big.yaml": approval.format(name="big", entity="deal"),
        "approvals/account_check.yaml": approval.format(name="account_check", entity="account"),
    })) == [("CRM-E206", "pipelines/sales.yaml", 7), ("CRM-E206", "pipelines/sales.yaml", 7)]


def test_explicit_transitions_name_stages(tmp_path):
    assert found(tmp_path, sales({"pipelines/sales.yaml": SALES + yaml("""
        transitions:
          - {from: [new, nwe], to: won}
          - {from: won, to: lots}
        """)})) == [("CRM-E203", "pipelines/sales.yaml", 8), ("CRM-E203", "pipelines/sales.yaml", 9)]


def test_stage_keys_are_unique(tmp_path):
    assert found(tmp_path, sales({"pipelines/sales.yaml": SALES + "  - {key: won}\n"})) == [
        ("CRM-E011", "pipelines/sales.yaml", 7)]


def test_follow_up_names_an_alert(tmp_path):
    assert found(tmp_path, sales({"pipelines/sales.yaml": SALES + yaml("""
        follow_up:
          - {when: "stage.open", max_idle: 14d, alert: stale}
        """)})) == [("CRM-E207", "pipelines/sales.yaml", 8)]


# -- approvals ---------------------------------------------------------------------------


def test_approval_entity_locks_and_approver_roles(tmp_path):
    assert found(tmp_path, sales({"approvals/big.yaml": """
        approval: big
        entity: deal
        when: "amount > 100"
        steps:
          - {approvers: {role: manager, team: same}}
          - {approvers: {role: directr}}
        locks: [amount, discount]
        """})) == [("CRM-E204", "approvals/big.yaml", 6), ("CRM-E201", "approvals/big.yaml", 7)]


def test_approval_entity_must_exist(tmp_path):
    assert found(tmp_path, {"approvals/big.yaml": "approval: big\nentity: deal\nwhen: 'true'\nsteps: []\n"}) == [
        ("CRM-E200", "approvals/big.yaml", 2)]


# -- alerts ------------------------------------------------------------------------------

TEMPLATES = {"templates/remind.subject.txt": "Hi\n", "templates/remind.email.html": "<p>Hi</p>\n",
             "templates/remind.sms.txt": "Hi\n"}


def alert(body: str) -> dict[str, str]:
    return sales({"alerts/remind.yaml": "alert: remind\nentity: deal\n" + dedent(body).lstrip("\n"), **TEMPLATES})


def test_date_trigger_needs_a_date_field(tmp_path):
    assert found(tmp_path, alert("trigger: {date: amount, before: [7d]}\nnotify: [{to: owner}]\n")) == [
        ("CRM-E218", "alerts/remind.yaml", 3)]
    assert found(tmp_path, alert("trigger: {date: close_dat}\nnotify: [{to: owner}]\n")) == [
        ("CRM-E201", "alerts/remind.yaml", 3)]


def test_event_trigger_fields_and_stage(tmp_path):
    assert found(tmp_path, alert("""
        trigger: {event: updated, fields: [amount, amont]}
        notify: [{to: owner}]
        """)) == [("CRM-E201", "alerts/remind.yaml", 3)]
    assert found(tmp_path, alert("""
        trigger: {event: stage_entered, stage: wonn}
        notify: [{to: owner}]
        """)) == [("CRM-E203", "alerts/remind.yaml", 3)]


def test_recipient_field_is_a_user_field(tmp_path):
    assert found(tmp_path, alert("""
        trigger: {event: created}
        notify:
          - {to: owner}
          - {to: created_by}
          - {to: account}
          - {to: assignee}
          - {to: {role: managr}}
          - {to: {user: anybody}}
        """)) == [("CRM-E218", "alerts/remind.yaml", 7), ("CRM-E201", "alerts/remind.yaml", 8),
                  ("CRM-E204", "alerts/remind.yaml", 9)]


def test_each_channel_needs_its_templates_at_the_via_line(tmp_path):
    files = alert("""
        trigger: {event: created}
        notify:
          - {to: owner}
          - {to: owner, via: [in_app, email,
                              sms]}
        """)
    del files["templates/remind.email.html"], files["templates/remind.sms.txt"]
    assert found(tmp_path, files) == [("CRM-E208", "alerts/remind.yaml", 6), ("CRM-E208", "alerts/remind.yaml", 7)]


def test_missing_templates_point_at_an_explicit_template(tmp_path):
    error = the_error(tmp_path, alert("""
        trigger: {event: created}
        notify: [{to: owner, via: [sms]}]
        template: remnd
        """))
    assert (error.code, error.location.line, error.path) == ("CRM-E208", 5, "template")
    assert error.hint == "did you mean 'remind'?"


def test_also_creates_records_of_existing_entities_and_fields(tmp_path):
    assert found(tmp_path, alert("""
        trigger: {event: created}
        notify: [{to: owner}]
        also:
          - {create: account, map: {name: "'x'", industri: "'it'"}}
          - {create: acount, map: {name: "'x'"}}
        """)) == [("CRM-E201", "alerts/remind.yaml", 6), ("CRM-E200", "alerts/remind.yaml", 7)]


# -- reports, KPIs, quotas, dashboards --------------------------------------------------

REPORT = yaml("""
    report: by_stage
    entity: deal
    group_by: [stage, {field: close_date, bucket: month}]
    measures:
      total: {expr: "sum(amount)"}
    """)


def test_report_group_by_follows_links_and_buckets_only_dates(tmp_path):
    assert found(tmp_path, sales({"reports/by_stage.yaml": REPORT.replace(
        "[stage, {field: close_date, bucket: month}]",
        "[account.industry, account.nam, {field: amount, bucket: month}]")})) == [
        ("CRM-E201", "reports/by_stage.yaml", 3), ("CRM-E218", "reports/by_stage.yaml", 3)]


def test_report_entity_must_exist(tmp_path):
    assert found(tmp_path, sales({"reports/by_stage.yaml": REPORT.replace("entity: deal", "entity: dael")})) == [
        ("CRM-E200", "reports/by_stage.yaml", 2)]


def test_chart_axes_name_group_by_fields_and_measures(tmp_path):
    assert found(tmp_path, sales({"reports/by_stage.yaml": REPORT + yaml("""
        chart: {type: bar,
                x: close_date, y: totl,
                series: owner}
        """)})) == [("CRM-E201", "reports/by_stage.yaml", 7), ("CRM-E201", "reports/by_stage.yaml", 8)]


def test_report_params_period_defaults_and_link_entities(tmp_path):
    assert found(tmp_path, sales({"reports/by_stage.yaml": REPORT + yaml("""
        params:
          who: {type: link, entity: acount}
          period: {type: period, default: this_quartr}
          recent: {type: period, default: last_30_days}
        """)})) == [("CRM-E200", "reports/by_stage.yaml", 7), ("CRM-E222", "reports/by_stage.yaml", 8)]


def test_kpi_by_is_a_user_field(tmp_path):
    assert found(tmp_path, sales({"reports/won.yaml": "kpi: won\nentity: deal\nvalue: count()\nby: account\n"})) == [
        ("CRM-E218", "reports/won.yaml", 4)]


def test_quota_targets_name_kpis(tmp_path):
    assert found(tmp_path, sales({
        "reports/won.yaml": "kpi: won\nentity: deal\nvalue: count()\nby: owner\n",
        "reports/by_stage.yaml": REPORT,
        "reports/norms.yaml": "quota: norms\ntargets:\n  a: {kpi: won, target: 1}\n  b: {kpi: by_stage, target: 2}\n",
    })) == [("CRM-E205", "reports/norms.yaml", 4)]


def test_dashboard_roles_and_widgets_of_the_right_kind(tmp_path):
    error_list = found(tmp_path, sales({
        "reports/won.yaml": "kpi: won\nentity: deal\nvalue: count()\n",
        "reports/by_stage.yaml": REPORT,
        "reports/home.yaml": """
            dashboard: home
            roles: [rep, sales_rep]
            widgets:
              - {kpi: won}
              - {kpi: by_stage}
              - {report: bystage}
            """}))
    assert error_list == [("CRM-E204", "reports/home.yaml", 2), ("CRM-E205", "reports/home.yaml", 5),
                          ("CRM-E205", "reports/home.yaml", 6)]


# -- roles -------------------------------------------------------------------------------


def test_role_references(tmp_path):
    assert found(tmp_path, sales({"roles.yaml": """
        roles:
          rep:
            entities:
              deal: {read: own}
              deals: {read: own}
            reports: [by_stage, bystage]
            hidden_fields: [account.name, account, account.nme, acount.name]
          manager: {inherits: repp}
        """, "reports/by_stage.yaml": REPORT})) == [
        ("CRM-E200", "roles.yaml", 5), ("CRM-E205", "roles.yaml", 6), ("CRM-E221", "roles.yaml", 7),
        ("CRM-E201", "roles.yaml", 7), ("CRM-E200", "roles.yaml", 7), ("CRM-E204", "roles.yaml", 8)]


def test_role_inheritance_cycle_is_reported_once(tmp_path):
    error = the_error(tmp_path, {"roles.yaml": """
        roles:
          rep: {inherits: director}
          manager: {inherits: rep}
          director: {inherits: manager}
          intern: {inherits: rep}
        """})
    assert (error.code, error.location.line) == ("CRM-E209", 4)
    assert "director -> manager -> rep -> director" in error.message


def test_role_inheriting_itself(tmp_path):
    assert found(tmp_path, {"roles.yaml": "roles:\n  admin: {all: true}\n  loner: {inherits: loner}\n"}) == [
        ("CRM-E209", "roles.yaml", 3)]


# -- scenario tests ----------------------------------------------------------------------


def test_scenario_steps_name_entities_records_stages_and_users(tmp_path):
    assert found(tmp_path, sales({"tests/flow.yaml": """
        test: flow
        given:
          - {user: rep1, roles: [rep]}
          - {entity: dael, as: x, values: {name: X}}
          - {entity: deal, as: d, values: {name: D, account: $acme}}
        when:
          - {move: $d, to: wonn, as_user: rep2}
          - {update: $e, values: {amount: 5}}
        expect:
          - {ok: true}
        """})) == [("CRM-E220", "tests/flow.yaml", 4), ("CRM-E220", "tests/flow.yaml", 5),
                   ("CRM-E220", "tests/flow.yaml", 7), ("CRM-E220", "tests/flow.yaml", 7),
                   ("CRM-E220", "tests/flow.yaml", 8)]


def test_scenario_checks_are_well_formed(tmp_path):
    assert found(tmp_path, sales({"tests/flow.yaml": """
        test: flow
        given:
          - {entity: deal, as: d, values: {name: D}}
          - {ok: true}
        expect:
          - {ok: false}
          - {count: {entity: deal, equal: 1}}
          - {values: {$d: {amont: 1}}}
          - {notified: {user: nobody, alert: remind}}
        """})) == [("CRM-E220", "tests/flow.yaml", 4), ("CRM-E220", "tests/flow.yaml", 6),
                   ("CRM-E220", "tests/flow.yaml", 7), ("CRM-E220", "tests/flow.yaml", 7),
                   ("CRM-E220", "tests/flow.yaml", 8), ("CRM-E220", "tests/flow.yaml", 9),
                   ("CRM-E220", "tests/flow.yaml", 9)]


# -- the spec's example, as files ---------------------------------------------------------

_FILES = {
    "crm.yaml": """
        company: Kovács és Társa Kft.
        locales: [hu, en]
        currency: HUF
        timezone: Europe/Budapest
        week_starts: monday
        fiscal_year_start: "01-01"
        channels:
          email: {smtp_url: env:CRM_SMTP_URL, from: "CRM <crm@example.hu>"}
          sms:   {gateway_url: env:CRM_SMS_URL, sender: KOVACS}
        """,
    "roles.yaml": """
        roles:
          rep:
            label: {en: Sales rep, hu: Értékesítő}
            entities:
              account: {read: team, create: true, update: own, delete: none}
              deal:    {read: own, create: true, update: own, delete: none}
            reports: [pipeline_by_stage, win_rate]
            hidden_fields: [account.annual_revenue]
          sales_manager:
            inherits: rep
            entities:
              account: {read: all, update: team}
              deal:    {read: all, update: team, delete: team}
          director:
            inherits: sales_manager
          inside_sales: {}
          admin:
            all: true
        """,
    "entities/account.yaml": """
        entity: account
        title: name
        traits: [owned, commentable, attachments]
        fields:
          name:           {type: string, required: true, search: true}
          tax_number:     {type: string, pattern: "^[0-9]{8}-[0-9]-[0-9]{2}$"}
          industry:       {type: choice, options: [it, manufacturing, retail]}
          annual_revenue: {type: money}
          open_deals:     {type: rollup, of: deal, expr: "count()", filter: "stage.open", result: int}
        """,
    "entities/contact.yaml": """
        entity: contact
        title: last_name
        fields:
          first_name: {type: string}
          last_name:  {type: string, required: true}
          email:      {type: email}
          account:    {type: link, entity: account, on_delete: cascade}
        """,
    "entities/deal.yaml": """
        entity: deal
        label: {en: Deal, hu: Üzlet}
        plural: {en: Deals, hu: Üzletek}
        title: name
        traits: [owned]
        fields:
          name:        {type: string, required: true, max_length: 200, search: true}
          account:     {type: link, entity: account, required: true, on_delete: restrict}
          amount:      {type: money, min: 0}
          discount_pct: {type: percent, min: 0, max: 100, default: 0}
          net_amount:  {type: formula, expr: "amount * (1 - discount_pct / 100)", result: money}
          close_date:  {type: date}
          stage:       {type: stage, pipeline: sales}
          lost_reason: {type: choice, options: [price, competitor, timing, no_budget, other]}
          source:      {type: choice, options: {web: Website, fair: {en: Trade fair, hu: Kiállítás}, referral: Referral}}
          tags:        {type: multichoice, options: [strategic, upsell, renewal]}
          code:        {type: autonumber, format: "D-{YYYY}-{seq:05}"}
          items:       {type: lines, entity: deal_line}
          items_total: {type: rollup, of: items, expr: "sum(line_total)", result: money}
          description: {type: text}
        validations:
          - rule: "close_date == null or close_date >= created_at.date()"
            message: {en: Close date cannot be before creation, hu: A zárás dátuma nem lehet a létrehozás előtti}
        views:
          list:
            columns: [code, name, account, owner, stage, amount, close_date, account.name]
            sort: -amount
            filters: [stage, owner, account.industry, close_date, owner.team]
            page_size: 50
          form:
            sections:
              - {label: General, fields: [name, account, owner, source, tags]}
              - {label: Value, fields: [amount, discount_pct, net_amount, close_date]}
              - {label: Items, fields: [items]}
          detail:
            related: [activity, quote]
            charts: [account_revenue_trend]
        segments:
          my_open: {label: My open deals, filter: "owner == current_user and stage.open"}
          big:     {label: Big deals, filter: "amount >= 10000000"}
        indexes: [[owner, stage], [close_date]]
        """,
    "entities/deal_line.yaml": """
        entity: deal_line
        title: product
        fields:
          deal:       {type: link, entity: deal, required: true, on_delete: cascade}
          product:    {type: string}
          quantity:   {type: decimal, min: 0, scale: 3}
          unit_price: {type: money}
          line_total: {type: formula, expr: "quantity * unit_price", result: money}
        """,
    "entities/quote.yaml": """
        entity: quote
        traits: [attachments]
        fields:
          number: {type: autonumber, format: "Q-{YY}{MM}-{seq}"}
          deal:   {type: link, entity: deal, required: true}
          total:  {type: money, currency: EUR}
        documents:
          quote_pdf: {template: quote.html, format: pdf, filename: "{number}.pdf"}
        """,
    "entities/activity.yaml": """
        entity: activity
        title: subject
        traits: [timeline, calendar, task]
        fields:
          subject:  {type: string, required: true}
          kind:     {type: choice, options: [call, meeting, email, task], default: call}
          deal:     {type: link, entity: deal, on_delete: set_null}
          contract: {type: link, entity: contract}
          start:    {type: datetime}
          end:      {type: datetime}
          due:      {type: datetime}
          assignee: {type: user, default: current_user}
          done:     {type: bool, default: false}
        """,
    "entities/contract.yaml": """
        entity: contract
        title: title
        traits: [owned]
        fields:
          title:    {type: string}
          status:   {type: choice, options: [draft, active, ended], default: draft}
          end_date: {type: date}
          account:  {type: link, entity: account}
        """,
    "entities/lead.yaml": """
        entity: lead
        title: company
        traits: [owned]
        fields:
          company:      {type: string}
          first_name:   {type: string}
          last_name:    {type: string}
          email:        {type: email}
          tax_number:   {type: string}
          company_size: {type: int, min: 0}
          country:      {type: string, max_length: 2}
          source:       {type: choice, options: [web, fair, referral]}
          status:       {type: choice, options: [new, qualified, converted], default: new}
          score:        {type: int}
        scoring:
          field: score
          rules:
            - {when: "source == 'referral'", points: 30}
            - {when: "company_size >= 50", points: 20}
            - {when: "email.endswith('.gov.hu')", points: -10}
        assignment:
          strategy: round_robin
          among: {team: inside_sales}
          rules:
            - {when: "country != 'HU'", to: {team: export}}
        conversion:
          to_deal:
            label: {en: Convert to deal, hu: Üzletté alakítás}
            when: "status == 'qualified'"
            create:
              - {entity: account, match_on: [tax_number], map: {name: company, tax_number: tax_number}}
              - {entity: contact, map: {first_name: first_name, last_name: last_name, email: email, account: $account}}
              - {entity: deal, map: {name: "company + ' - first order'", account: $account, owner: owner}}
            then: {set: {status: converted}}
        """,
    "entities/survey_response.yaml": """
        entity: survey_response
        traits: [survey]
        fields:
          comment: {type: text}
          rating:  {type: rating, max: 10}
        """,
    "entities/brochure.yaml": """
        entity: brochure
        traits: [document_library]
        fields:
          title: {type: string}
          file:  {type: file, accept: [pdf, pptx], max_size: 10MB}
        """,
    "pipelines/sales.yaml": """
        pipeline: sales
        entity: deal
        stages:
          - {key: new,         probability: 10}
          - {key: qualified,   probability: 25, requires: {fields: [amount, close_date]}}
          - {key: proposal,    probability: 50, requires: {activities: [{kind: meeting, min: 1}], related: [{entity: quote, min: 1}]}}
          - {key: negotiation, probability: 75}
          - {key: won,  probability: 100, closed: won,  requires: {approvals: [big_discount]}}
          - {key: lost, probability: 0,   closed: lost, requires: {fields: [lost_reason]}}
        transitions: [{from: [new, qualified], to: lost}, {from: proposal, to: [negotiation, lost]}]
        follow_up:
          - {when: "stage.open", max_idle: 14d, alert: stale_deal}
        """,
    "approvals/big_discount.yaml": """
        approval: big_discount
        entity: deal
        when: "discount_pct > 15"
        steps:
          - {approvers: {role: sales_manager, team: same}, when: "discount_pct <= 30"}
          - {approvers: {role: director}, when: "discount_pct > 30"}
        locks: [discount_pct, amount, items]
        expires: 5d
        notify: {via: [in_app, email]}
        """,
    "alerts/contract_renewal.yaml": """
        alert: contract_renewal
        entity: contract
        trigger: {date: end_date, before: [60d, 30d, 7d], at: "08:00"}
        when: "status == 'active'"
        notify:
          - {to: owner, via: [email, sms]}
          - {to: {role: sales_manager, team: same}, via: [in_app]}
        template: contract_renewal
        also:
          - {create: activity, map: {kind: "'task'", subject: "'Renewal: ' + title", due: "end_date - days(30)", assignee: owner}}
        """,
    "alerts/stale_deal.yaml": """
        alert: stale_deal
        entity: deal
        trigger: {schedule: "daily 07:00"}
        when: "stage.open"
        notify:
          - {to: owner}
        """,
    "alerts/deal_won.yaml": """
        alert: deal_won
        entity: deal
        trigger: {event: stage_entered, stage: won}
        notify:
          - {to: {role: sales_manager}, via: [in_app]}
        template: stale_deal
        """,
    "reports/pipeline_by_stage.yaml": """
        report: pipeline_by_stage
        label: {en: Pipeline by stage, hu: Pipeline szakaszonként}
        entity: deal
        filter: "stage.open"
        params:
          owner: {type: user, default: null}
          period: {type: period, default: this_quarter}
        where_params: "owner == $owner and close_date in $period"
        group_by: [stage, {field: close_date, bucket: month}]
        measures:
          total:    {expr: "sum(amount)", format: money}
          weighted: {expr: "sum(amount * stage.probability / 100)", format: money}
          deals:    {expr: "count()"}
        chart: {type: bar, x: close_date, y: total, series: stage}
        """,
    "reports/account_revenue_trend.yaml": """
        report: account_revenue_trend
        entity: deal
        group_by: [{field: close_date, bucket: quarter}, account.industry]
        measures:
          total: {expr: "sum(amount)", format: money}
        chart: {type: line, x: close_date, y: total}
        """,
    "reports/win_rate.yaml": """
        kpi: win_rate
        label: Win rate
        entity: deal
        value: "count(stage.won) / count(stage.closed)"
        format: percent
        period: month
        by: owner
        """,
    "reports/calls_made.yaml": """
        kpi: calls_made
        entity: activity
        value: "count(kind == 'call')"
        period: week
        by: assignee
        """,
    "reports/activity_norms.yaml": """
        quota: activity_norms
        period: week
        targets:
          calls: {kpi: calls_made, target: 40}
        """,
    "reports/sales_manager.yaml": """
        dashboard: sales_manager
        roles: [sales_manager, director]
        widgets:
          - {kpi: win_rate}
          - {report: pipeline_by_stage, size: wide}
          - {quota: activity_norms}
        """,
    "templates/contract_renewal.subject.txt": "Renewal: {{ record.title }}\n",
    "templates/contract_renewal.email.html": "<p>{{ record.title }} ends on {{ record.end_date | date }}</p>\n",
    "templates/contract_renewal.sms.txt": "{{ record.title }} ends soon\n",
    "templates/stale_deal.subject.txt": "Idle deal: {{ record.name }}\n",
    "templates/quote.html": "<h1>Quote {{ record.number }}</h1>\n",
    "tests/discount.yaml": """
        test: discount over 15% needs approval
        given:
          - {user: rep1, roles: [rep], team: north}
          - {at: "2025-03-01 09:00"}
          - {entity: account, as: acme, values: {name: ACME Kft.}}
          - {entity: deal, as: d, values: {name: Big order, account: $acme, amount: 5000000, discount_pct: 20}}
        when:
          - {move: $d, to: won, as_user: rep1}
        expect:
          - {refused: "approval big_discount"}
          - {approval_pending: big_discount, record: $d}
          - {values: {$d: {stage: new, amount: 5000000}}}
          - {count: {entity: deal, filter: "account == $acme", equals: 1}}
          - {can_read: {user: rep1, record: $d, equals: true}}
        ---
        test: renewal reminder
        given:
          - {user: rep1, roles: [rep]}
          - {create: contract, as: c, values: {title: Support, status: active, end_date: "2025-06-30"}}
          - {update: $c, values: {owner: rep1}}
        when:
          - {at: "2025-05-01 08:00"}
          - {run_alerts: true}
        expect:
          - {notified: {user: rep1, alert: contract_renewal, via: email, count: 1}}
        """,
}


def spec_files() -> dict[str, str]:
    """A fresh copy of the spec's example configuration (relative path -> text)."""
    return {path: dedent(text).lstrip("\n") for path, text in _FILES.items()}
