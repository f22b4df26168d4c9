"""Result coercion of decoded leaf values (spec 3.5, 3.9), shared by both VMs' writers.

graphql-js rules, except that a string is never an Int (the issue's and the spec's
strictness): returns the JSON bytes to write, or an error message.
"""
from __future__ import annotations

import math
from typing import Any

import msgspec
from msgspec import Raw

from plait.planner.program import LeafCoercer
from plait.planner.scalars import scalar_error, scalar_value

from .values import plain

_encode = msgspec.json.encode
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1


def show(value: Any) -> str:
    text = bytes(value).decode() if isinstance(value, Raw) else _encode(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return show(value)


def coerce_leaf(leaf: LeafCoercer, value: Any) -> bytes | str:
    kind = leaf.kind
    kind_of = type(value)
    if kind == "String":
        if kind_of is str:
            return _encode(value)
        if kind_of is bool:
            return b'"true"' if value else b'"false"'
        if kind_of is int or kind_of is float:
            return b'"' + _encode(value) + b'"'
    elif kind == "Int":
        if kind_of is int:
            if INT_MIN <= value <= INT_MAX:
                return _encode(value)
            return f"Int cannot represent non 32-bit signed integer value: {show(value)}"
        if kind_of is float:
            if value.is_integer() and INT_MIN <= value <= INT_MAX:
                return _encode(int(value))
            return f"Int cannot represent non-integer value: {show(value)}"
        if kind_of is bool:
            return b"1" if value else b"0"
        return f"Int cannot represent non-integer value: {show(value)}"
    elif kind == "Float":
        if (kind_of is int or kind_of is float) and math.isfinite(value):
            return _encode(float(value))
        if kind_of is bool:
            return b"1.0" if value else b"0.0"
        return f"Float cannot represent non numeric value: {show(value)}"
    elif kind == "Boolean":
        if kind_of is bool:
            return b"true" if value else b"false"
        if (kind_of is int or kind_of is float) and math.isfinite(value):
            return b"true" if value != 0 else b"false"
        return f"Boolean cannot represent a non boolean value: {show(value)}"
    elif kind == "ID":
        if kind_of is str:
            return _encode(value)
        if kind_of is int:
            return b'"' + _encode(value) + b'"'
        return f"ID cannot represent value: {show(value)}"
    elif kind == "enum":
        if kind_of is str:
            if value in leaf.enum_values:
                return _encode(value)
            for alias, name in leaf.enum_aliases:
                if alias == value:
                    return _encode(name)
        return f'Enum "{leaf.type_name}" cannot represent value: {show(value)}'
    elif kind == "checked":  # Tailcall's custom scalars with a format (planner/scalars.py)
        valid, value = scalar_value(leaf.type_name, plain(value))
        if valid:
            return _encode(value)
        return scalar_error(leaf.type_name, show(value))
    else:  # other custom scalars (JSON, Empty, declared ones) pass any JSON through
        return _encode(value)
    return f"{kind} cannot represent value: {show(value)}"
