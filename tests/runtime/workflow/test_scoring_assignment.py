"""Lead scoring on save and in bulk; the three assignment strategies."""
from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select, update


def lead(wf, actor=None, **values):
    return wf.records.create(actor or wf.alice, "lead", {"company": "C", **values})


def test_the_score_is_recomputed_on_every_save(wf):
    one = lead(wf, source="referral", size=80, email="boss@gmail.com", owner=wf.alice.id)
    assert one["score"] == 30 + 20 - 10
    one = wf.records.update(wf.alice, "lead", one["id"], {"email": "boss@acme.hu"}, one["version"])
    assert one["score"] == 50
    one = wf.records.update(wf.alice, "lead", one["id"], {"size": None}, one["version"])
    assert one["score"] == 30                 # a rule over a missing value gives no points
    assert lead(wf, owner=wf.alice.id)["score"] == 0


def test_rescore_all_recomputes_every_record_in_sql(wf):
    ids = [lead(wf, source=s, size=n, owner=wf.alice.id)["id"]
           for s, n in (("web", 10), ("referral", 60), ("fair", None))]
    table = wf.tables.entity("lead")
    with wf.engine.begin() as conn:            # data changed behind the service's back (an import, a fix)
        conn.execute(update(table).values(source="referral", score=-1))
    assert wf.workflow.scoring.rescore_all("lead") == 3
    with wf.engine.connect() as conn:
        scores = dict(conn.execute(select(table.c.id, table.c.score)).all())
    assert [scores[i] for i in ids] == [30, 50, 30]
    assert wf.workflow.scoring.rescore_all("deal") == 0       # no scoring: nothing to do


def test_round_robin_is_fair_under_concurrency(wf):
    made: list[int] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(6)

    def work(n: int) -> None:
        barrier.wait()
        try:
            for k in range(2):
                made.append(wf.records.create(wf.alice, "case", {"title": f"case {n}.{k}"})["owner"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Counter(made) == {wf.s1.id: 6, wf.s2.id: 6}
    # an owner given explicitly is kept
    assert wf.records.create(wf.alice, "case", {"title": "mine", "owner": wf.alice.id})["owner"] == wf.alice.id


def test_least_loaded_counts_open_records_only(wf):
    for title in ("t1", "t2"):
        wf.records.create(wf.admin, "ticket", {"title": title, "owner": wf.a1.id})
    solved = [wf.records.create(wf.admin, "ticket", {"title": f"s{n}", "owner": wf.a2.id}) for n in range(3)]
    for t in solved:
        wf.workflow.move(wf.admin, "ticket", t["id"], "solved")
    wf.records.create(wf.admin, "ticket", {"title": "open", "owner": wf.a2.id})
    # a1: 2 open; a2: 1 open + 3 solved -> a2, then tie (2/2) -> lowest id (a1), then a2
    owners = [wf.records.create(wf.alice, "ticket", {"title": f"new {n}"})["owner"] for n in range(3)]
    assert owners == [wf.a2.id, wf.a1.id, wf.a2.id]


def test_by_rule_first_match_then_among_then_the_acting_user(wf):
    assert lead(wf, country="at")["owner"] == wf.x1.id
    # the rule's pool is empty (team nobody_here): falls back to `among` (round robin in team inside)
    assert lead(wf, country="de")["owner"] in (wf.s1.id, wf.s2.id)
    firsts = [lead(wf)["owner"] for _ in range(2)]
    assert set(firsts) == {wf.s1.id, wf.s2.id}
    wf.users.disable("s1")
    wf.users.disable("s2")
    assert lead(wf, actor=wf.bob)["owner"] == wf.bob.id          # nobody found: the acting user
    assert lead(wf, actor=wf.bob)["team"] == "north"
