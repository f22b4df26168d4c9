"""N+1 analysis: query paths where each item of a list triggers its own upstream call.

Walks the schema breadth-first from the query root. A field whose resolver calls an
upstream without batching (``@http``/``@grpc`` without ``batchKey``, ``@graphQL`` without
``batch``, or a ``@call`` to such a field), reached through a list, is an N+1 hazard.
Each hazardous field is reported once, with the shortest query path that reaches it
(Tailcall's ``check -n`` reports duplicates and cycles; this does not).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .model import (INTERFACE, OBJECT, UNION, UPSTREAM_RESOLVERS, Blueprint, CallResolver,
                    FieldDef, Resolver)


@dataclass(frozen=True, slots=True)
class NPlusOne:
    """One hazard: ``path`` is ``(("Query", "posts"), ("Post", "user"))``."""

    path: tuple[tuple[str, str], ...]

    @property
    def field(self) -> str:
        owner, name = self.path[-1]
        return f"{owner}.{name}"

    def chain(self) -> str:
        return " → ".join(f"{owner}.{name}" for owner, name in self.path)

    def query(self) -> str:
        names = [name for _, name in self.path]
        return "query { " + " { ".join(names) + " }" * len(names)


def _unbatched_call(resolver: Resolver | None, blueprint: Blueprint,
                    seen: frozenset[str] = frozenset()) -> bool:
    if isinstance(resolver, UPSTREAM_RESOLVERS):
        return not resolver.batched
    if isinstance(resolver, CallResolver):
        roots = {"query": blueprint.query, "mutation": blueprint.mutation}
        for step in resolver.steps:
            root = blueprint.types.get(roots[step.kind] or "")
            target = root.fields.get(step.field) if root else None
            key = f"{roots[step.kind]}.{step.field}"
            if target is not None and key not in seen and \
                    _unbatched_call(target.resolver, blueprint, seen | {key}):
                return True
    return False


def find_n_plus_one(blueprint: Blueprint) -> list[NPlusOne]:
    """Every N+1 hazard reachable from the query root, shortest path first."""
    found: list[NPlusOne] = []
    reported: set[str] = set()
    visited: set[tuple[str, bool]] = set()
    queue: deque[tuple[str, bool, tuple[tuple[str, str], ...]]] = deque(
        [(blueprint.query, False, ())])
    while queue:
        type_name, under_list, path = queue.popleft()
        if (type_name, under_list) in visited:
            continue
        visited.add((type_name, under_list))
        typedef = blueprint.types.get(type_name)
        if typedef is None:
            continue
        owners = [typedef]
        if typedef.kind == UNION:
            owners = [blueprint.types[m] for m, _ in typedef.members if m in blueprint.types]
        for owner in owners:
            for field_def in owner.fields.values():
                _visit(blueprint, owner.name, field_def, under_list, path, found, reported,
                       queue)
    return found


def _visit(blueprint: Blueprint, owner: str, field_def: FieldDef, under_list: bool,
           path: tuple[tuple[str, str], ...], found: list[NPlusOne], reported: set[str],
           queue: deque[tuple[str, bool, tuple[tuple[str, str], ...]]]) -> None:
    if field_def.omitted:
        return
    step = path + ((owner, field_def.name),)
    if under_list and _unbatched_call(field_def.resolver, blueprint):
        key = f"{owner}.{field_def.name}"
        if key not in reported:
            reported.add(key)
            found.append(NPlusOne(step))
        return
    target = blueprint.types.get(field_def.type.named)
    if target is not None and target.kind in (OBJECT, INTERFACE, UNION):
        queue.append((target.name, under_list or field_def.type.is_list, step))
