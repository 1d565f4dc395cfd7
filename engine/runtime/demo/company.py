"""The default company's demo data: a Hungarian building-materials wholesaler (configs/).

Master data here (products with groups and HUF list prices, price lists,
accounts with Hungarian names, tax numbers and addresses, contacts, delivery
sites, scored leads, sales materials); the sales flow (deals through quotes,
orders, deliveries, invoices and payments, contracts, complaints, surveys,
activities) in `company_flow.py`. Each function returns seeds: the rows'
meaningful values; the generic filler completes the rest. Every value is
set only when the configuration has that field (`Put`), so a consultant's
edited copy of the default company still gets its demo.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Callable

from ...metadata import model as m
from ...metadata.expressions.evaluate import EvalEnv, holds
from ..records import Records
from . import company_flow as flow
from . import pools
from .generic import DemoState

Seeds = list[dict[str, Any]]
D = Decimal

# group -> (code prefix, [(name, unit, low price, high price, supplier)])
CATALOG: dict[str, tuple[str, list[tuple[str, str, int, int, str]]]] = {
    "masonry": ("FAL", [("Porotherm 30 N+F falazóblokk", "pc", 900, 1500, "Wienerberger"),
                        ("Ytong pórusbeton falazóelem 30 cm", "pc", 1400, 2200, "Xella"),
                        ("Porotherm 10 N+F válaszfallap", "pc", 400, 700, "Wienerberger"),
                        ("Leier zsalukő 30", "pc", 500, 900, "Leier")]),
    "insulation": ("SZIG", [("Austrotherm AT-H80 homlokzati EPS 10 cm", "m2", 2500, 4500, "Austrotherm"),
                            ("Rockwool Frontrock MAX E 15 cm", "m2", 6000, 9000, "Rockwool"),
                            ("Isover Akusto ásványgyapot 5 cm", "m2", 900, 1600, "Isover"),
                            ("Austrotherm XPS TOP P GK 8 cm", "m2", 5000, 8000, "Austrotherm")]),
    "roofing": ("TETO", [("Bramac Classic Protector tetőcserép", "pc", 350, 600, "Bramac"),
                         ("Tondach hódfarkú cserép", "pc", 250, 450, "Tondach"),
                         ("Bramac Top RU 150 tetőfólia", "roll", 28000, 42000, "Bramac"),
                         ("Lindab T-18 trapézlemez", "m2", 3000, 5000, "Lindab")]),
    "drywall": ("GIPSZ", [("Knauf GKB gipszkarton 12,5 mm", "m2", 1200, 1900, "Knauf"),
                          ("Rigips impregnált gipszkarton 12,5 mm", "m2", 1600, 2400, "Rigips"),
                          ("Knauf CW 50 profil 3 m", "pc", 1100, 1700, "Knauf"),
                          ("Knauf Uniflott hézagoló 5 kg", "bag", 4500, 6500, "Knauf")]),
    "mortar": ("VAK", [("Baumit MPI 25 gépi vakolat 40 kg", "bag", 2800, 3900, "Baumit"),
                       ("Ceresit CM 11 csemperagasztó 25 kg", "bag", 3500, 5500, "Henkel"),
                       ("Baumit StarContact ragasztótapasz 25 kg", "bag", 5000, 7500, "Baumit"),
                       ("Weber falazóhabarcs 40 kg", "bag", 2200, 3200, "Saint-Gobain Weber")]),
    "waterproofing": ("VIZ", [("Bitumenes lemez V-60 S-40", "roll", 14000, 22000, "Villas"),
                              ("Ceresit CR 66 vízszigetelő 17 kg", "bag", 22000, 32000, "Henkel"),
                              ("Mapei Mapelastic kenhető szigetelés 32 kg", "pc", 45000, 60000, "Mapei")]),
    "fasteners": ("KOT", [("Fischer DuoPower tipli 8x40 (100 db)", "pc", 2500, 4000, "Fischer"),
                          ("Hilti HUS3 betoncsavar 10x80 (50 db)", "pc", 18000, 26000, "Hilti"),
                          ("Horganyzott facsavar 5x60 (200 db)", "pc", 3500, 5500, "Würth"),
                          ("Homlokzati dübel 160 mm (100 db)", "pc", 9000, 14000, "Masterplast")]),
    "tools": ("GEP", [("Makita HR2630 fúrókalapács", "pc", 65000, 95000, "Makita"),
                      ("Bosch GWS 18V-10 akkus sarokcsiszoló", "pc", 55000, 85000, "Bosch"),
                      ("Hilti TE 30-A36 akkus fúrókalapács", "pc", 280000, 390000, "Hilti"),
                      ("Építőipari talicska 100 l", "pc", 18000, 28000, "Haemmerlin")]),
    "ppe": ("MV", [("Uvex munkavédelmi sisak", "pc", 4500, 8000, "Uvex"),
                   ("3M FFP2 porvédő maszk (10 db)", "pc", 6000, 9500, "3M"),
                   ("Portwest S3 munkavédelmi bakancs", "pc", 18000, 32000, "Portwest"),
                   ("Jól láthatósági mellény", "pc", 900, 1800, "Portwest")]),
}
VARIANTS = ("", " – raklapos kiszerelés", " – akciós tétel", " – prémium", " – gazdaságos")
MATERIALS = (
    ("Termékkatalógus 2026", "brochure", ["masonry", "insulation", "roofing", "drywall", "mortar"]),
    ("Homlokzati hőszigetelő rendszerek", "brochure", ["insulation", "mortar"]),
    ("Tetőfedési megoldások kivitelezőknek", "presentation", ["roofing", "waterproofing"]),
    ("Tavaszi akciós árlap", "price_sheet", ["insulation", "masonry"]),
    ("Őszi szárazépítési akció", "price_sheet", ["drywall"]),
    ("Rockwool Frontrock műszaki adatlap", "datasheet", ["insulation"]),
    ("Porotherm falazási útmutató", "datasheet", ["masonry"]),
    ("Referencia: budaörsi irodaház", "case_study", ["insulation", "drywall"]),
    ("Referencia: debreceni logisztikai központ", "case_study", ["roofing", "fasteners"]),
    ("Értékesítési tréning: tárgyalástechnika", "training", []),
    ("Új kolléga beilleszkedési anyag", "training", []),
    ("Munkavédelmi termékválaszték", "brochure", ["ppe", "tools"]),
)


class Put:
    """Sets a value only where the configuration has the field (and, for a choice, the option)."""

    def __init__(self, config: m.Config, entity: str):
        self.fields = config.entities[entity].fields if entity in config.entities else {}

    def __call__(self, row: dict[str, Any], name: str, value: Any) -> None:
        f = self.fields.get(name)
        if f is None or not f.stored:
            return
        if f.type == "choice" and value is not None and value not in f.options:
            return
        if f.type == "multichoice" and value is not None:
            value = [v for v in value if v in f.options]
        row[name] = value


class Wholesaler:
    """Seeds for the default company's entities; anything else is left to the generic generator."""

    teams = ("key_accounts", "inside_sales")
    # What each maker reads besides its links' targets, so those are made first.
    needs = {"deal": ("product", "contact", "lead"), "order": ("product", "site", "contact", "quote_line"),
             "invoice": ("delivery", "contract", "order_line"), "complaint": ("delivery",), "survey": ("delivery",),
             "activity": ("deal", "invoice", "complaint", "lead", "contact"), "account": ("price_list",),
             "price_list_item": ("price_list", "product"), "sales_material": ("account",)}

    def __init__(self, config: m.Config):
        self.config = config
        self.makers: dict[str, Callable[[DemoState], Seeds]] = {
            "product": self.products, "price_list": self.price_lists, "price_list_item": self.price_items,
            "account": self.accounts, "contact": self.contacts, "site": self.sites, "lead": self.leads,
            "sales_material": self.materials, **flow.MAKERS}

    def seeds(self, state: DemoState, entity: str) -> Seeds | None:
        maker = self.makers.get(entity)
        return maker(state) if maker else None

    def shape(self, state: DemoState, entity: str, row: dict[str, Any]) -> None:
        if entity == "lead":
            score(state, "lead", row)

    def after(self, state: DemoState, records: Records) -> None:
        flow.settle_invoices(state, records)

    # -- master data ------------------------------------------------------------------------
    def products(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "product"), []
        items = [(g, p, *item) for g, (p, items) in CATALOG.items() for item in items]
        total = max(len(items) // 4, state.count(len(items) * len(VARIANTS) * 0.7))
        for n in range(total):
            group, prefix, name, unit, low, high, supplier = items[n % len(items)]
            variant = VARIANTS[(n // len(items)) % len(VARIANTS)] + (f" {n // (len(items) * len(VARIANTS)) + 1}"
                                                                    if n >= len(items) * len(VARIANTS) else "")
            price = D(round(rng.uniform(low, high), -1))
            row: dict[str, Any] = {"created_at": state.moment(before=state.start + dt.timedelta(days=30))}
            for k, v in (("code", f"{prefix}-{n + 1:05d}"), ("name", name + variant), ("product_group", group),
                         ("unit", unit), ("supplier", supplier), ("ean", _ean(rng)), ("list_price", price),
                         ("list_price_eur", (price / 395).quantize(D("0.01"))),
                         ("purchase_price", (price * D(str(round(rng.uniform(0.62, 0.82), 2)))).quantize(D(1))),
                         ("vat_rate", D(27)), ("pack_qty", D(rng.choice((24, 40, 48, 60, 100, 120)))),
                         ("weight_kg", D(str(round(rng.uniform(0.2, 30), 1)))), ("active", rng.random() > 0.05),
                         ("description", f"{supplier} gyártmány, {group} termékcsoport.")):
                put(row, k, v)
            out.append(row)
        return out

    def price_lists(self, state: DemoState) -> Seeds:
        put, out = Put(self.config, "price_list"), []
        year = state.today.year
        for name, segment in ((f"Alap árlista {year}", None), ("A-partner árlista", "a"),
                              ("B-partner árlista", "b"), ("C-partner árlista", "c")):
            row: dict[str, Any] = {"created_at": state.start}
            for k, v in (("name", name), ("segment", segment), ("valid_from", state.local_date(state.start)),
                         ("valid_to", None), ("active", True), ("notes", None)):
                put(row, k, v)
            out.append(row)
        return out

    def price_items(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "price_list_item"), []
        off = {"a": 0.12, "b": 0.07, "c": 0.03}
        products = [p for p in state.rows.get("product", []) if p.get("active")]
        for plist in state.rows.get("price_list", []):
            if plist.get("segment") is None:
                continue
            for product in rng.sample(products, k=min(len(products), rng.randint(20, 40))):
                row: dict[str, Any] = {"created_at": plist["created_at"]}
                price = (product["list_price"] * D(str(1 - off[plist["segment"]]))).quantize(D(1))
                for k, v in (("price_list", plist["id"]), ("product", product["id"]), ("price", price),
                             ("min_qty", D(rng.choice((0, 0, 10, 50))))):
                    put(row, k, v)
                out.append(row)
        return out

    def accounts(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "account"), []
        used_tax: set[str] = set()
        used_names: set[str] = set()
        lists = {p.get("segment"): p["id"] for p in state.rows.get("price_list", [])}
        key_reps = [u for u in state.owners if u.team == self.teams[0]] or state.owners
        for n in range(max(3, state.count(150))):
            name, form = company_name(rng, used_names)
            postal, city, county = rng.choice(pools.CITIES)
            status = rng.choices(("customer", "prospect", "former"), (65, 25, 10))[0]
            segment = rng.choices(("a", "b", "c"), (15, 35, 50))[0] if status != "prospect" or rng.random() < 0.3 else None
            if n < 3:    # however small the scale: a key account, a regular customer and a prospect
                status, segment = (("customer", "a"), ("customer", "b"), ("prospect", None))[n]
            tax = pools.tax_number(rng, county, used_tax)
            domain = pools.slug(name.rsplit(" ", 1)[0]) + ".hu"
            created = state.moment(before=state.start + dt.timedelta(days=120)) if status != "prospect" else state.moment()
            owner = rng.choice(key_reps if segment == "a" else state.owners)
            row: dict[str, Any] = {"created_at": created, "owner": owner.id}
            for k, v in (
                    ("name", name), ("tax_number", tax), ("eu_vat_number", "HU" + tax[:8]),
                    ("company_reg_number", f"{rng.randint(1, 20):02d}-{pools.COURT_FORM[form]}-{rng.randint(100000, 999999)}"),
                    ("status", status), ("segment", segment), ("industry", rng.choices(
                        ("general_contractor", "specialist_contractor", "builders_merchant", "diy_retail", "industrial",
                         "developer", "public_sector", "agriculture"), (25, 25, 15, 5, 10, 10, 5, 5))[0]),
                    ("parent", None), ("annual_revenue", D(round(10 ** rng.uniform(7.5, 10), -5))),
                    ("employees", rng.randint(3, 400)), ("website", f"https://www.{domain}"), ("email", f"info@{domain}"),
                    ("phone", pools.hu_landline(rng)), ("country", "hu" if rng.random() < 0.95 else rng.choice(("at", "sk", "ro"))),
                    ("postal_code", postal), ("city", city), ("street", f"{rng.choice(pools.STREETS)} {rng.randint(1, 150)}."),
                    ("payment_days", rng.choice({"a": (30, 45, 60), "b": (15, 30), "c": (8, 15)}.get(segment or "c", (8,)))),
                    ("credit_limit", D(rng.choice({"a": (20, 50, 100), "b": (5, 10, 20), "c": (1, 2, 3)}.get(segment or "c", (1,))) * 1_000_000)),
                    ("price_list", lists.get(segment) or lists.get(None)),
                    ("customer_since", state.local_date(created) if status != "prospect" else None),
                    ("next_review_on", state.today + dt.timedelta(days=rng.randint(-20, 200)) if segment in ("a", "b") else None),
                    ("notes", rng.choice((None, None, "Szezonális vásárló, tavasszal nagyobb tételek.",
                                          "Csak átutalással fizet.", "Darus lerakodást kér.")))):
                put(row, k, v)
            out.append(row)
        return out

    def contacts(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "contact"), []
        for account in state.rows.get("account", []):
            domain = (account.get("website") or "https://www.ceg.hu").split("www.", 1)[-1]
            for i in range(rng.randint(2, 3) if account.get("status") == "customer" else rng.randint(1, 2)):
                family, given = pools.person(rng)
                role = "decision_maker" if i == 0 else rng.choice(("purchaser", "site_manager", "technical", "finance"))
                row: dict[str, Any] = {"created_at": account["created_at"] + dt.timedelta(days=rng.randint(0, 20)),
                                       "first_name": given, "last_name": family}
                for k, v in (("account", account["id"]), ("last_name", family), ("first_name", given),
                             ("job_title", rng.choice(pools.JOB_TITLES[role])), ("role", role),
                             ("email", f"{pools.slug(given)}.{pools.slug(family)}@{domain}"),
                             ("phone", pools.hu_landline(rng) if rng.random() < 0.4 else None),
                             ("mobile", pools.hu_mobile(rng)), ("sms_opt_in", rng.random() < 0.3), ("language", "hu"),
                             ("birthday", dt.date(rng.randint(1960, 1998), rng.randint(1, 12), rng.randint(1, 28))
                              if rng.random() < 0.3 else None),
                             ("primary", i == 0), ("active", rng.random() > 0.05), ("notes", None)):
                    put(row, k, v)
                row["created_at"] = min(row["created_at"], state.now)
                out.append(row)
        return out

    def sites(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "site"), []
        for account in state.rows.get("account", []):
            if account.get("status") == "prospect":
                continue
            for _ in range(rng.randint(1, 2)):
                postal, city, _county = rng.choice(pools.CITIES)
                street = f"{rng.choice(pools.STREETS)} {rng.randint(1, 150)}."
                family, given = pools.person(rng)
                row: dict[str, Any] = {"created_at": account["created_at"]}
                for k, v in (("name", f"{city}, {street} – {rng.choice(pools.SITE_PROJECTS)}"[:120]),
                             ("account", account["id"]), ("postal_code", postal), ("city", city), ("street", street),
                             ("contact_name", f"{family} {given}"), ("contact_phone", pools.hu_mobile(rng)),
                             ("crane_access", rng.random() < 0.4), ("active", rng.random() < 0.85),
                             ("access_notes", rng.choice(pools.STREET_TYPES_NOTE))):
                    put(row, k, v)
                out.append(row)
        return out

    def leads(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "lead"), []
        used_tax: set[str] = {a.get("tax_number") for a in state.rows.get("account", [])}  # type: ignore[misc]
        used_names = {a.get("name") for a in state.rows.get("account", [])}
        key_reps = [u for u in state.owners if u.team == self.teams[0]] or state.owners
        inside = [u for u in state.owners if u.team == self.teams[1]] or state.owners
        for _ in range(state.count(250)):
            name, _form = company_name(rng, used_names)  # type: ignore[arg-type]
            family, given = pools.person(rng)
            created = state.moment()
            age = (state.now - created).days
            status = rng.choices(("converted", "disqualified", "qualified", "working"), (45, 30, 10, 15))[0] \
                if age > 60 else rng.choice(("new", "new", "working", "qualified"))
            industry = rng.choice(("general_contractor", "specialist_contractor", "builders_merchant",
                                   "industrial", "developer", "diy_retail"))
            value = D(round(10 ** rng.uniform(6, 8), -5))
            postal, city, county = rng.choice(pools.CITIES)
            free = rng.random() < 0.15
            email = f"{pools.slug(given)}.{pools.slug(family)}@" + (rng.choice(("gmail.com", "freemail.hu", "citromail.hu"))
                                                                    if free else pools.slug(name) + ".hu")
            owner = rng.choice(key_reps if value >= 50_000_000 or industry == "developer" else inside)
            row: dict[str, Any] = {"created_at": created, "owner": owner.id}
            for k, v in (("company", name), ("tax_number", pools.tax_number(rng, county, used_tax)  # type: ignore[arg-type]
                                             if status in ("qualified", "converted") or rng.random() < 0.4 else None),
                         ("last_name", family), ("first_name", given), ("job_title", rng.choice(("ügyvezető", "beszerző", "építésvezető"))),
                         ("email", email), ("phone", pools.hu_mobile(rng)),
                         ("source", rng.choices(("web", "fair", "referral", "phone_in", "campaign", "tender"), (30, 15, 20, 15, 15, 5))[0]),
                         ("industry", industry), ("company_size", rng.randint(2, 300)), ("country", "hu"), ("city", city),
                         ("interest", rng.sample(list(CATALOG), k=rng.randint(1, 3))), ("estimated_value", value),
                         ("status", status), ("notes", None),
                         ("disqualify_reason", rng.choice(("Nincs valós igény.", "Magánszemély, nem B2B.", "Más beszállítóval szerződött."))
                          if status == "disqualified" else None)):
                put(row, k, v)
            out.append(row)
        return out

    def materials(self, state: DemoState) -> Seeds:
        rng, put, out = state.rng, Put(self.config, "sales_material"), []
        managers = [u for u in state.users if u not in state.owners and u.team] or state.users
        for n in range(max(len(MATERIALS), state.count(len(MATERIALS)))):
            title, kind, groups = MATERIALS[n % len(MATERIALS)]
            created = state.moment()
            published = state.local_date(created)
            row: dict[str, Any] = {"created_at": created, "owner": rng.choice(managers).id}
            for k, v in (("title", title + (f" ({n // len(MATERIALS) + 1}. kiadás)" if n >= len(MATERIALS) else "")),
                         ("kind", kind), ("product_groups", groups), ("language", "hu" if rng.random() < 0.85 else "en"),
                         ("customer_facing", kind != "training"), ("edition", f"{published.year}/{rng.randint(1, 3)}"),
                         ("published_on", published),
                         ("valid_until", published + dt.timedelta(days=rng.choice((90, 180, 365)))
                          if kind == "price_sheet" else None),
                         ("description", "Az értékesítési csapat számára összeállított anyag.")):
                put(row, k, v)
            out.append(row)
        return out


def company_name(rng, used: set[str]) -> tuple[str, str]:
    """'Kovács Építőanyag Kft.', 'Duna Burkolat Zrt.', 'Tisza-Ép Bt.': unique within `used`."""
    for attempt in range(50):
        form = rng.choice(pools.COMPANY_FORMS)
        style = rng.random()
        if style < 0.45:
            name = f"{rng.choice(pools.FAMILY_NAMES)} {rng.choice(pools.TRADE_WORDS)} {form}"
        elif style < 0.85:
            name = f"{rng.choice(pools.PLACE_WORDS)} {rng.choice(pools.TRADE_WORDS)} {form}"
        else:
            name = f"{rng.choice(pools.PLACE_WORDS)}-Ép {form}"
        if attempt > 20:
            name = name.replace(f" {form}", f" {attempt} {form}")
        if name not in used:
            used.add(name)
            return name, form
    raise RuntimeError("no unused company name")


def _ean(rng) -> str:
    digits = "599" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return digits + str(check)


def score(state: DemoState, entity: str, row: dict[str, Any]) -> None:
    """The entity's `scoring` rules summed into its score field, as lead scoring would."""
    ent = state.config.entities[entity]
    if ent.scoring is None or ent.scoring.field not in ent.fields:
        return
    env = EvalEnv(config=state.config, entity=entity, record=row, now=state.now)
    total = 0
    for rule in ent.scoring.rules:
        try:
            if holds(rule.when, env):
                total += rule.points
        except Exception:      # a rule that needs the database (a link's field) scores nothing here
            continue
    row[ent.scoring.field] = total


def make_domain(config: m.Config) -> Wholesaler | None:
    """The default company's domain when the configuration looks like it (accounts with tax numbers, products)."""
    account, product = config.entities.get("account"), config.entities.get("product")
    if account is None or product is None or "tax_number" not in account.fields or "product_group" not in product.fields:
        return None
    return Wholesaler(config)
