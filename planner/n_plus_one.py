"""N+1 analysis: query paths where each item of a list triggers its own upstream call.

Walks the schema breadth-first from the query root; interfaces and unions are walked
through their possible object types (shown as inline fragments). A field whose resolver
calls an upstream without batching (``@http``/``@grpc`` without ``batchKey``, ``@graphQL``
without ``batch``, or a ``@call`` to such a field), reached through a list, is an N+1
hazard. Each hazardous field is reported once, with the shortest query path that reaches
it; the walk continues below it (a call per item below a call per item multiplies).
Each (type, under a list) state is visited once and paths are parent links, so the work is
linear in the schema (Tailcall's ``check -n`` reports duplicates and cycles; this does not).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .model import (INTERFACE, OBJECT, UNION, UPSTREAM_RESOLVERS, Blueprint, CallResolver,
                    Resolver, TypeDef)


@dataclass(frozen=True, slots=True)
class Step:
    owner: str
    field: str
    #: The inline fragment needed to reach ``field`` (its owner), or None.
    condition: str | None
    parent: "Step | None"


@dataclass(frozen=True, slots=True)
class NPlusOne:
    """One hazard: ``path`` is ``(("Query", "posts"), ("Post", "user"))``."""

    path: tuple[tuple[str, str], ...]
    conditions: tuple[str | None, ...] = ()

    @property
    def field(self) -> str:
        owner, name = self.path[-1]
        return f"{owner}.{name}"

    def chain(self) -> str:
        return " → ".join(f"{owner}.{name}" for owner, name in self.path)

    def query(self) -> str:
        """A query that exercises the path, with inline fragments for abstract types."""
        opened: list[str] = []
        conditions = self.conditions or (None,) * len(self.path)
        for (_, name), condition in zip(self.path, conditions):
            if condition:
                opened.append(f"... on {condition}")
            opened.append(name)
        return "query { " + " { ".join(opened) + " }" * len(opened)


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


def _owners(typedef: TypeDef, blueprint: Blueprint) -> list[tuple[TypeDef, str | None]]:
    """The object types whose fields a selection on ``typedef`` can reach."""
    if typedef.kind == UNION:
        names = [m for m, _ in typedef.members]
    elif typedef.kind == INTERFACE:
        names = [t.name for t in blueprint.types.values()
                 if t.kind == OBJECT and typedef.name in dict(t.interfaces)]
        return [(typedef, None)] + [(blueprint.types[n], n) for n in names]
    else:
        return [(typedef, None)]
    return [(blueprint.types[n], n) for n in names if n in blueprint.types]


def find_n_plus_one(blueprint: Blueprint) -> list[NPlusOne]:
    """Every N+1 hazard reachable from the query root, shortest path first."""
    found: list[NPlusOne] = []
    reported: set[str] = set()
    visited: set[tuple[str, bool]] = set()
    queue: deque[tuple[str, bool, Step | None]] = deque([(blueprint.query, False, None)])
    while queue:
        type_name, under_list, parent = queue.popleft()
        typedef = blueprint.types.get(type_name)
        if typedef is None:
            continue
        for owner, condition in _owners(typedef, blueprint):
            for field_def in owner.fields.values():
                if field_def.omitted:
                    continue
                if condition and field_def.name in typedef.fields:
                    continue  # reachable without the fragment; walked as the interface field
                step = Step(owner.name, field_def.name, condition, parent)
                key = f"{owner.name}.{field_def.name}"
                if under_list and key not in reported and \
                        _unbatched_call(field_def.resolver, blueprint):
                    reported.add(key)
                    found.append(_hazard(step))
                target = blueprint.types.get(field_def.type.named)
                if target is None or target.kind not in (OBJECT, INTERFACE, UNION):
                    continue
                state = (target.name, under_list or field_def.type.is_list)
                if state not in visited:
                    visited.add(state)
                    queue.append((target.name, state[1], step))
    return found


def _hazard(step: Step) -> NPlusOne:
    steps: list[Step] = []
    current: Step | None = step
    while current is not None:
        steps.append(current)
        current = current.parent
    steps.reverse()
    return NPlusOne(tuple((s.owner, s.field) for s in steps),
                    tuple(s.condition for s in steps))
