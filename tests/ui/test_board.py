"""The pipeline board, moves, the idle badge and conversions (ui/pages/board.py, record_workflow.py).

SQLite and PostgreSQL (`db_url`), a real Starlette app and signed-in sessions.
"""
from __future__ import annotations

import re

from workflow_world import World, world  # noqa: F401 - the fixture

from engine.runtime.actor import SYSTEM

HTMX = {"HX-Request": "true"}


def column(html: str, stage: str) -> str:
    match = re.search(rf'<section class="board-column" data-column="{stage}".*?</section>', html, re.S)
    assert match, f"no column {stage}"
    return match.group(0)


def cards(html: str) -> list[str]:
    return re.findall(r'class="board-card__title" href="[^"]+">([^<]+)</a>', html)


def test_board_columns_totals_and_permissions(world: World) -> None:
    anna = world.browser("anna")
    html = anna.get("/records/deal/board").text
    assert [m for m in re.findall(r'data-column="(\w+)"', html)] == ["new", "qualified", "won", "lost"]
    new = column(html, "new")
    assert sorted(cards(new)) == ["Alpha", "Beta", "Discounted"]
    assert 'data-count>3<' in new and "6,500" in new          # 1000 + 2500 + 3000 HUF
    assert "New" in new and "10%" in new
    assert cards(column(html, "qualified")) == []              # Gamma is Béla's: anna may not read it
    mona = world.browser("mona")
    html = mona.get("/records/deal/board").text
    assert cards(column(html, "qualified")) == ["Gamma"] and "data-count>1<" in column(html, "qualified")
    # Hungarian: stage labels and number format in the user's language.
    bela = world.browser("bela")
    html = bela.get("/records/deal/board").text
    assert "Minősített" in column(html, "qualified") and "4000" in column(html, "qualified").replace("\xa0", "")


def test_board_uses_the_list_filters_segments_and_search(world: World) -> None:
    anna = world.browser("anna")
    assert sorted(cards(anna.get("/records/deal/board?segment=big").text)) == ["Beta", "Discounted"]
    assert cards(anna.get("/records/deal/board?q=Alpha").text) == ["Alpha"]
    html = anna.get("/records/deal/board?stage=qualified").text
    assert cards(html) == [] and "data-count>0<" in column(html, "new")
    # The list and the board link to each other, keeping the query.
    assert 'href="/records/deal/board?segment=big"' in anna.get("/records/deal?segment=big").text
    assert 'href="/records/deal?segment=big"' in anna.get("/records/deal/board?segment=big").text
    assert anna.get("/records/account/board").status_code == 404     # no pipeline, no board


def test_idle_badge_on_board_and_list(world: World) -> None:
    anna = world.browser("anna")
    board = anna.get("/records/deal/board").text
    idle = re.findall(r'data-card="(\d+)"[^>]*>\s*<a[^>]*>[^<]*</a>\s*<span class="badge badge--idle" data-idle', board)
    assert idle == [str(world.ids["beta"])]
    rows = re.findall(r'<tr data-id="(\d+)">(.*?)</tr>', anna.get("/records/deal").text, re.S)
    flagged = [int(i) for i, body in rows if "data-idle" in body]
    assert flagged == [world.ids["beta"]] and len(rows) == 3


def test_move_success_rerenders_card_and_totals(world: World) -> None:
    anna = world.browser("anna")
    token = world.token(anna, "/records/deal/board")
    alpha = world.ids["alpha"]
    r = anna.post(f"/records/deal/{alpha}/move", data={"stage": "qualified", "version": world.version("alpha")},
                  headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 200, r.text
    assert world.stage("alpha") == "qualified"
    assert f'data-card="{alpha}"' in r.text and 'data-stage="qualified"' in r.text
    assert re.search(r'data-totals="new"><span data-count>2<', r.text)
    assert re.search(r'data-totals="qualified"><span data-count>1<', r.text)


def test_move_refused_lists_every_missing_requirement(world: World) -> None:
    anna = world.browser("anna")
    token = world.token(anna, "/records/deal/board")
    beta = world.ids["beta"]
    r = anna.post(f"/records/deal/{beta}/move", data={"stage": "qualified", "version": world.version("beta")},
                  headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash"
    assert "close_date" in r.text and "qualified" in r.text
    # Won needs the approval and a meeting: both are named at once.
    disc = world.ids["disc"]
    r = anna.post(f"/records/deal/{disc}/move", data={"stage": "won", "version": world.version("disc")},
                  headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 422 and "big_discount" in r.text and "meeting" in r.text
    assert world.stage("beta") == "new" and world.stage("disc") == "new"


def test_stale_move_is_a_conflict(world: World) -> None:
    anna = world.browser("anna")
    token = world.token(anna, "/records/deal/board")
    alpha = world.ids["alpha"]
    old = world.version("alpha")
    world.records.update(SYSTEM, "deal", alpha, {"name": "Alpha 2"}, expected_version=old)
    r = anna.post(f"/records/deal/{alpha}/move", data={"stage": "qualified", "version": old},
                  headers={**HTMX, "X-CSRF-Token": token})
    assert r.status_code == 409 and world.stage("alpha") == "new"


def test_move_control_on_record_page(world: World) -> None:
    anna = world.browser("anna")
    alpha = world.ids["alpha"]
    page = anna.get(f"/records/deal/{alpha}").text
    options = re.findall(r'<option value="(\w+)">', page.split("data-move-form", 1)[1].split("</form>", 1)[0])
    assert options == ["qualified", "won", "lost"]
    token = world.token(anna, f"/records/deal/{alpha}")
    r = anna.post(f"/records/deal/{alpha}/move", data={"stage": "qualified", "version": world.version("alpha"),
                                                      "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/records/deal/{alpha}"
    assert world.stage("alpha") == "qualified"


def test_every_post_needs_the_csrf_token(world: World) -> None:
    anna = world.browser("anna")
    alpha, lead = world.ids["alpha"], world.ids["lead"]
    assert anna.post(f"/records/deal/{alpha}/move", data={"stage": "qualified"}, headers=HTMX).status_code == 403
    assert anna.post(f"/records/lead/{lead}/convert/to_account").status_code == 403
    assert anna.post("/approvals/1/approve").status_code == 403
    assert anna.post("/approvals/1/reject", data={"reason": "no"}).status_code == 403
    assert world.stage("alpha") == "new"


def test_convert_button_visibility_and_action(world: World) -> None:
    anna = world.browser("anna")
    lead, fresh = world.ids["lead"], world.ids["newlead"]
    page = anna.get(f"/records/lead/{lead}").text
    assert 'data-convert="to_account"' in page and "Convert to account" in page
    assert 'data-convert="to_account"' not in anna.get(f"/records/lead/{fresh}").text     # `when` is false
    mona = world.browser("mona")       # may read leads, may not update anna's: no button
    assert 'data-convert="to_account"' not in mona.get(f"/records/lead/{lead}").text
    token = world.token(anna, f"/records/lead/{lead}")
    r = anna.post(f"/records/lead/{lead}/convert/to_account", data={"csrf_token": token})
    assert r.status_code == 303
    account_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert r.headers["location"] == f"/records/account/{account_id}"
    assert world.records.get(SYSTEM, "account", account_id)["name"] == "Qualified Kft."
    assert world.records.get(SYSTEM, "lead", lead)["status"] == "converted"
    # Again: the condition no longer holds, and the refusal says why.
    r = anna.post(f"/records/lead/{lead}/convert/to_account", data={"csrf_token": token})
    assert r.status_code == 422 and "condition does not hold" in r.text
