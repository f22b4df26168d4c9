"""Located values: directive arguments and settings-file entries with their positions.

Both the SDL (graphql-core value nodes) and settings files (YAML/JSON nodes) are turned
into :class:`LValue` trees, so one checker (``arg_types``) validates both and every error
points at the exact value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql.language import ast as gql

from .diagnostics import Loc


@dataclass(slots=True)
class LValue:
    """A value with its position.

    ``kind`` is one of ``string int float boolean null enum list object variable``;
    ``value`` is a Python scalar, ``list[LValue]`` or ``dict[str, LValue]``.
    """

    kind: str
    value: Any
    loc: Loc
    key_locs: dict[str, Loc] = field(default_factory=dict)
    #: For strings: the column offset of the first character after the opening quote,
    #: when the literal is a plain one-line string without escapes (exact template columns).
    text_col: int | None = None

    def plain(self) -> Any:
        """The value as plain Python data (lists, dicts, scalars)."""
        if self.kind == "list":
            return [item.plain() for item in self.value]
        if self.kind == "object":
            return {key: item.plain() for key, item in self.value.items()}
        return self.value

    def describe(self) -> str:
        """Short human description for error messages, e.g. ``String "8000"``."""
        if self.kind == "string":
            shown = self.value if len(self.value) <= 40 else self.value[:37] + "..."
            return f'String "{shown}"'
        if self.kind in ("int", "float"):
            return f"{self.kind.capitalize()} {self.value}"
        if self.kind == "boolean":
            return f"Boolean {'true' if self.value else 'false'}"
        if self.kind == "enum":
            return f"enum value {self.value}"
        if self.kind == "variable":
            return f"variable ${self.value}"
        return {"null": "null", "list": "a list", "object": "an object"}[self.kind]


def node_loc(node: gql.Node, file: str) -> Loc:
    """The 1-based position of a graphql-core AST node (O(1): read off its first token)."""
    assert node.loc is not None
    token = node.loc.start_token
    return Loc(file, token.line, token.column)


def from_graphql(node: gql.ValueNode, file: str) -> LValue:
    """Convert a graphql-core value node (iteratively, so depth never hits recursion)."""
    root: list[LValue] = []
    stack: list[tuple[gql.ValueNode, Any, Any]] = [(node, root, None)]
    while stack:
        current, container, key = stack.pop()
        loc = node_loc(current, file)
        if isinstance(current, gql.ListValueNode):
            converted = LValue("list", [], loc)
            stack.extend((item, converted.value, None) for item in reversed(current.values))
        elif isinstance(current, gql.ObjectValueNode):
            converted = LValue("object", {}, loc)
            for entry in reversed(current.fields):
                converted.key_locs[entry.name.value] = node_loc(entry, file)
                stack.append((entry.value, converted.value, entry.name.value))
        else:
            converted = _scalar(current, loc)
        if isinstance(container, list):
            container.append(converted)
        else:
            container[key] = converted
    # Children were pushed in reverse, so lists and dicts keep the source order.
    return root[0]


def _scalar(node: gql.ValueNode, loc: Loc) -> LValue:
    if isinstance(node, gql.StringValueNode):
        text_col = None
        if not node.block and node.loc is not None:
            raw = node.loc.source.body[node.loc.start:node.loc.end]
            if "\\" not in raw:
                text_col = loc.col + 1
        return LValue("string", node.value, loc, text_col=text_col)
    if isinstance(node, gql.IntValueNode):
        return LValue("int", int(node.value), loc)
    if isinstance(node, gql.FloatValueNode):
        return LValue("float", float(node.value), loc)
    if isinstance(node, gql.BooleanValueNode):
        return LValue("boolean", node.value, loc)
    if isinstance(node, gql.NullValueNode):
        return LValue("null", None, loc)
    if isinstance(node, gql.EnumValueNode):
        return LValue("enum", node.value, loc)
    if isinstance(node, gql.VariableNode):
        return LValue("variable", node.name.value, loc)
    raise TypeError(f"unexpected value node {type(node).__name__}")  # pragma: no cover


def from_yaml(node: Any, file: str) -> LValue:
    """Convert a PyYAML composed node tree (``yaml.compose``) into an LValue tree."""
    import yaml

    root: list[LValue] = []
    stack: list[tuple[Any, Any, Any]] = [(node, root, None)]
    while stack:
        current, container, key = stack.pop()
        mark = current.start_mark
        loc = Loc(file, mark.line + 1, mark.column + 1)
        if isinstance(current, yaml.SequenceNode):
            converted = LValue("list", [], loc)
            stack.extend((item, converted.value, None) for item in reversed(current.value))
        elif isinstance(current, yaml.MappingNode):
            converted = LValue("object", {}, loc)
            for key_node, value_node in reversed(current.value):
                name = str(key_node.value)
                converted.key_locs[name] = Loc(file, key_node.start_mark.line + 1,
                                               key_node.start_mark.column + 1)
                stack.append((value_node, converted.value, name))
        else:
            converted = _yaml_scalar(current, loc)
        if isinstance(container, list):
            container.append(converted)
        else:
            container[key] = converted
    return root[0]


def _yaml_scalar(node: Any, loc: Loc) -> LValue:
    from yaml.constructor import SafeConstructor

    value = SafeConstructor().construct_object(node)
    if value is None:
        return LValue("null", None, loc)
    if isinstance(value, bool):
        return LValue("boolean", value, loc)
    if isinstance(value, int):
        return LValue("int", value, loc)
    if isinstance(value, float):
        return LValue("float", value, loc)
    return LValue("string", str(value), loc)
