"""Demo rows for any configuration: plausible values per field type, links to rows made before.

    state = DemoState(config, rng, now, users, scale)
    for entity in entity_order(config):
        seeds = generic_seeds(state, entity)           # one dict per row to make
        rows = [fill(state, entity, seed) for seed in seeds]

A row is a dict of Python values by field name plus `id` and `created_at`;
keys starting with `_` are the generator's own notes and never written.
Entities come in link order (required links first), so every link points at a
row already written. Values follow the field's declaration: choices from its
options, numbers inside `min`/`max`, strings matching `pattern`, dates within
the last two years (later for fields whose name says future: `end_date`,
`valid_until`, `due`). A link with a filter of the form `x == $y` picks a
target whose `x` equals the row's `y`. Rows the configuration's own rules
still refuse are made again, smaller (`minimal`: required fields only).
"""
from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field as dc_field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from ...metadata import model as m
from . import pools

YEARS_BACK = 2
_FUTURE = re.compile(r"(end|until|due|next|renew|expir|valid_to|deadline|planned|requested)")
_FILTER_EQ = re.compile(r"^\s*(\w+)\s*==\s*\$(\w+)\s*$")
_COMPUTED = frozenset({"autonumber", "formula", "rollup", "lines", "file"})


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: int
    username: str
    full_name: str
    team: str | None
    roles: tuple[str, ...]


@dataclass
class DemoState:
    """What the generator has made so far, and the randomness and clock it makes it with."""

    config: m.Config
    rng: random.Random
    now: dt.datetime                      # aware, UTC
    users: list[DemoUser]
    owners: list[DemoUser]                # who owns records (the sales reps)
    scale: float
    rows: dict[str, list[dict[str, Any]]] = dc_field(default_factory=dict)
    by_id: dict[str, dict[int, dict[str, Any]]] = dc_field(default_factory=dict)
    next_id: dict[str, int] = dc_field(default_factory=dict)
    _indexes: dict[str, dict[Any, list[dict[str, Any]]]] = dc_field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.company.timezone)

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.zone).date()

    @property
    def start(self) -> dt.datetime:
        return self.now - dt.timedelta(days=365 * YEARS_BACK)

    def count(self, base: float) -> int:
        return max(1, round(base * self.scale))

    def new_id(self, entity: str) -> int:
        value = self.next_id.get(entity, 1)
        self.next_id[entity] = value + 1
        return value

    def accept(self, entity: str, rows: list[dict[str, Any]]) -> None:
        self.rows.setdefault(entity, []).extend(rows)
        self._indexes = {k: v for k, v in self._indexes.items() if not k.startswith(entity + "/") and "/" in k}
        index = self.by_id.setdefault(entity, {})
        for row in rows:
            index[row["id"]] = row

    def by_account(self, entity: str, account_id: int) -> list[dict[str, Any]]:
        """Rows of `entity` whose `account` is `account_id` (an index built on first use)."""
        key = f"{entity}/account"
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = {}
            for row in self.rows.get(entity, []):
                index.setdefault(row.get("account"), []).append(row)
        return index.get(account_id, [])

    def memo(self, key: str, make: Any) -> Any:
        """`make()` once per key (until the next entity is accepted)."""
        if key not in self._indexes:
            self._indexes[key] = make()
        return self._indexes[key]

    def get(self, entity: str, record_id: int | None) -> dict[str, Any] | None:
        return self.by_id.get(entity, {}).get(record_id) if record_id is not None else None

    def moment(self, after: dt.datetime | None = None, before: dt.datetime | None = None) -> dt.datetime:
        """A random time between `after` (default two years ago) and `before` (default now), in work hours."""
        low, high = after or self.start, before or self.now
        if high <= low:
            return high
        at = low + (high - low) * self.rng.random()
        local = at.astimezone(self.zone)
        local = local.replace(hour=self.rng.randint(7, 17), minute=self.rng.choice((0, 10, 15, 30, 40, 45)),
                              second=0, microsecond=0)
        at = local.astimezone(dt.timezone.utc)
        return min(max(at, low), high)

    def local_date(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.zone).date()

    def owner(self) -> DemoUser:
        return self.rng.choice(self.owners or self.users)

    def user(self, user_id: int | None) -> DemoUser | None:
        return next((u for u in self.users if u.id == user_id), None)


def entity_order(config: m.Config, extra: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """Entities so that each comes after the targets of its links (optional links may point forward in a cycle).

    `extra` adds what a domain's generator reads besides links (deals read products for their lines).
    """
    deps = {e.name: {f.entity for f in e.links() if f.entity and f.entity != e.name}
                    | {d for d in (extra or {}).get(e.name, ()) if d in config.entities}
            for e in config.entities.values()}
    required = {e.name: {f.entity for f in e.links() if f.required and f.entity and f.entity != e.name}
                for e in config.entities.values()}
    done: list[str] = []
    left = list(config.entities)
    while left:
        ready = [n for n in left if deps[n] <= set(done)] or [n for n in left if required[n] <= set(done)] or left[:1]
        done.append(ready[0])
        left.remove(ready[0])
    return done


def line_parent(config: m.Config, entity: str) -> m.Field | None:
    """The link of a `lines` child to its parent (deal_line.deal), if some entity lists it as lines."""
    parents = {f.entity: e.name for e in config.entities.values() for f in e.fields.values() if f.type == "lines"}
    if entity not in parents:
        return None
    ent = config.entities[entity]
    return next((f for f in ent.links() if f.entity == parents[entity] and f.required), None)


def generic_seeds(state: DemoState, entity: str) -> list[dict[str, Any]]:
    """How many rows to make, and what each starts with: 1-4 lines per parent, else a count by kind."""
    ent = state.config.entities[entity]
    parent = line_parent(state.config, entity)
    if parent is not None and parent.entity:
        return [{parent.name: p["id"]} for p in state.rows.get(parent.entity, [])
                for _ in range(state.rng.randint(1, 4))]
    has_required = any(f.required for f in ent.links())
    base = 800 if {"timeline", "task"} & ent.traits else (250 if has_required else 80)
    return [{} for _ in range(state.count(base))]


def fill(state: DemoState, entity: str, seed: dict[str, Any], *, minimal: bool = False) -> dict[str, Any]:
    """A complete row: the seed's values, then a value for every stored field the seed leaves out."""
    ent = state.config.entities[entity]
    row = dict(seed)
    row.setdefault("id", state.new_id(entity))
    rng = state.rng
    fields = [f for f in ent.fields.values() if f.stored and f.type not in _COMPUTED and f.name != "team"]
    for f in fields:                       # links first: the row's time follows its parents'
        if f.type == "link" and f.name not in row:
            wanted = f.required or (not minimal and rng.random() < 0.6)
            row[f.name] = pick_link(state, ent, f, row) if wanted else None
    if "created_at" not in row:
        parents = [state.get(f.entity or "", row.get(f.name)) for f in ent.links() if row.get(f.name)]
        latest = max((p["created_at"] for p in parents if p), default=None)
        row["created_at"] = state.moment(after=latest, before=min(state.now, latest + dt.timedelta(days=45))) \
            if latest else state.moment()
    for f in fields:
        if f.name in row or f.type == "link":
            continue
        if f.name == "owner" and f.system:
            row[f.name] = state.owner().id
        elif f.required or (not minimal and rng.random() < 0.75):
            row[f.name] = value_for(state, ent, f, row)
        else:
            row[f.name] = None
    return row


def pick_link(state: DemoState, ent: m.Entity, f: m.Field, row: dict[str, Any]) -> int | None:
    candidates = state.rows.get(f.entity or "", [])
    for part in (f.filter or "").split(" and "):
        match = _FILTER_EQ.match(part)
        if match and match.group(2) in row:
            want = row[match.group(2)]
            candidates = [c for c in candidates if c.get(match.group(1)) == want]
        elif re.fullmatch(r"\s*\w+\s*", part) and part.strip() in state.config.entities[f.entity or ""].fields:
            candidates = [c for c in candidates if c.get(part.strip())]
    if not candidates:
        return None
    return state.rng.choice(candidates)["id"]


def value_for(state: DemoState, ent: m.Entity, f: m.Field, row: dict[str, Any]) -> Any:
    """A plausible value of field `f` for `row`, by type and name."""
    rng, t, name = state.rng, f.type, f.name
    created = row["created_at"]
    if t == "choice":
        if f.default in f.options and rng.random() < 0.4:
            return f.default
        return rng.choice(list(f.options))
    if t == "multichoice":
        return rng.sample(list(f.options), k=min(len(f.options), rng.randint(1, 2)))
    if t == "stage":
        pipeline = state.config.pipelines.get(f.pipeline or "")
        stages = list(pipeline.stages) if pipeline else []
        open_stages = [s.key for s in stages if not s.closed] or [s.key for s in stages]
        closed = [s.key for s in stages if s.closed]
        return rng.choice(closed if closed and rng.random() < 0.3 else open_stages) if stages else None
    if t == "bool":
        return f.default if isinstance(f.default, bool) and rng.random() < 0.6 else rng.random() < 0.5
    if t in ("int", "rating"):
        return _int_value(state, f)
    if t in ("decimal", "money", "percent"):
        return _number(state, f)
    if t == "date":
        return _date(state, f, created)
    if t == "datetime":
        if name == "end" and isinstance(row.get("start"), dt.datetime):
            return row["start"] + dt.timedelta(minutes=rng.choice((30, 45, 60, 90, 120)))
        if _FUTURE.search(name):
            return state.moment(created, created + dt.timedelta(days=21))
        return state.moment(created, min(state.now, created + dt.timedelta(days=14)))
    if t == "user":
        return state.owner().id
    if t == "email":
        return email_for(row, f"{pools.slug(str(row.get('name') or row.get('company') or rng.choice(pools.WORDS)))}.example")
    if t == "phone":
        return phone_for(state)
    if t == "url":
        return f"https://www.{pools.slug(str(row.get('name') or row.get('company') or rng.choice(pools.WORDS)))}.example"
    if t in ("string", "text"):
        return _text(state, ent, f, row)
    return None


def _int_value(state: DemoState, f: m.Field) -> int:
    if f.type == "rating":
        return state.rng.choice((3, 4, 4, 5, 5, 2, 1)) if (f.max or 5) >= 5 else state.rng.randint(1, f.max or 5)
    low = f.min if isinstance(f.min, (int, float)) else 0
    high = f.max if isinstance(f.max, (int, float)) else None
    if high is None:
        high = low + (500 if re.search(r"employ|size|seat|user", f.name) else 60 if "day" in f.name else 100)
    return state.rng.randint(int(low), int(high))


def _number(state: DemoState, f: m.Field) -> Decimal:
    rng = state.rng
    low = Decimal(str(f.min)) if isinstance(f.min, (int, float)) else Decimal(0)
    if f.type == "percent":
        high = min(Decimal(str(f.max)) if isinstance(f.max, (int, float)) else Decimal(100), Decimal(25))
        return Decimal(str(round(rng.uniform(float(low), float(max(low, high))), 1)))
    if f.type == "money":
        huf = (f.currency or state.config.company.currency) in ("HUF", "JPY")
        value = 10 ** rng.uniform(4.5, 7.5) if huf else 10 ** rng.uniform(2, 5)
    else:
        value = rng.uniform(1, 100)
    if isinstance(f.max, (int, float)):
        value = min(value, float(f.max))
    value = max(value, float(low))
    places = 0 if f.type == "money" and (f.currency or state.config.company.currency) == "HUF" else min(f.scale, 2)
    return Decimal(str(round(value, places))).quantize(Decimal(1).scaleb(-places))


def _date(state: DemoState, f: m.Field, created: dt.datetime) -> dt.date:
    day = state.local_date(created)
    if _FUTURE.search(f.name):
        return day + dt.timedelta(days=state.rng.randint(14, 400))
    span = max(0, (state.today - day).days)
    return day + dt.timedelta(days=state.rng.randint(0, min(span, 60)))


def _text(state: DemoState, ent: m.Entity, f: m.Field, row: dict[str, Any]) -> str | None:
    rng, name = state.rng, f.name
    if f.pattern:
        return sample_pattern(f.pattern, rng)
    hu = state.config.company.default_locale == "hu"
    if name in ("first_name", "given_name"):
        value = pools.person(rng)[1]
    elif name in ("last_name", "family_name", "surname"):
        value = pools.person(rng)[0]
    elif "city" in name:
        value = rng.choice(pools.CITIES)[1]
    elif "street" in name or "address" in name:
        value = f"{rng.choice(pools.STREETS)} {rng.randint(1, 120)}."
    elif "postal" in name or name == "zip":
        value = rng.choice(pools.CITIES)[0]
    elif f.type == "text":
        value = " ".join(rng.sample(pools.SENTENCES_HU if hu else pools.SENTENCES_EN, 2))
    elif name in ("name", "company", "title", "subject") or name == ent.title:
        value = f"{rng.choice(pools.WORDS).title()} {rng.choice(pools.WORDS).title()} {rng.randint(1, 999)}"
    else:
        value = f"{rng.choice(pools.WORDS)}-{rng.randint(100, 9999)}"
    return value[: f.max_length] if f.max_length else value


def email_for(row: dict[str, Any], domain: str) -> str:
    first, last = row.get("first_name"), row.get("last_name")
    local = f"{pools.ascii_fold(str(first))}.{pools.ascii_fold(str(last))}" if first and last else "info"
    return f"{''.join(c for c in local if c.isalnum() or c == '.')}@{domain}"


def phone_for(state: DemoState) -> str:
    """A valid number of the company's country (Hungarian mobile by default)."""
    from ..values import phone_region
    region = phone_region(state.config) or "HU"
    if region == "HU":
        return pools.hu_mobile(state.rng)
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return pools.hu_mobile(state.rng)
    digits = str(example.national_number)
    for _ in range(10):
        candidate = digits[:3] + "".join(str(state.rng.randint(0, 9)) for _ in digits[3:])
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


_TOKEN = re.compile(r"\\d|\\w|\\.|\\-|\\\\|\[[^\]]+\]|\(\?:|[()|]|.")


def sample_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching a simple pattern (classes, `\\d`, `{n}`, `{n,m}`, `+`, `?`); None when unsure."""
    body = pattern.lstrip("^").rstrip("$")
    out: list[str] = []
    i = 0
    tokens = _TOKEN.findall(body)
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("(", ")", "(?:", "|"):
            return None
        chars = _chars(tok)
        low = high = 1
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt == "{":
            close = tokens.index("}", i + 1)
            spec = "".join(tokens[i + 2:close])
            parts = spec.split(",")
            low = int(parts[0])
            high = int(parts[1]) if len(parts) > 1 and parts[1] else low + 3
            i = close
        elif nxt in ("+", "*", "?"):
            low, high = {"+": (1, 4), "*": (0, 3), "?": (0, 1)}[nxt]
            i += 1
        out.extend(rng.choice(chars) for _ in range(rng.randint(low, high)))
        i += 1
    text = "".join(out)
    return text if re.fullmatch(pattern, text) else None


def _chars(tok: str) -> str:
    if tok == "\\d":
        return "0123456789"
    if tok == "\\w":
        return "abcdefghijklmnopqrstuvwxyz0123456789"
    if tok.startswith("\\"):
        return tok[1]
    if tok.startswith("[") and tok.endswith("]"):
        inner, chars, j = tok[1:-1], [], 0
        while j < len(inner):
            if j + 2 < len(inner) and inner[j + 1] == "-":
                chars.extend(chr(c) for c in range(ord(inner[j]), ord(inner[j + 2]) + 1))
                j += 3
            else:
                chars.append(inner[j + 1] if inner[j] == "\\" and j + 1 < len(inner) else inner[j])
                j += 2 if inner[j] == "\\" else 1
        # '.' and '-' inside a class are legal but make odd values; letters and digits first.
        plain = [c for c in chars if c.isalnum()]
        return "".join(plain or chars)
    if tok == ".":
        return "abcdefghijklmnopqrstuvwxyz"
    return tok
