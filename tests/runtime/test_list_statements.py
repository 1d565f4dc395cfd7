"""The list's cached, page-first statements (list_statement.py): same rows as the plain SELECT,
never shared between users, rebuilt when the clock matters, new with a new configuration."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engine.metadata.loader import load_config
from engine.runtime.actor import SYSTEM
from engine.runtime.list_statement import cache_key
from engine.runtime.query import row_to_dict
from engine.runtime.records import Records
from engine.runtime.tables import build_tables


def ids(page) -> list[int]:
    return [r["id"] for r in page.rows]


def flat_ids(crm, actor, entity, **kwargs) -> list[int]:
    """The same list through the plain statement every other read path uses."""
    query = crm.records.query.select(actor, entity, **kwargs)
    with crm.engine.connect() as conn:
        return [r["id"] for r in conn.execute(query).mappings()]


def make_deals(crm) -> dict[str, list[int]]:
    """Deals of alice and bob with ties, NULL close dates, discounts and lines."""
    brick = crm.records.create(crm.admin, "product", {"name": "Brick", "list_price": 10})
    made: dict[str, list[int]] = {"alice": [], "bob": []}
    for name in made:
        user = getattr(crm, name)
        budapest = crm.records.create(user, "account", {"name": f"{name} Bp", "city": "Budapest"})
        pecs = crm.records.create(user, "account", {"name": f"{name} Pécs", "city": "Pécs"})
        for i in range(7):
            values = {"name": f"{name} {i}", "account": (budapest if i % 2 else pecs)["id"],
                      "amount": 100 * (i % 3), "discount_pct": 5 * i,
                      "close_date": None if i % 3 == 0 else f"2025-04-{10 + i:02d}"}
            if i % 2:
                values["items"] = [{"product": brick["id"], "quantity": i}]
            made[name].append(crm.records.create(user, "deal", values)["id"])
    return made


def test_pages_follow_the_plain_statement_for_every_sort(crm):
    make_deals(crm)
    cases = [
        {"sort": "close_date"},                                   # NULLs last
        {"sort": "-amount"},                                      # ties broken by id
        {"sort": "-net_amount", "filter_expr": "account.city == 'Budapest'"},   # formula sort, link filter
        {"sort": ["-items_total", "name"]},                       # rollup sort
        {"where": {"amount": ["100", "200"]}, "sort": "amount"},
        {},                                                       # the view's default order
    ]
    for actor in (crm.admin, crm.alice, crm.mona):
        for kwargs in cases:
            expected = flat_ids(crm, actor, "deal", **kwargs)
            offsets = range(0, 15, 3)
            pages = [crm.records.list(actor, "deal", limit=3, offset=o, **kwargs) for o in offsets]
            assert sum((ids(p) for p in pages), []) == expected, (actor.username, kwargs)
            assert [p.has_more for p in pages] == [o + 3 < len(expected) for o in offsets]
            if expected:
                whole = crm.records.list(actor, "deal", limit=2, count_up_to=3, **kwargs)
                assert whole.matching == (min(len(expected), 4) if len(expected) > 2 else None)


def test_two_users_never_share_a_cached_statement(crm):
    made = make_deals(crm)
    cache = crm.records.query.statements
    for _ in range(2):       # the second round is served from the cache
        assert sorted(ids(crm.records.list(crm.alice, "deal", sort="-amount"))) == sorted(made["alice"])
        assert sorted(ids(crm.records.list(crm.bob, "deal", sort="-amount"))) == sorted(made["bob"])
        assert ids(crm.records.list(crm.carol, "deal", sort="-amount")) == []
    assert cache.hits >= 3
    # Same role, other team: account is read by team.
    assert {r["name"] for r in crm.records.list(crm.alice, "account").rows} == {
        "alice Bp", "alice Pécs", "bob Bp", "bob Pécs"}
    assert crm.records.list(crm.carol, "account").rows == []
    # A user whose roles change is another actor: the statement is built again for them.
    promoted = crm.users.actor("alice")
    assert promoted is not None
    manager = type(promoted)(promoted.id, promoted.username, promoted.team, frozenset({"manager"}))
    assert sorted(ids(crm.records.list(manager, "deal"))) == sorted(made["alice"] + made["bob"])


def test_a_statement_that_reads_the_clock_is_built_again(crm):
    made = make_deals(crm)
    cache = crm.records.query.statements
    before = len(cache)
    crm.clock.now = dt.datetime(2025, 4, 12, 12, 0, tzinfo=dt.timezone.utc)
    early = crm.records.list(crm.alice, "deal", filter_expr="close_date < today()")
    crm.clock.now = dt.datetime(2025, 4, 20, 12, 0, tzinfo=dt.timezone.utc)
    later = crm.records.list(crm.alice, "deal", filter_expr="close_date < today()")
    assert len(early.rows) < len(later.rows)
    assert set(ids(later)) <= set(made["alice"])
    assert len(cache) == before          # never cached
    crm.records.list(crm.alice, "deal", filter_expr="close_date < $day", params={"day": dt.date(2025, 4, 15)})
    assert len(cache) == before + 1      # a fixed date is no clock


def test_a_new_configuration_gets_new_statements(crm, write_config, base_files):
    make_deals(crm)
    old = crm.records.list(crm.admin, "deal", sort="id").rows
    changed = dict(base_files)
    changed["entities/deal.yaml"] = changed["entities/deal.yaml"].replace(
        'expr: "amount * (1 - discount_pct / 100)"', 'expr: "amount * 2"')
    config = load_config(write_config(changed))
    reloaded = Records(config, crm.engine, build_tables(config), clock=crm.clock)
    new = reloaded.list(crm.admin, "deal", sort="id").rows
    assert [r["net_amount"] for r in new] == [r["amount"] * 2 for r in new]
    assert [r["net_amount"] for r in crm.records.list(crm.admin, "deal", sort="id").rows] == \
        [r["net_amount"] for r in old]           # the old services keep their own configuration
    assert reloaded.query.statements is not crm.records.query.statements


def test_rows_convert_as_row_to_dict_does(crm):
    make_deals(crm)
    acc = crm.records.create(crm.admin, "account", {"name": "Tagged", "tags": ["upsell", "strategic"],
                                                    "active": False})
    crm.records.create(crm.admin, "account", {"name": "Untagged"})
    for entity, kwargs in (("account", {}), ("deal", {"titles": True})):
        ent = crm.config.entities[entity]
        statements = crm.records.query.page(SYSTEM, entity, **kwargs)
        with crm.engine.connect() as conn:
            result = conn.execute(statements.rows, statements.page_params(100, 0))
            keys, rows = result.keys(), result.all()
        converted = statements.shape(keys).dicts(rows)
        assert converted == [row_to_dict(ent, r._mapping) for r in rows]
    tagged = crm.records.get(crm.admin, "account", acc["id"])
    assert tagged["tags"] == ["strategic", "upsell"] and tagged["active"] is False
    listed = {r["name"]: r for r in crm.records.list(crm.admin, "account").rows}
    assert listed["Untagged"]["tags"] == [] and listed["Untagged"]["active"] is True
    deal = crm.records.list(crm.admin, "deal", sort="-items_total", limit=1).rows[0]
    assert isinstance(deal["items_total"], Decimal) and isinstance(deal["item_count"], int)


def test_cache_keys_keep_values_of_other_types_apart():
    actor = SYSTEM
    base = dict(filter_expr="amount > $x", where=None, search=None, sort=None, titles=False, paths=())
    keys = {cache_key(actor, "deal", params={"x": v}, **base) for v in (1, True, 1.0, Decimal(1), "1")}
    assert len(keys) == 5
    assert cache_key(actor, "deal", params=None, **{**base, "search": "acme"}) is None      # depends on the data
    assert cache_key(actor, "deal", params={"x": [1, 2]}, **base) is not None
    assert cache_key(actor, "deal", params={"x": object.__new__(_Unhashable)}, **base) is None


class _Unhashable:
    __hash__ = None  # type: ignore[assignment]


def test_a_formula_through_a_link_is_shown_and_sorted_on_the_page(make_world, base_files):
    """The page's columns may need joins of their own (a formula reading a linked record)."""
    files = dict(base_files)
    files["entities/deal.yaml"] = files["entities/deal.yaml"].replace(
        "  close_date:   {type: date}\n",
        "  close_date:   {type: date}\n  account_city: {type: formula, expr: \"account.city\"}\n")
    crm = make_world(files)
    made = make_deals(crm)
    for actor in (crm.admin, crm.alice):
        kwargs = {"sort": ["account_city", "-amount"], "filter_expr": "account.city != 'Szeged'", "titles": True}
        page = crm.records.list(actor, "deal", limit=4, with_titles=True,
                                **{k: v for k, v in kwargs.items() if k != "titles"})
        assert ids(page) == flat_ids(crm, actor, "deal", **kwargs)[:4]
        assert all(r["account_city"] in ("Budapest", "Pécs") and r["account__title"] for r in page.rows)
    assert set(ids(crm.records.list(crm.alice, "deal", limit=50))) == set(made["alice"])


def plain_record(crm, actor, entity, record_id):
    """The record through the plain statement (`select` with the id as a literal), or None."""
    query = crm.records.query.select(actor, entity, where={"id": record_id})
    with crm.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return None if row is None else row_to_dict(crm.config.entities[entity], row)


def test_a_record_is_read_as_the_plain_statement_reads_it_through_one_statement_per_user(crm):
    """Records.get runs `query.matching` (the id a bind): the same record, lines and refusals as the
    plain SELECT for every user, and one cached statement per user and entity, not per record."""
    from engine.runtime.errors import NotFound
    made = make_deals(crm)
    every = made["alice"] + made["bob"]
    for actor in (crm.admin, crm.alice, crm.bob, crm.carol, crm.mona, crm.vic):
        for deal_id in every:
            expected = plain_record(crm, actor, "deal", deal_id)
            if expected is None:
                try:
                    crm.records.get(actor, "deal", deal_id)
                except NotFound:
                    continue
                raise AssertionError(f"{actor.username} read deal {deal_id}")
            got = crm.records.get(actor, "deal", deal_id)
            lines = got.pop("items", [])
            assert got == {k: v for k, v in expected.items() if k != "items"}, (actor.username, deal_id)
            assert [line["id"] for line in lines] == flat_ids(crm, actor, "deal_line", where={"deal": deal_id},
                                                              sort=["id"])
    cache = crm.records.query.statements
    size = len(cache)
    for deal_id in made["alice"]:
        crm.records.get(crm.alice, "deal", deal_id, with_lines=False)
    assert len(cache) == size            # more records of the same user and entity: no new statement


def test_a_record_statement_that_reads_the_clock_is_built_again(make_world, base_files):
    files = dict(base_files)
    files["entities/note.yaml"] = files["entities/note.yaml"] + \
        "  due:  {type: date}\n  late: {type: formula, expr: \"due < today()\", result: bool}\n"
    crm = make_world(files)
    note = crm.records.create(crm.admin, "note", {"body": "call back", "due": "2025-04-15"})
    cache = crm.records.query.statements
    before = len(cache)
    crm.clock.now = dt.datetime(2025, 4, 12, 12, 0, tzinfo=dt.timezone.utc)
    assert crm.records.get(crm.admin, "note", note["id"])["late"] is False
    crm.clock.now = dt.datetime(2025, 4, 20, 12, 0, tzinfo=dt.timezone.utc)
    assert crm.records.get(crm.admin, "note", note["id"])["late"] is True
    assert len(cache) == before          # never cached


def test_a_related_list_is_one_statement_for_every_parent(crm):
    """`where` values are binds given at execution: the deals of each account come from the same
    cached statements, and each account still gets exactly its own deals (and count)."""
    made = make_deals(crm)
    accounts = sorted({d["account"] for d in crm.records.list(crm.admin, "deal", limit=200).rows})
    first, _ = crm.records.query.bound_page(crm.alice, "deal", where={"account": accounts[0]})
    for account in accounts:
        for actor in (crm.admin, crm.alice):
            statements, binds = crm.records.query.bound_page(actor, "deal", where={"account": str(account)})
            assert binds == {"crm_where_0": account}          # converted like input: '7' finds 7
            page = crm.records.list(actor, "deal", where={"account": account}, limit=2, count_up_to=100)
            rest = crm.records.list(actor, "deal", where={"account": account}, limit=50, offset=2)
            assert ids(page) + ids(rest) == flat_ids(crm, actor, "deal", where={"account": account})
            assert page.matching in (None, len(ids(page) + ids(rest)))
        assert crm.records.query.bound_page(crm.alice, "deal", where={"account": account})[0] is first
    assert sum(len(v) for v in made.values()) == 14
    # IN lists and IS NULL keep their own shapes, each still exact
    both = crm.records.list(crm.admin, "deal", where={"account": accounts[:2]}, limit=50)
    assert ids(both) == flat_ids(crm, crm.admin, "deal", where={"account": accounts[:2]})
    assert ids(crm.records.list(crm.admin, "deal", where={"account": []}, limit=50)) == []
    no_date = crm.records.list(crm.admin, "deal", where={"close_date": None}, limit=50)
    assert ids(no_date) == flat_ids(crm, crm.admin, "deal", where={"close_date": None}) and len(ids(no_date)) == 6


def test_computed_numbers_convert_as_computed_does(crm):
    # A list's decimal, money and percent formulas use a converter with its rounding step found once.
    from engine.runtime.query import _computed, column_converter
    deal = crm.config.entities["deal"]
    numbers = [f for f in deal.fields.values() if f.type in ("formula", "rollup")
               and f.value_type in ("decimal", "money", "percent")]
    assert numbers
    for field in numbers:
        convert, on_null = column_converter(field)
        assert on_null is False
        for value in (None, 0, 12, 12.345, 0.1 + 0.2, "7.125", Decimal("1.005"), Decimal("-3"), "n/a", float("nan")):
            got, want = convert(value), _computed(field, value)
            assert type(got) is type(want) and (got == want or got != got and want != want), (field.name, value)


def test_a_record_id_in_where_is_taken_as_convert_gives_it(crm):
    # A related list's link value (an int) is taken as it is; other forms still go through convert.
    from engine.runtime.errors import ValidationFailed
    query = crm.records.query
    assert query._where_terms(crm.admin, "deal", {"account": 7}) == \
        query._where_terms(crm.admin, "deal", {"account": "7"}) == [("account", "eq", 7)]
    try:
        query._where_terms(crm.admin, "deal", {"account": True})
    except ValidationFailed:
        pass
    else:
        raise AssertionError("a bool was taken as a record id")
