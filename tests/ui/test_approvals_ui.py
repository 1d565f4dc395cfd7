"""The approval inbox, its badge, approve / reject, and the approval state on the record page.

SQLite and PostgreSQL (`db_url`), a real Starlette app and signed-in sessions.
"""
from __future__ import annotations

import re

from workflow_world import World, world  # noqa: F401 - the fixture

from engine.runtime.actor import SYSTEM

HTMX = {"HX-Request": "true"}


def request_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-request="(\d+)"', html)]


def test_inbox_lists_only_requests_the_user_may_decide(world: World) -> None:
    mona = world.browser("mona")           # manager of north: the owner's team
    html = mona.get("/approvals").text
    assert len(request_ids(html)) == 1
    assert "Discounted" in html and f'/records/deal/{world.ids["disc"]}' in html
    assert "Big discount approval" in html and "1 of 1" in html and "Root" not in html
    assert "20%" in html and "3,000" in html            # the locked values, formatted
    for other in ("anna", "sam"):           # a rep, and a manager of another team
        assert request_ids(world.browser(other).get("/approvals").text) == []
    assert request_ids(world.browser("root").get("/approvals").text) != []     # admins decide anything


def test_badge_counts_pending_requests(world: World) -> None:
    mona = world.browser("mona")
    assert 'data-approvals-count="1"' in mona.get("/approvals/count").text
    assert mona.get("/approvals/count").text.strip() == '<span class="badge badge--count" data-approvals-count="1">1</span>'
    assert world.browser("anna").get("/approvals/count").text.strip() == ""
    assert 'hx-get="/approvals/count"' in mona.get("/").text


def test_approve_replaces_the_row_and_the_record_shows_it(world: World) -> None:
    mona = world.browser("mona")
    html = mona.get("/approvals").text
    rid = request_ids(html)[0]
    token = world.token(mona, "/approvals")
    r = mona.post(f"/approvals/{rid}/approve", headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 200 and 'data-decided="approved"' in r.text
    assert r.headers["HX-Trigger"] == "approvals-changed"
    assert request_ids(mona.get("/approvals").text) == []
    page = world.browser("anna").get(f"/records/deal/{world.ids['disc']}").text
    assert 'data-approval-state="approved"' in page and "Mona Molnár" in page


def test_reject_needs_a_reason(world: World) -> None:
    mona = world.browser("mona")
    rid = request_ids(mona.get("/approvals").text)[0]
    token = world.token(mona, "/approvals")
    r = mona.post(f"/approvals/{rid}/reject", data={"reason": "  "}, headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 422 and "Give a reason for rejecting." in r.text and r.headers["HX-Retarget"] == "#flash"
    assert request_ids(mona.get("/approvals").text) == [rid]
    r = mona.post(f"/approvals/{rid}/reject", data={"reason": "Too generous"}, headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 200 and 'data-decided="rejected"' in r.text
    page = world.browser("anna").get(f"/records/deal/{world.ids['disc']}").text
    assert 'data-approval-state="rejected"' in page and "Too generous" in page


def test_pending_state_on_record_page_and_others_may_not_decide(world: World) -> None:
    anna = world.browser("anna")
    page = anna.get(f"/records/deal/{world.ids['disc']}").text
    assert 'data-approval-state="pending"' in page and "pending (step 1)" in page
    rid = request_ids(world.browser("mona").get("/approvals").text)[0]
    sam = world.browser("sam")
    token = world.token(sam, "/approvals")
    r = sam.post(f"/approvals/{rid}/approve", headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code in (403, 404)
    assert world.services.workflow.approvals.is_pending("big_discount", "deal", world.ids["disc"])


def test_hungarian_inbox(world: World) -> None:
    world.services.users.add("hanna", roles=["manager"], team="north", locale="hu", password="pw")
    html = world.browser("hanna").get("/approvals").text
    assert "Jóváhagyások" in html and "Nagy engedmény jóváhagyása" in html and "Elutasítás" in html
    assert world.records.get(SYSTEM, "deal", world.ids["disc"])["discount_pct"] is not None


def test_a_decision_in_the_web_tells_the_requester_in_the_bell(world: World) -> None:
    """The web process sends the approval's notices right after the decision commits."""
    anna = world.browser("anna")            # owns the discounted deal, which the system created
    assert "Approved: Big discount approval" not in anna.get("/notifications").text
    mona = world.browser("mona")
    rid = request_ids(mona.get("/approvals").text)[0]
    token = world.token(mona, "/approvals")
    assert mona.post(f"/approvals/{rid}/approve", headers={**HTMX, "X-CSRF-Token": token}).status_code == 200
    page = anna.get("/notifications").text
    assert "Approved: Big discount approval for &#34;Discounted&#34;" in page
