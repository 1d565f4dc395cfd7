"""Editing the configuration in the browser (ui/pages/admin_config*.py, admin_history.py), on SQLite and PostgreSQL.

Real pieces only: the configuration is a revision pushed with `revisions.push`,
the app is the real one with live reload, every change goes through the real
validator, planner and `revisions.push`, and `revisions.pull` writes the
result back to a real folder.
"""
from __future__ import annotations

import re
import time

import pytest
from config_admin_world import ACCOUNT, ConfigWorld, cworld, hidden, token  # noqa: F401 - fixture
from starlette.testclient import TestClient

from engine.runtime import revisions as rv
from engine.runtime.actor import SYSTEM
from ui.services import build_services

HTMX = {"HX-Request": "true"}
DOC = "entities/account.yaml"
GETS = ["/admin/config", f"/admin/config/doc/{DOC}", "/admin/config/history", "/admin/config/history/1/rollback"]
POSTS = [f"/admin/config/doc/{DOC}", f"/admin/config/check/{DOC}", f"/admin/config/review/{DOC}",
         f"/admin/config/form/{DOC}", f"/admin/config/apply/{DOC}", "/admin/config/history/1/rollback"]


def review_form(client: TestClient, path: str, text: str, base: str = "1"):
    return client.post(f"/admin/config/review/{path}", data={"text": text, "base": base,
                                                            "csrf_token": token(client)})


def apply(client: TestClient, path: str, text: str, base: str, reason: str, confirm: bool = False):
    data = {"text": text, "base": base, "reason": reason, "csrf_token": token(client)}
    if confirm:
        data["confirm"] = "yes"
    return client.post(f"/admin/config/apply/{path}", data=data)


def test_nobody_but_an_admin_reaches_any_route(cworld: ConfigWorld) -> None:
    for username in ("anna", "mona"):
        client = cworld.browser(username)
        csrf = token(client)
        assert 'data-nav="config"' not in client.get("/").text
        for path in GETS:
            assert client.get(path).status_code == 403, path
        crafted = {"text": ACCOUNT.replace("segment:", "hacked: {type: string}\n  segment:"), "base": "1",
                   "reason": "crafted", "confirm": "yes", "edit": "add_field", "name": "hacked",
                   "type": "string", "csrf_token": csrf}
        for path in POSTS:
            assert client.post(path, data=crafted).status_code == 403, path
            assert client.post(path, data=crafted, headers={**HTMX, "X-CSRF-Token": csrf}).status_code == 403
    assert [r.id for r in rv.log(cworld.engine)] == [1]
    root = cworld.browser("root")
    assert 'data-nav="config"' in root.get("/").text
    for path in GETS:
        assert root.get(path).status_code == 200, path


def test_browse_groups_documents_and_shows_the_active_revision(cworld: ConfigWorld) -> None:
    page = cworld.browser("root").get("/admin/config").text
    assert 'data-active-revision="1"' in page and "consultant" in page and "first configuration" in page
    for group, doc in (("root", "crm.yaml"), ("entities", DOC), ("pipelines", "pipelines/sales.yaml"),
                       ("approvals", "approvals/big_discount.yaml")):
        assert f'data-config-group="{group}"' in page and f'data-config-doc="{doc}"' in page
    editor = cworld.browser("root").get(f"/admin/config/doc/{DOC}").text
    assert "# the company&#39;s registered name" in editor and 'data-form="add_field"' in editor


def test_invalid_yaml_shows_its_line_and_is_never_applied(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    csrf = token(root)
    broken = ACCOUNT.replace("  segment: {type: choice, options: [a, b]}",
                             "  segment: {type: choice, options: [a, b]\n  region: {type: strin}")
    r = root.post(f"/admin/config/check/{DOC}", data={"text": broken}, headers={**HTMX, "X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert 'data-line="10"' in r.text and "line 10" in r.text and "CRM-E001" in r.text
    # A valid YAML with a wrong value: the validator's own error, at its line.
    typo = ACCOUNT.replace("{type: choice, options: [a, b]}", "{type: choise, options: [a, b]}")
    r = root.post(f"/admin/config/check/{DOC}", data={"text": typo}, headers={**HTMX, "X-CSRF-Token": csrf})
    assert 'data-line="9"' in r.text and "choise" in r.text
    review = review_form(root, DOC, typo)
    assert review.status_code == 200 and "data-invalid" in review.text and "data-apply" not in review.text
    r = apply(root, DOC, typo, "1", "should not apply")
    assert r.status_code == 409 and "not valid" in r.text
    assert [r.id for r in rv.log(cworld.engine)] == [1]
    fine = root.post(f"/admin/config/check/{DOC}", data={"text": ACCOUNT}, headers={**HTMX, "X-CSRF-Token": csrf})
    assert 'data-error-count="0"' in fine.text


def test_two_admins_editing_the_same_document_get_a_conflict(cworld: ConfigWorld) -> None:
    first = cworld.browser("root")
    second = cworld.browser("root", cworld.second_app())
    base_first = hidden(first.get(f"/admin/config/doc/{DOC}").text, "base")
    base_second = hidden(second.get(f"/admin/config/doc/{DOC}").text, "base")
    assert base_first == base_second == "1"
    mine = ACCOUNT.replace("label: {en: Account,", "label: {en: Customer,")
    theirs = ACCOUNT.replace("[a, b]", "[a, b, c]")
    r = apply(first, DOC, mine, base_first, "first admin")
    assert r.status_code == 303 and r.headers["location"] == "/admin/config/history?applied=2"
    # The second admin reviews on the old base: the conflict shows before anything is applied ...
    review = review_form(second, DOC, theirs, base_second)
    assert "data-conflict" in review.text and "data-apply" not in review.text
    # ... and a crafted apply on it is refused all the same.
    r = apply(second, DOC, theirs, base_second, "second admin")
    assert r.status_code == 409 and "data-conflict" in r.text and "#2" in r.text
    active = rv.active(cworld.engine)
    assert active.id == 2 and active.files[DOC] == mine and [r.id for r in rv.log(cworld.engine)] == [2, 1]


def test_a_reason_is_required(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    r = apply(root, DOC, ACCOUNT.replace("[a, b]", "[a, b, c]"), "1", "   ")
    assert r.status_code == 422 and "reason" in r.text
    assert [r.id for r in rv.log(cworld.engine)] == [1]


def test_field_added_by_form_shows_in_form_and_list_and_pulls_back_as_clean_yaml(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    other = cworld.browser("anna", cworld.second_app())         # another worker, serving revision #1
    assert 'name="industry"' not in other.get("/records/account/new").text
    r = root.post(f"/admin/config/form/{DOC}", data={
        "edit": "add_field", "base": "1", "name": "industry", "type": "choice", "label": "Industry",
        "options": "it, retail", "in_list": "yes", "csrf_token": token(root)})
    assert r.status_code == 200, r.text
    assert "+  industry: {type: choice, label: Industry, options: [it, retail]}" in r.text
    assert "+    columns: [name, owner, industry]" in r.text
    assert 'data-plan-group="safe"' in r.text and "industry" in r.text.split("data-plan", 1)[1]
    assert "data-apply" in r.text and "data-confirm" not in r.text
    text = hidden(r.text, "text")
    applied = apply(root, DOC, text, hidden(r.text, "base"), "industry for segmentation")
    assert applied.status_code == 303
    history = root.get(applied.headers["location"]).text
    assert 'data-applied="2"' in history and "industry for segmentation" in history
    # The next request serves the new configuration: the record form and the list show the field.
    form = root.get("/records/account/new").text
    assert 'name="industry"' in form and '<option value="retail"' in form
    services = build_services(rv.active_config(cworld.engine), cworld.engine)
    services.records.create(SYSTEM, "account", {"name": "ACME", "industry": "retail", "owner": "root"})
    listing = root.get("/records/account").text
    assert re.search(r"<th[^>]*>[^<]*(<[^>]*>)*\s*Industry", listing) and "Retail" in listing
    # The other worker follows by itself (it checks the active revision at most every 0.5 s).
    deadline = time.monotonic() + 2
    while 'name="industry"' not in other.get("/records/account/new").text:
        assert time.monotonic() < deadline, "the other worker did not switch within 2 s"
        time.sleep(0.05)
    # Pulled back: the original text, comments and alignment kept, with the two lines changed.
    rv.pull(cworld.engine, cworld.folder)
    pulled = (cworld.folder / DOC).read_text(encoding="utf-8")
    assert pulled == ACCOUNT.replace(
        "  segment: {type: choice, options: [a, b]}\n",
        "  segment: {type: choice, options: [a, b]}\n"
        "  industry: {type: choice, label: Industry, options: [it, retail]}\n",
    ).replace("columns: [name, owner]", "columns: [name, owner, industry]")


def test_stage_requirement_edit_is_obeyed_on_the_next_request(cworld: ConfigWorld) -> None:
    services = build_services(rv.active_config(cworld.engine), cworld.engine)
    deal = services.records.create(SYSTEM, "deal", {"name": "No date", "amount": "100", "stage": "new",
                                                     "owner": "anna"}, internal=True)
    anna = cworld.browser("anna")

    def move() -> int:
        version = services.records.get(SYSTEM, "deal", deal["id"])["version"]
        return anna.post(f"/records/deal/{deal['id']}/move", data={"stage": "qualified", "version": version},
                         headers={**HTMX, "X-CSRF-Token": token(anna)}).status_code

    assert move() == 422                                     # close_date is required to qualify
    root = cworld.browser("root")
    page = root.get("/admin/config/doc/pipelines/sales.yaml").text
    assert 'data-stage="qualified"' in page
    r = root.post("/admin/config/form/pipelines/sales.yaml", data={
        "edit": "stage", "stage": "qualified", "probability": "30", "fields": "amount", "approvals": "",
        "base": "1", "csrf_token": token(root)})
    assert r.status_code == 200 and "data-plan-empty" in r.text
    assert "requires: {fields: [amount]}" in hidden(r.text, "text")
    assert apply(root, "pipelines/sales.yaml", hidden(r.text, "text"), "1", "dates later").status_code == 303
    assert move() == 200


def test_rollback_from_the_history(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    widened = ACCOUNT.replace("[a, b]", "[a, b, c]")
    assert apply(root, DOC, widened, "1", "segment c").status_code == 303
    history = root.get("/admin/config/history").text
    assert 'data-revision="2"' in history and "+  segment: {type: choice, options: [a, b, c]}" in history
    assert 'data-rollback="1"' in history and 'data-rollback="2"' not in history
    review = root.get("/admin/config/history/1/rollback")
    assert review.status_code == 200 and "-  segment: {type: choice, options: [a, b, c]}" in review.text
    assert "data-apply" in review.text
    base = hidden(review.text, "base")
    r = root.post("/admin/config/history/1/rollback", data={"base": base, "reason": "", "csrf_token": token(root)})
    assert r.status_code == 422 and len(rv.log(cworld.engine)) == 2
    r = root.post("/admin/config/history/1/rollback", data={"base": base, "reason": "c was a mistake",
                                                             "csrf_token": token(root)})
    assert r.status_code == 303, r.text
    active = rv.active(cworld.engine)
    assert active.id == 3 and active.files[DOC] == ACCOUNT and active.reason == "c was a mistake"
    assert active.author == "root"
    assert '<option value="c"' not in root.get("/records/account/new").text


@pytest.mark.parametrize("edit, path, data, expected", [
    ("approval", "approvals/big_discount.yaml", {"when": "discount_pct > 5"}, 'when: "discount_pct > 5"'),
    ("add_option", DOC, {"field": "segment", "option": "c"}, "segment: {type: choice, options: [a, b, c]}"),
])
def test_other_forms_lead_to_the_review(cworld: ConfigWorld, edit, path, data, expected) -> None:
    root = cworld.browser("root")
    r = root.post(f"/admin/config/form/{path}", data={"edit": edit, "base": "1", **data, "csrf_token": token(root)})
    assert r.status_code == 200 and expected in hidden(r.text, "text") and "data-apply" in r.text


def test_a_form_that_does_not_fit_says_why(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    r = root.post(f"/admin/config/form/{DOC}", data={"edit": "add_field", "base": "1", "name": "name",
                                                     "type": "string", "csrf_token": token(root)})
    assert r.status_code == 422 and "data-form-errors" in r.text and "already has a field" in r.text


def test_a_plan_that_needs_confirmation_shows_it_and_needs_the_checkbox(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    narrowed = ACCOUNT.replace("name:    {type: string, required: true}",
                               "name:    {type: string, required: true, max_length: 100}")
    review = review_form(root, DOC, narrowed)
    assert 'data-plan-group="needs confirmation"' in review.text and "data-confirm" in review.text
    r = apply(root, DOC, narrowed, "1", "shorter names")
    assert r.status_code == 409 and "need confirmation" in r.text and "data-refused" in r.text
    assert [r.id for r in rv.log(cworld.engine)] == [1]
    assert apply(root, DOC, narrowed, "1", "shorter names", confirm=True).status_code == 303
    assert rv.active(cworld.engine).files[DOC] == narrowed


PASSING = """\
test: an account is saved
when:
  - {entity: account, values: {name: ACME}}
expect:
  - {count: {entity: account, equals: 1}}
"""


def test_failing_scenario_tests_are_shown_and_block_the_change(cworld: ConfigWorld) -> None:
    files = {**rv.active(cworld.engine).files, "tests/accounts.yaml": PASSING}
    second = rv.push(cworld.engine, files, author="consultant", reason="a scenario test")
    root = cworld.browser("root")
    wrong = PASSING.replace("equals: 1", "equals: 2")
    review = review_form(root, "tests/accounts.yaml", wrong, str(second.id))
    assert 'data-test-passed="no"' in review.text and "an account is saved" in review.text
    assert "data-apply" not in review.text
    r = apply(root, "tests/accounts.yaml", wrong, str(second.id), "wrong on purpose")
    assert r.status_code == 409 and "scenario tests failed" in r.text
    ok = review_form(root, DOC, ACCOUNT.replace("[a, b]", "[a, b, c]"), str(second.id))
    assert 'data-test-passed="yes"' in ok.text and "data-apply" in ok.text
    assert rv.active(cworld.engine).id == second.id


def test_scenario_tests_run_once_per_apply_and_again_for_other_content(cworld: ConfigWorld, monkeypatch) -> None:
    from engine.runtime import scenario_results
    scenario_results.forget()                # runs are kept per process, whatever the database
    files = {**rv.active(cworld.engine).files, "tests/accounts.yaml": PASSING}
    second = rv.push(cworld.engine, files, author="consultant", reason="a scenario test")
    runs: list[str] = []
    real = scenario_results.run_tests

    def counted(config):                     # the real runs, counted
        runs.append(config.revision)
        return real(config)
    monkeypatch.setattr(scenario_results, "run_tests", counted)
    root = cworld.browser("root")
    changed = ACCOUNT.replace("[a, b]", "[a, b, c]")
    review = review_form(root, DOC, changed, str(second.id))
    assert 'data-test-passed="yes"' in review.text and len(runs) == 1
    assert apply(root, DOC, changed, str(second.id), "option c").status_code == 303
    assert len(runs) == 1                    # the same files: the review's passing run is the gate's
    third = rv.active(cworld.engine)
    assert third.files[DOC] == changed
    review = review_form(root, DOC, changed.replace("[a, b, c]", "[a, b, c, d]"), str(third.id))
    assert len(runs) == 2
    # applying text other than what was reviewed (one byte more) runs the tests again
    assert apply(root, DOC, changed.replace("[a, b, c]", "[a, b, c, e]"), str(third.id), "e").status_code == 303
    assert len(runs) == 3 and rv.active(cworld.engine).files[DOC].count("e]") == 1


def test_a_remembered_run_is_only_a_passing_one_of_the_same_files_and_recent() -> None:
    from engine.runtime import scenario_results as sr
    from engine.runtime.scenarios import Outcome

    class Config:                            # what scenario_outcomes reads of a Config
        def __init__(self, files):
            self.files = files
    sr.forget()
    now = [1000.0]
    calls: list[dict] = []

    def run(config):
        calls.append(config.files)
        return [Outcome("tests/a.yaml", "a", "bad" not in config.files["tests/a.yaml"])]
    good, bad = Config({"tests/a.yaml": "good"}), Config({"tests/a.yaml": "bad"})
    assert sr.scenario_outcomes(good, run=run, clock=lambda: now[0])[0].passed
    assert sr.scenario_outcomes(Config({"tests/a.yaml": "good"}), run=run, clock=lambda: now[0])[0].passed
    assert len(calls) == 1                   # same content: reused
    assert sr.scenario_outcomes(Config({"tests/a.yaml": "good "}), run=run, clock=lambda: now[0])
    assert len(calls) == 2                   # one byte differs: run
    assert not sr.scenario_outcomes(bad, run=run, clock=lambda: now[0])[0].passed
    assert not sr.scenario_outcomes(bad, run=run, clock=lambda: now[0])[0].passed
    assert len(calls) == 4                   # a failing run is never kept
    now[0] += sr.MAX_AGE + 1
    sr.scenario_outcomes(good, run=run, clock=lambda: now[0])
    assert len(calls) == 5                   # too old: run again
    sr.forget()


NEW_ENTITY = """\
entity: vehicle
title: plate
fields:
  plate: {type: string, required: true}
"""


def test_an_admin_creates_a_new_document_through_review_and_apply(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    assert 'data-config-new' in root.get("/admin/config").text
    assert 'data-new-document-form' in root.get("/admin/config/new").text
    editor = root.post("/admin/config/new", data={"folder": "entities", "name": "vehicle",
                                                  "csrf_token": token(root)})
    assert editor.status_code == 200 and "data-new-document" in editor.text
    assert hidden(editor.text, "new") == "yes" and "entity: vehicle" in editor.text
    data = {"text": NEW_ENTITY, "base": "1", "new": "yes", "csrf_token": token(root)}
    assert root.post("/admin/config/check/entities/vehicle.yaml", data=data, headers=HTMX).status_code == 200
    review = root.post("/admin/config/review/entities/vehicle.yaml", data=data)
    assert review.status_code == 200 and "/dev/null" in review.text and "+entity: vehicle" in review.text
    assert "data-apply" in review.text and hidden(review.text, "new") == "yes"
    back = root.post("/admin/config/doc/entities/vehicle.yaml", data=data)             # "Back to the editor"
    assert back.status_code == 200 and "data-new-document" in back.text and "title: plate" in back.text
    assert "vehicle" in review.text.split('data-plan-group', 1)[1]           # the plan creates its table
    r = root.post("/admin/config/apply/entities/vehicle.yaml", data={**data, "reason": "fleet"})
    assert r.status_code == 303
    assert rv.active(cworld.engine).files["entities/vehicle.yaml"] == NEW_ENTITY
    import sqlalchemy as sa
    assert "vehicle" in sa.inspect(cworld.engine).get_table_names()
    # now it exists: creating it again is refused, and it opens as an ordinary document
    again = root.post("/admin/config/new", data={"folder": "entities", "name": "vehicle", "csrf_token": token(root)})
    assert again.status_code == 422 and "already exists" in again.text
    assert root.get("/admin/config/doc/entities/vehicle.yaml").status_code == 200


@pytest.mark.parametrize("folder,name,why", [
    ("entities", "../roles", "not allowed in a path"),
    ("entities", "../../etc/passwd", "not allowed in a path"),
    ("templates", "x", "one of the folders"),
    ("entities", "Vehicle", "lowercase"),
    ("entities", "deal", "already exists"),
])
def test_a_new_document_path_that_may_not_be_taken_is_refused(cworld: ConfigWorld, folder, name, why) -> None:
    root = cworld.browser("root")
    r = root.post("/admin/config/new", data={"folder": folder, "name": name, "csrf_token": token(root)})
    assert r.status_code == 422 and why in r.text and "data-path-error" in r.text
    assert [x.id for x in rv.log(cworld.engine)] == [1]


def test_crafted_new_document_paths_and_non_admins_are_refused(cworld: ConfigWorld) -> None:
    root = cworld.browser("root")
    data = {"text": NEW_ENTITY, "base": "1", "new": "yes", "reason": "crafted", "csrf_token": token(root)}
    for path in ("entities/%2E%2E/roles.yaml", "%2E%2E/x.yaml", "/etc/vehicle.yaml", "entities/deal.yaml",
                 "entities/sub/vehicle.yaml", "crm.yaml"):
        for step in ("check", "review", "apply"):
            r = root.post(f"/admin/config/{step}/{path}", data=data)
            assert r.status_code == 422, (step, path, r.status_code)
    assert [x.id for x in rv.log(cworld.engine)] == [1]
    assert rv.active(cworld.engine).files["entities/deal.yaml"] != NEW_ENTITY
    for username in ("anna", "mona"):
        client = cworld.browser(username)
        csrf = token(client)
        assert client.get("/admin/config/new").status_code == 403
        assert client.post("/admin/config/new", data={"folder": "entities", "name": "vehicle",
                                                      "csrf_token": csrf}).status_code == 403
        for step in ("check", "review", "apply", "doc"):
            r = client.post(f"/admin/config/{step}/entities/vehicle.yaml", data={**data, "csrf_token": csrf})
            assert r.status_code == 403, (username, step)
    assert [x.id for x in rv.log(cworld.engine)] == [1]
