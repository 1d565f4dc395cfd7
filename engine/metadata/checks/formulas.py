"""Computed fields: a rollup's `of` names its child rows; no formula depends on itself.

    fields:
      a: {type: formula, expr: "b + 1"}
      b: {type: formula, expr: "a * 2"}    # CRM-E210: a -> b -> a

Dependencies are read with `common.identifier_chains`, a plain tokenizer: it
finds the fields an expression names (following links, and a rollup's child
rows), which is all a cycle check needs. Typing expressions is the expression
compiler's job, not this module's.
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean
from ..model import Config, Entity, Field
from .common import error, identifier_chains, links_to

Node = tuple[str, str]    # (entity, field)


def rollup_source(config: Config, entity: Entity, field: Field) -> tuple[Entity | None, ConfigError | None]:
    """The child entity whose rows a rollup aggregates, or the error in its `of`."""
    of, doc, at = field.of, entity.source, ("fields", field.name, "of")
    if not of:
        return None, None
    if "." in of:
        child_name, _, link = of.partition(".")
        child = config.entities.get(child_name)
        if child is None:
            return None, error(doc, at, "CRM-E200", f"'{child_name}' is not an entity of this configuration",
                               did_you_mean(child_name, config.entities))
        via = child.fields.get(link)
        if via is None:
            return None, error(doc, at, "CRM-E201", f"'{link}' is not a field of entity '{child_name}'",
                               did_you_mean(link, [f.name for f in links_to(child, entity.name)] or child.fields))
        if via.type != "link" or via.entity != entity.name:
            return None, error(doc, at, "CRM-E217", f"'{of}' is not a link from '{child_name}' to '{entity.name}'")
        return child, None
    own = entity.fields.get(of)
    if own is not None:
        if own.type != "lines":
            return None, error(doc, at, "CRM-E218", f"'{of}' is a {own.type} field; a rollup runs over a lines "
                               "field or an entity linking here")
        return config.entities.get(own.entity or ""), None
    child = config.entities.get(of)
    if child is None:
        lines = [f.name for f in entity.fields.values() if f.type == "lines"]
        return None, error(doc, at, "CRM-E201",
                           f"'{of}' is neither a lines field of '{entity.name}' nor an entity linking to it",
                           did_you_mean(of, lines + list(config.entities)))
    links = links_to(child, entity.name)
    if len(links) != 1:
        problem = "has no link" if not links else f"has {len(links)} links"
        return None, error(doc, at, "CRM-E217", f"entity '{of}' {problem} to '{entity.name}'",
                           f"write '{of}.<link field>'" if links else None)
    return child, None


def check_rollup_sources(config: Config) -> list[ConfigError]:
    errors = []
    for entity in config.entities.values():
        for field in entity.fields.values():
            if field.type == "rollup":
                _, problem = rollup_source(config, entity, field)
                if problem is not None:
                    errors.append(problem)
    return errors


def dependency_graph(config: Config) -> dict[Node, set[Node]]:
    """Computed field -> the computed fields its expressions read (here, through links, or in child rows)."""
    graph: dict[Node, set[Node]] = {}
    for entity in config.entities.values():
        for field in entity.fields.values():
            if field.type == "formula":
                graph[(entity.name, field.name)] = _reads(config, entity, [field.expr])
            elif field.type == "rollup":
                child, _ = rollup_source(config, entity, field)
                exprs = [field.expr, field.filter]
                graph[(entity.name, field.name)] = _reads(config, child, exprs) if child else set()
    return graph


def _reads(config: Config, entity: Entity, exprs: list[str | None]) -> set[Node]:
    computed: set[Node] = set()
    for expr in exprs:
        for chain in identifier_chains(expr):
            current: Entity | None = entity
            for name in chain:
                field = current.fields.get(name) if current else None
                if field is None:
                    break
                if field.type in ("formula", "rollup"):
                    computed.add((current.name, name))
                current = config.entities.get(field.entity or "") if field.type == "link" else None
    return computed


def check_formula_cycles(config: Config) -> list[ConfigError]:
    """One error per cycle, at the `expr` of its first field (by entity and name)."""
    graph = dependency_graph(config)
    errors = []
    for cycle in _cycles(graph):
        entity_name, field_name = cycle[0]
        entity = config.entities[entity_name]
        shown = " -> ".join(f if e == entity_name else f"{e}.{f}" for e, f in cycle + [cycle[0]])
        errors.append(error(entity.source, ("fields", field_name, "expr"), "CRM-E210",
                            f"computed fields depend on each other in a cycle: {shown}",
                            "a formula or rollup cannot need its own value"))
    return errors


def _cycles(graph: dict[Node, set[Node]]) -> list[list[Node]]:
    """One cycle (as a path from its smallest node) per strongly connected component that loops."""
    index: dict[Node, int] = {}
    low: dict[Node, int] = {}
    stack: list[Node] = []
    on_stack: set[Node] = set()
    components: list[list[Node]] = []

    def visit(node: Node) -> None:   # Tarjan; configs are small, recursion depth is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        cycles.append(_path_back(graph, start, members))
    return sorted(cycles)


def _path_back(graph: dict[Node, set[Node]], start: Node, members: set[Node]) -> list[Node]:
    """A shortest path from `start` round to itself inside one component."""
    previous: dict[Node, Node] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ()) & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path))
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return [start]


CHECKS = [check_rollup_sources, check_formula_cycles]
