"""The AST of executable GraphQL documents (spec 2: operations and fragments).

Nodes keep only a character offset (``start``); line and column are computed on demand
from the :class:`SourceText`, so parsing large documents stays cheap.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any, Union


_NEWLINE = re.compile("\n")


class SourceText:
    """The document text with a line index for offset → (line, column)."""

    __slots__ = ("body", "_newlines")

    def __init__(self, body: str) -> None:
        self.body = body
        self._newlines: list[int] | None = None

    def location(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of ``offset``."""
        if self._newlines is None:
            self._newlines = [match.start() for match in _NEWLINE.finditer(self.body)]
        index = bisect.bisect_left(self._newlines, offset)
        line_start = self._newlines[index - 1] + 1 if index else 0
        return index + 1, offset - line_start + 1


# Values (spec 2.9). ``kind``: variable int float string boolean null enum list object.
@dataclass(slots=True)
class Value:
    kind: str
    value: Any  # python scalar, variable name, list[Value] or list[ObjectField]
    start: int


@dataclass(slots=True)
class ObjectField:
    name: str
    value: Value
    start: int


@dataclass(slots=True)
class Argument:
    name: str
    value: Value
    start: int


@dataclass(slots=True)
class Directive:
    name: str
    arguments: list[Argument]
    start: int


# Type references (spec 2.11): ("named", name) | ("list", inner) | ("non_null", inner)
@dataclass(slots=True)
class TypeNode:
    kind: str  # named | list | non_null
    name: str | None
    of: "TypeNode | None"
    start: int

    def __str__(self) -> str:
        if self.kind == "named":
            return str(self.name)
        if self.kind == "list":
            return f"[{self.of}]"
        return f"{self.of}!"

    @property
    def named(self) -> str:
        node: TypeNode = self
        while node.of is not None:
            node = node.of
        return str(node.name)


@dataclass(slots=True)
class Field:
    alias: str | None
    name: str
    arguments: list[Argument]
    directives: list[Directive]
    selections: "list[Selection] | None"
    start: int
    #: Offset of the first token after the field (0 when unknown): ``body[start:end]`` is
    #: the field's text, so equal texts mean equal subtrees (see ``signature.py``).
    end: int = 0
    #: The field's source text from its name to the end of its last token, with equal
    #: texts of one document interned ("" when unknown): everything about the field but
    #: its alias and position, so equal texts mean equal fields (see ``signature.py``).
    signature: str = ""

    @property
    def response_key(self) -> str:
        return self.alias or self.name


@dataclass(slots=True)
class FragmentSpread:
    name: str
    directives: list[Directive]
    start: int


@dataclass(slots=True)
class InlineFragment:
    type_condition: str | None
    directives: list[Directive]
    selections: "list[Selection]"
    start: int
    type_start: int = 0


Selection = Union[Field, FragmentSpread, InlineFragment]


@dataclass(slots=True)
class VariableDefinition:
    name: str
    type: TypeNode
    default: Value | None
    directives: list[Directive]
    start: int


@dataclass(slots=True)
class OperationDefinition:
    kind: str  # query | mutation | subscription
    name: str | None
    variables: list[VariableDefinition]
    directives: list[Directive]
    selections: list[Selection]
    start: int


@dataclass(slots=True)
class FragmentDefinition:
    name: str
    type_condition: str
    directives: list[Directive]
    selections: list[Selection]
    start: int
    type_start: int = 0


@dataclass(slots=True)
class Document:
    source: SourceText
    operations: list[OperationDefinition] = field(default_factory=list)
    fragments: list[FragmentDefinition] = field(default_factory=list)
    #: (message, offset) for type-system definitions found in the document (spec 5.1.1).
    non_executable: list[tuple[str, int]] = field(default_factory=list)
    #: Structural signatures of its nodes (``signature.py``), shared by validation and
    #: planning so each is computed once.
    signatures: dict[int, object] = field(default_factory=dict, compare=False, repr=False)
