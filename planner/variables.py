"""Spec 6.4.2 CoerceVariableValues and 6.4.1 CoerceArgumentValues.

Variables arrive as JSON; each is checked against its declared type (input coercion,
spec 3.5, 3.9, 3.10, 3.11, 3.12) with graphql-js style messages. Arguments combine
literals, variables and defaults into plain Python values for templates.
"""
from __future__ import annotations

import math
from typing import Any

from .model import ENUM, INPUT, SCALAR, ArgDef, TypeRef
from .op_ast import Argument, OperationDefinition, Value
from .query_errors import QueryError
from .scalars import CHECKED_SCALARS, scalar_error, scalar_value
from .schema_view import SchemaView
from .validate_document import to_type_ref
from .validate_values import INT_MAX, INT_MIN

_MISSING = object()


def coerce_variables(operation: OperationDefinition, view: SchemaView,
                     inputs: dict[str, Any] | None) -> tuple[dict[str, Any], list[QueryError]]:
    """Return the coerced variables and every error (spec 6.4.2)."""
    inputs = inputs or {}
    coerced: dict[str, Any] = {}
    errors: list[QueryError] = []
    for definition in operation.variables:
        ref = to_type_ref(definition.type)
        name = definition.name
        if name not in inputs:
            if definition.default is not None:
                coerced[name] = literal_value(definition.default, {})
            elif ref.non_null:
                errors.append(QueryError(f'Variable "${name}" of required type "{ref}" was not '
                                         "provided.", [definition.start], "BAD_USER_INPUT"))
            continue
        value = inputs[name]
        if value is None and ref.non_null:
            errors.append(QueryError(f'Variable "${name}" of non-null type "{ref}" must not be '
                                     "null.", [definition.start], "BAD_USER_INPUT"))
            continue
        problem = _check(value, ref, view, [])
        if problem is not None:
            path, message = problem
            where = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in path)
            prefix = f' at "{name}{where}"' if path else ""
            errors.append(QueryError(f'Variable "${name}" got invalid value '
                                     f"{_show(value)}{prefix}; {message}", [definition.start],
                                     "BAD_USER_INPUT"))
            continue
        coerced[name] = _coerce(value, ref, view)
    return coerced, errors


def _show(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _check(value: Any, ref: TypeRef, view: SchemaView,
           path: list[str | int]) -> tuple[list[str | int], str] | None:
    if value is None:
        return (path, f'Expected non-nullable type "{ref}" not to be null.') if ref.non_null \
            else None
    if ref.of is not None:
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            problem = _check(item, ref.of, view, path + [index] if isinstance(value, list)
                             else path)
            if problem:
                return problem
        return None
    named = view.types[ref.named]
    if named.kind == INPUT:
        if not isinstance(value, dict):
            return path, f'Expected type "{named.name}" to be an object.'
        for key in value:
            if key not in named.input_fields:
                return path, f'Field "{key}" is not defined by type "{named.name}".'
        for key, definition in named.input_fields.items():
            if key in value:
                problem = _check(value[key], definition.type, view, path + [key])
                if problem:
                    return problem
            elif definition.type.non_null and definition.default is None:
                return path, (f'Field "{key}" of required type "{definition.type}" was not '
                              "provided.")
        return None
    if named.kind == ENUM:
        if not isinstance(value, str) or value not in named.enum_values:
            return path, f'Value {_show(value)} does not exist in "{named.name}" enum.'
        return None
    return _scalar_problem(named.name, value, path)


def _scalar_problem(name: str, value: Any, path: list[str | int]
                    ) -> tuple[list[str | int], str] | None:
    if name == "Int":
        if isinstance(value, bool) or not isinstance(value, int):
            if not (isinstance(value, float) and value.is_integer()):
                return path, f"Int cannot represent non-integer value: {_show(value)}"
        if not INT_MIN <= value <= INT_MAX:
            return path, f"Int cannot represent non 32-bit signed integer value: {_show(value)}"
    elif name == "Float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            return path, f"Float cannot represent non numeric value: {_show(value)}"
    elif name == "String":
        if not isinstance(value, str):
            return path, f"String cannot represent a non string value: {_show(value)}"
    elif name == "Boolean":
        if not isinstance(value, bool):
            return path, f"Boolean cannot represent a non boolean value: {_show(value)}"
    elif name == "ID":
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return path, f"ID cannot represent value: {_show(value)}"
    elif name in CHECKED_SCALARS and not scalar_value(name, value)[0]:
        return path, scalar_error(name, _show(value))
    return None


def _coerce(value: Any, ref: TypeRef, view: SchemaView) -> Any:
    if value is None:
        return None
    if ref.of is not None:
        items = value if isinstance(value, list) else [value]
        return [_coerce(item, ref.of, view) for item in items]
    named = view.types[ref.named]
    if named.kind == INPUT:
        out = {}
        for key, definition in named.input_fields.items():
            if key in value:
                out[definition.name] = _coerce(value[key], definition.type, view)
            elif definition.default is not None:
                out[definition.name] = definition.default.plain()
        return out
    if named.kind == SCALAR and named.name == "Int" and isinstance(value, float):
        return int(value)
    if named.kind == SCALAR and named.name == "Float" and isinstance(value, int):
        return float(value)
    if named.kind == SCALAR and named.name == "ID" and isinstance(value, int):
        return str(value)
    if named.kind == SCALAR and named.name in CHECKED_SCALARS:
        return scalar_value(named.name, value)[1]  # 34.0 → 34 for sized integers
    return value


def literal_value(value: Value, variables: dict[str, Any]) -> Any:
    """The Python value of a (validated) literal, variables substituted."""
    kind = value.kind
    if kind == "variable":
        return variables.get(value.value)
    if kind == "list":
        return [literal_value(item, variables) for item in value.value]
    if kind == "object":
        return {f.name: literal_value(f.value, variables) for f in value.value}
    return value.value


def coerce_arguments(arguments: list[Argument], definitions: dict[str, ArgDef],
                     variables: dict[str, Any],
                     types: dict[str, Any] | None = None) -> dict[str, Any]:
    """Spec 6.4.1: given arguments, variables and defaults as plain values. With the
    config's ``types``, input objects written as literals get their fields' defaults."""
    given = {argument.name: argument.value for argument in arguments}
    out: dict[str, Any] = {}
    for name, definition in definitions.items():
        node = given.get(name)
        if node is None or (node.kind == "variable" and node.value not in variables):
            if definition.default is not None:
                out[name] = definition.default.plain()
            continue
        value = literal_value(node, variables)
        if types is not None and node.kind != "variable":
            value = fill_input_defaults(value, definition.type, types)
        out[name] = value
    return out


def fill_input_defaults(value: Any, ref: TypeRef, types: dict[str, Any]) -> Any:
    """Spec 6.4.1 / 3.10 input coercion of a literal: missing input-object fields that
    declare a default take it (recursively, through lists)."""
    if value is None:
        return None
    if ref.of is not None:
        items = value if isinstance(value, list) else [value]
        return [fill_input_defaults(item, ref.of, types) for item in items]
    named = types.get(ref.named)
    if named is None or named.kind != INPUT or not isinstance(value, dict):
        return value
    out = dict(value)
    for field_def in named.fields.values():
        if field_def.name in out:
            out[field_def.name] = fill_input_defaults(out[field_def.name], field_def.type,
                                                      types)
        elif field_def.default is not None:
            out[field_def.name] = field_def.default.plain()
    return out
