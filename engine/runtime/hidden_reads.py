"""Which hidden fields an expression reads: on any hop of a path, and through computed fields.

A formula or rollup over a hidden field would show it (`net_amount` with
`amount` hidden, `sum(net_amount)` in a report), so their own expressions are
followed, down to the child entities of rollups. Used by `Permissions.hidden`
(a computed field that reads a hidden one is hidden too) and by reports.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..metadata import model as m
from ..metadata.expressions import parse, resolve_path, rollup_source
from ..metadata.expressions.nodes import Path, walk
from ..metadata.expressions.paths import USERS
from .exprs import CONTEXT_ROOTS


def hidden_reads(config: m.Config, hidden_of: Callable[[str], frozenset[str]], entity: str,
                 texts: Iterable[str]) -> list[str]:
    """`entity.field` names among `hidden_of(entity)` sets that the expressions read."""
    found: list[str] = []
    seen: set[tuple[str, str]] = set()
    pending = [(entity, text) for text in texts]
    while pending:
        base, text = pending.pop()
        for node in walk(parse(text)):
            if not isinstance(node, Path) or node.parts[0] in CONTEXT_ROOTS:
                continue
            resolved = resolve_path(config, base, node.parts)
            steps = [(hop.source, hop.field) for hop in resolved.hops] + [(resolved.table, resolved.name)]
            for source, name in steps:
                if source != USERS and name in hidden_of(source) and f"{source}.{name}" not in found:
                    found.append(f"{source}.{name}")
            f = resolved.field
            if f is None or (resolved.table, f.name) in seen:
                continue
            seen.add((resolved.table, f.name))
            if f.type == "formula" and f.expr:
                pending.append((resolved.table, f.expr))
            elif f.type == "rollup":
                child, _link = rollup_source(config, resolved.table, f)
                pending += [(child, t) for t in (f.expr, f.filter) if t]
    return found
