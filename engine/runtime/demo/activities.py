"""The default company's activities: what the reps did around each deal, account, lead, invoice and complaint.

Every deal that passed `needs_analysis` has a meeting and every one past
`negotiation` a call (the stages require them); customers get calls, e-mails,
meetings and notes spread over two years; leads a first call or e-mail;
overdue invoices the reminders their collection stage needs; complaints a
call. Each rep also has open tasks and meetings in the coming two weeks, so
"my tasks" and the calendar are not empty.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .generic import DemoState

TOPICS = ("ajánlat egyeztetése", "szállítási ütemezés", "negyedéves igények", "új termékcsalád bemutatása",
          "keretszerződés megújítása", "helyszíni bejárás", "árajánlat pontosítása", "mintaszállítás")
PREFIX = {"call": "Telefon", "meeting": "Személyes találkozó", "email": "E-mail", "task": "Feladat", "note": "Feljegyzés"}
STAGES = ("new", "qualified", "needs_analysis", "proposal", "negotiation")


class _Acts:
    def __init__(self, state: DemoState):
        self.state = state
        self.out: list[dict[str, Any]] = []
        fields = state.config.entities["activity"].fields
        self.fields = {n for n, f in fields.items() if f.stored}

    def add(self, kind: str, at: dt.datetime, owner: int | None, topic: str, **links: Any) -> None:
        state, rng = self.state, self.state.rng
        future = at > state.now
        row: dict[str, Any] = {"kind": kind, "subject": f"{PREFIX[kind]}: {topic}", "owner": owner, "assignee": owner,
                               "start": None, "end": None, "due": None, "done": not future,
                               "direction": None, "outcome": None, "call_minutes": None, "location": None,
                               "account": None, "contact": None, "lead": None, "deal": None, "invoice": None,
                               "complaint": None, "description": None}
        row.update(links)
        if kind in ("call", "meeting", "email"):
            row["start"] = at
        if kind == "call":
            minutes = rng.randint(2, 25)
            row.update(end=at + dt.timedelta(minutes=minutes), call_minutes=None if future else minutes,
                       direction=rng.choice(("outbound", "outbound", "inbound")),
                       outcome=None if future else rng.choice(("reached", "reached", "no_answer", "callback", "interested")))
        elif kind == "meeting":
            account = state.get("account", row.get("account"))
            row.update(end=at + dt.timedelta(minutes=rng.choice((45, 60, 90, 120))),
                       location=(account or {}).get("city") or "Budaörs, bemutatóterem")
        elif kind == "email":
            row["direction"] = rng.choice(("outbound", "inbound"))
        elif kind == "task":
            row.update(due=at, done=not future and rng.random() < 0.85)
        row["description"] = rng.choice((None, "Rövid egyeztetés, a részleteket e-mailben küldöm.",
                                         "Az ügyfél elégedett, újabb rendelést tervez.", "Visszahívást kért jövő hétre."))
        row["created_at"] = at - dt.timedelta(days=rng.randint(1, 25 if future else 6)) if future or kind == "task" else at
        row["created_at"] = max(min(row["created_at"], state.now), state.start)
        for parent in ("account", "lead", "deal", "invoice", "complaint"):
            linked = state.get(parent, row.get(parent))
            if linked is not None and linked["created_at"] > row["created_at"]:
                row["created_at"] = linked["created_at"]
        if row["start"] is not None and row["created_at"] > row["start"] and not future:
            row["start"] = row["created_at"]
            if row["end"] is not None:
                row["end"] = row["start"] + dt.timedelta(minutes=30)
        self.out.append({k: v for k, v in row.items() if k in self.fields or k == "created_at"})


def activities(state: DemoState) -> list[dict[str, Any]]:
    rng, acts = state.rng, _Acts(state)
    for deal in state.rows.get("deal", []):
        stage = deal.get("stage")
        reached = STAGES.index(stage) if stage in STAGES else (4 if stage == "won" else rng.randint(0, 4))
        end = min(state.now, deal.get("_stage_at") or state.now)
        common = dict(account=deal["account"], contact=deal.get("contact"), deal=deal["id"])
        if reached >= 2:
            acts.add("meeting", state.moment(deal["created_at"], end), deal["owner"], "igényfelmérés", **common)
        if reached >= 4:
            acts.add("call", state.moment(deal["created_at"], end), deal["owner"], "ajánlat egyeztetése", **common)
        for _ in range(rng.randint(0, 2)):
            acts.add(rng.choice(("call", "email", "note")), state.moment(deal["created_at"], end), deal["owner"],
                     rng.choice(TOPICS), **common)
        if stage in STAGES and rng.random() < 0.5:
            acts.add(rng.choice(("task", "meeting", "call")), state.now + dt.timedelta(days=rng.uniform(0.2, 14)),
                     deal["owner"], deal.get("next_step") or "következő lépés", **common)
    for account in state.rows.get("account", []):
        if account.get("status") == "prospect":
            continue
        contacts = state.by_account("contact", account["id"])
        for _ in range(rng.randint(2, 6)):
            contact = rng.choice(contacts)["id"] if contacts else None
            acts.add(rng.choices(("call", "email", "meeting", "note"), (45, 30, 15, 10))[0],
                     state.moment(account["created_at"]), account["owner"], rng.choice(TOPICS),
                     account=account["id"], contact=contact)
    for lead in state.rows.get("lead", []):
        for _ in range(rng.randint(1, 2)):
            acts.add(rng.choice(("call", "email")), state.moment(lead["created_at"], min(state.now, lead["created_at"]
                                                                                      + dt.timedelta(days=30))),
                     lead["owner"], "első megkeresés", lead=lead["id"])
    for invoice in state.rows.get("invoice", []):
        stage = invoice.get("stage")
        if stage not in ("reminder_sent", "final_notice", "legal"):
            continue
        due = dt.datetime.combine(invoice["due_date"], dt.time(9), tzinfo=state.zone).astimezone(dt.timezone.utc)
        kinds = ["email"] if stage == "reminder_sent" else ["email", "email", "call"]
        for kind in kinds:
            acts.add(kind, state.moment(min(due, state.now), state.now), invoice["owner"], "fizetési emlékeztető",
                     account=invoice["account"], invoice=invoice["id"])
    for complaint in state.rows.get("complaint", []):
        acts.add("call", state.moment(complaint["created_at"], min(state.now, complaint["created_at"] + dt.timedelta(days=3))),
                 complaint["owner"], "reklamáció kezelése", account=complaint["account"], complaint=complaint["id"],
                 contact=complaint.get("contact"))
    customers = [a for a in state.rows.get("account", []) if a.get("status") == "customer"]
    for rep in state.owners:
        mine = [a for a in customers if a.get("owner") == rep.id] or customers
        for days in (-4, -2, 1, 2, 3, 5, 8):
            account = rng.choice(mine)
            acts.add("task", state.now + dt.timedelta(days=days, hours=rng.randint(1, 6)), rep.id,
                     rng.choice(("árajánlat elküldése", "visszahívás", "szerződéstervezet átnézése")), account=account["id"])
        for days in (1, 4, 9):
            account = rng.choice(mine)
            acts.add("meeting", state.now + dt.timedelta(days=days, hours=rng.randint(1, 6)), rep.id,
                     "negyedéves egyeztetés", account=account["id"])
    return acts.out
