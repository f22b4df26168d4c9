"""Parse executable GraphQL documents (spec 2) into :mod:`op_ast` nodes.

Written for hostile input: one regular-expression lexer pass, a recursive-descent parser
whose nesting is bounded (:data:`MAX_DEPTH`), and limits on document size and token count.
Errors are :class:`GraphQLSyntaxError` with the offset of the offending token.
"""
from __future__ import annotations

import json
import re

from .op_ast import (Argument, Directive, Document, Field, FragmentDefinition, FragmentSpread,
                     InlineFragment, ObjectField, OperationDefinition, Selection, SourceText,
                     TypeNode, Value, VariableDefinition)

#: Deepest nesting of selections, values or types in one document.
MAX_DEPTH = 128
#: Largest document accepted, in characters.
MAX_DOCUMENT_CHARS = 8 * 1024 * 1024
#: Most tokens in one document.
MAX_TOKENS = 2_000_000

_TOKEN = re.compile(r'''
 (?P<ws>[ \t\r\n,\ufeff]+|\#[^\n\r]*)
|(?P<punct>\.\.\.|[!$&()\:=@\[\]{}|])
|(?P<name>[_A-Za-z][_0-9A-Za-z]*)
|(?P<num>-?(?:0|[1-9][0-9]*)(?P<frac>\.[0-9]+)?(?P<exp>[eE][+-]?[0-9]+)?)
|(?P<block>"""(?:\\"""|[^"]|"(?!""))*""")
|(?P<str>"(?:[^"\\\n\r]|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*")
''', re.X)
_NAME_START = re.compile(r"[_A-Za-z.]")

EXECUTABLE_KEYWORDS = {"query", "mutation", "subscription", "fragment"}
TYPE_SYSTEM_KEYWORDS = {"schema", "scalar", "type", "interface", "union", "enum", "input",
                        "directive", "extend"}


class GraphQLSyntaxError(Exception):
    """A document that is not valid GraphQL syntax; ``offset`` locates the problem."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _lex(body: str) -> tuple[list[str], list[object], list[int]]:
    kinds: list[str] = []
    values: list[object] = []
    starts: list[int] = []
    pos, end = 0, len(body)
    match = _TOKEN.match
    while pos < end:
        m = match(body, pos)
        if m is None:
            char = body[pos]
            if char == '"':
                raise GraphQLSyntaxError("Syntax Error: Unterminated string.", pos)
            raise GraphQLSyntaxError(f"Syntax Error: Unexpected character {char!r}.", pos)
        group = m.lastgroup
        text = m.group()
        if group == "ws":
            pos = m.end()
            continue
        if group == "punct":
            kinds.append(text)
            values.append(text)
        elif group == "name":
            kinds.append("Name")
            values.append(text)
        elif group == "num":
            after = m.end()
            if after < end and _NAME_START.match(body, after):
                raise GraphQLSyntaxError(
                    f"Syntax Error: Invalid number, unexpected {body[after]!r}.", after)
            if m.group("frac") or m.group("exp"):
                kinds.append("Float")
                values.append(float(text))
            else:
                kinds.append("Int")
                values.append(int(text))
        elif group == "block":
            kinds.append("String")
            values.append(_block_string(text[3:-3].replace('\\"""', '"""')))
        else:
            kinds.append("String")
            if "\\" in text:
                try:
                    values.append(json.loads(text))
                except ValueError:
                    raise GraphQLSyntaxError(
                        "Syntax Error: Invalid character within String.", pos) from None
            else:
                values.append(text[1:-1])
        starts.append(pos)
        if len(kinds) > MAX_TOKENS:
            raise GraphQLSyntaxError(
                f"Syntax Error: Document contains more than {MAX_TOKENS} tokens.", pos)
        pos = m.end()
    kinds.append("<EOF>")
    values.append(None)
    starts.append(end)
    return kinds, values, starts


def _block_string(raw: str) -> str:
    """Spec 2.9.4 BlockStringValue: common indentation and blank edge lines removed."""
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    indent = None
    for line in lines[1:]:
        stripped = line.lstrip(" \t")
        if stripped:
            width = len(line) - len(stripped)
            indent = width if indent is None else min(indent, width)
    if indent:
        lines = lines[:1] + [line[indent:] for line in lines[1:]]
    while lines and not lines[0].strip(" \t"):
        lines.pop(0)
    while lines and not lines[-1].strip(" \t"):
        lines.pop()
    return "\n".join(lines)


def _describe(kind: str, value: object) -> str:
    if kind == "<EOF>":
        return "<EOF>"
    if kind == "Name":
        return f'Name "{value}"'
    if kind in ("Int", "Float"):
        return f"{kind} \"{value}\""
    if kind == "String":
        return "String"
    return f'"{kind}"'


class _Parser:
    __slots__ = ("body", "kinds", "values", "starts", "i", "depth", "texts")

    def __init__(self, body: str) -> None:
        self.body = body
        self.kinds, self.values, self.starts = _lex(body)
        self.i = 0
        self.depth = 0
        #: Field signature texts, interned: equal texts are one object (hashed once).
        self.texts: dict[str, str] = {}

    # -- token helpers -------------------------------------------------------------------
    def peek(self, kind: str) -> bool:
        return self.kinds[self.i] == kind

    def fail(self, expected: str) -> GraphQLSyntaxError:
        i = self.i
        return GraphQLSyntaxError(
            f"Syntax Error: Expected {expected}, found {_describe(self.kinds[i], self.values[i])}.",
            self.starts[i])

    def expect(self, kind: str) -> int:
        i = self.i
        if self.kinds[i] != kind:
            raise self.fail("Name" if kind == "Name" else f'"{kind}"')
        self.i = i + 1
        return self.starts[i]

    def name(self) -> str:
        i = self.i
        if self.kinds[i] != "Name":
            raise self.fail("Name")
        self.i = i + 1
        return self.values[i]  # type: ignore[return-value]

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise GraphQLSyntaxError(
                f"Syntax Error: Document is nested too deeply (more than {MAX_DEPTH} levels).",
                self.starts[self.i])

    # -- document ------------------------------------------------------------------------
    def document(self, source: SourceText) -> Document:
        doc = Document(source)
        if self.peek("<EOF>"):
            raise self.fail("an operation or fragment")
        while not self.peek("<EOF>"):
            kind, value = self.kinds[self.i], self.values[self.i]
            if kind == "{":
                start = self.starts[self.i]
                doc.operations.append(OperationDefinition(
                    "query", None, [], [], self.selection_set(), start))
            elif kind == "Name" and value in ("query", "mutation", "subscription"):
                doc.operations.append(self.operation())
            elif kind == "Name" and value == "fragment":
                doc.fragments.append(self.fragment())
            elif kind == "Name" and value in TYPE_SYSTEM_KEYWORDS or kind == "String":
                start = self.starts[self.i]
                self.skip_definition()
                doc.non_executable.append((f"The {value if kind == 'Name' else 'described'} "
                                           "definition is not executable.", start))
            else:
                raise self.fail("an operation or fragment")
        return doc

    def skip_definition(self) -> None:
        """Step over a type-system definition (reported by validation, spec 5.1.1)."""
        depth = 0
        self.i += 1
        while not self.peek("<EOF>"):
            kind = self.kinds[self.i]
            if kind in ("{", "(", "["):
                depth += 1
            elif kind in ("}", ")", "]"):
                depth -= 1
                if depth == 0 and kind == "}":
                    self.i += 1
                    return
            elif depth == 0 and kind == "Name" and \
                    self.values[self.i] in EXECUTABLE_KEYWORDS | TYPE_SYSTEM_KEYWORDS:
                return
            self.i += 1

    def operation(self) -> OperationDefinition:
        start = self.starts[self.i]
        kind = self.name()
        name = self.name() if self.peek("Name") else None
        variables = self.variable_definitions() if self.peek("(") else []
        directives = self.directives(const=False)
        return OperationDefinition(kind, name, variables, directives, self.selection_set(),
                                   start)

    def fragment(self) -> FragmentDefinition:
        start = self.starts[self.i]
        self.i += 1
        name_start = self.starts[self.i]
        name = self.name()
        if name == "on":
            raise GraphQLSyntaxError('Syntax Error: Unexpected Name "on".', name_start)
        if not (self.peek("Name") and self.values[self.i] == "on"):
            raise self.fail('"on"')
        self.i += 1
        type_start = self.starts[self.i]
        condition = self.name()
        directives = self.directives(const=False)
        return FragmentDefinition(name, condition, directives, self.selection_set(), start,
                                  type_start)

    def variable_definitions(self) -> list[VariableDefinition]:
        self.expect("(")
        found = []
        while not self.peek(")"):
            start = self.expect("$")
            name = self.name()
            self.expect(":")
            type_node = self.type_ref()
            default = None
            if self.peek("="):
                self.i += 1
                default = self.value(const=True)
            found.append(VariableDefinition(name, type_node, default,
                                            self.directives(const=True), start))
        if not found:
            raise self.fail("Variable")
        self.i += 1
        return found

    def type_ref(self) -> TypeNode:
        self.enter()
        start = self.starts[self.i]
        if self.peek("["):
            self.i += 1
            inner = self.type_ref()
            self.expect("]")
            node = TypeNode("list", None, inner, start)
        else:
            node = TypeNode("named", self.name(), None, start)
        if self.peek("!"):
            self.i += 1
            node = TypeNode("non_null", None, node, start)
        self.depth -= 1
        return node

    # -- selections ----------------------------------------------------------------------
    def selection_set(self) -> list[Selection]:
        self.enter()
        self.expect("{")
        selections: list[Selection] = []
        kinds = self.kinds
        while kinds[self.i] != "}":
            if kinds[self.i] == "...":
                selections.append(self.fragment_selection())
            else:
                selections.append(self.field())
        self.i += 1
        if not selections:
            raise GraphQLSyntaxError("Syntax Error: Expected Name, found \"}\".",
                                     self.starts[self.i - 1])
        self.depth -= 1
        return selections

    def field(self) -> Field:
        start = self.starts[self.i]
        name = self.name()
        alias = None
        name_start = start
        if self.kinds[self.i] == ":":
            self.i += 1
            name_start = self.starts[self.i]
            alias, name = name, self.name()
        arguments = self.arguments(const=False) if self.kinds[self.i] == "(" else []
        directives = self.directives(const=False) if self.kinds[self.i] == "@" else []
        selections = self.selection_set() if self.kinds[self.i] == "{" else None
        # The field's last token is a Name or a closing ")" or "}".
        last = self.i - 1
        end = self.starts[last] + (len(self.values[last]) if self.kinds[last] == "Name"  # type: ignore[arg-type]
                                   else 1)
        text = self.body[name_start:end]
        return Field(alias, name, arguments, directives, selections, start, self.starts[self.i],
                     self.texts.setdefault(text, text))

    def fragment_selection(self) -> Selection:
        start = self.starts[self.i]
        self.i += 1
        if self.peek("Name") and self.values[self.i] != "on":
            return FragmentSpread(self.name(), self.directives(const=False), start)
        condition = None
        type_start = 0
        if self.peek("Name"):
            self.i += 1
            type_start = self.starts[self.i]
            condition = self.name()
        directives = self.directives(const=False)
        return InlineFragment(condition, directives, self.selection_set(), start, type_start)

    def arguments(self, const: bool) -> list[Argument]:
        self.expect("(")
        found = []
        while not self.peek(")"):
            start = self.starts[self.i]
            name = self.name()
            self.expect(":")
            found.append(Argument(name, self.value(const), start))
        if not found:
            raise self.fail("Name")
        self.i += 1
        return found

    def directives(self, const: bool) -> list[Directive]:
        found = []
        while self.peek("@"):
            start = self.starts[self.i]
            self.i += 1
            name = self.name()
            arguments = self.arguments(const) if self.peek("(") else []
            found.append(Directive(name, arguments, start))
        return found

    # -- values --------------------------------------------------------------------------
    def value(self, const: bool) -> Value:
        i = self.i
        kind, value, start = self.kinds[i], self.values[i], self.starts[i]
        if kind == "$":
            if const:
                raise GraphQLSyntaxError(
                    f"Syntax Error: Unexpected variable \"${self.values[i + 1]}\" in constant "
                    "value.", start)
            self.i += 1
            return Value("variable", self.name(), start)
        if kind in ("Int", "Float"):
            self.i += 1
            return Value(kind.lower(), value, start)
        if kind == "String":
            self.i += 1
            return Value("string", value, start)
        if kind == "Name":
            self.i += 1
            if value in ("true", "false"):
                return Value("boolean", value == "true", start)
            if value == "null":
                return Value("null", None, start)
            return Value("enum", value, start)
        if kind == "[":
            self.enter()
            self.i += 1
            items = []
            while not self.peek("]"):
                if self.peek("<EOF>"):
                    raise self.fail('"]"')
                items.append(self.value(const))
            self.i += 1
            self.depth -= 1
            return Value("list", items, start)
        if kind == "{":
            self.enter()
            self.i += 1
            fields = []
            while not self.peek("}"):
                field_start = self.starts[self.i]
                name = self.name()
                self.expect(":")
                fields.append(ObjectField(name, self.value(const), field_start))
            self.i += 1
            self.depth -= 1
            return Value("object", fields, start)
        raise self.fail("a value") if kind != "<EOF>" else self.fail("a value")


def parse_operation_document(text: str) -> Document:
    """Parse ``text`` as an executable document; raise :class:`GraphQLSyntaxError`."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise GraphQLSyntaxError(
            f"Syntax Error: Document is too large ({len(text)} characters; the limit is "
            f"{MAX_DOCUMENT_CHARS}).", 0)
    source = SourceText(text)
    return _Parser(text).document(source)


#: The pure-Python parser, the reference implementation (tests compare both).
python_parse_operation_document = parse_operation_document


def _select() -> None:
    """Use the compiled twin (``_op_parse``) unless ``PLAIT_NO_EXTENSIONS=1``."""
    import os
    if os.environ.get("PLAIT_NO_EXTENSIONS", "") not in ("", "0"):
        return
    global parse_operation_document
    # An ImportError here is a build error, never a silent fallback.
    from ._op_parse import parse_operation_document as compiled
    parse_operation_document = compiled


_select()
