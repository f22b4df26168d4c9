"""Introspection (spec 4.5): ``plait.planner.introspect`` against graphql-core's executor."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import graphql
import pytest
from graphql.language.print_string import print_string as core_print_string

from plait.planner import introspect, load_config, load_config_string
from plait.planner.introspect import Budget, js_number, print_string, resolve_introspection
from plait.planner.model import SPEC_SCALARS
from plait.planner.op_ast import Field, InlineFragment
from plait.planner.operation import parse_and_validate, select_operation
from plait.planner.query_errors import QueryError
from plait.planner.schema_view import SchemaView

from .conftest import CONFIGS, REPO

FULL_QUERY = graphql.get_introspection_query(
    descriptions=True, specified_by_url=True, directive_is_repeatable=True,
    schema_description=True, input_value_deprecation=True)

# Only features both plait and graphql-core understand. Defaults are limited to literals
# that graphql-js 16 (which plait follows) and graphql-core 3.3 (which prints defaults as
# written, like graphql-js 17) print the same way; see test_default_value_printing.
CONFIG = '''
schema @server(port: 8000) { query: Query mutation: Mutation }

"""A node with an id."""
interface Node { id: ID! }

"An entity with a name"
interface Named implements Node { id: ID! name: String }

"""
A person.
Two lines.
"""
type User implements Node & Named {
  id: ID!
  name: String
  "Old name"
  login: String @deprecated(reason: "use name")
  legacy: Int @deprecated
  friends(first: Int = 10, after: String = "x", order: Order = ASC, flags: [Int!] = [1, 2],
          "an old argument" old: Boolean @deprecated(reason: "gone")): [User!]!
  matrix: [[Float!]]!
}

type Post implements Node { id: ID! title: String! author: User }

union SearchResult = User | Post

enum Order {
  "ascending"
  ASC
  DESC @deprecated(reason: "use ASC")
  RANDOM @deprecated
}

"""Filter for searches."""
input Filter {
  "text to look for"
  text: String = "any"
  limit: Int! = 5
  order: Order = DESC
  tags: [String!] = ["a", "b"]
  nested: Inner
  old: String @deprecated(reason: "unused")
}

input Inner { flag: Boolean = true, ratio: Float }

"An RFC 4122 id"
scalar Uuid @specifiedBy(url: "https://tools.ietf.org/html/rfc4122")

type Query {
  "Look a user up"
  user(id: ID!): User @http(url: "http://h/users/{{.args.id}}")
  search(filter: Filter, uuid: Uuid): [SearchResult] @http(url: "http://h/search")
  node(id: ID!): Node @http(url: "http://h/nodes/{{.args.id}}")
  answer: Int! @expr(body: 42)
}

type Mutation {
  rename(id: ID!, name: String!): User @http(url: "http://h/u", method: POST)
}
'''

KEEP_DIRECTIVES = {"deprecated", "specifiedBy"}


def graphql_core_sdl(config: str) -> str:
    """The config without plait's directives (``@http``, ``@server``, ...)."""

    class Strip(graphql.Visitor):
        def enter_directive(self, node: graphql.DirectiveNode, *_args: Any) -> object:
            return None if node.name.value in KEEP_DIRECTIVES else graphql.REMOVE

    return graphql.print_ast(graphql.visit(graphql.parse(config), Strip()))


def view_of(config: str) -> SchemaView:
    return SchemaView(load_config_string(config))


def run(view: SchemaView, query: str, variables: dict[str, object] | None = None,
        ) -> dict[str, object]:
    """Execute every root selection of ``query`` (all introspection meta-fields)."""
    document = parse_and_validate(query, view)
    operation = select_operation(document, None)
    fragments = {f.name: f for f in document.fragments}
    result: dict[str, object] = {}
    for selection in operation.selections:
        assert isinstance(selection, Field)
        result[selection.response_key] = resolve_introspection(
            selection, view, fragments, variables or {})
    return result


def core_run(sdl: str, query: str, variables: dict[str, object] | None = None,
             ) -> dict[str, Any]:
    result = graphql.graphql_sync(graphql.build_schema(sdl), query,
                                  variable_values=variables)
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


# -- the standard introspection query ----------------------------------------------------
MINIMAL = '''
type Query { "hi" hello(name: String = "you"): String @expr(body: "hi") }
'''


@pytest.mark.parametrize("config", [CONFIG, MINIMAL], ids=["full", "minimal"])
def test_full_introspection_matches_graphql_core(config: str) -> None:
    view = view_of(config)
    ours = run(view, FULL_QUERY)["__schema"]
    theirs = copy.deepcopy(core_run(graphql_core_sdl(config), FULL_QUERY)["__schema"])
    assert isinstance(ours, dict)

    our_types = by_name(ours.pop("types"))
    their_types = by_name(theirs.pop("types"))
    ours.pop("directives")
    theirs.pop("directives")  # compared in test_directives_match_graphql_js_16
    assert json.dumps(ours) == json.dumps(theirs)  # key order too

    # plait's view always lists String, Boolean, Int, Float and ID (and the used
    # scalars); graphql-core lists only the scalars the schema references. The only
    # adjustment: drop spec scalars graphql-core does not list. plait's built-in scalars
    # also carry no description (graphql-core has the spec's wording), so those are
    # compared without it.
    for name in SPEC_SCALARS:
        if name not in their_types:
            assert our_types.pop(name)["kind"] == "SCALAR"
        else:
            their_types[name]["description"] = None
    # The introspection types themselves are compared in
    # test_introspection_types_match_their_sdl: graphql-core 3.3 already has the
    # graphql-js 17 additions (and descriptions) plait's graphql-js 16 set lacks.
    our_types = {n: t for n, t in our_types.items() if not n.startswith("__")}
    their_types = {n: t for n, t in their_types.items() if not n.startswith("__")}
    assert sorted(our_types) == sorted(their_types)
    for name, their_type in their_types.items():
        assert our_types[name] == their_type, name
        assert json.dumps(our_types[name]) == json.dumps(their_type), name  # key order


@pytest.mark.parametrize("path", [*sorted((REPO / "examples").glob("*.graphql")),
                                  *sorted((CONFIGS / "good").glob("*.graphql"))],
                         ids=lambda p: p.name)
def test_full_introspection_of_bundled_configs(path: Path) -> None:
    """Every bundled config answers the full query with every type of its view, as JSON."""
    view = SchemaView(load_config(str(path)))
    data = run(view, FULL_QUERY)
    assert json.loads(json.dumps(data)) == data
    schema = data["__schema"]
    assert [t["name"] for t in schema["types"]] == list(view.types)  # type: ignore
    assert schema["queryType"]["name"] == view.query  # type: ignore


def test_introspection_types_match_their_sdl() -> None:
    """plait's ``__`` types, introspected, equal graphql-core's answer for the same SDL
    (``planner/introspection.graphql``, renamed so graphql-core treats it as user types)."""
    text = (Path(introspect.__file__).parent / "introspection.graphql").read_text()
    renamed = re.sub(r"\b__(\w+)", r"Intro_\1", text) + "\ntype Query { x: Int }\n"
    theirs = by_name(core_run(renamed, FULL_QUERY)["__schema"]["types"])
    ours = by_name(run(view_of(CONFIG), FULL_QUERY)["__schema"]["types"])  # type: ignore
    names = [n for n in ours if n.startswith("__")]
    assert sorted(names) == ["__Directive", "__DirectiveLocation", "__EnumValue", "__Field",
                             "__InputValue", "__Schema", "__Type", "__TypeKind"]
    for name in names:
        expected = eval(repr(theirs["Intro_" + name[2:]]).replace("'Intro_", "'__"))
        assert ours[name] == expected, name


def test_directives_match_graphql_js_16() -> None:
    ours = by_name(run(view_of(CONFIG), FULL_QUERY)["__schema"]["directives"])  # type: ignore
    theirs = by_name(core_run(graphql_core_sdl(CONFIG), FULL_QUERY)["__schema"]["directives"])
    # graphql-core 3.3 follows graphql-js 17 here: @oneOf, @deprecated on directive
    # definitions with a non-null reason. graphql-js 16 has neither; undo those. plait
    # words the descriptions its own way, so they are compared for presence only.
    del theirs["oneOf"]
    theirs["deprecated"]["locations"].remove("DIRECTIVE_DEFINITION")
    reason = theirs["deprecated"]["args"][0]
    assert reason["type"] == {"kind": "NON_NULL", "name": None,
                              "ofType": {"kind": "SCALAR", "name": "String", "ofType": None}}
    reason["type"] = reason["type"]["ofType"]
    for directives in (ours, theirs):
        for directive in directives.values():
            assert directive.pop("description")
            for arg in directive["args"]:
                assert arg.pop("description")
    assert list(ours) == ["skip", "include", "deprecated", "specifiedBy"]
    assert ours == theirs


def test_full_introspection_of_renamed_and_omitted_fields() -> None:
    config = '''
    type Query {
      user: User @http(url: "http://h/u")
    }
    type User {
      id: ID!
      name: String @modify(name: "fullName")
      password: String @omit
    }
    '''
    sdl = '''
    type Query { user: User }
    type User { id: ID! fullName: String }
    '''
    ours = run(view_of(config), FULL_QUERY)["__schema"]["types"]  # type: ignore
    theirs = core_run(sdl, FULL_QUERY)["__schema"]["types"]
    assert by_name(ours)["User"] == by_name(theirs)["User"]  # type: ignore


# -- focused behaviour ---------------------------------------------------------------------
SMALL = '''
type Query {
  item(id: Int = 3): Item @http(url: "http://h/x")
  colour(c: Colour = RED): Colour @expr(body: "RED")
}
type Item { id: ID!, label: String @modify(name: "title"), hidden: Int @omit,
            old: Int @deprecated(reason: "no"), tags: [[String!]]! }
enum Colour { RED, GREEN @deprecated(reason: "ugly"), BLUE }
'''


@pytest.fixture(scope="module")
def small() -> SchemaView:
    return view_of(SMALL)


def test_aliases_and_repeated_fields_merge(small: SchemaView) -> None:
    data = run(small, '''{
      t: __type(name: "Item") { n: name k: kind name fields { name } fields { type { name } } }
    }''')
    assert data == {"t": {"n": "Item", "k": "OBJECT", "name": "Item", "fields": [
        {"name": "id", "type": {"name": None}},
        {"name": "title", "type": {"name": "String"}},
        {"name": "tags", "type": {"name": None}},
    ]}}
    assert list(data["t"]) == ["n", "k", "name", "fields"]  # type: ignore


def test_fragments_on_type(small: SchemaView) -> None:
    data = run(small, '''
      query { __type(name: "Colour") { ...Basics ... on __Type { enumValues { name } }
                                        ... { description } } }
      fragment Basics on __Type { kind name ...Basics2 }
      fragment Basics2 on __Type { name specifiedByURL }
    ''')
    assert data == {"__type": {"kind": "ENUM", "name": "Colour", "specifiedByURL": None,
                               "enumValues": [{"name": "RED"}, {"name": "BLUE"}],
                               "description": None}}


def test_skip_and_include_with_variables(small: SchemaView) -> None:
    query = '''query ($yes: Boolean!, $no: Boolean!) { __type(name: "Item") {
      a: name @include(if: $yes)
      b: name @include(if: $no)
      c: name @skip(if: $yes)
      d: name @skip(if: $no)
      e: name @skip(if: false) @include(if: true)
      ... on __Type @skip(if: $yes) { f: kind }
      ...K @include(if: $yes)
    } }
    fragment K on __Type { g: kind }'''
    assert run(small, query, {"yes": True, "no": False}) == {
        "__type": {"a": "Item", "d": "Item", "e": "Item", "g": "OBJECT"}}
    assert run(small, query, {"yes": False, "no": True}) == {
        "__type": {"b": "Item", "c": "Item", "e": "Item", "f": "OBJECT"}}


def test_missing_type_is_null(small: SchemaView) -> None:
    assert run(small, '{ __type(name: "Missing") { name } }') == {"__type": None}


def test_type_name_from_variable(small: SchemaView) -> None:
    query = 'query ($n: String!) { __type(name: $n) { name kind } }'
    assert run(small, query, {"n": "Colour"}) == {"__type": {"name": "Colour",
                                                             "kind": "ENUM"}}
    assert run(small, query, {"n": "__Schema"}) == {"__type": {"name": "__Schema",
                                                               "kind": "OBJECT"}}
    assert run(small, query, {"n": "Nope"}) == {"__type": None}


def test_include_deprecated(small: SchemaView) -> None:
    query = '''query ($d: Boolean!) {
      item: __type(name: "Item") {
        fields { name isDeprecated }
        all: fields(includeDeprecated: $d) { name isDeprecated deprecationReason } }
      colour: __type(name: "Colour") {
        enumValues { name }
        all: enumValues(includeDeprecated: true) { name isDeprecated deprecationReason } }
    }'''
    data = run(small, query, {"d": True})
    item, colour = data["item"], data["colour"]
    assert item["fields"] == [{"name": "id", "isDeprecated": False},  # type: ignore
                              {"name": "title", "isDeprecated": False},
                              {"name": "tags", "isDeprecated": False}]
    assert item["all"][2] == {"name": "old", "isDeprecated": True,  # type: ignore
                              "deprecationReason": "no"}
    assert [f["name"] for f in item["all"]] == ["id", "title", "old", "tags"]  # type: ignore
    assert colour["enumValues"] == [{"name": "RED"}, {"name": "BLUE"}]  # type: ignore
    assert colour["all"] == [  # type: ignore
        {"name": "RED", "isDeprecated": False, "deprecationReason": None},
        {"name": "GREEN", "isDeprecated": True, "deprecationReason": "ugly"},
        {"name": "BLUE", "isDeprecated": False, "deprecationReason": None}]
    assert run(small, query, {"d": False})["item"]["all"] == [  # type: ignore
        {"name": "id", "isDeprecated": False, "deprecationReason": None},
        {"name": "title", "isDeprecated": False, "deprecationReason": None},
        {"name": "tags", "isDeprecated": False, "deprecationReason": None}]


def test_deprecated_args_and_input_fields() -> None:
    view = view_of('''
    input In { a: Int, b: Int @deprecated(reason: "b!") }
    type Query { f(x: Int, y: In @deprecated): Int @expr(body: 1) }
    ''')
    data = run(view, '''{ q: __type(name: "Query") { fields {
        args { name } all: args(includeDeprecated: true) { name isDeprecated deprecationReason }
      } }
      i: __type(name: "In") { inputFields { name } all: inputFields(includeDeprecated: true) {
        name deprecationReason } } }''')
    field = data["q"]["fields"][0]  # type: ignore
    assert field["args"] == [{"name": "x"}]
    assert field["all"] == [
        {"name": "x", "isDeprecated": False, "deprecationReason": None},
        {"name": "y", "isDeprecated": True, "deprecationReason": "No longer supported"}]
    assert data["i"] == {"inputFields": [{"name": "a"}],
                         "all": [{"name": "a", "deprecationReason": None},
                                 {"name": "b", "deprecationReason": "b!"}]}


DEFAULTS = '''
input In { a: Int, b: Int = 2, c: Colour = BLUE, inner: Deep = {}, d: String @modify(name: "dee"),
           e: String @omit }
input Deep { x: [Int] = [1], s: String = "deep" }
enum Colour { RED, BLUE }
type Query {
  f(
    i: Int = 10, neg: Int = -3, fl: Float = 1.5, flInt: Float = 1, big: Float = 1e25,
    tiny: Float = 0.0000001, s: String = "x", esc: String = "q\\"\\\\\\n\\u0001\\u00e9",
    block: String = """two
lines""", b: Boolean = false, id1: ID = "abc", id2: ID = 7, id3: ID = "123",
    e: Colour = RED, l: [Int] = [1, 2], single: [Int] = 3, nested: [[Colour!]] = [[RED], [BLUE]],
    n: Int = null, ln: [Int] = [1, null], obj: In = {a: 1}, obj2: In = {d: "z", e: "hid", a: 4},
    none: Int, json: JSON = {k: [1, "v"]}, js2: JSON = RED
  ): Int @expr(body: 1)
}
'''

DEFAULTS_EXPECTED = {
    "i": "10", "neg": "-3", "fl": "1.5", "flInt": "1", "big": "1e+25", "tiny": "1e-7",
    "s": '"x"', "esc": '"q\\"\\\\\\n\\u0001é"', "block": '"two\\nlines"', "b": "false",
    "id1": '"abc"', "id2": "7", "id3": "123", "e": "RED", "l": "[1, 2]", "single": "[3]",
    "nested": "[[RED], [BLUE]]", "n": "null", "ln": "[1, null]",
    # graphql-js 16 coerces first: missing fields take their defaults, in type order.
    "obj": '{a: 1, b: 2, c: BLUE, inner: {x: [1], s: "deep"}}',
    "obj2": '{a: 4, b: 2, c: BLUE, inner: {x: [1], s: "deep"}, dee: "z"}',
    "none": None, "json": '{k: [1, "v"]}', "js2": '"RED"',
}


def test_default_value_printing() -> None:
    data = run(view_of(DEFAULTS), '''{ __type(name: "Query") { fields { args {
        name defaultValue } } } }''')
    args = data["__type"]["fields"][0]["args"]  # type: ignore
    assert {a["name"]: a["defaultValue"] for a in args} == DEFAULTS_EXPECTED


def test_default_values_match_graphql_core_3_2_semantics() -> None:
    """For scalar, enum and list defaults graphql-js 16 and graphql-core 3.3 agree."""
    sdl = '''
    enum Colour { RED, BLUE }
    type Query { f(i: Int = 10, s: String = "x\\ty", e: Colour = RED, l: [Int] = [1, 2],
                   n: Int = null, b: Boolean = true, fl: Float = 2.25): Int }
    '''
    query = '{ __type(name: "Query") { fields { args { name defaultValue } } } }'
    config = sdl.replace("): Int }", "): Int @expr(body: 1) }")
    assert run(view_of(config), query) == core_run(sdl, query)


def test_input_field_defaults() -> None:
    data = run(view_of(DEFAULTS), '''{ __type(name: "In") { inputFields { name
        defaultValue type { name } } } }''')
    assert data["__type"]["inputFields"] == [  # type: ignore
        {"name": "a", "defaultValue": None, "type": {"name": "Int"}},
        {"name": "b", "defaultValue": "2", "type": {"name": "Int"}},
        {"name": "c", "defaultValue": "BLUE", "type": {"name": "Colour"}},
        {"name": "inner", "defaultValue": '{x: [1], s: "deep"}', "type": {"name": "Deep"}},
        {"name": "dee", "defaultValue": None, "type": {"name": "String"}},
    ]


def test_self_referencing_input_default_terminates() -> None:
    view = view_of('''
    input Tree { label: String = "leaf", child: Tree = {} }
    type Query { f(t: Tree = {}): Int @expr(body: 1) }
    ''')
    data = run(view, '{ __type(name: "Query") { fields { args { defaultValue } } } }')
    printed = data["__type"]["fields"][0]["args"][0]["defaultValue"]  # type: ignore
    assert printed.startswith('{label: "leaf", child: {label: "leaf"')


def test_renamed_and_omitted_fields(small: SchemaView) -> None:
    data = run(small, '{ __type(name: "Item") { fields(includeDeprecated: true) { name } } }')
    names = [f["name"] for f in data["__type"]["fields"]]  # type: ignore
    assert names == ["id", "title", "old", "tags"]
    assert "label" not in names and "hidden" not in names


def test_wrapper_of_type_chains(small: SchemaView) -> None:
    data = run(small, '''{ __type(name: "Item") { fields { name type {
        kind name description fields { name } enumValues { name } inputFields { name }
        interfaces { name } possibleTypes { name } specifiedByURL isOneOf
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name
          ofType { kind name } } } } } } } } }''')
    tags = data["__type"]["fields"][2]  # type: ignore
    assert tags == {"name": "tags", "type": {
        "kind": "NON_NULL", "name": None, "description": None, "fields": None,
        "enumValues": None, "inputFields": None, "interfaces": None, "possibleTypes": None,
        "specifiedByURL": None, "isOneOf": None,
        "ofType": {"kind": "LIST", "name": None, "ofType": {
            "kind": "LIST", "name": None, "ofType": {
                "kind": "NON_NULL", "name": None, "ofType": {
                    "kind": "SCALAR", "name": "String", "ofType": None}}}}}}


def test_kind_specific_fields_are_null(small: SchemaView) -> None:
    data = run(small, '''{
      s: __type(name: "String") { ...All }
      o: __type(name: "Item") { ...All }
      e: __type(name: "Colour") { ...All }
    }
    fragment All on __Type { kind fields { name } interfaces { name } possibleTypes { name }
      enumValues { name } inputFields { name } ofType { name } isOneOf }''')
    assert data["s"] == {"kind": "SCALAR", "fields": None, "interfaces": None,
                         "possibleTypes": None, "enumValues": None, "inputFields": None,
                         "ofType": None, "isOneOf": None}
    assert data["o"]["interfaces"] == [] and data["o"]["enumValues"] is None  # type: ignore
    assert data["e"]["fields"] is None and data["e"]["enumValues"] == [  # type: ignore
        {"name": "RED"}, {"name": "BLUE"}]


def test_typename_inside_introspection(small: SchemaView) -> None:
    data = run(small, '''{ __schema { __typename queryType { __typename name }
        directives { __typename name args { __typename type { __typename } } } }
      __type(name: "Colour") { t: __typename
        enumValues { __typename } fields { __typename } } }''')
    schema = data["__schema"]
    assert schema["__typename"] == "__Schema"  # type: ignore
    assert schema["queryType"] == {"__typename": "__Type", "name": "Query"}  # type: ignore
    assert schema["directives"][0] == {  # type: ignore
        "__typename": "__Directive", "name": "skip",
        "args": [{"__typename": "__InputValue", "type": {"__typename": "__Type"}}]}
    assert data["__type"] == {"t": "__Type", "fields": None, "enumValues": [
        {"__typename": "__EnumValue"}, {"__typename": "__EnumValue"}]}


def test_schema_root_types(small: SchemaView) -> None:
    data = run(small, '''{ __schema { description queryType { name kind }
        mutationType { name } subscriptionType { name } } }''')
    assert data == {"__schema": {"description": None,
                                 "queryType": {"name": "Query", "kind": "OBJECT"},
                                 "mutationType": None, "subscriptionType": None}}


def test_interfaces_unions_and_possible_types() -> None:
    view = view_of(CONFIG)
    data = run(view, '''{
      n: __type(name: "Node") { possibleTypes { name } interfaces { name } }
      named: __type(name: "Named") { possibleTypes { name } interfaces { name } }
      u: __type(name: "SearchResult") { possibleTypes { name } interfaces { name } fields { name } }
      user: __type(name: "User") { interfaces { name } possibleTypes { name } }
      uuid: __type(name: "Uuid") { specifiedByURL description }
      f: __type(name: "Filter") { isOneOf }
    }''')
    assert data == {
        "n": {"possibleTypes": [{"name": "User"}, {"name": "Post"}], "interfaces": []},
        "named": {"possibleTypes": [{"name": "User"}], "interfaces": [{"name": "Node"}]},
        "u": {"possibleTypes": [{"name": "User"}, {"name": "Post"}], "interfaces": None,
              "fields": None},
        "user": {"interfaces": [{"name": "Node"}, {"name": "Named"}], "possibleTypes": None},
        "uuid": {"specifiedByURL": "https://tools.ietf.org/html/rfc4122",
                 "description": "An RFC 4122 id"},
        "f": {"isOneOf": False},
    }


def test_fragment_type_conditions_on_other_types() -> None:
    """CollectFields skips fragments whose condition is another type (spec 6.3.2
    DoesFragmentTypeApply), even an abstract one the object does not belong to."""
    view = view_of(CONFIG)
    document = parse_and_validate('{ __type(name: "User") { name } }', view)
    field = select_operation(document, None).selections[0]
    assert isinstance(field, Field) and field.selections is not None
    name = Field(None, "kind", [], [], None, 0)
    field.selections += [InlineFragment("Node", [], [name], 0),
                         InlineFragment("__Field", [], [name], 0),
                         InlineFragment("__Type", [], [Field("k", "kind", [], [], None, 0)], 0)]
    assert resolve_introspection(field, view, {}, {}) == {"name": "User", "k": "OBJECT"}


def test_budget_bounds_exponential_aliases(small: SchemaView) -> None:
    inner = "name"
    for _ in range(12):
        inner = f"a: ofType {{ {inner} }} b: ofType {{ {inner} }} name"
    query = '{ __schema { types { fields { type { ' + inner + ' } } } } }'
    field = select_operation(parse_and_validate(query, small), None).selections[0]
    assert isinstance(field, Field)
    with pytest.raises(QueryError) as raised:
        resolve_introspection(field, small, {}, {}, Budget(500))
    assert raised.value.code == "INTROSPECTION_TOO_LARGE"
    assert "more than 500 values" in raised.value.message


def test_budget_is_shared_across_root_fields(small: SchemaView) -> None:
    document = parse_and_validate('{ __type(name: "Item") { name kind } }', small)
    field = select_operation(document, None).selections[0]
    assert isinstance(field, Field)
    budget = Budget(7)
    for _ in range(2):  # three values each: the object, name and kind
        assert resolve_introspection(field, small, {}, {}, budget) == {"name": "Item",
                                                                        "kind": "OBJECT"}
    with pytest.raises(QueryError):
        resolve_introspection(field, small, {}, {}, budget)
    assert Budget().limit == introspect.MAX_RESULT_VALUES


def test_not_a_meta_field(small: SchemaView) -> None:
    document = parse_and_validate("{ item { id } }", small)
    with pytest.raises(ValueError):
        resolve_introspection(select_operation(document, None).selections[0],  # type: ignore
                              small, {}, {})


@pytest.mark.parametrize("number, text", [
    (1.5, "1.5"), (2.0, "2"), (-0.0, "0"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (123456.789, "123456.789"), (1e-6, "0.000001"), (1e-7, "1e-7"), (-2.5e-9, "-2.5e-9"),
    (1.2345e22, "1.2345e+22"), (float("inf"), None), (float("nan"), None)])
def test_js_number(number: float, text: str | None) -> None:
    assert js_number(number) == text


def test_print_string_matches_graphql_core() -> None:
    text = 'a"b\\c\n\t\r\b\f\x00\x1f\x7f\x9f\u00e9\u2028'
    assert print_string(text) == core_print_string(text)
