"""Validate an executable document against the schema (GraphQL spec, section 5).

Document-level rules live here — 5.1.1 executable definitions, 5.2.1.1 operation name
uniqueness, 5.2.2.1 lone anonymous operation, 5.5.1.1 fragment name uniqueness, 5.5.1.4
fragments must be used, 5.5.2.2 no fragment cycles, 5.8.1–5.8.5 variables — and the
selection rules are delegated to :mod:`validate_selections` and :mod:`validate_merging`.
"""
from __future__ import annotations

from .diagnostics import suggest
from .model import TypeRef
from .op_ast import Document, FragmentDefinition, OperationDefinition, TypeNode
from .query_errors import QueryError
from .schema_view import SchemaView
from .validate_merging import check_merging
from .validate_selections import SelectionChecker
from .validate_values import VariableUsage, check_literal

#: Stop after this many errors (a hostile document must not produce megabytes of them).
MAX_ERRORS = 100


def to_type_ref(node: TypeNode) -> TypeRef:
    from .diagnostics import Loc

    loc = Loc("<query>", 0, node.start)
    if node.kind == "non_null":
        inner = to_type_ref(node.of)  # type: ignore[arg-type]
        return TypeRef(inner.name, inner.of, True, loc)
    if node.kind == "list":
        return TypeRef(None, to_type_ref(node.of), False, loc)  # type: ignore[arg-type]
    return TypeRef(node.name, None, False, loc)


def validate_document(document: Document, view: SchemaView) -> list[QueryError]:
    """Every validation error of ``document`` (at most :data:`MAX_ERRORS`)."""
    errors: list[QueryError] = [QueryError(message, [offset])
                                for message, offset in document.non_executable]
    fragments: dict[str, FragmentDefinition] = {}
    for fragment in document.fragments:
        if fragment.name in fragments:
            errors.append(QueryError(f'There can be only one fragment named "{fragment.name}".',
                                     [fragments[fragment.name].start, fragment.start]))
        else:
            fragments[fragment.name] = fragment
    _check_operation_names(document, errors)
    signatures = document.signatures  # structural signatures, shared by the passes
    body = document.source.body

    # Fragments are checked once, on their own definitions.
    fragment_usages: dict[str, list[VariableUsage]] = {}
    fragment_spreads: dict[str, list[str]] = {}
    for fragment in fragments.values():
        checker = SelectionChecker(view, fragments, signatures, body)
        checker.directives(fragment.directives, "FRAGMENT_DEFINITION")
        if checker.type_condition(fragment.type_condition, fragment.type_start, fragment.name):
            checker.selection_set(fragment.selections, fragment.type_condition)
        errors += checker.errors
        fragment_usages[fragment.name] = checker.usages
        fragment_spreads[fragment.name] = checker.spreads
    errors += _fragment_cycles(fragments, fragment_spreads)

    used_fragments: set[str] = set()
    for operation in document.operations:
        root = _root_type(operation, view, errors)
        checker = SelectionChecker(view, fragments, signatures, body)
        checker.directives(operation.directives, operation.kind.upper())
        for variable in operation.variables:
            checker.directives(variable.directives, "VARIABLE_DEFINITION")
        if root is not None:
            checker.selection_set(operation.selections, root)
        errors += checker.errors
        reachable = _reachable(checker.spreads, fragment_spreads)
        used_fragments |= reachable
        usages = checker.usages + [u for name in reachable for u in fragment_usages.get(name, [])]
        errors += _check_variables(operation, usages, view)
        if root is not None and not errors:
            errors += check_merging(operation.selections, root, view, fragments, signatures,
                                    body)
    for name, fragment in fragments.items():
        if name not in used_fragments:
            errors.append(QueryError(f'Fragment "{name}" is never used.', [fragment.start]))
    return errors[:MAX_ERRORS]


def _check_operation_names(document: Document, errors: list[QueryError]) -> None:
    seen: dict[str, OperationDefinition] = {}
    anonymous = [op for op in document.operations if op.name is None]
    if anonymous and len(document.operations) > 1:
        for op in anonymous:
            errors.append(QueryError("This anonymous operation must be the only defined "
                                     "operation.", [op.start]))
    for op in document.operations:
        if op.name is None:
            continue
        if op.name in seen:
            errors.append(QueryError(f'There can be only one operation named "{op.name}".',
                                     [seen[op.name].start, op.start]))
        seen.setdefault(op.name, op)


def _root_type(operation: OperationDefinition, view: SchemaView,
               errors: list[QueryError]) -> str | None:
    if operation.kind == "query":
        return view.query
    if operation.kind == "mutation":
        if view.mutation is None:
            errors.append(QueryError("Schema is not configured to execute mutation operation.",
                                     [operation.start]))
        return view.mutation
    errors.append(QueryError("Subscriptions are not supported by this server.",
                             [operation.start], code="OPERATION_NOT_SUPPORTED"))
    return None


def _reachable(spreads: list[str], graph: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(spreads)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(graph.get(name, ()))
    return seen


def _fragment_cycles(fragments: dict[str, FragmentDefinition],
                     graph: dict[str, list[str]]) -> list[QueryError]:
    """Spec 5.5.2.2, with an iterative depth-first search."""
    errors: list[QueryError] = []
    state: dict[str, int] = {}
    for start in fragments:
        if state.get(start):
            continue
        path = [start]
        stack = [(start, iter(graph.get(start, ())))]
        state[start] = 1
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[name] = 2
                continue
            if child not in fragments:
                continue
            if state.get(child) == 1:
                cycle = path[path.index(child):]
                via = ", ".join(f'"{n}"' for n in cycle[1:])
                message = f'Cannot spread fragment "{child}" within itself' + \
                    (f" via {via}." if via else ".")
                errors.append(QueryError(message, [fragments[n].start for n in cycle]))
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.get(child, ()))))
    return errors


def _check_variables(operation: OperationDefinition, usages: list[VariableUsage],
                     view: SchemaView) -> list[QueryError]:
    errors: list[QueryError] = []
    defined: dict[str, tuple[TypeRef, bool]] = {}
    op_name = f'by operation "{operation.name}"' if operation.name else ""
    for variable in operation.variables:
        if variable.name in defined:
            errors.append(QueryError(f'There can be only one variable named "${variable.name}".',
                                     [variable.start]))
            continue
        ref = to_type_ref(variable.type)
        named = view.types.get(ref.named)
        if named is None:
            errors.append(QueryError(f'Unknown type "{ref.named}".'
                                     f"{suggest(ref.named, _inputs(view))}",
                                     [variable.type.start]))
        elif not named.is_input:
            errors.append(QueryError(f'Variable "${variable.name}" cannot be non-input type '
                                     f'"{variable.type}".', [variable.type.start]))
        elif variable.default is not None:
            check_literal(variable.default, ref, view, errors, [])
        has_default = variable.default is not None and variable.default.kind != "null"
        defined[variable.name] = (ref, has_default)
    used: set[str] = set()
    for usage in usages:
        used.add(usage.name)
        if usage.name not in defined:
            suffix = f" {op_name}" if op_name else ""
            errors.append(QueryError(f'Variable "${usage.name}" is not defined{suffix}.',
                                     [usage.offset, operation.start]))
            continue
        var_type, has_default = defined[usage.name]
        if not _usage_allowed(var_type, has_default, usage):
            errors.append(QueryError(
                f'Variable "${usage.name}" of type "{var_type}" used in position expecting '
                f'type "{usage.location_type}".', [usage.offset]))
    for variable in operation.variables:
        if variable.name not in used:
            suffix = f' in operation "{operation.name}"' if operation.name else ""
            errors.append(QueryError(f'Variable "${variable.name}" is never used{suffix}.',
                                     [variable.start]))
    return errors


def _inputs(view: SchemaView) -> list[str]:
    return [n for n, t in view.types.items() if t.is_input and not t.introspection]


def _usage_allowed(var_type: TypeRef, has_default: bool, usage: VariableUsage) -> bool:
    """Spec 5.8.5 IsVariableUsageAllowed."""
    location = usage.location_type
    if location.non_null and not var_type.non_null:
        if not (has_default or usage.location_has_default):
            return False
        return _compatible(var_type, TypeRef(location.name, location.of, False, location.loc))
    return _compatible(var_type, location)


def _compatible(var_type: TypeRef, location: TypeRef) -> bool:
    """Spec 5.8.5 AreTypesCompatible."""
    if location.name == "__Unknown":
        return True
    if location.non_null:
        if not var_type.non_null:
            return False
        return _compatible(TypeRef(var_type.name, var_type.of, False, var_type.loc),
                           TypeRef(location.name, location.of, False, location.loc))
    if var_type.non_null:
        return _compatible(TypeRef(var_type.name, var_type.of, False, var_type.loc), location)
    if location.of is not None:
        return var_type.of is not None and _compatible(var_type.of, location.of)
    if var_type.of is not None:
        return False
    return var_type.name == location.name
