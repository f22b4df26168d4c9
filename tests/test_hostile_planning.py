"""Hostile documents (many aliases of one field): the mechanisms that keep planning them
cheap, and that they change no result and no error.

- the parsers store each field's signature (its text from the name on, interned);
- ``collect_fields.distinct_keys``: a level of plain fields, each key once, needs no
  merging (spec 5.3.2) and groups one field per key (spec 6.3.2), computed once per level;
- ``field_copy.aliased_shape`` (and its compiled twin) gives each other alias of a planned
  field a copy of its shape.
"""
from __future__ import annotations

import pytest

from plait.engine import extensions_disabled
from plait.planner import field_copy, load_config
from plait.planner.collect_fields import distinct_keys
from plait.planner.emit import emit
from plait.planner.op_parse import parse_operation_document, python_parse_operation_document
from plait.planner.operation import parse_and_validate
from plait.planner.plan import Planner
from plait.planner.program import SOURCE_KEY, FieldShape, LeafCoercer
from plait.planner.query_errors import RequestInvalid
from plait.planner.schema_view import SchemaView
from plait.planner.validate_document import MAX_ERRORS, validate_document

from .conftest import BENCH_CONFIG

PARSERS = [python_parse_operation_document, parse_operation_document]


@pytest.fixture(scope="module")
def view() -> SchemaView:
    return SchemaView(load_config(str(BENCH_CONFIG)))


def aliases(n: int, body: str = "posts { title }") -> str:
    return "{" + " ".join(f"a{i}: {body}" for i in range(n)) + "}"


def errors_of(view: SchemaView, text: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(e.message, e.offsets) for e in validate_document(parse_operation_document(text),
                                                              view)]


# -- signatures stored by the parsers --------------------------------------------------------
@pytest.mark.parametrize("parse", PARSERS)
def test_field_signature_is_the_text_from_the_name_on(parse) -> None:
    doc = parse('{ a : posts(x: 1) @d { title }, # note\n b: posts(x: 1) @d { title } '
                'posts(x: 1) @d { title } c: greet }')
    a, b, plain, c = doc.operations[0].selections
    assert a.signature == "posts(x: 1) @d { title }"
    assert a.signature is b.signature is plain.signature  # interned: hashed once
    assert a.selections[0].signature == "title"
    assert c.signature == "greet"


@pytest.mark.parametrize("parse", PARSERS)
def test_field_signature_keeps_what_differs(parse) -> None:
    doc = parse('{ a: posts { title } b: posts { title # c\n } c: posts { t: title } }')
    a, b, c = doc.operations[0].selections
    assert len({a.signature, b.signature, c.signature}) == 3


# -- one map per level ------------------------------------------------------------------------
def test_distinct_keys() -> None:
    doc = parse_operation_document(
        "{ a: x b: x c { d } } { a: x a: y } { x @skip(if: true) } { ...F } { x x }")
    memo: dict[int, object] = {}
    first, *others = (op.selections for op in doc.operations)
    found = distinct_keys(first, memo)
    assert found == ["a", "b", "c"]
    assert distinct_keys(first, memo) is found  # kept per document
    assert all(distinct_keys(selections, memo) is None for selections in others)


# -- errors are those of each alias alone ----------------------------------------------------
def test_repeated_error_is_reported_at_every_alias(view: SchemaView) -> None:
    text = " " + aliases(MAX_ERRORS + 20, "posts { titel }").replace("{a0:", "{ a0:")
    single = errors_of(view, "{a0: posts { titel }}")
    assert single == [('Cannot query field "titel" on type "Post". Did you mean "title"?',
                       (13,))]
    expected = [(single[0][0], (text.index(f" a{i}: posts {{ titel") + len(f" a{i}: posts {{ "),))
                for i in range(MAX_ERRORS)]
    assert errors_of(view, text) == expected


def test_one_error_among_many_clean_aliases(view: SchemaView) -> None:
    parts = [f"a{i}: posts {{ title }}" for i in range(5000)]
    parts[3000] = "a3000: posts { title(x: 1) }"
    parts.insert(4000, "a3000: posts { title }")
    text = "{" + " ".join(parts) + "}"
    at = text.index("title(x: 1)") + 6
    assert errors_of(view, text) == [('Unknown argument "x" on field "Post.title".', (at,))]


def test_conflicting_key_in_a_big_document(view: SchemaView) -> None:
    text = aliases(3000)[:-1] + " a1500: greet a1500: posts { title } }"
    first = text.index("a1500:")
    second = text.index("a1500: greet")
    assert errors_of(view, text) == [(
        'Fields "a1500" conflict because "posts" and "greet" are different fields. Use '
        "different aliases on the fields to fetch both if this was intentional.",
        (first, second))]
    # The same field under the same key twice merges without error.
    assert errors_of(view, aliases(3000)[:-1] + " a7: posts { title } }") == []


def test_conflict_below_identical_aliases(view: SchemaView) -> None:
    body = "posts { t: title t: id }"
    text = aliases(500, body)
    errors = errors_of(view, text)
    assert errors == [(
        'Fields "t" conflict because "title" and "id" are different fields. Use different '
        "aliases on the fields to fetch both if this was intentional.",
        (text.index("t: title"), text.index("t: id")))]  # the subtree is checked once


# -- planning ----------------------------------------------------------------------------------
def test_plan_of_many_aliases(view: SchemaView) -> None:
    text = aliases(2000)
    document = parse_and_validate(text, view)
    plan = Planner(view, document, {}).plan(document.operations[0])
    program = emit(plan, document.source)
    fields = plan.shape.fields
    assert len(plan.steps) == 1 and len(fields) == 2000
    nodes = document.operations[0].selections
    for i, (shape, node) in enumerate(zip(fields, nodes)):
        assert (shape.key, shape.response_key, shape.offset, shape.node) == (
            f'"a{i}":'.encode(), f"a{i}", node.start, node)
        assert shape.object is fields[0].object and shape.source_arg == fields[0].source_arg
    assert program.shape is plan.shape


def test_duplicate_keys_still_plan_merged(view: SchemaView) -> None:
    document = parse_and_validate("{ a: posts { id } a: posts { title } b: posts { id } }", view)
    plan = Planner(view, document, {}).plan(document.operations[0])
    a, b = plan.shape.fields
    assert [f.response_key for f in a.object.fields] == ["id", "title"]
    assert [f.response_key for f in b.object.fields] == ["id"]
    assert len(plan.steps) == 2


def test_invalid_big_document_raises_every_error(view: SchemaView) -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_and_validate(aliases(300, "posts { nope }"), view)
    assert len(info.value.errors) == MAX_ERRORS


# -- the compiled copy against the reference ----------------------------------------------------
def shapes() -> list[FieldShape]:
    leaf = LeafCoercer("String", "String")
    doc = parse_operation_document("{ a: posts { title } }")
    node = doc.operations[0].selections[0]
    return [FieldShape(b'"x":', "x", SOURCE_KEY, "title", None, 3, leaf, None, None, node,  # type: ignore[arg-type]
                       "Post"),
            FieldShape(b'"y":', "y", 2, 0, None, 0)]  # type: ignore[arg-type]


@pytest.mark.skipif(extensions_disabled(), reason="PLAIT_NO_EXTENSIONS=1: reference only")
@pytest.mark.parametrize("response_key", ["b", "_a1", "Zz_9", "é", 'q"', "a b"])
def test_compiled_copy_equals_reference(response_key: str) -> None:
    from plait.planner import _field_copy

    assert _field_copy.fast_copy() and field_copy.aliased_shape is _field_copy.aliased_shape
    node = parse_operation_document("{ b: posts { title } }").operations[0].selections[0]
    for planned in shapes():
        made = _field_copy.aliased_shape(planned, response_key, node)
        expected = field_copy.python_aliased_shape(planned, response_key, node)
        assert type(made) is FieldShape and made == expected
        for name in FieldShape.__slots__:
            if name not in ("key", "response_key", "offset", "node"):
                assert getattr(made, name) is getattr(planned, name)
        assert made.node is node and made.offset == node.start
        made.leaf = None  # a copy, not a view
        assert planned.leaf is not None or planned.source == 2


def test_typename_aliases_are_built_per_key(view: SchemaView) -> None:
    document = parse_and_validate("{ a: __typename b: __typename }", view)
    a, b = Planner(view, document, {}).plan(document.operations[0]).shape.fields
    assert (a.key, b.key, a.node, b.node, a.offset, b.offset) == (b'"a":', b'"b":', None, None,
                                                                  2, 16)
