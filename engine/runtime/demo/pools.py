"""Word pools for demo data: Hungarian people, places and companies, and neutral fallbacks.

Plain data, no logic beyond small helpers: the default company's generator
(`company.py`) and the generic one (`generic.py`) draw from here.
"""
from __future__ import annotations

import random
import unicodedata

FAMILY_NAMES = (
    "Nagy", "Kovács", "Tóth", "Szabó", "Horváth", "Varga", "Kiss", "Molnár", "Németh", "Farkas",
    "Balogh", "Papp", "Takács", "Juhász", "Lakatos", "Mészáros", "Oláh", "Simon", "Rácz", "Fekete",
    "Szilágyi", "Török", "Fehér", "Balázs", "Gál", "Kis", "Szűcs", "Kocsis", "Orsós", "Pintér",
    "Fodor", "Szalai", "Sipos", "Magyar", "Lukács", "Gulyás", "Biró", "Király", "Katona", "László",
    "Jakab", "Bogdán", "Balog", "Sándor", "Boros", "Fazekas", "Kelemen", "Antal", "Somogyi", "Orosz",
)
GIVEN_MALE = (
    "László", "István", "József", "János", "Zoltán", "Sándor", "Gábor", "Ferenc", "Attila", "Péter",
    "Tamás", "Zsolt", "Tibor", "András", "Csaba", "Imre", "Lajos", "György", "Balázs", "Róbert",
    "Gergő", "Dániel", "Bence", "Máté", "Ádám", "Norbert", "Krisztián", "Dávid", "Levente", "Márton",
)
GIVEN_FEMALE = (
    "Mária", "Erzsébet", "Katalin", "Éva", "Ilona", "Anna", "Zsuzsanna", "Margit", "Judit", "Ágnes",
    "Andrea", "Erika", "Krisztina", "Mónika", "Edit", "Gabriella", "Szilvia", "Anita", "Eszter", "Nóra",
    "Tímea", "Viktória", "Réka", "Dóra", "Petra", "Orsolya", "Boglárka", "Zsófia", "Lilla", "Kinga",
)
# (postal code, city, county code of the tax number): real codes, so addresses look right.
CITIES = (
    ("1117", "Budapest", "43"), ("1138", "Budapest", "43"), ("1097", "Budapest", "43"), ("1044", "Budapest", "42"),
    ("1211", "Budapest", "43"), ("2040", "Budaörs", "13"), ("2600", "Vác", "13"), ("2700", "Cegléd", "13"),
    ("2030", "Érd", "13"), ("2310", "Szigetszentmiklós", "13"), ("4025", "Debrecen", "09"),
    ("6720", "Szeged", "06"), ("3525", "Miskolc", "05"), ("7621", "Pécs", "02"), ("9021", "Győr", "08"),
    ("4400", "Nyíregyháza", "15"), ("6000", "Kecskemét", "03"), ("8000", "Székesfehérvár", "07"),
    ("9700", "Szombathely", "18"), ("5000", "Szolnok", "16"), ("2800", "Tatabánya", "11"),
    ("3300", "Eger", "10"), ("8900", "Zalaegerszeg", "20"), ("8200", "Veszprém", "19"),
    ("7400", "Kaposvár", "14"), ("6500", "Baja", "03"), ("5600", "Békéscsaba", "04"),
    ("9400", "Sopron", "08"), ("2400", "Dunaújváros", "07"), ("6800", "Hódmezővásárhely", "06"),
)
STREETS = (
    "Fő utca", "Petőfi Sándor utca", "Kossuth Lajos utca", "Rákóczi út", "Ipari park", "Széchenyi tér",
    "Dózsa György út", "Arany János utca", "Táncsics Mihály utca", "Raktár utca", "Gyár utca",
    "Vasút utca", "Határ út", "Jókai Mór utca", "Béke utca", "Deák Ferenc utca", "Irinyi János utca",
    "Bem József utca", "Hunyadi János út", "Kőrösi Csoma Sándor út", "Budai út", "Szegedi út",
)
PLACE_WORDS = (
    "Duna", "Tisza", "Mátra", "Bakony", "Alföld", "Balaton", "Pannon", "Hungária", "Zemplén", "Kárpát",
    "Rába", "Dráva", "Bükk", "Mecsek", "Körös", "Hajdú", "Kunság", "Jászság", "Vértes", "Pilis",
)
TRADE_WORDS = (
    "Építőanyag", "Burkolat", "Építő", "Kivitelező", "Generál", "Tetőtechnika", "Szigeteléstechnika",
    "Ép-Ker", "Építőipari", "Szárazépítő", "Épületgépészet", "Ingatlanfejlesztő", "Homlokzat",
    "Tüzép", "Barkács", "Magasépítő", "Mélyépítő", "Ácsszerkezet", "Falazó", "Vakolat",
)
COMPANY_FORMS = ("Kft.", "Kft.", "Kft.", "Kft.", "Zrt.", "Bt.", "Nyrt.")
COURT_FORM = {"Kft.": "09", "Zrt.": "10", "Nyrt.": "10", "Bt.": "06"}
STREET_TYPES_NOTE = ("a főbejárat felől", "daruzható terület", "csak hétköznap 7–15 óra között", "rámpás lerakodás")
SITE_PROJECTS = (
    "irodaház építkezés", "lakópark", "raktárcsarnok", "csarnokbővítés", "társasház felújítás",
    "iskola energetikai korszerűsítés", "logisztikai központ", "telephely", "üzemcsarnok", "bevásárlóközpont",
)
JOB_TITLES = {
    "decision_maker": ("ügyvezető igazgató", "tulajdonos", "műszaki igazgató"),
    "purchaser": ("beszerző", "beszerzési vezető", "anyaggazdálkodó"),
    "site_manager": ("építésvezető", "főépítésvezető", "művezető"),
    "technical": ("műszaki előkészítő", "tervező", "költségvetés-készítő"),
    "finance": ("pénzügyi vezető", "könyvelő", "gazdasági igazgató"),
}
COMPETITORS = ("Bauhaus Szakkereskedés", "Leier Hungária", "Wienerberger Direkt", "Tüzép-Trade Kft.",
               "Baumarkt Kft.", "Építő Centrum Zrt.")
WORDS = ("alpha", "nova", "prime", "vertex", "orbit", "summit", "delta", "nimbus", "apex", "zenith",
         "harbor", "atlas", "quantum", "pioneer", "cobalt", "lumen", "crest", "falcon", "meridian", "solace")
SENTENCES_HU = (
    "Egyeztettünk a következő negyedéves igényekről.", "Az ügyfél kérte az árajánlat frissítését.",
    "A szállítási határidő módosítását kérték.", "Az építkezés ütemezése csúszik két hetet.",
    "Új projekt indul tavasszal, szigetelőanyag-igénnyel.", "Fizetési határidőről tárgyaltunk.",
    "A mintákat átadtuk, visszajelzést várunk.", "Keretszerződés megújításáról beszéltünk.",
)
SENTENCES_EN = (
    "Discussed the requirements for the next quarter.", "The customer asked for an updated offer.",
    "Follow-up agreed for next week.", "Sent the documentation by e-mail.", "Budget approved by the board.",
)


def ascii_fold(text: str) -> str:
    """'Szűcs Éva' -> 'szucs eva': for e-mail addresses and web domains."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).lower()


def slug(text: str) -> str:
    return "".join(c for c in ascii_fold(text) if c.isalnum())[:30] or "ceg"


def person(rng: random.Random) -> tuple[str, str]:
    """(family name, given name)."""
    given = rng.choice(GIVEN_FEMALE if rng.random() < 0.45 else GIVEN_MALE)
    return rng.choice(FAMILY_NAMES), given


def hu_mobile(rng: random.Random) -> str:
    return f"+36 {rng.choice(('20', '30', '70'))} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"


def hu_landline(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"+36 1 {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
    return f"+36 {rng.choice(('22', '24', '26', '28', '46', '52', '62', '72', '96'))} {rng.randint(100, 999)} {rng.randint(100, 999)}"


def tax_number(rng: random.Random, county: str, used: set[str]) -> str:
    """A unique '12345678-2-41' (VAT code 2 for most companies, county from the seat)."""
    while True:
        value = f"{rng.randint(10_000_000, 32_999_999)}-{rng.choice('2222223')}-{county}"
        if value not in used:
            used.add(value)
            return value


def licence_plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    if rng.random() < 0.5:
        return "".join(rng.choice(letters) for _ in range(3)) + "-" + f"{rng.randint(1, 999):03d}"
    return "A" + rng.choice(letters) + " " + "".join(rng.choice(letters) for _ in range(2)) + "-" + f"{rng.randint(1, 999):03d}"
