"""Structural signatures of selections: equal signatures mean equal subtrees.

Hostile documents repeat one subtree many times (100,000 aliases of ``posts { title }``);
validation and planning use these signatures to do the work for each distinct subtree
once. A signature ignores positions and the field's own alias.
"""
from __future__ import annotations

from typing import Any

from .op_ast import Directive, Field, FragmentSpread, InlineFragment, Selection
from .op_print import print_value


def _directives(directives: list[Directive]) -> tuple[Any, ...]:
    return tuple((d.name, tuple((a.name, print_value(a.value)) for a in d.arguments))
                 for d in directives)


def arguments_signature(node: Field) -> tuple[Any, ...]:
    return tuple((a.name, print_value(a.value)) for a in node.arguments) \
        if node.arguments else ()


def selections_signature(selections: list[Selection] | None,
                         memo: dict[int, Any], body: str | None = None) -> Any:
    """Signature of a selection list (memoised per node id within one document). With the
    document ``body`` and a list of fields, it is the list's source text."""
    if selections is None:
        return None
    if body is not None and selections and all(type(s) is Field and s.end
                                                for s in selections):
        return body[selections[0].start:selections[-1].end].rstrip(" \t\r\n,")
    return tuple(selection_signature(s, memo) for s in selections)


def selection_signature(selection: Selection, memo: dict[int, Any]) -> Any:
    found = memo.get(id(selection))
    if found is not None:
        return found
    if isinstance(selection, Field):
        found = ("F", selection.alias, selection.name, arguments_signature(selection),
                 _directives(selection.directives) if selection.directives else (),
                 selections_signature(selection.selections, memo))
    elif isinstance(selection, FragmentSpread):
        found = ("S", selection.name, _directives(selection.directives))
    else:
        assert isinstance(selection, InlineFragment)
        found = ("I", selection.type_condition, _directives(selection.directives),
                 selections_signature(selection.selections, memo))
    memo[id(selection)] = found
    return found


def field_body_signature(node: Field, memo: dict[int, Any]) -> Any:
    """Everything about a field node except its alias and position: the field's source
    text from its name on (``Field.signature``, set by the parsers and interned), else a
    tuple (nodes not built by a parser)."""
    if node.signature:
        return node.signature
    return (node.name, arguments_signature(node),
            _directives(node.directives) if node.directives else (),
            selections_signature(node.selections, memo))


def first_by_signature(nodes: list[Field], memo: dict[int, Any]) -> dict[Any, Field]:
    """Body signature → the first of ``nodes`` with it, in order of first occurrence."""
    firsts: dict[Any, Field] = {}
    for node in nodes:
        signature = node.signature or field_body_signature(node, memo)
        if signature not in firsts:
            firsts[signature] = node
    return firsts
