"""Print operation AST values and selections back to GraphQL text (for messages and keys)."""
from __future__ import annotations

import json

from .op_ast import Value


def print_value(value: Value) -> str:
    """GraphQL literal syntax of ``value`` (iterative: depth is bounded by the parser)."""
    kind = value.kind
    if kind == "variable":
        return "$" + value.value
    if kind == "string":
        return json.dumps(value.value, ensure_ascii=False)
    if kind == "boolean":
        return "true" if value.value else "false"
    if kind == "null":
        return "null"
    if kind in ("int", "float", "enum"):
        return str(value.value)
    if kind == "list":
        return "[" + ", ".join(print_value(item) for item in value.value) + "]"
    return "{" + ", ".join(f"{f.name}: {print_value(f.value)}" for f in value.value) + "}"
