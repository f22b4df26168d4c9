"""Spec 5.3.2 Field Selection Merging: fields with one response name can be merged.

Fields sharing a response name must, unless their parent types are distinct object
types, be the same field with the same arguments; in all cases they must have the same
response shape. Each field is compared with the first of its group (equality is
transitive), fragments are expanded once per selection set, a level of plain fields whose
response keys are all distinct needs no comparison (only its distinct subtrees are
visited), and identical work is memoised, so the check stays linear for hostile
documents (100,000 aliases or repeats).
"""
from __future__ import annotations

from .model import OBJECT, TypeRef
from .op_ast import Field, FragmentDefinition, FragmentSpread, InlineFragment, Selection
from .op_print import print_value
from .query_errors import QueryError
from .schema_view import SchemaField, SchemaView
from .collect_fields import distinct_keys
from .signature import field_body_signature, first_by_signature, selections_signature

# (parent type, field node, its definition)
Entry = tuple[str, Field, SchemaField | None]


def collect(selections: list[tuple[str, list[Selection]]],
            fragments: dict[str, FragmentDefinition]) -> dict[str, list[Entry]]:
    """Fields by response key, across inline fragments and spreads (each node once)."""
    groups: dict[str, list[Entry]] = {}
    if len(selections) == 1 and all(type(s) is Field for s in selections[0][1]):
        parent, items = selections[0]  # the common case: plain fields, no fragments
        for node in items:
            groups.setdefault(node.alias or node.name, []).append((parent, node, None))
        return groups
    seen_nodes: set[int] = set()
    seen_fragments: set[str] = set()
    stack = [(parent, selection) for parent, items in reversed(selections)
             for selection in reversed(items)]
    while stack:
        parent, selection = stack.pop()
        if isinstance(selection, Field):
            if id(selection) not in seen_nodes:
                seen_nodes.add(id(selection))
                groups.setdefault(selection.response_key, []).append((parent, selection, None))
        elif isinstance(selection, InlineFragment):
            inner = selection.type_condition or parent
            stack.extend((inner, s) for s in reversed(selection.selections))
        elif isinstance(selection, FragmentSpread):
            fragment = fragments.get(selection.name)
            if fragment is not None and selection.name not in seen_fragments:
                seen_fragments.add(selection.name)
                stack.extend((fragment.type_condition, s) for s in reversed(fragment.selections))
    return groups


def _arguments_key(node: Field) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((a.name, print_value(a.value)) for a in node.arguments))


def _shape_conflict(a: TypeRef, b: TypeRef, view: SchemaView) -> bool:
    """Spec SameResponseShape on the wrappers and leaf types (composites recurse later)."""
    while True:
        if a.non_null != b.non_null or (a.of is None) != (b.of is None):
            return True
        if a.of is None or b.of is None:
            break
        a, b = a.of, b.of
    ta, tb = view.types.get(str(a.name)), view.types.get(str(b.name))
    if ta is None or tb is None:
        return False
    if ta.is_leaf or tb.is_leaf:
        return a.name != b.name
    return False


def check_merging(selections: list[Selection], root: str, view: SchemaView,
                  fragments: dict[str, FragmentDefinition],
                  memo: dict[int, object] | None = None,
                  body: str | None = None) -> list[QueryError]:
    errors: list[QueryError] = []
    work: list[list[tuple[str, list[Selection]]]] = [[(root, selections)]]
    done: set[object] = set()
    memo = {} if memo is None else memo
    while work:
        item = work.pop()
        # Identical selection sets under the same types merge the same way: check once.
        key = tuple((parent, selections_signature(items, memo, body)) for parent, items in item)
        if key in done:
            continue
        done.add(key)
        if len(item) == 1 and distinct_keys(item[0][1], memo) is not None:
            # No response key is selected twice: nothing to merge here, only the subtrees
            # can conflict, and each distinct one under a type is checked once.
            parent = item[0][0]
            nodes = [node for node in item[0][1] if node.selections]  # type: ignore[union-attr]
            for signature, node in first_by_signature(nodes, memo).items():  # type: ignore[arg-type]
                if (parent, signature) not in done:
                    done.add((parent, signature))
                    definition = view.field(parent, node.name)
                    if definition is not None:
                        work.append([(definition.type.named, node.selections)])  # type: ignore[list-item]
            continue
        for response_key, entries in collect(item, fragments).items():
            if len(entries) == 1:
                # Nothing to merge at this key; only its subtree can conflict, and an
                # identical subtree under the same type was (or will be) checked already.
                parent, node, _ = entries[0]
                if node.selections:
                    single = (parent, field_body_signature(node, memo))
                    if single not in done:
                        done.add(single)
                        definition = view.field(parent, node.name)
                        if definition is not None:
                            work.append([(definition.type.named, node.selections)])
                continue
            # Fields identical to one already in the group (same parent, same text from
            # the name on) merge trivially with it: keep one of each.
            distinct: dict[object, Entry] = {}
            for entry in entries:
                distinct.setdefault((entry[0], field_body_signature(entry[1], memo)),
                                    entry)
            resolved = [(parent, node, view.field(parent, node.name))
                        for parent, node, _ in distinct.values()]
            first_parent, first, first_def = resolved[0]
            nested: list[tuple[str, list[Selection]]] = []
            for parent, node, definition in resolved:
                if node is not first and first_def is not None and definition is not None:
                    message = _conflict(response_key, first_parent, first, first_def, parent,
                                        node, definition, view)
                    if message:
                        errors.append(QueryError(message, [first.start, node.start]))
                        break
                if node.selections and definition is not None:
                    nested.append((definition.type.named, node.selections))
            if nested:
                work.append(nested)
    return errors


def _conflict(key: str, parent_a: str, a: Field, def_a: SchemaField, parent_b: str, b: Field,
              def_b: SchemaField, view: SchemaView) -> str | None:
    ta, tb = view.types.get(parent_a), view.types.get(parent_b)
    exclusive = parent_a != parent_b and ta is not None and tb is not None and \
        ta.kind == OBJECT and tb.kind == OBJECT
    if not exclusive:
        if a.name != b.name:
            return (f'Fields "{key}" conflict because "{a.name}" and "{b.name}" are different '
                    "fields. Use different aliases on the fields to fetch both if this was "
                    "intentional.")
        if _arguments_key(a) != _arguments_key(b):
            return (f'Fields "{key}" conflict because they have differing arguments. Use '
                    "different aliases on the fields to fetch both if this was intentional.")
    if _shape_conflict(def_a.type, def_b.type, view):
        return (f'Fields "{key}" conflict because they return conflicting types '
                f'"{def_a.type}" and "{def_b.type}". Use different aliases on the fields to '
                "fetch both if this was intentional.")
    return None
