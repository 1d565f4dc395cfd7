"""How a report's entity reaches the record of a page (record charts, spec section 9).

    record_path(config, "invoice", "account")      # 'account'
    record_path(config, "order_line", "account")   # 'account' (its own link wins over order.account)
    record_path(config, "account", "account")      # 'id': the record itself

Rule: the record itself when the entities are the same; else the first link
field (in the entity's field order) to that entity; else the shortest chain
of links (breadth first, at most three hops, fields in order), e.g.
`order.account`. None when no chain exists.
"""
from __future__ import annotations

from ...metadata import model as m

MAX_HOPS = 3


def record_path(config: m.Config, entity: str, target: str) -> str | None:
    if entity == target:
        return "id"
    frontier: list[tuple[str, tuple[str, ...]]] = [(entity, ())]
    seen = {entity}
    for _ in range(MAX_HOPS):
        following: list[tuple[str, tuple[str, ...]]] = []
        for current, path in frontier:
            for f in config.entities[current].fields.values():
                if f.type != "link" or f.entity not in config.entities:
                    continue
                if f.entity == target:
                    return ".".join(path + (f.name,))
                if f.entity not in seen:
                    seen.add(f.entity)
                    following.append((f.entity, path + (f.name,)))
        frontier = following
    return None
