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

    ``kind`` is one of ``string int float boolean null enum list object`` (config
    values are constants: graphql-core refuses variables in them);
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
    raise TypeError(f"unexpected value node {type(node).__name__}")  # pragma: no cover


class LocatedError(Exception):
    """A problem in a settings file at ``loc``."""

    def __init__(self, message: str, loc: Loc) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc


_PLAIN_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
               "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:seq",
               "tag:yaml.org,2002:map"}


def from_yaml(node: Any, file: str) -> LValue:
    """Convert a PyYAML composed node tree (``yaml.compose``) into an LValue tree.

    Settings are plain data: aliases (which can expand exponentially or loop), explicit
    tags other than the core ones, non-string keys and duplicate keys are errors.
    """
    import yaml

    def where(item: Any) -> Loc:
        return Loc(file, item.start_mark.line + 1, item.start_mark.column + 1)

    root: list[LValue] = []
    seen: set[int] = set()
    stack: list[tuple[Any, Any, Any]] = [(node, root, None)]
    while stack:
        current, container, key = stack.pop()
        if id(current) in seen:
            raise LocatedError("YAML aliases are not supported in settings files",
                               where(current))
        seen.add(id(current))
        if current.tag not in _PLAIN_TAGS:
            raise LocatedError(f"unsupported YAML tag {current.tag}", where(current))
        loc = where(current)
        if isinstance(current, yaml.SequenceNode):
            converted = LValue("list", [], loc)
            stack.extend((item, converted.value, None) for item in reversed(current.value))
        elif isinstance(current, yaml.MappingNode):
            converted = LValue("object", {}, loc)
            names: set[str] = set()
            for key_node, _ in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise LocatedError("settings keys must be plain names", where(key_node))
                if key_node.value in names:
                    raise LocatedError(f'duplicate key "{key_node.value}"', where(key_node))
                names.add(key_node.value)
            for key_node, value_node in reversed(current.value):
                name = str(key_node.value)
                converted.key_locs[name] = where(key_node)
                stack.append((value_node, converted.value, name))
        else:
            converted = _yaml_scalar(current, loc)
        if isinstance(container, list):
            container.append(converted)
        else:
            container[key] = converted
    return root[0]


def _yaml_scalar(node: Any, loc: Loc) -> LValue:
    from yaml.constructor import ConstructorError, SafeConstructor

    try:
        value = SafeConstructor().construct_object(node)
    except (ConstructorError, ValueError, TypeError) as exc:
        raise LocatedError(f"invalid YAML value {node.value!r} ({exc})", loc) from None
    if value is None:
        return LValue("null", None, loc)
    if isinstance(value, bool):
        return LValue("boolean", value, loc)
    if isinstance(value, int):
        return LValue("int", value, loc)
    if isinstance(value, float):
        return LValue("float", value, loc)
    return LValue("string", str(value), loc)
