"""The compiled operation parser (``_op_parse``) against the pure-Python reference.

Every document of the corpus, every prefix of a few rich documents and a few thousand
seeded random mutations must give the same AST (same node classes, field values, offsets
and value types) or the same error (class, message, offset) from both parsers.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import random
import subprocess
import sys

import pytest

from plait.engine import extensions_disabled
from plait.planner import op_parse
from plait.planner.op_parse import GraphQLSyntaxError, python_parse_operation_document

from .conftest import REPO

pytestmark = pytest.mark.skipif(
    extensions_disabled(), reason="PLAIT_NO_EXTENSIONS=1 selects the pure-Python parser only")

D = op_parse.MAX_DEPTH


def nested(open_: str, inner: str, close: str, n: int) -> str:
    return open_ * n + inner + close * n


VALID = [
    # operations
    "{ a }",
    "{a}",
    "query { a }",
    "query Q { a }",
    "mutation M { a }",
    "subscription S { a }",
    "query ($a: Int) { a }",
    "query @dir { a }",
    "query query { query }",
    "{ a } query Q { b } { c }",
    "query Q($a: Int, $b: [String!]! = [\"x\"], $c: In = {x: 1, y: [1, 2.5, -3e4]}) "
    "{ f(a: $a) }",
    "query Q($a: Int = 1 @dir(x: 1) @other, $b: Boolean! = false) @op(a: true) @op2 { a }",
    "query Q($a: Int = 1 $b: [[Int!]!]) { a }",
    "query Q($query: ID, $on: ID = null) { a(on: $on) }",
    "query Q($a: Int = 1) @d(x: $v) { a }",
    # selections
    "{ x: a y: b(c: 1) { z: d } }",
    "{ _a1: __typename __schema { types { name } } }",
    "{ query mutation subscription fragment on true false null type schema }",
    "{ a @x @y(z: 1) b: c(d: 2) @e { f } }",
    "{ a { b { c { d { e } } } } }",
    # values of every kind
    "{ f(i: 0, n: -12, f: 1.5, e: 1e10, E: -1.25E-3, p: 6.02e+23, z0: -0, z1: -0.0, "
    "s: \"str\", b: true, c: false, z: null, en: RED, l: [1, \"a\", [true]], "
    "o: {a: {b: [{c: null}]}}, v: $var, empty: [], eo: {}) }",
    "{ f(big: 123456789012345678901234567890, neg: -98765432109876543210, tiny: 1e-400, "
    "huge: 1e400, d: 0.5e-0) }",
    "{ f(a: on, b: query, c: fragment, d: TRUE, e: Null) }",
    "{ f(o: {a: 1, a: 2}, l: [[[]], [{}]]) }",
    "{ f(x: [$a, {b: $c}]) }",
    # strings
    "{ f(s: \"\") }",
    "{ f(s: \"a\\nb\\t\\\"q\\\" \\\\ \\/ \\b\\f\\r\") }",
    "{ f(s: \"\\u00e9\\u0041\\u00E9\") }",
    "{ f(s: \"\\ud83d\\ude00 \\uD83D\\uDE00\") }",
    "{ f(s: \"\\ud800 lone\") }",
    "{ f(s: \"h\u00e9llo \u2713 \U0001f600\") }",
    "{ f(s: \"tab\there # , not a comment\") }",
    "{ f(s: \"\ufeff\") }",
    # block strings
    "{ f(s: \"\"\"simple\"\"\") }",
    "{ f(s: \"\"\"\"\"\") }",
    "{ f(s: \"\"\"\n    line1\n      line2\n\n    line3\n  \"\"\") }",
    "{ f(s: \"\"\"first\n    second\n      third\"\"\") }",
    "{ f(s: \"\"\"a \\\"\"\" b\"\"\") }",
    "{ f(s: \"\"\"a \\\\\"\"\" b\"\"\") }",
    "{ f(s: \"\"\"a \"b\" \"\"c\"\" d\"\"\") }",
    "{ f(s: \"\"\"\r\n  a\r\n  b\r\n\"\"\") }",
    "{ f(s: \"\"\"\r  a\r    b\r\"\"\") }",
    "{ f(s: \"\"\"\n\t\ta\n\t\tb\n\"\"\") }",
    "{ f(s: \"\"\"   \n   \n  \"\"\") }",
    "{ f(s: \"\"\"a\\nb \\u0041\"\"\") }",
    "{ f(s: \"\"\"  \u2713 \U0001f600\n   \u00e9\"\"\") }",
    "{ f(s: \"\"\"\n   ok\n\"\"\", t: \"\"\"two\"\"\") }",
    # ignored tokens
    "# comment\n{ a # trailing\n b }#end",
    "# \u2713 \U0001f600\r{ a }",
    "{ a,, b, c(x: 1,, y: 2) ,}",
    ",,,{,a,},,,",
    "\ufeff{ a }",
    "{ a \ufeff b }",
    "\t{\r\na\r\tb\n}\n\n",
    # fragments
    "fragment F on T { a } { ...F }",
    "{ ...F @include(if: $x) @skip(if: false) } fragment F on T @d { a }",
    "{ ... on T { a } ... @skip(if: true) { b } ... { c } }",
    "{ ...on T { a } ...onion }",
    "{ ... on on { a } }",
    "fragment onX on T { a }",
    "fragment F on on { a }",
    "fragment query on query { query }",
    # type-system definitions (skipped, reported as non-executable)
    "type T { a: Int } { a } schema { query: Q } scalar S enum E { A B }",
    "\"desc\" type X { y: Int } extend type T @d input I { a: Int = 1 }",
    "directive @d(a: [Int] = [1]) repeatable on FIELD | QUERY union U = A | B { a }",
    "interface I2 implements I & J { a(x: Int): [T!]! } query { a }",
    "\"desc\" query { a }",
    "\"\"\"block description\"\"\" type T { a: Int }",
    "type T { a: Int }",
    "extend schema @x { a }",
    "scalar X ) } { a } query Q { b }",
    "enum E { A } query { a } type",
    "\"\"\"\"",
    "schema { query: Q } fragment F on T { a } mutation { m }",
    # nesting at the limit
    nested("{ a ", "", "}", D),
    "{ f(x: " + nested("[", "", "]", D - 1) + ") }",
    "{ f(x: " + nested("{a: ", "1", "}", D - 1) + ") }",
    "query ($a: " + nested("[", "Int", "]", D - 1) + ") { a }",
    "query ($a: " + nested("[", "Int!", "]!", D - 1) + ") { a }",
    "query ($a: Int = " + nested("[", "", "]", D) + ") { a }",
    nested("{ a ", "f(x: [[1]])", "}", D - 2),
]

INVALID = [
    # empty
    "",
    "   ",
    "# only a comment",
    "\ufeff",
    ",,,",
    # unexpected end of document
    "{",
    "{ a",
    "{ a {",
    "{ a(",
    "{ a(x",
    "{ a(x:",
    "{ a(x: 1",
    "{ a(x: [1",
    "{ a(x: {b",
    "{ a(x: {b: 1",
    "{ a(x: true",
    "{ a @",
    "{ a @d(",
    "{ a:",
    "{ ...",
    "{ ... on",
    "{ ... on T",
    "query",
    "query Q",
    "query Q(",
    "query Q($",
    "query Q($a",
    "query Q($a:",
    "query Q($a: [Int",
    "query Q($a: Int =",
    "query Q($a: Int)",
    "query Q @",
    "subscription",
    "fragment",
    "fragment F",
    "fragment F on",
    "fragment F on T",
    "query Q { a } fragment",
    # top level
    "a { b }",
    "{ a } }",
    "[",
    "123",
    "1.5e3",
    "-0",
    "$",
    "& |",
    "{ a } ...",
    "query Q { a } 12",
    "1 \"s\"",
    # operations and variables
    "query Q() { a }",
    "query Q($) { a }",
    "query Q($a) { a }",
    "query Q($a:) { a }",
    "query Q(a: Int) { a }",
    "query Q($a: [Int) { a }",
    "query Q($a: Int!!) { a }",
    "query Q($a: !Int) { a }",
    "query Q($a: Int = $b) { a }",
    "query Q($a: Int = [$b]) { a }",
    "query Q($a: Int = {x: $b}) { a }",
    "query Q($a: Int = $) { a }",
    "query Q($a: Int = $",
    "query Q($a: Int = $1) { a }",
    "query Q($a: Int = $\"s\\n\") { a }",
    "query Q($a: Int = $1.5e1) { a }",
    "query Q($a: Int = $...) { a }",
    "query Q($a: Int @d(x: $v)) { a }",
    "query Q { }",
    "query Q a",
    "mutation { a } query Q ($a: Int) ( { a }",
    # fragments
    "fragment { a }",
    "fragment on on X { a }",
    "fragment on T { a }",
    "fragment F X { a }",
    "fragment F on { a }",
    "fragment F on T a",
    "fragment F($a: Int) on T { a }",
    "fragment F on T @d(x: ) { a }",
    "{ ... }",
    "{ ... on }",
    "{ ... on on on X { a } }",
    "{ ...F( }",
    "{ ...F @ }",
    "{ ...1 }",
    # selections
    "{}",
    "{ a { } }",
    "{ a() }",
    "{ a(: 1) }",
    "{ a(x 1) }",
    "{ a(x: ) }",
    "{ a(x: 1 }",
    "{ a: }",
    "{ a: b: c }",
    "{ a: 1 }",
    "{ \"s\" }",
    "{ a @1 }",
    "{ a ( ) { b } }",
    # values
    "{ a(x: [1, 2) }",
    "{ a(x: {b 1}) }",
    "{ a(x: {1: 2}) }",
    "{ a(x: {b: }) }",
    "{ a(x: $) }",
    "{ a(x: $1) }",
    "{ f(x: @) }",
    "{ f(x: ...) }",
    "{ f(x: \"s\" }",
    "{ f(x: ]) }",
    "{ f(x: }) }",
    # numbers
    "123abc",
    "{ a(x: 123abc) }",
    "{ a(x: 1.) }",
    "{ a(x: 1.e5) }",
    "{ a(x: 1e) }",
    "{ a(x: 1e+) }",
    "{ a(x: 1.5e) }",
    "{ a(x: 0x1) }",
    "{ a(x: 1_000) }",
    "{ a(x: 01) }",
    "{ a(x: 00.5) }",
    "{ a(x: -) }",
    "{ a(x: -a) }",
    "{ a(x: --1) }",
    "{ a(x: 1..2) }",
    "{ a(x: .5) }",
    "{ a(x: 1.5.3) }",
    "{ a(x: 1e5e) }",
    "{ a(x: 1e5.) }",
    "{ a(x: 12",
    "{ a(x: -",
    # characters
    "{ ..a }",
    "{ a . }",
    "{ a .. }",
    "{ a ? }",
    "{ a \x00 }",
    "{ a ; }",
    "{ a % }",
    "{ a ' }",
    "{ a \\ }",
    "{ a \u00e9 }",
    "{ \U0001f600 }",
    "{ \ud800 }",
    "{ a \u00a0 }",
    "{ a \x0b }",
    "} ?",
    # strings
    "{ a(x: \"abc) }",
    "{ a(x: \"ab\ncd\") }",
    "{ a(x: \"ab\rcd\") }",
    "{ a(x: \"ab\\q\") }",
    "{ a(x: \"\\u12\") }",
    "{ a(x: \"\\u12G4\") }",
    "{ a(x: \"\\U0041\") }",
    "{ a(x: \"abc\\",
    "{ a(x: \"abc\\\"",
    "{ a(x: \"",
    "\"",
    "{ a(x: \"\"\"abc) }",
    "{ a(x: \"\"\"abc\") }",
    "{ a(x: \"\"\"",
    "{ a(x: \"\"\"abc \\\"\"\" def) }",
    "{ a(x: \"\"\"a \\\"\"\" b \\\"\"\" c",
    "{ a(x: \"\"\"a \\\"\"\" b \\\"\"\" c \"\"\" d) }",
    "{ f(s: \"\"\"x\"\"\"\"\") }",
    "{ a(x: \"a\tb\\n\") }",
    "{ a(x: \"\\ud83d\\u\") }",
    # nesting over the limit
    nested("{ a ", "", "}", D + 1),
    nested("{ a ", "", "}", 10 * D),
    "{ f(x: " + nested("[", "", "]", D) + ") }",
    "{ f(x: " + nested("{a: ", "1", "}", D) + ") }",
    "{ f(x: " + nested("[{a: ", "1", "}]", D) + ") }",
    "query ($a: Int = " + nested("[", "", "]", D + 1) + ") { a }",
    "query ($a: " + nested("[", "Int", "]", D) + ") { a }",
    "query ($a: " + nested("[", "Int!", "]!", D) + ") { a }",
    nested("{ a ", "f(x: [[1]])", "}", D - 1),
    nested("{ ... on T { a ", "", "} }", D),
    nested("{ a ", "", "}", D + 1) + " ?",
]


# -- comparison helpers --------------------------------------------------------------------
def snapshot(node: object) -> object:
    """A structural copy that also records every class (so 1 != 1.0 != True)."""
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,
                tuple((f.name, snapshot(getattr(node, f.name))) for f in dataclasses.fields(node)))
    if isinstance(node, (list, tuple)):
        return (type(node).__name__, tuple(snapshot(item) for item in node))
    if isinstance(node, float):
        return ("float", repr(node))
    return (type(node).__name__, node)


def containers(node: object, found: list[object]) -> list[object]:
    if dataclasses.is_dataclass(node):
        found.append(node)
        for f in dataclasses.fields(node):
            containers(getattr(node, f.name), found)
    elif isinstance(node, list):
        found.append(node)
        for item in node:
            containers(item, found)
    return found


def outcome(parse, text: str) -> tuple:
    try:
        doc = parse(text)
    except GraphQLSyntaxError as exc:
        assert exc.args == (exc.message,)
        return ("error", exc.message, exc.offset)
    except Exception as exc:  # e.g. json.loads on a string with a raw control character
        return ("exception", type(exc), str(exc))
    assert type(doc.source).__name__ == "SourceText" and doc.source.body is text
    nodes = containers(doc.operations, []) + containers(doc.fragments, [])
    assert len({id(n) for n in nodes}) == len(nodes), "a node or list is shared"
    return ("ok", snapshot(doc.operations), snapshot(doc.fragments),
            snapshot(doc.non_executable), doc.operations, doc.fragments, doc.non_executable)


@pytest.fixture(scope="module")
def compiled_module():
    from plait.planner import _op_parse
    return _op_parse


@pytest.fixture(params=["fast", "constructors"])
def compiled(request, compiled_module):
    """The compiled parser, building nodes by filling slots and by calling the classes."""
    previous = compiled_module.fast_construction()
    compiled_module._set_fast_construction(request.param == "fast")
    assert compiled_module.fast_construction() == (request.param == "fast")
    yield compiled_module.parse_operation_document
    compiled_module._set_fast_construction(previous)


def assert_same(compiled, text: str) -> tuple:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # comparing ASTs nested MAX_DEPTH levels
    try:
        expected = outcome(python_parse_operation_document, text)
        assert outcome(compiled, text) == expected, text
    finally:
        sys.setrecursionlimit(limit)
    return expected


# -- the corpus ------------------------------------------------------------------------------
def test_corpus_size() -> None:
    assert len(VALID) >= 60 and len(INVALID) >= 60


@pytest.mark.parametrize("text", VALID, ids=range(len(VALID)))
def test_valid_documents(compiled, text: str) -> None:
    result = assert_same(compiled, text)
    assert result[0] == "ok", result


@pytest.mark.parametrize("text", INVALID, ids=range(len(INVALID)))
def test_invalid_documents(compiled, text: str) -> None:
    result = assert_same(compiled, text)
    assert result[0] != "ok", result


def test_errors_read_as_expected(compiled) -> None:
    """Spot checks that the shared behaviour is the intended one."""
    def error(text: str) -> tuple[str, int]:
        with pytest.raises(GraphQLSyntaxError) as info:
            compiled(text)
        return info.value.message, info.value.offset

    assert error("123abc") == ("Syntax Error: Invalid number, unexpected 'a'.", 3)
    assert error("fragment on on X { a }") == ('Syntax Error: Unexpected Name "on".', 9)
    assert error("{ a(x: \"abc) }") == ("Syntax Error: Unterminated string.", 7)
    assert error("{ a(x: \"\"\"abc) }") == ("Syntax Error: Unterminated string.", 9)
    assert error("{ a ? }") == ("Syntax Error: Unexpected character '?'.", 4)
    assert error("{}") == ('Syntax Error: Expected Name, found "}".', 1)
    assert error("query Q($a: Int = $b) { a }") == (
        'Syntax Error: Unexpected variable "$b" in constant value.', 18)
    assert error("query Q($a: Int = $") == (
        'Syntax Error: Unexpected variable "$None" in constant value.', 18)
    assert error("1.5e3") == (
        'Syntax Error: Expected an operation or fragment, found Float "1500.0".', 0)
    assert error(nested("{ a ", "", "}", D + 1)) == (
        f"Syntax Error: Document is nested too deeply (more than {D} levels).", 4 * D)
    assert error("} ?") == ("Syntax Error: Unexpected character '?'.", 2)


def test_values_decoded(compiled) -> None:
    doc = compiled('{ f(a: "\\ud83d\\ude00", b: """\n    x\n      y\n  """, c: 10, d: 1e1) }')
    args = {arg.name: arg.value for arg in doc.operations[0].selections[0].arguments}
    assert args["a"].value == "\U0001f600"
    assert args["b"].value == "x\n  y"
    assert args["c"].value == 10 and type(args["c"].value) is int
    assert args["d"].value == 10.0 and type(args["d"].value) is float
    doc = compiled("fragment F on T { ... on U { a } } type X { a: Int }")
    fragment = doc.fragments[0]
    assert (fragment.start, fragment.type_start) == (0, 14)
    assert fragment.selections[0].type_start == 25
    assert doc.non_executable == [("The type definition is not executable.", 35)]


# -- prefixes and mutations ------------------------------------------------------------------
RICH = [
    "query Q($a: Int = 1, $b: [String!]! = [\"x\", \"\"\"y\"\"\"], $c: In = {k: [1.5, -2e3, $z]})"
    " @op(a: true) { x: f(a: $a, s: \"\\u00e9\\n\", e: RED, n: null) @d { ...F ... on T "
    "{ g } ... @skip(if: false) { h } } } fragment F on T { i # c\n }",
    "\ufeff# head\n\"desc\" type T { a(x: Int = 1): [T!]! } { a, b: c(d: {e: [[]]}) } "
    "subscription S { s } fragment G on on { j }",
    "{ f(s: \"\"\"\n   one \\\"\"\" two\n     three\n\"\"\", t: \"a\\\"b\") }",
]


def test_every_prefix(compiled) -> None:
    for text in RICH:
        for end in range(len(text) + 1):
            assert_same(compiled, text[:end])
            assert_same(compiled, text[end:])


ALPHABET = list("{}()[]:=@!$&|.\"\\,# \n\r\t-+eE0129_aZ") + [
    '"""', "...", "on ", "\ufeff", "\u00e9", "\U0001f600", "\\u00", "\\ud83d", "query ",
    "fragment ", "type ", "$x", "1.5", "true"]


def test_random_mutations(compiled) -> None:
    rng = random.Random(20240611)
    sources = VALID[:-6] + INVALID[:-12] + RICH
    for _ in range(3000):
        text = rng.choice(sources)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            action = rng.random()
            if action < 0.4:
                text = text[:at] + rng.choice(ALPHABET) + text[at:]
            elif action < 0.8:
                text = text[:at] + text[at + rng.randint(1, 3):]
            else:
                size = rng.randint(1, 12)
                text = text[:at] + text[at:at + size] * 2 + text[at + size:]
        assert_same(compiled, text)


# -- size limits -------------------------------------------------------------------------------
def test_token_limit(compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(op_parse, "MAX_TOKENS", 10)
    assert assert_same(compiled, "{ a b c d e f g h }")[0] == "ok"  # 10 tokens
    for text in ["{ a b c d e f g h i }", "{ a b c d e f g h i ?", "{ a b c d e f g \"\"\"x",
                 "{ a(b: [1, 2, 3, 4, 5, 6]) }", "{ a b c d e f g h 1x }"]:
        assert assert_same(compiled, text)[0] == "error"
    assert outcome(compiled, "{ a b c d e f g h i }")[1:] == (
        "Syntax Error: Document contains more than 10 tokens.", 20)


def test_document_size_limit(compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(op_parse, "MAX_DOCUMENT_CHARS", 9)
    assert assert_same(compiled, "{ a b c }")[0] == "ok"
    assert assert_same(compiled, "{ a b c  }")[1:] == (
        "Syntax Error: Document is too large (10 characters; the limit is 9).", 0)
    assert assert_same(compiled, "?" * 10)[0] == "error"


def test_depth_limit_is_read_per_call(compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(op_parse, "MAX_DEPTH", 3)
    assert assert_same(compiled, "{ a { b { c } } }")[0] == "ok"
    for text in ["{ a { b { c { d } } } }", "{ a(x: [[[1]]]) }", "{ a { b(x: {c: {d: 1}}) } }",
                 "query ($a: [[[Int]]]) { a }", "query ($a: [Int] = [[[[1]]]]) { a }"]:
        assert assert_same(compiled, text)[0] == "error"


def test_real_limits(compiled) -> None:
    limit = op_parse.MAX_DOCUMENT_CHARS
    assert assert_same(compiled, " " * (limit + 1))[1:] == (
        f"Syntax Error: Document is too large ({limit + 1} characters; the limit is {limit}).",
        0)
    assert assert_same(compiled, " " * limit)[1:] == (
        "Syntax Error: Expected an operation or fragment, found <EOF>.", limit)
    tokens = op_parse.MAX_TOKENS
    text = "{" + " a" * (tokens - 1) + " ?"  # token number MAX_TOKENS + 1 is "?"
    with pytest.raises(GraphQLSyntaxError) as info:
        compiled(text)
    assert (info.value.message, info.value.offset) == (
        "Syntax Error: Unexpected character '?'.", len(text) - 1)
    text = "{" + " a" * tokens + "}"
    with pytest.raises(GraphQLSyntaxError) as info:
        compiled(text)
    assert (info.value.message, info.value.offset) == (
        f"Syntax Error: Document contains more than {tokens} tokens.", len(text) - 2)


def test_hostile_aliases_document(compiled) -> None:
    text = "{" + " ".join(f"a{i}: posts {{ title }}" for i in range(20_000)) + "}"
    assert assert_same(compiled, text)[0] == "ok"


# -- inputs, the garbage collector and selection ---------------------------------------------
def test_other_inputs(compiled) -> None:
    class Text(str):
        pass

    assert assert_same(compiled, Text("{ a(x: \"y\") }"))[0] == "ok"
    for bad in (b"{ a }", None, 1):
        with pytest.raises(TypeError):
            python_parse_operation_document(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            compiled(bad)


def test_collector_state_is_restored(compiled) -> None:
    assert gc.isenabled()
    compiled("{ a }")
    assert gc.isenabled()
    with pytest.raises(GraphQLSyntaxError):
        compiled("{ a ?")
    assert gc.isenabled()
    with pytest.raises(GraphQLSyntaxError, match="Invalid character within String"):
        compiled('{ a(x: "\t\\n") }')
    assert gc.isenabled()
    gc.disable()
    try:
        compiled("{ a }")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fast_construction_is_in_use(compiled_module) -> None:
    assert compiled_module.fast_construction()


def test_compiled_parser_is_selected(compiled_module) -> None:
    from plait.planner import operation

    assert op_parse.parse_operation_document is compiled_module.parse_operation_document
    assert operation.parse_operation_document is compiled_module.parse_operation_document
    assert python_parse_operation_document is not compiled_module.parse_operation_document
    assert python_parse_operation_document.__module__ == "plait.planner.op_parse"


@pytest.mark.parametrize("setting, expected", [("1", "python"), ("0", "compiled"),
                                               ("", "compiled")])
def test_no_extensions_switch(setting: str, expected: str) -> None:
    code = ("from plait.planner import op_parse as m; "
            "print('python' if m.parse_operation_document is "
            "m.python_parse_operation_document else 'compiled')")
    env = {**os.environ, "PLAIT_NO_EXTENSIONS": setting}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=REPO, check=True)
    assert result.stdout.strip() == expected


def test_compiled_module_can_be_imported_first() -> None:
    code = ("import plait.planner._op_parse as c, plait.planner.op_parse as m; "
            "assert m.parse_operation_document is c.parse_operation_document; "
            "print(len(c.parse_operation_document('{ a }').operations))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, check=True)
    assert result.stdout.strip() == "1"
