"""Spec 5.6: literal values have the type their position requires.

Also records each variable usage with the type expected where it is used, for spec 5.8.5
(All Variable Usages Are Allowed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .diagnostics import suggest
from .model import ENUM, INPUT, SCALAR, TypeRef
from .op_ast import Value
from .query_errors import QueryError
from .scalars import CHECKED_SCALARS, scalar_error, scalar_value
from .schema_view import SchemaView

INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1


@dataclass(slots=True)
class VariableUsage:
    name: str
    location_type: TypeRef
    location_has_default: bool
    offset: int


def _show(value: Value) -> str:
    from .op_print import print_value

    return print_value(value)


def check_literal(value: Value, ref: TypeRef, view: SchemaView, errors: list[QueryError],
                  usages: list[VariableUsage], has_default: bool = False) -> None:
    """Report every way ``value`` does not fit ``ref`` (variables are recorded, not checked)."""
    if value.kind == "variable":
        usages.append(VariableUsage(value.value, ref, has_default, value.start))
        return
    if value.kind == "null":
        if ref.non_null:
            errors.append(QueryError(f'Expected value of type "{ref}", found null.',
                                     [value.start]))
        return
    if ref.of is not None:  # list type: a single item coerces to a one-item list
        items = value.value if value.kind == "list" else [value]
        for item in items:
            check_literal(item, ref.of, view, errors, usages)
        return
    named = view.types.get(ref.named)
    if named is None:
        return
    if named.kind == INPUT:
        _check_input_object(value, ref, view, errors, usages)
    elif named.kind == ENUM:
        if value.kind != "enum":
            errors.append(QueryError(f'Enum "{named.name}" cannot represent non-enum value: '
                                     f"{_show(value)}.{_enum_hint(value, named.enum_values)}",
                                     [value.start]))
        elif value.value not in named.enum_values:
            errors.append(QueryError(
                f'Value "{value.value}" does not exist in "{named.name}" enum.'
                f"{_enum_hint(value, named.enum_values)}", [value.start]))
    elif named.kind == SCALAR:
        message = scalar_literal_error(named.name, value)
        if message:
            errors.append(QueryError(message, [value.start]))


def _enum_hint(value: Value, values: dict) -> str:
    if value.kind not in ("enum", "string"):
        return ""
    return suggest(str(value.value), values, "the enum value")


def scalar_literal_error(name: str, value: Value) -> str | None:
    """Spec 3.5 input coercion of a literal for built-in scalars and Tailcall's checked
    custom scalars (``planner/scalars.py``); other custom scalars accept all."""
    kind, raw = value.kind, value.value
    if name in CHECKED_SCALARS:
        if kind in ("list", "object", "enum") or not scalar_value(name, raw)[0]:
            return scalar_error(name, _show(value))
        return None
    if kind == "list" or kind == "object":
        if name in ("Int", "Float", "String", "Boolean", "ID"):
            return f"{name} cannot represent a non-{name.lower()} value: {_show(value)}"
        return None
    if name == "Int":
        if kind != "int":
            return f"Int cannot represent non-integer value: {_show(value)}"
        if not INT_MIN <= raw <= INT_MAX:
            return f"Int cannot represent non 32-bit signed integer value: {_show(value)}"
    elif name == "Float":
        if kind not in ("int", "float") or (kind == "float" and not math.isfinite(raw)):
            return f"Float cannot represent non numeric value: {_show(value)}"
    elif name == "String":
        if kind != "string":
            return f"String cannot represent a non string value: {_show(value)}"
    elif name == "Boolean":
        if kind != "boolean":
            return f"Boolean cannot represent a non boolean value: {_show(value)}"
    elif name == "ID":
        if kind not in ("string", "int"):
            return f"ID cannot represent a non-string and non-integer value: {_show(value)}"
    return None


def _check_input_object(value: Value, ref: TypeRef, view: SchemaView, errors: list[QueryError],
                        usages: list[VariableUsage]) -> None:
    named = view.types[ref.named]
    if value.kind != "object":
        errors.append(QueryError(f'Expected value of type "{ref}", found {_show(value)}.',
                                 [value.start]))
        return
    seen: set[str] = set()
    for entry in value.value:
        if entry.name in seen:
            errors.append(QueryError(f'There can be only one input field named "{entry.name}".',
                                     [entry.start]))
            continue
        seen.add(entry.name)
        definition = named.input_fields.get(entry.name)
        if definition is None:
            hint = suggest(entry.name, named.input_fields)
            errors.append(QueryError(f'Field "{entry.name}" is not defined by type '
                                     f'"{named.name}".{hint}', [entry.start]))
            continue
        check_literal(entry.value, definition.type, view, errors, usages,
                      has_default=definition.default is not None)
    for name, definition in named.input_fields.items():
        if definition.type.non_null and definition.default is None and name not in seen:
            errors.append(QueryError(f'Field "{named.name}.{name}" of required type '
                                     f'"{definition.type}" was not provided.', [value.start]))
