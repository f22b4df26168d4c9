"""Spec 6.3.2 CollectFields: the fields an object type selects, merged by response key.

``@skip``/``@include`` are evaluated with the request's variables (spec 3.13.1–2); named
fragments are expanded once per selection set (spec's visitedFragments); inline fragments
and spreads apply when their type condition includes the object type (DoesFragmentTypeApply).
"""
from __future__ import annotations

from .op_ast import Directive, Field, FragmentDefinition, FragmentSpread, InlineFragment, Selection
from .schema_view import SchemaView


def directive_condition(directives: list[Directive], variables: dict[str, object]) -> bool:
    """False when ``@skip(if: true)`` or ``@include(if: false)`` removes the selection."""
    for directive in directives:
        if directive.name not in ("skip", "include"):
            continue
        value: object = None
        for argument in directive.arguments:
            if argument.name == "if":
                node = argument.value
                value = variables.get(node.value) if node.kind == "variable" else node.value
        if directive.name == "skip" and value is True:
            return False
        if directive.name == "include" and value is not True:
            return False
    return True


def condition_variables(selections: list[Selection],
                        fragments: dict[str, FragmentDefinition]) -> list[str]:
    """Names of variables used by ``@skip``/``@include`` anywhere in the operation (they
    decide the plan's shape, so they are part of the plan cache key)."""
    names: list[str] = []
    stack: list[Selection] = list(selections)
    stack += [s for f in fragments.values() for s in f.selections]
    while stack:
        selection = stack.pop()
        for directive in selection.directives:
            if directive.name in ("skip", "include"):
                for argument in directive.arguments:
                    if argument.value.kind == "variable" and argument.value.value not in names:
                        names.append(argument.value.value)
        if isinstance(selection, (Field, InlineFragment)) and selection.selections:
            stack.extend(selection.selections)
    return sorted(names)


def collect_fields(object_type: str, selection_sets: list[list[Selection]], view: SchemaView,
                   fragments: dict[str, FragmentDefinition],
                   variables: dict[str, object]) -> dict[str, list[Field]]:
    """Response key → the field nodes selected under that key, in selection order."""
    grouped: dict[str, list[Field]] = {}
    if len(selection_sets) == 1 and all(type(s) is Field and not s.directives
                                        for s in selection_sets[0]):
        for node in selection_sets[0]:  # the common case: plain fields, no directives
            grouped.setdefault(node.alias or node.name, []).append(node)  # type: ignore[union-attr]
        return grouped
    visited: set[str] = set()
    target = view.types[object_type]
    stack: list[Selection] = [s for selections in reversed(selection_sets)
                              for s in reversed(selections)]
    while stack:
        selection = stack.pop()
        if not directive_condition(selection.directives, variables):
            continue
        if isinstance(selection, Field):
            grouped.setdefault(selection.response_key, []).append(selection)
        elif isinstance(selection, FragmentSpread):
            if selection.name in visited:
                continue
            visited.add(selection.name)
            fragment = fragments.get(selection.name)
            if fragment is not None and _applies(fragment.type_condition, target.name, view):
                stack.extend(reversed(fragment.selections))
        elif selection.type_condition is None or \
                _applies(selection.type_condition, target.name, view):
            stack.extend(reversed(selection.selections))
    return grouped


_MISSING = object()


def distinct_keys(selections: list[Selection], memo: dict[int, object]) -> list[str] | None:
    """The response keys of ``selections`` in order when they are fields without
    directives, each with its own response key; else None. Then CollectFields (spec 6.3.2)
    groups one field per key, and Field Selection Merging (spec 5.3.2) has nothing to
    compare at this level. Kept in the document's signature ``memo`` under
    ``-id(selections)`` (the lists live as long as the document), so validation and
    planning find it once."""
    found = memo.get(-id(selections), _MISSING)
    if found is _MISSING:
        keys = [s.alias or s.name for s in selections  # type: ignore[union-attr]
                if type(s) is Field and not s.directives]
        found = keys if len(keys) == len(selections) and len(set(keys)) == len(keys) \
            else None
        memo[-id(selections)] = found
    return found  # type: ignore[return-value]


def _applies(condition: str, object_type: str, view: SchemaView) -> bool:
    """Spec DoesFragmentTypeApply."""
    if condition == object_type:
        return True
    condition_type = view.types.get(condition)
    return condition_type is not None and object_type in condition_type.possible
