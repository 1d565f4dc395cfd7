"""A list's statements, built once per shape and reused across calls and pages.

    statements = record_query.page(actor, "deal", filter_expr="stage == 'won'", sort="-amount", titles=True)
    result = conn.execute(statements.rows, statements.page_params(limit=51, offset=0))
    rows = statements.shape(result.keys()).dicts(result.all())

Building a list's SELECT (the permission filter, formulas, rollups, joins, link
titles) costs more Python time than an indexed database takes to run it, so
`RecordQuery.page` keeps what it built in a small LRU (`StatementCache`), keyed
by everything the statement is a function of:

- the configuration (the cache belongs to one RecordQuery; a configuration
  reload builds new services, so new statements);
- the acting user, whole (`Actor`: id, team, roles, and what `current_user`
  reads): row filters, hidden fields and the row filters of linked and child
  rows all come from it, so two users never share an entry;
- the entity, the filter text, `where` values, sort, `$params` values (with
  their Python types: `1` and `True` compile differently), titles and paths.

Limit, offset and the count's cap are bind parameters given at execution, so
every page of a list runs one statement, whose compiled form SQLAlchemy's own
cache keeps (the statement objects are reused, so their cache keys are
computed once).

A search is cached by its form (search.SearchForm: the words, the fields
searched, whether the FTS index is current and whether the words hit many rows),
in a cache of its own so that searches do not push lists out.

Not cached (built on every call, as before):

- a statement that depends on the clock (`today()` in a formula or a filter,
  a period like `this_month`): found by building it a second time at another
  moment and comparing the two (structure and every bound value);
- a statement SQLAlchemy cannot make a cache key for, and arguments that are
  not hashable.

Page first: the page's ids are chosen in a subquery over the entity's table
(the filter, the joins the filter and the sort need, ORDER BY, LIMIT), and only
those rows are joined to their link titles and get their formula and rollup
columns. The database then sorts narrow rows and looks up titles and computes
rollups for one page, not for every matching row.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field as dc_field
from decimal import Decimal
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

from sqlalchemy import Integer, Select, bindparam

from ..metadata import model as m
from .actor import Actor

LIMIT = "crm_page_limit"
OFFSET = "crm_page_offset"
COUNT_CAP = "crm_count_cap"
limit_param = bindparam(LIMIT, type_=Integer)
offset_param = bindparam(OFFSET, type_=Integer)
count_cap_param = bindparam(COUNT_CAP, type_=Integer)


@dataclass(slots=True)
class ListStatements:
    """The statements of one list shape: a page of rows, and the capped count of matching rows."""

    rows: Select            # binds LIMIT and OFFSET
    count: Select           # binds COUNT_CAP
    entity: m.Entity
    _shapes: dict[tuple[str, ...], "RowShape"] = dc_field(default_factory=dict)

    @staticmethod
    def page_params(limit: int, offset: int) -> dict[str, int]:
        return {LIMIT: limit, OFFSET: offset}

    @staticmethod
    def count_params(cap: int) -> dict[str, int]:
        return {COUNT_CAP: cap}

    def shape(self, keys: Iterable[str]) -> "RowShape":
        """The row converter for these result columns (made once per statement)."""
        keys = tuple(keys)
        shape = self._shapes.get(keys)
        if shape is None:
            shape = self._shapes[keys] = RowShape(self.entity, keys)
        return shape


class RowShape:
    """`query.row_to_dict` for every row of one result: each column's converter chosen once.

    Gives exactly what `row_to_dict` gives (a test holds them equal); only the
    per-value dispatch on the field type is done once per column instead of
    once per value.
    """

    def __init__(self, entity: m.Entity, keys: Sequence[str]):
        from .query import column_converter
        self.keys = tuple(keys)
        self.when_set: list[tuple[int, Callable[[Any], Any]]] = []     # run on non-NULL values
        self.always: list[tuple[int, Callable[[Any], Any]]] = []       # run on every value (NULL too)
        for i, key in enumerate(self.keys):
            converter = column_converter(entity.fields.get(key))
            if converter is not None:
                fn, on_null = converter
                (self.always if on_null else self.when_set).append((i, fn))

    def dicts(self, rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        keys = self.keys
        dicts = [dict(zip(keys, row)) for row in rows]
        # Only the converted columns are visited (a list has few): a key set again keeps its place.
        for i, fn in self.when_set:
            key = keys[i]
            for d in dicts:
                value = d[key]
                if value is not None:
                    d[key] = fn(value)
        for i, fn in self.always:
            key = keys[i]
            for d in dicts:
                d[key] = fn(d[key])
        return dicts


class StatementCache:
    """A thread-safe LRU of built statements (one per RecordQuery, i.e. per configuration): a list's
    `ListStatements`, or the single `Select` of `RecordQuery.matching`."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, statements: Any) -> None:
        with self._lock:
            self._items[key] = statements
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def cache_key(actor: Actor, entity: str, *, filter_expr: str | None, where: Mapping[str, Any] | None,
              search: Hashable | None, sort: str | Sequence[str] | None, params: Mapping[str, Any] | None,
              titles: bool, paths: Sequence[str]) -> Hashable | None:
    """What a list's statements are a function of (besides the configuration and the clock);
    None when they must not be cached (a search's bare text, unhashable values). A search is given
    by its form (search.SearchForm), which says everything its condition is built from."""
    if isinstance(search, str) and search.strip():
        return None
    try:
        key = (entity, actor, filter_expr, _frozen(where), search, _frozen(sort), _frozen(params),
               bool(titles), tuple(paths))
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in that keeps values of different types apart (1, 1.0, True, Decimal(1))."""
    if value is None or isinstance(value, str):
        return value
    # Lists and tuples (a `where` shape, a sort) before Mapping: typing.Mapping's isinstance is slow.
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((str(k), _frozen(v)) for k, v in value.items()), key=lambda kv: kv[0])))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_frozen(v) for v in value))
    if isinstance(value, (bool, int, float, Decimal)) or hasattr(value, "isoformat"):
        return (type(value).__name__, value)
    hash(value)     # anything else: usable only if hashable (TypeError otherwise)
    return (type(value).__name__, value)


def same_statement(a: Select, b: Select) -> bool:
    """Do two builds give the same statement: same structure and the same value in every bind?

    False also when SQLAlchemy cannot make a cache key (such a statement is never cached).
    """
    key_a, key_b = a._generate_cache_key(), b._generate_cache_key()
    if key_a is None or key_b is None or key_a.key != key_b.key:
        return False
    values_a = [p.effective_value for p in key_a.bindparams]
    values_b = [p.effective_value for p in key_b.bindparams]
    return values_a == values_b
