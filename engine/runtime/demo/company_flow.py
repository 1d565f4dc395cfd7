"""The default company's sales flow as demo data, consistent from deal to payment.

Deals cross every stage of the sales pipeline (the closed ones with close dates,
lost reasons and competitors); deals past `proposal` have quotes; won deals and
many repeat purchases become orders with lines; orders are delivered (the
delivery pipeline), invoiced (VAT 27%), and mostly paid: the rest is overdue
and somewhere in the collection pipeline. Contracts run one or two years, some
end within 90 days. Complaints and surveys follow deliveries; activities
(calls, meetings, e-mails, tasks, notes) follow all of it over two years.
Notes between steps live in `_` keys of the rows (never written).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, update

from ..audit import to_json
from ..records import Records
from . import activities as acts
from . import pools
from .generic import DemoState

D = Decimal
DAY = dt.timedelta(days=1)
SALES = ("new", "qualified", "needs_analysis", "proposal", "negotiation", "won", "lost")


def _put(state: DemoState, entity: str, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    from .company import Put
    put = Put(state.config, entity)
    for k, v in values.items():
        put(row, k, v)
    return row


def _lines(state: DemoState, low: int, high: int, discount: int) -> list[dict[str, Any]]:
    rng = state.rng
    products = state.memo("active products", lambda: [p for p in state.rows.get("product", []) if p.get("active")])
    out = []
    for product in rng.sample(products, k=min(len(products), rng.randint(low, high))):
        price, unit = product["list_price"], product.get("unit")
        if unit == "m2":
            qty = rng.randint(50, 1500)
        elif unit in ("bag", "roll"):
            qty = rng.randint(5, 200)
        else:
            qty = rng.randint(1, 8) if price > 50000 else rng.randint(10, 600)
        d = D(rng.choice((0, discount, discount, discount + 2))) if discount else D(0)
        out.append({"product": product["id"], "quantity": D(qty), "unit_price": price, "discount_pct": d,
                    "line_total": (D(qty) * price * (1 - d / 100)).quantize(D(1))})
    return out


def _segment_discount(account: dict[str, Any]) -> int:
    return {"a": 8, "b": 4}.get(account.get("segment") or "", 0)


def _contact(state: DemoState, account_id: int) -> int | None:
    contacts = state.by_account("contact", account_id)
    return state.rng.choice(contacts)["id"] if contacts else None


def deals(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    accounts = [a for a in state.rows.get("account", []) if a.get("status") != "former"]
    converted = [lead for lead in state.rows.get("lead", []) if lead.get("status") == "converted"]
    weights = (8, 7, 6, 7, 6, 40, 26)      # two years of history: most deals are decided
    for _ in range(state.count(300)):
        stage = rng.choices(SALES, weights)[0]
        account = rng.choice(accounts)
        closed = stage in ("won", "lost")
        latest = state.now - dt.timedelta(days=40 if closed else 0)
        earliest = max(account["created_at"], state.now - dt.timedelta(days=720 if closed else 160))
        created = state.moment(earliest, max(earliest, latest))
        day = state.local_date(created)
        if closed:
            close = min(state.today, day + dt.timedelta(days=rng.randint(10, 120)))
        else:
            close = state.today + dt.timedelta(days=rng.randint(-15, 120))
            close = max(close, day)
        lines = _lines(state, 1, 4, 0)
        amount = sum((x["line_total"] for x in lines), D(0))
        lead = rng.choice(converted)["id"] if converted and rng.random() < 0.15 else None
        reason = rng.choices(("price", "competitor", "delivery", "no_budget", "project_cancelled", "other"),
                             (35, 30, 10, 10, 10, 5))[0] if stage == "lost" else None
        project = rng.choice(pools.SITE_PROJECTS)
        row = {"created_at": created, "owner": account["owner"], "_lines": lines, "_account": account,
               "_stage_at": dt.datetime.combine(close, dt.time(12), tzinfo=dt.timezone.utc) if closed else None}
        out.append(_put(state, "deal", row, {
            "name": f"{account['name'].rsplit(' ', 1)[0]} – {project} ({day.year})"[:200],
            "account": account["id"], "contact": _contact(state, account["id"]) if stage != "new" or rng.random() < 0.5 else None,
            "lead": lead, "deal_type": "new_business" if lead else rng.choice(("repeat", "repeat", "project", "tender")),
            "source": "existing" if not lead else rng.choice(("web", "fair", "referral")),
            "tags": rng.sample(["strategic", "cross_sell", "framework"], k=rng.randint(0, 2)),
            "amount": amount, "discount_pct": D(rng.choice((0, 0, 3, 5, 8, 12))), "close_date": close, "stage": stage,
            "lost_reason": reason, "competitor": rng.choice(pools.COMPETITORS) if reason == "competitor" else None,
            "next_step": None if closed else rng.choice(("Ajánlat egyeztetése", "Helyszíni bejárás", "Mintaszállítás",
                                                        "Döntés a beruházótól")),
            "description": f"Anyagigény: {project}."}))
    return out


def deal_lines(state: DemoState) -> list[dict[str, Any]]:
    return [_put(state, "deal_line", {"created_at": deal["created_at"]}, {
        "deal": deal["id"], "product": x["product"], "quantity": x["quantity"], "unit_price": x["unit_price"],
        "description": None}) for deal in state.rows.get("deal", []) for x in deal["_lines"]]


def quotes(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    for deal in state.rows.get("deal", []):
        stage = deal.get("stage")
        if stage not in ("proposal", "negotiation", "won") and not (stage == "lost" and rng.random() < 0.5):
            continue
        account = deal["_account"]
        created = min(state.now, deal["created_at"] + dt.timedelta(days=rng.randint(3, 15)))
        issued = state.local_date(created)
        valid = issued + dt.timedelta(days=30)
        status = {"won": "ordered", "lost": rng.choice(("rejected", "expired"))}.get(
            stage, "sent" if valid >= state.today else "expired")
        lines = [{**x, "discount_pct": D(_segment_discount(account)),
                  "line_total": (x["quantity"] * x["unit_price"] * (1 - D(_segment_discount(account)) / 100)).quantize(D(1))}
                 for x in deal["_lines"]]
        row = {"created_at": created, "owner": deal["owner"], "_lines": lines, "_account": account, "_deal": deal}
        out.append(_put(state, "quote", row, {
            "title": f"Árajánlat – {deal['name']}"[:200], "account": account["id"], "contact": deal.get("contact"),
            "deal": deal["id"], "price_list": account.get("price_list"), "issue_date": issued, "valid_until": valid,
            "status": status, "delivery_terms": rng.choice(("delivered", "delivered", "ex_works")),
            "payment_days": account.get("payment_days"), "terms": "Az árak nettó árak, a szállítás díja külön tétel."}))
    return out


def quote_lines(state: DemoState) -> list[dict[str, Any]]:
    return [_put(state, "quote_line", {"created_at": q["created_at"]}, {
        "quote": q["id"], "product": x["product"], "quantity": x["quantity"], "unit_price": x["unit_price"],
        "discount_pct": x["discount_pct"], "vat_rate": D(27)}) for q in state.rows.get("quote", []) for x in q["_lines"]]


def orders(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    plans: list[tuple[dict[str, Any], dict[str, Any] | None, dt.datetime]] = []
    for quote in state.rows.get("quote", []):
        if quote.get("status") == "ordered":
            plans.append((quote["_account"], quote, min(state.now, quote["created_at"] + dt.timedelta(days=rng.randint(1, 10)))))
    buyers = [a for a in state.rows.get("account", []) if a.get("status") in ("customer", "former")]
    weights = [{"a": 6, "b": 3}.get(a.get("segment") or "", 1) for a in buyers]
    for _ in range(state.count(450)):
        account = rng.choices(buyers, weights)[0]
        end = state.now if account.get("status") == "customer" else state.start + dt.timedelta(days=365)
        plans.append((account, None, state.moment(account["created_at"], max(account["created_at"], end))))
    for account, quote, created in plans:
        day = state.local_date(created)
        age = (state.today - day).days
        status = ("invoiced" if rng.random() < 0.94 else "cancelled") if age > 30 else \
            rng.choice(("delivered", "delivering", "invoiced")) if age > 7 else rng.choice(("received", "confirmed"))
        sites = [s for s in state.by_account("site", account["id"]) if s.get("active")]
        lines = quote["_lines"] if quote else _lines(state, 1, 5, _segment_discount(account))
        row = {"created_at": created, "owner": account["owner"], "_lines": lines, "_account": account}
        out.append(_put(state, "order", row, {
            "account": account["id"], "contact": _contact(state, account["id"]), "quote": quote["id"] if quote else None,
            "customer_po": f"PO-{day.year}-{rng.randint(100, 9999)}" if rng.random() < 0.6 else None,
            "order_date": day, "requested_delivery": day + dt.timedelta(days=rng.randint(2, 12)),
            "site": rng.choice(sites)["id"] if sites else None, "status": status,
            "payment_days": account.get("payment_days"),
            "quoted_total": sum((x["line_total"] for x in lines), D(0)) if quote else None,
            "notes": None}))
    return out


def order_lines(state: DemoState) -> list[dict[str, Any]]:
    out = []
    for order in state.rows.get("order", []):
        done = order.get("status") in ("delivered", "invoiced")
        for x in order["_lines"]:
            out.append(_put(state, "order_line", {"created_at": order["created_at"]}, {
                "order": order["id"], "account": order["account"], "product": x["product"], "quantity": x["quantity"],
                "unit_price": x["unit_price"], "discount_pct": x["discount_pct"], "vat_rate": D(27),
                "delivered_qty": x["quantity"] if done else D(0)}))
    return out


def deliveries(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    for order in state.rows.get("order", []):
        status = order.get("status")
        if status in ("received", "cancelled"):
            continue
        site = state.get("site", order.get("site"))
        if site is not None and not site.get("active"):
            site = None
        planned = order.get("requested_delivery") or state.local_date(order["created_at"])
        stage = {"invoiced": "delivered", "delivered": "delivered", "delivering": rng.choice(("loaded", "in_transit")),
                 "confirmed": rng.choice(("planned", "scheduled"))}.get(status, "planned")
        if stage == "delivered" and rng.random() < 0.03:
            stage = "failed"
        delivered = min(state.now - dt.timedelta(hours=1), dt.datetime.combine(
            planned, dt.time(rng.randint(7, 14)), tzinfo=state.zone).astimezone(dt.timezone.utc))
        carriers = ["own_truck", "own_truck", "forwarder", "customer_pickup"] + (["crane_truck"] if site and site.get("crane_access") else [])
        carrier = rng.choice(carriers)
        family, given = pools.person(rng)
        row = {"created_at": order["created_at"] + dt.timedelta(hours=2), "owner": order["owner"],
               "_order": order, "_stage_at": delivered if stage in ("delivered", "failed") else None}
        out.append(_put(state, "delivery", row, {
            "order": order["id"], "account": order["account"], "site": site["id"] if site else None, "stage": stage,
            "planned_date": planned, "carrier": carrier, "vehicle_plate": pools.licence_plate(rng),
            "driver": f"{family} {given}", "driver_phone": pools.hu_mobile(rng), "pallets": rng.randint(1, 12),
            "weight_kg": D(str(round(rng.uniform(200, 18000), 1))),
            "delivered_at": delivered if stage == "delivered" else None,
            "failure_reason": rng.choice(("customer_absent", "site_not_ready", "wrong_address")) if stage == "failed" else None,
            "notes": None}))
    return out


def invoices(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    delivered = {d["order"]: d for d in state.rows.get("delivery", []) if d.get("stage") == "delivered"}
    contracts = state.rows.get("contract", [])
    for order in state.rows.get("order", []):
        if order.get("status") != "invoiced" or order["id"] not in delivered:
            continue
        account = order["_account"]
        at = delivered[order["id"]]["delivered_at"]
        day = state.local_date(at)
        due = day + dt.timedelta(days=account.get("payment_days") or 8)
        net = sum((x["line_total"] for x in order["_lines"]), D(0))
        vat = (net * D("0.27")).quantize(D(1))
        gross = net + vat
        pays = _payments(state, day, due, gross)
        paid = sum((a for _, a in pays), D(0)) >= gross
        overdue = not paid and due < state.today
        late = (state.today - due).days
        stage = "issued" if not overdue else ("reminder_sent" if late < 20 else "final_notice" if late < 60 else "legal")
        contract = next((c for c in contracts if c.get("account") == account["id"]
                         and c.get("start_date") and c["start_date"] <= day <= c["end_date"]), None)
        row = {"created_at": min(state.now, at + dt.timedelta(hours=3)), "owner": order["owner"], "_pays": pays,
               "_paid": paid, "_account": account, "_stage_at": None}
        out.append(_put(state, "invoice", row, {
            "account": account["id"], "order": order["id"], "contract": contract["id"] if contract else None,
            "invoice_date": day, "due_date": due, "net_total": net, "vat_total": vat, "stage": stage,
            "collection_notes": "Ügyvédi felszólítás kiküldve." if stage == "legal" else None}))
    return out


def _payments(state: DemoState, day: dt.date, due: dt.date, gross: Decimal) -> list[tuple[dt.date, Decimal]]:
    rng = state.rng
    last = state.today
    if due < state.today:
        # Old debts were mostly collected long ago; the recent ones are where the arrears are.
        recent = (state.today - due).days < 90
        roll = rng.random()
        if roll < (0.14 if recent else 0.02):
            return []
        if roll < (0.2 if recent else 0.03):
            return [(min(last, due), (gross * D("0.5")).quantize(D(1)))]
    elif rng.random() < 0.7:
        return []
    when = min(last, day + dt.timedelta(days=rng.randint(1, max(1, (due - day).days + 10))))
    if rng.random() < 0.1:
        half = (gross * D("0.4")).quantize(D(1))
        return [(min(last, day + DAY), half), (when, gross - half)]
    return [(when, gross)]


def payments(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    for invoice in state.rows.get("invoice", []):
        for paid_on, amount in invoice["_pays"]:
            created = min(state.now, dt.datetime.combine(paid_on, dt.time(10), tzinfo=state.zone).astimezone(dt.timezone.utc))
            out.append(_put(state, "payment", {"created_at": max(created, invoice["created_at"])}, {
                "invoice": invoice["id"], "paid_on": paid_on, "amount": amount,
                "method": rng.choices(("transfer", "cash", "card", "compensation"), (85, 5, 8, 2))[0],
                "reference": f"{invoice.get('number') or 'KT'}/{rng.randint(1000, 9999)}"}))
    return out


def contracts(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    buyers = [a for a in state.rows.get("account", []) if a.get("status") == "customer" and a.get("segment") in ("a", "b")]
    for _ in range(min(len(buyers), state.count(50))):
        account = rng.choice(buyers)
        years = rng.choice((1, 1, 2))
        expired = [c for c in out if c.get("account") == account["id"] and c.get("status") == "expired"]
        if expired and rng.random() < 0.7:    # renews the account's expired contract from the day after
            start = expired[-1]["end_date"] + DAY
            end = start + dt.timedelta(days=365 * years)
        elif rng.random() < 0.3:   # renewing soon: ends within 90 days
            end = state.today + dt.timedelta(days=rng.randint(5, 88))
            start = end - dt.timedelta(days=365 * years)
        else:
            start = state.local_date(state.moment(account["created_at"]))
            end = start + dt.timedelta(days=365 * years)
        start = max(start, state.local_date(account["created_at"]))
        if end <= start:
            end = start + dt.timedelta(days=365)
        status = "active" if end >= state.today else "expired"
        if status == "active" and rng.random() < 0.05:
            status = "terminated"
        created = min(state.now, dt.datetime.combine(start, dt.time(9), tzinfo=state.zone).astimezone(dt.timezone.utc))
        row = {"id": state.new_id("contract"), "created_at": max(created, account["created_at"]), "owner": account["owner"]}
        earlier = next((c for c in out if c.get("account") == account["id"] and c.get("end_date")
                        and c["end_date"] < start and c.get("status") == "expired"
                        and not any(o.get("renewal_of") == c["id"] for o in out)), None)
        out.append(_put(state, "contract", row, {
            "title": f"Keretszerződés {start.year} – {account['name']}"[:200], "account": account["id"],
            "kind": rng.choices(("framework", "project", "rebate", "consignment"), (60, 20, 15, 5))[0], "status": status,
            "start_date": start, "end_date": end, "value": D(rng.choice((10, 20, 30, 50, 80, 120)) * 1_000_000),
            "rebate_pct": D(rng.choice((0, 1, 2, 3, 5))), "payment_days": account.get("payment_days") or 30,
            "auto_renew": rng.random() < 0.4, "notice_days": rng.choice((30, 60, 90)),
            "renewal_of": earlier["id"] if earlier else None,
            "notes": "Közös megegyezéssel megszüntetve." if status == "terminated" else None}))
    return out


def complaints(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    done = [d for d in state.rows.get("delivery", []) if d.get("stage") == "delivered"]
    for delivery in rng.sample(done, k=min(len(done), state.count(60))):
        order = delivery["_order"]
        reported = min(state.now - dt.timedelta(hours=2), delivery["delivered_at"] + dt.timedelta(days=rng.randint(0, 5), hours=3))
        age = (state.now - reported).days
        status = rng.choice(("resolved", "closed", "closed", "rejected")) if age > 20 else \
            rng.choice(("new", "investigating", "waiting_customer", "resolved"))
        category = rng.choice(("damaged", "wrong_item", "missing_qty", "quality", "late_delivery", "invoice_error"))
        resolved = min(state.now, reported + dt.timedelta(days=rng.randint(1, 12))) if status in ("resolved", "closed") else None
        row = {"created_at": reported, "owner": order["owner"]}
        out.append(_put(state, "complaint", row, {
            "subject": {"damaged": "Sérült raklap érkezett", "wrong_item": "Téves termék a szállítmányban",
                        "missing_qty": "Mennyiségi hiány a szállítólevélhez képest", "quality": "Minőségi kifogás",
                        "late_delivery": "Késve érkezett szállítás", "invoice_error": "Hibás számlatétel"}[category],
            "account": order["account"], "contact": order.get("contact"), "order": order["id"],
            "product": order["_lines"][0]["product"] if order["_lines"] else None, "category": category,
            "severity": rng.choices(("low", "normal", "high", "critical"), (20, 50, 22, 8))[0], "status": status,
            "reported_at": reported, "description": "Az ügyfél a lerakodáskor jelezte a problémát, fotókat küldött.",
            "resolution": "Jóváírást adtunk, a pótszállítás megtörtént." if status in ("resolved", "closed", "rejected") else None,
            "credit_note_amount": D(rng.randint(5, 200) * 1000) if status in ("resolved", "closed") and category == "damaged" else None,
            "resolved_at": resolved}))
    return out


def surveys(state: DemoState) -> list[dict[str, Any]]:
    rng, out = state.rng, []
    done = [d for d in state.rows.get("delivery", []) if d.get("stage") == "delivered"]
    for delivery in rng.sample(done, k=min(len(done), state.count(150))):
        order = delivery["_order"]
        responded = min(state.today, state.local_date(delivery["delivered_at"]) + dt.timedelta(days=rng.randint(2, 20)))
        nps = rng.choices(range(11), (2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30))[0]
        base = 5 if nps >= 9 else 4 if nps >= 7 else 2
        rating = lambda: max(1, min(5, base + rng.choice((-1, 0, 0, 1))))  # noqa: E731
        created = min(state.now, dt.datetime.combine(responded, dt.time(11), tzinfo=state.zone).astimezone(dt.timezone.utc))
        out.append(_put(state, "survey", {"created_at": max(created, order["created_at"])}, {
            "account": order["account"], "contact": order.get("contact"), "order": order["id"], "responded_on": responded,
            "channel": rng.choice(("email", "email", "phone", "visit")), "nps": nps, "overall": rating(),
            "delivery_rating": rating(), "product_rating": rating(), "rep_rating": rating(),
            "comment": rng.choice((None, "Gyors kiszállítás, korrekt árak.", "A sofőr nagyon segítőkész volt.",
                                   "Az árak emelkedtek, mérlegeljük a váltást.", "Hiányos volt a szállítmány."))}))
    return out


def settle_invoices(state: DemoState, records: Records) -> None:
    """Invoices whose payments cover them move to 'paid' now that the payments exist (rule: not stage.won or paid)."""
    if "invoice" not in records.config.entities or "stage" not in records.config.entities["invoice"].fields:
        return
    received: dict[int, Decimal] = {}
    for payment in state.rows.get("payment", []):
        received[payment["invoice"]] = received.get(payment["invoice"], D(0)) + payment["amount"]
    paid = [inv for inv in state.rows.get("invoice", []) if inv["_pays"]
            if inv.get("_paid") and received.get(inv["id"], D(0)) >= inv["net_total"] + inv["vat_total"]]
    table, audit = records.tables.entity("invoice"), records.tables.audit
    with records.transaction() as conn:
        for start in range(0, len(paid), 500):
            part = paid[start:start + 500]
            conn.execute(update(table).where(table.c.id.in_([i["id"] for i in part])).values(stage="paid"))
            conn.execute(insert(audit), [dict(
                entity="invoice", record_id=i["id"], action="update", field="stage", old_value=to_json(i["stage"]),
                new_value=to_json("paid"), user_id=i.get("owner"), at=_paid_at(state, i), revision=records.config.revision)
                for i in part])
    for inv in paid:
        inv["_stage_at"] = _paid_at(state, inv)
        inv["stage"] = "paid"


def _paid_at(state: DemoState, invoice: dict[str, Any]) -> dt.datetime:
    day = max((p for p, _ in invoice["_pays"]), default=invoice["invoice_date"])
    return min(state.now, dt.datetime.combine(day, dt.time(15), tzinfo=state.zone).astimezone(dt.timezone.utc))


MAKERS = {"deal": deals, "deal_line": deal_lines, "quote": quotes, "quote_line": quote_lines, "order": orders,
          "order_line": order_lines, "delivery": deliveries, "invoice": invoices, "payment": payments,
          "contract": contracts, "complaint": complaints, "survey": surveys, "activity": acts.activities}
