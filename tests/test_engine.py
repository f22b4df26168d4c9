"""The engine end to end: real upstream on 127.0.0.1, both VMs (ids ``py`` and ``c``)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import plait
from plait.example_upstream import load_data

from .conftest import BENCH_CONFIG, REPO

DATA = load_data()
USERS = {u["id"]: u for u in DATA["users"]}
BENCH = (BENCH_CONFIG).read_text()
EXAMPLE = (REPO / "examples" / "jsonplaceholder.graphql").read_text()


def config(text: str, upstream: Any) -> str:
    return text.replace("http://127.0.0.1:3000", upstream.url)


def run(sdl: str, vm: str, query: str, variables: dict | None = None,
        operation_name: str | None = None, headers: dict | None = None) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            result = await engine.execute(query, variables, operation_name, headers)
            return json.loads(result.body)
    return asyncio.run(go())


def hits_of(upstream: Any, prefix: str) -> int:
    return sum(n for path, n in upstream.hits.items() if path.startswith(prefix))


# -- the benchmark queries: exactly the data Tailcall returns ---------------------------
def test_q1_posts_with_users(upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config(BENCH, upstream), vm, "{posts{id userId title user{id name email}}}")
    assert body == {"data": {"posts": [
        {"id": p["id"], "userId": p["userId"], "title": p["title"],
         "user": {k: USERS[p["userId"]][k] for k in ("id", "name", "email")}}
        for p in DATA["posts"]]}}
    # One /posts call and one call per distinct user (dedupe), no N+1.
    assert upstream.hits["/posts"] == 1
    assert {path: n for path, n in upstream.hits.items() if path.startswith("/users/")} == \
        {f"/users/{i}": 1 for i in USERS}


def test_q2_posts_titles(upstream, vm) -> None:
    body = run(config(BENCH, upstream), vm, "{posts{title}}")
    assert body == {"data": {"posts": [{"title": p["title"]} for p in DATA["posts"]]}}


def test_q3_greet(upstream, vm) -> None:
    upstream.hits.clear()
    assert run(config(BENCH, upstream), vm, "{greet}") == {"data": {"greet": "Hello World!"}}
    assert not upstream.hits


# -- query features -----------------------------------------------------------------------
def test_aliases_fragments_variables_typename(upstream, vm) -> None:
    query = """
      query Two($a: Int!, $b: Int! = 2, $withUser: Boolean!) {
        first: post(id: $a) { ...PostBits user @include(if: $withUser) { name } }
        second: post(id: $b) { ... on Post { id } title @skip(if: true) __typename }
      }
      fragment PostBits on Post { id t: title }
    """
    body = run(config(EXAMPLE, upstream), vm, query, {"a": 1, "withUser": True})
    assert body == {"data": {
        "first": {"id": 1, "t": DATA["posts"][0]["title"], "user": {"name": "Leanne Graham"}},
        "second": {"id": 2, "__typename": "Post"}}}
    body = run(config(EXAMPLE, upstream), vm, query, {"a": 1, "withUser": False}, "Two")
    assert "user" not in body["data"]["first"]


def test_identical_aliased_calls_are_made_once(upstream, vm) -> None:
    upstream.hits.clear()
    query = "{" + " ".join(f"a{i}: post(id: 5) {{ id }}" for i in range(50)) + "}"
    body = run(config(EXAMPLE, upstream), vm, query)
    assert body["data"] == {f"a{i}": {"id": 5} for i in range(50)}
    assert upstream.hits["/posts/5"] == 1


def test_batching_collapses_n_plus_one(upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config(EXAMPLE, upstream), vm, "{ posts { id comments { id postId } } }")
    for post in body["data"]["posts"]:
        assert [c["id"] for c in post["comments"]] == \
            [c["id"] for c in DATA["comments"] if c["postId"] == post["id"]]
    batched = [path for path in upstream.hits if path.startswith("/comments")]
    assert len(batched) == 1  # 100 posts, maxSize 100: one call
    assert batched[0].startswith("/comments?postId=1&postId=2&postId=3")


def test_batch_max_size_splits_calls(upstream, vm) -> None:
    upstream.hits.clear()
    sdl = config(EXAMPLE, upstream).replace("maxSize: 100", "maxSize: 30")
    run(sdl, vm, "{ posts { comments { id } } }")
    assert len([p for p in upstream.hits if p.startswith("/comments")]) == 4


def test_expr_call_add_field(upstream, vm) -> None:
    body = run(config(EXAMPLE, upstream), vm,
               '{ greet(name: "plait") post(id: 3) { author { name city } } }')
    assert body == {"data": {"greet": "Hello plait!",
                             "post": {"author": {"name": "Leanne Graham",
                                                 "city": "Gwenborough"}}}}


def test_mutation_posts_a_json_body(upstream, vm) -> None:
    body = run(config(EXAMPLE, upstream), vm,
               'mutation($p: NewPost!) { createPost(input: $p) { id title userId } }',
               {"p": {"userId": 4, "title": "hello", "body": "text"}})
    assert body == {"data": {"createPost": {"id": 101, "title": "hello", "userId": 4}}}


def test_modify_and_omit(upstream, vm) -> None:
    sdl = f"""schema @server(vars: [{{key: "api", value: "{upstream.url}"}}]) {{ query: Query }}
    type Query {{ post(id: Int!): Post @http(url: "{{{{.vars.api}}}}/posts/{{{{.args.id}}}}") }}
    type Post {{ id: Int! title: String @modify(name: "headline") userId: Int @omit
                user: User @http(url: "{{{{.vars.api}}}}/users/{{{{.value.userId}}}}") }}
    type User {{ name: String }}"""
    body = run(sdl, vm, "{ post(id: 11) { headline user { name } } }")
    post = DATA["posts"][10]
    assert body == {"data": {"post": {"headline": post["title"],
                                      "user": {"name": USERS[post["userId"]]["name"]}}}}
    invalid = run(sdl, vm, "{ post(id: 1) { userId } }")
    assert invalid["errors"][0]["message"] == \
        'Cannot query field "userId" on type "Post". Did you mean "user"?'


def test_headers_forwarding_and_templates(upstream, vm) -> None:
    sdl = f"""schema @upstream(allowedHeaders: ["authorization"]) {{ query: Query }}
    type Query {{ echo(q: String, none: String): Echo @http(url: "{upstream.url}/echo/{{{{.args.q}}}}",
        headers: [{{key: "x-from", value: "{{{{.headers.x-client}}}}"}}],
        query: [{{key: "k", value: "{{{{.args.q}}}}"}}, {{key: "skip", value: "{{{{.args.none}}}}", skipEmpty: true}}]) }}
    type Echo {{ path: String headers: JSON }}"""
    body = run(sdl, vm, '{ echo(q: "a b/c") { path headers } }',
               headers={"Authorization": "Bearer t", "X-Client": "web", "Cookie": "secret"})
    echo = body["data"]["echo"]
    assert echo["path"] == "/echo/a%20b%2Fc?k=a%20b%2Fc"
    assert echo["headers"]["authorization"] == "Bearer t"
    assert echo["headers"]["x-from"] == "web"
    assert "cookie" not in echo["headers"]


def test_json_scalar_passes_through(upstream, vm) -> None:
    sdl = f"""type Query {{ user(id: Int!): User @http(url: "{upstream.url}/users/{{{{.args.id}}}}") }}
    type User {{ id: ID! address: JSON company: JSON }}"""
    body = run(sdl, vm, "{ user(id: 2) { id address company } }")
    user = USERS[2]
    assert body == {"data": {"user": {"id": "2", "address": user["address"],
                                      "company": user["company"]}}}


# -- errors (spec 7.1.2, 6.4.4) -------------------------------------------------------------
FAULTS = """
type Query {{
  ok: [Post] @http(url: "{u}/posts?_limit=2")
  failing: Post @http(url: "{u}/status/500")
  missing: Post @http(url: "{u}/status/404")
  required: Post! @http(url: "{u}/status/503")
  slow: Post @http(url: "{u}/slow?s=5")
  reset: [Post] @http(url: "{u}/reset")
  refused: Post @http(url: "http://127.0.0.1:9/x")
  badJson: Post @http(url: "{u}/raw/badjson")
  html: Post @http(url: "{u}/raw/html")
  empty: Post @http(url: "{u}/raw/empty")
  listWanted: [Post] @http(url: "{u}/raw/object")
  objectWanted: Post @http(url: "{u}/raw/list")
  odd: Odd @http(url: "{u}/raw/numbers")
  nulls: [Post] @http(url: "{u}/raw/nulls")
  strictNulls: [Strict!] @http(url: "{u}/raw/nulls")
}}
type Post {{ id: Int title: String name: String }}
type Strict {{ id: Int title: String! }}
type Odd {{ id: ID big: Int ratio: Float flag: Boolean tags: [String] name: String }}
"""


def faults(upstream: Any) -> str:
    return "schema @upstream(timeout: 1) { query: Query }\n" + FAULTS.format(u=upstream.url)


def test_upstream_failures_are_located_field_errors(upstream, vm) -> None:
    body = run(faults(upstream), vm, """{ ok { id } failing { id } missing { id } slow { id }
        reset { id } refused { id } badJson { id } html { id } empty { id } }""")
    data, errors = body["data"], body["errors"]
    assert data["ok"] == [{"id": 1}, {"id": 2}]
    for key in ("failing", "missing", "slow", "reset", "refused", "badJson", "html", "empty"):
        assert data[key] is None
    by_path = {e["path"][0]: e for e in errors}
    assert set(by_path) == {"failing", "missing", "slow", "reset", "refused", "badJson",
                            "html", "empty"}
    assert by_path["failing"]["message"] == "upstream returned HTTP 500"
    assert by_path["failing"]["extensions"] == {"code": "UPSTREAM_HTTP_ERROR", "status": 500}
    assert by_path["failing"]["locations"] == [{"line": 1, "column": 13}]
    assert by_path["slow"]["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    assert by_path["refused"]["extensions"]["code"] == "UPSTREAM_CONNECT"
    assert by_path["reset"]["extensions"]["code"] == "UPSTREAM_RESET"
    assert by_path["badJson"]["message"].startswith("upstream returned invalid JSON")
    assert by_path["html"]["message"].startswith("upstream returned invalid JSON")
    assert by_path["empty"]["message"] == "upstream returned an empty body"


def test_non_null_failure_nulls_only_the_nearest_nullable_parent(upstream, vm) -> None:
    body = run(faults(upstream), vm, "{ ok { id } required { id } }")
    # Query.required is non-null: data becomes null (the root is the nearest nullable).
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["required"]
    body = run(faults(upstream), vm, "{ ok { id } strictNulls { id title } nulls { title } }")
    # A null title in Strict! items nulls the whole list (items are non-null), siblings stay.
    assert body["data"]["ok"] == [{"id": 1}, {"id": 2}]
    assert body["data"]["strictNulls"] is None
    assert body["data"]["nulls"] == [{"title": None}, {"title": "ok"}]
    assert body["errors"] == [{
        "message": "Cannot return null for non-nullable field Strict.title.",
        "locations": [{"line": 1, "column": 30}], "path": ["strictNulls", 0, "title"]}]


def test_wrong_shapes_are_errors_not_silent_nulls(upstream, vm) -> None:
    body = run(faults(upstream), vm, "{ listWanted { id } objectWanted { id } }")
    assert body["data"] == {"listWanted": None, "objectWanted": None}
    messages = {e["path"][0]: e["message"] for e in body["errors"]}
    assert messages == {
        "listWanted": "Expected a list for Query.listWanted ([Post]), found an object.",
        "objectWanted": "Expected an object for Query.objectWanted, found a list."}


def test_result_coercion(upstream, vm) -> None:
    body = run(faults(upstream), vm, "{ odd { id big ratio flag tags name } }")
    assert body["data"] == {"odd": {"id": "7", "big": None, "ratio": None, "flag": True,
                                    "tags": ["1", "b", None], "name": "42"}}
    messages = {tuple(e["path"]): e["message"] for e in body["errors"]}
    assert messages == {
        ("odd", "big"): "Int cannot represent non 32-bit signed integer value: 3000000000",
        ("odd", "ratio"): 'Float cannot represent non numeric value: "x"'}


def test_request_errors_never_reach_upstream(upstream, vm) -> None:
    upstream.hits.clear()
    body = run(config(EXAMPLE, upstream), vm, "{ posts { id nope } }")
    assert body == {"errors": [{"message": 'Cannot query field "nope" on type "Post".',
                                "locations": [{"line": 1, "column": 14}],
                                "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}
    body = run(config(EXAMPLE, upstream), vm, "query($id: Int!) { post(id: $id) { id } }",
               {"id": "x"})
    assert body["errors"][0]["message"] == (
        'Variable "$id" got invalid value "x"; Int cannot represent non-integer value: "x"')
    body = run(config(EXAMPLE, upstream), vm, "{ posts { id ")
    assert body["errors"][0]["message"] == "Syntax Error: Expected Name, found <EOF>."
    assert body["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert not upstream.hits


def test_introspection(upstream, vm) -> None:
    body = run(config(EXAMPLE, upstream), vm, """{ __schema { queryType { name }
        mutationType { name } } __type(name: "Post") { kind fields { name } } __typename }""")
    assert body["data"]["__schema"] == {"queryType": {"name": "Query"},
                                        "mutationType": {"name": "Mutation"}}
    assert body["data"]["__type"]["kind"] == "OBJECT"
    assert [f["name"] for f in body["data"]["__type"]["fields"]] == [
        "id", "userId", "title", "body", "user", "author", "comments"]
    assert body["data"]["__typename"] == "Query"


def test_concurrent_identical_operations_share_one_execution(upstream, vm) -> None:
    upstream.hits.clear()

    async def go() -> list[bytes]:
        async with plait.Engine.from_string(config(BENCH, upstream), vm=vm) as engine:
            results = await asyncio.gather(*(engine.execute("{posts{title}}")
                                             for _ in range(20)))
            return [r.body for r in results]

    bodies = asyncio.run(go())
    assert len(set(bodies)) == 1
    assert upstream.hits["/posts"] == 1


def test_sharing_keys_on_headers_templates_read(upstream, vm) -> None:
    """Identical concurrent operations share an execution only when every header that can
    change the answer is equal: forwarded ones and those a template reads."""
    sdl = config("""
schema { query: Query }
type Query {
  me: Echo @http(url: "http://127.0.0.1:3000/echo/tenants/{{.headers.x-tenant}}", dedupe: true)
}
type Echo { path: String }
""", upstream)

    async def go() -> list[dict[str, Any]]:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            results = await asyncio.gather(*(
                engine.execute("{ me { path } }", headers={"X-Tenant": tenant})
                for tenant in ["acme", "globex", "acme", "globex"]))
            return [json.loads(r.body) for r in results]

    answers = asyncio.run(go())
    assert [a["data"]["me"]["path"] for a in answers] == [
        "/echo/tenants/acme", "/echo/tenants/globex", "/echo/tenants/acme",
        "/echo/tenants/globex"]


@pytest.mark.parametrize("depth", [10_000])
def test_hostile_depth_is_a_clear_error(upstream, vm, depth: int) -> None:
    body = run(config(EXAMPLE, upstream), vm, "{ posts " + "{ user " * depth + "}" * depth)
    assert body["errors"][0]["message"] == \
        "Syntax Error: Document is nested too deeply (more than 128 levels)."


def test_batch_window_combines_concurrent_requests(upstream, vm) -> None:
    sdl = config(EXAMPLE, upstream).replace("delay: 1,", "delay: 50,")

    async def go() -> list[dict]:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            results = await asyncio.gather(
                engine.execute("{ post(id: 1) { comments { id } } }"),
                engine.execute("{ post(id: 2) { comments { id } } }"))
            return [r.json() for r in results]

    upstream.hits.clear()
    first, second = asyncio.run(go())
    assert [c["id"] for c in first["data"]["post"]["comments"]] == [1, 2, 3, 4, 5]
    assert [c["id"] for c in second["data"]["post"]["comments"]] == [6, 7, 8, 9, 10]
    assert [p for p in upstream.hits if p.startswith("/comments")] == \
        ["/comments?postId=1&postId=2"]


def test_without_delay_requests_batch_alone(upstream, vm) -> None:
    sdl = config(EXAMPLE, upstream).replace("batch: {delay: 1, maxSize: 100}, ", "")

    async def go() -> None:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            await asyncio.gather(engine.execute("{ post(id: 1) { comments { id } } }"),
                                 engine.execute("{ post(id: 2) { comments { id } } }"))

    upstream.hits.clear()
    asyncio.run(go())
    assert sorted(p for p in upstream.hits if p.startswith("/comments")) == \
        ["/comments?postId=1", "/comments?postId=2"]


def test_huge_upstream_body_fails_fast_without_stalling_others(upstream, vm) -> None:
    from .upstream_server import BIG_WRITTEN

    sdl = f"""schema @upstream(timeout: 10) {{ query: Query }}
    type Query {{ big: String @http(url: "{upstream.url}/big")
                 post(id: Int!): Post @http(url: "{upstream.url}/posts/{{{{.args.id}}}}") }}
    type Post {{ id: Int title: String }}"""

    async def go() -> tuple[dict, list[dict]]:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            big = asyncio.ensure_future(engine.execute("{ big }"))
            others = [await engine.execute(f"{{ post(id: {i}) {{ id }} }}") for i in (1, 2, 3)]
            return (await big).json(), [o.json() for o in others]

    upstream.app[BIG_WRITTEN]["bytes"] = 0
    big, others = asyncio.run(go())
    assert big["data"] == {"big": None}
    assert big["errors"][0]["extensions"]["code"] == "UPSTREAM_TOO_LARGE"
    assert [o["data"]["post"]["id"] for o in others] == [1, 2, 3]
    # The response was refused at its declared length: nowhere near 50 MB was sent.
    assert upstream.app[BIG_WRITTEN]["bytes"] < 50 * 1024 * 1024


def test_gzip_responses_are_decoded(upstream, vm) -> None:
    sdl = f"""type Query {{ z: Z @http(url: "{upstream.url}/gzip") }}
    type Z {{ id: Int name: String }}"""
    assert run(sdl, vm, "{ z { id name } }") == {"data": {"z": {"id": 7, "name": "zipped"}}}


def test_constant_operations_are_answered_from_the_first_result(upstream, vm) -> None:
    async def go() -> list[bytes]:
        async with plait.Engine.from_string(config(EXAMPLE, upstream), vm=vm) as engine:
            first = await engine.execute('{ greet __typename g: greet(name: "x") }')
            again = await engine.execute('{ greet __typename g: greet(name: "x") }')
            document = engine.document('{ greet __typename g: greet(name: "x") }')
            program = engine.program(document, document.operations[0],
                                     '{ greet __typename g: greet(name: "x") }', {})
            assert program.constant and program.constant_body == first.body
            varying = await engine.execute("query($n: String) { greet(name: $n) }", {"n": "y"})
            return [first.body, again.body, varying.body]

    first, again, varying = asyncio.run(go())
    assert first == again == b'{"data":{"greet":"Hello World!","__typename":"Query","g":"Hello x!"}}'
    assert varying == b'{"data":{"greet":"Hello y!"}}'


def test_introspection_can_be_disabled(upstream, vm) -> None:
    sdl = config(EXAMPLE, upstream).replace('@server(port: 8000,',
                                            '@server(introspection: false, port: 8000,')
    body = run(sdl, vm, "{ __schema { queryType { name } } }")
    assert body["errors"][0]["extensions"] == {"code": "INTROSPECTION_DISABLED"}
    assert "data" not in body
    assert run(sdl, vm, "{ greet __typename }") == {
        "data": {"greet": "Hello World!", "__typename": "Query"}}


def test_global_response_timeout(upstream, vm) -> None:
    sdl = f"""schema @server(globalResponseTimeout: 200) {{ query: Query }}
    type Query {{ slow: Post @http(url: "{upstream.url}/slow?s=3")
                 fast: Post @http(url: "{upstream.url}/posts/1") }}
    type Post {{ id: Int }}"""
    body = run(sdl, vm, "{ slow { id } }")
    assert body == {"data": None, "errors": [{
        "message": "The response took longer than 200 ms (@server(globalResponseTimeout)).",
        "extensions": {"code": "RESPONSE_TIMEOUT"}}]}
    assert run(sdl, vm, "{ fast { id } }") == {"data": {"fast": {"id": 1}}}


def test_literal_input_objects_get_field_defaults(upstream, vm) -> None:
    sdl = f"""type Query {{ echo(filter: Filter!): Echo
        @http(url: "{upstream.url}/echo", method: POST, body: "{{{{.args.filter}}}}") }}
    input Filter {{ term: String! limit: Int = 10 nested: [Inner] }}
    input Inner {{ flag: Boolean = true name: String }}
    type Echo {{ body: String }}"""
    body = run(sdl, vm, '{ echo(filter: {term: "x", nested: [{name: "a"}]}) { body } }')
    assert json.loads(body["data"]["echo"]["body"]) == {
        "term": "x", "nested": [{"name": "a", "flag": True}], "limit": 10}


def test_select_reshapes_the_upstream_response(upstream, vm) -> None:
    sdl = f"""type Query {{ card(id: Int!): Card @http(url: "{upstream.url}/users/{{{{.args.id}}}}",
        select: {{who: "{{{{.name}}}}", city: "{{{{.address.city}}}}", lat: "{{{{.address.geo.lat}}}}"}}) }}
    type Card {{ who: String city: String lat: String }}"""
    user = USERS[3]
    assert run(sdl, vm, "{ card(id: 3) { who city lat } }") == {"data": {"card": {
        "who": user["name"], "city": user["address"]["city"],
        "lat": user["address"]["geo"]["lat"]}}}


CACHED = """
schema { query: Query }
type Query {
  post(id: Int!): Post @http(url: "http://127.0.0.1:3000/posts/{{.args.id}}") @cache(maxAge: 300)
  failing: Post @http(url: "http://127.0.0.1:3000/status/503") @cache(maxAge: 300)
  user(id: Int!): User @http(url: "http://127.0.0.1:3000/users/{{.args.id}}")
}
type Post { id: Int title: String }
type User @cache(maxAge: 300) {
  id: Int
  name: String
  album: Album @http(url: "http://127.0.0.1:3000/albums/{{.value.id}}")
}
type Album { id: Int title: String }
"""


def test_cache_keeps_results_for_max_age(upstream, vm) -> None:
    """``@cache(maxAge:)`` on a field, or on the type declaring the field: a repeat within
    maxAge makes no upstream call; other arguments, errors and expiry do."""
    upstream.hits.clear()

    async def go() -> list[dict[str, Any]]:
        async with plait.Engine.from_string(config(CACHED, upstream), vm=vm) as engine:
            bodies = []
            for query in ["{ post(id: 1) { id } }", "{ a: post(id: 1) { title } }",
                          "{ post(id: 2) { id } }", "{ failing { id } }", "{ failing { id } }",
                          "{ user(id: 1) { album { id } } }", "{ user(id: 1) { album { id } } }"]:
                bodies.append(json.loads((await engine.execute(query)).body))
            await asyncio.sleep(0.35)
            bodies.append(json.loads((await engine.execute("{ post(id: 1) { id } }")).body))
            return bodies

    bodies = asyncio.run(go())
    assert bodies[0] == {"data": {"post": {"id": 1}}}
    assert bodies[1]["data"]["a"]["title"] == next(p for p in DATA["posts"] if p["id"] == 1)["title"]
    assert bodies[3]["errors"][0]["path"] == ["failing"]
    assert bodies[5] == bodies[6] == {"data": {"user": {"album": {"id": 1}}}}
    assert upstream.hits["/posts/1"] == 2      # again only after maxAge
    assert upstream.hits["/posts/2"] == 1
    assert upstream.hits["/status/503"] == 2   # errors are not kept
    assert upstream.hits["/albums/1"] == 1     # User.album: @cache on the type
    assert upstream.hits["/users/1"] == 2      # Query.user itself is not cached


# -- @addField paths, abstract types, custom scalars, @call chains ------------------------
ADD_FIELD = """
type Query {
  users: [User] @expr(body: [
    {id: 1, posts: [{id: 10, userId: 1}, {id: 11, userId: 2}], groups: [[{t: "a"}, null], [{t: "b"}]]},
    {id: 2, posts: [], groups: null}])
}
type User
  @addField(name: "firstPost", path: ["posts", "0"])
  @addField(name: "postIds", path: ["posts", "id"])
  @addField(name: "groupT", path: ["groups", "t"]) {
  id: Int!
  posts: [Post!]! @omit
  groups: [[G]] @omit
}
type G { t: String! }
type Post { id: Int! userId: Int! who: String @expr(body: "u{{.value.userId}}") }
"""


def test_add_field_maps_over_lists_and_indexes_reach_resolvers(vm) -> None:
    """A path through a list maps over it (nested lists stay nested, null items give
    null); an indexed path to an object still runs that object's own resolvers; the types
    are derived from the path, nullable where a step may be absent."""
    body = run(ADD_FIELD, vm, "{ users { id firstPost { id who } postIds groupT } }")
    assert body == {"data": {"users": [
        {"id": 1, "firstPost": {"id": 10, "who": "u1"}, "postIds": [10, 11],
         "groupT": [["a", None], ["b"]]},
        {"id": 2, "firstPost": None, "postIds": [], "groupT": None}]}}
    fields = run(ADD_FIELD, vm, '{ __type(name: "User") { fields { name type { kind '
                 "ofType { kind ofType { kind ofType { kind name } } } } } } }")
    types = {f["name"]: f["type"] for f in fields["data"]["__type"]["fields"]}
    assert types["firstPost"]["kind"] == "OBJECT"
    assert types["postIds"] == {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {
        "kind": "SCALAR", "ofType": None}}}
    assert types["groupT"] == {"kind": "LIST", "ofType": {"kind": "LIST", "ofType": {
        "kind": "SCALAR", "ofType": None}}}


KEYED = """
type Query {
  items: [Node] @expr(body: [
    {Post: {id: 1, userId: 7}}, {User: {id: 2}}, {__typename: "Post", id: 3, userId: 8},
    {Comment: {id: 4}}])
  tagged: [Node] @expr(body: [{type: "Post", id: 5, userId: 9}, {type: "Nope", id: 6, userId: 1}])
    @discriminate
}
interface Node { id: Int! }
type User implements Node { id: Int! }
type Post implements Node { id: Int! userId: Int! author: String @expr(body: "u{{.value.userId}}") }
"""


def test_abstract_values_keyed_wrappers_and_authoritative_discriminator(vm) -> None:
    """``{"Post": {...}}`` is the wrapped Post (its own resolvers read the inner object);
    a ``@discriminate`` key naming no possible type is an error, not a guess."""
    body = run(KEYED, vm, "{ items { __typename id ... on Post { author } } "
               "tagged { id ... on Post { author } } }")
    assert body["data"] == {
        "items": [{"__typename": "Post", "id": 1, "author": "u7"},
                  {"__typename": "User", "id": 2},
                  {"__typename": "Post", "id": 3, "author": "u8"}, None],
        "tagged": [{"id": 5, "author": "u9"}, None]}
    assert [(e["message"], e["path"]) for e in body["errors"]] == [
        ("Could not determine the object type of a Node value at Query.items.", ["items", 3]),
        ("Could not determine the object type of a Node value at Query.tagged.", ["tagged", 1])]
    explained = plait.Engine.from_string(KEYED, vm=vm).explain("{ items { ... on Post { author } } }")
    assert "Post.author" in explained


SCALARS = """
type Query {
  echo(v: UInt8, d: Date, e: [Email!]): String @expr(body: "{{.args.v}}|{{.args.d}}")
  vals: V @expr(body: {big: "18446744073709551616", ok64: "-9223372036854775808", dt: "2024-02-30T10:00:00Z",
    dt2: "2024-01-31T10:00:00+02:00", url: "not a url", phone: "1-770-736-8031 x56442",
    f: 34.0, b: 12, list: [1, 300, 2], j: {a: [1, null]}})
}
type V { big: UInt64 ok64: Int64 dt: DateTime dt2: DateTime url: Url phone: PhoneNumber
  f: UInt8 b: Bytes list: [UInt8] j: JSON }
"""


def test_custom_scalars_are_checked_on_output_and_input(vm) -> None:
    body = run(SCALARS, vm, "{ vals { big ok64 dt dt2 url phone f b list j } }")
    assert body["data"] == {"vals": {
        "big": None, "ok64": "-9223372036854775808", "dt": None,
        "dt2": "2024-01-31T10:00:00+02:00", "url": None, "phone": "1-770-736-8031 x56442",
        "f": 34, "b": None, "list": [1, None, 2], "j": {"a": [1, None]}}}
    assert [(e["message"], e["path"]) for e in body["errors"]] == [
        ('UInt64 cannot represent value: "18446744073709551616"', ["vals", "big"]),
        ('DateTime cannot represent value: "2024-02-30T10:00:00Z"', ["vals", "dt"]),
        ('Url cannot represent value: "not a url"', ["vals", "url"]),
        ("Bytes cannot represent value: 12", ["vals", "b"]),
        ("UInt8 cannot represent value: 300", ["vals", "list", 1])]
    literal = run(SCALARS, vm, '{ echo(v: 300, d: "2024-13-01") }')
    assert [e["message"] for e in literal["errors"]] == [
        "UInt8 cannot represent value: 300", 'Date cannot represent value: "2024-13-01"']
    assert "data" not in literal
    variables = run(SCALARS, vm, "query($v: UInt8, $e: [Email!]) { echo(v: $v, e: $e) }",
                    {"v": 256, "e": ["a@b.c", "bad"]})
    assert [e["message"] for e in variables["errors"]] == [
        'Variable "$v" got invalid value 256; UInt8 cannot represent value: 256',
        ('Variable "$e" got invalid value ["a@b.c", "bad"] at "e[1]"; '
         'Email cannot represent value: "bad"')]
    assert run(SCALARS, vm, '{ echo(v: 255, d: "2024-02-29") }') == {
        "data": {"echo": "255|2024-02-29"}}


CHAIN = """
type Query {
  post(id: Int!): P @expr(body: {id: "{{.args.id}}", userId: 7, meta: {rank: 3}})
  user(id: Int!, rank: Int): U @expr(body: {id: "{{.args.id}}", rank: "{{.args.rank}}"})
  label(id: Int!): String @expr(body: "user {{.args.id}}")
  author(postId: Int!): U @call(steps: [
    {query: "post", args: {id: "{{.args.postId}}"}},
    {query: "user", args: {id: "{{.args.userId}}", rank: "{{.args.meta.rank}}"}}])
  authorLabel(postId: Int!): String @call(steps: [
    {query: "post", args: {id: "{{.args.postId}}"}},
    {query: "user", args: {id: "{{.args.userId}}"}},
    {query: "label"}])
}
type P { id: Int! userId: Int! meta: M }
type M { rank: Int }
type U { id: Int! rank: Int }
"""


def test_call_steps_read_the_previous_result(vm) -> None:
    """In each later ``@call`` step ``{{.args.x}}`` reads the previous step's result, whose
    fields also fill the arguments a step does not name."""
    body = run(CHAIN, vm, "{ author(postId: 3) { id rank } authorLabel(postId: 3) }")
    assert body == {"data": {"author": {"id": 7, "rank": 3}, "authorLabel": "user 7"}}


def test_post_batching_sends_item_bodies_per_max_size(vm) -> None:
    """``batchKey`` on POST without a batch delay: one POST per ``maxSize`` distinct keys,
    its body the JSON array of the items' rendered bodies (first-asked order, one per
    key); the answers are matched back by ``batchKey`` (a key not answered is null)."""
    from aiohttp import web
    from plait.example_upstream import ThreadedServer

    received: list[Any] = []

    async def lookup(request: web.Request) -> web.Response:
        items = await request.json()
        received.append((request.headers.get("content-type"), items))
        return web.json_response([{"id": i["id"], "name": f"u{i['id']}"}
                                  for i in reversed(items) if i["id"] < 3])

    app = web.Application()
    app.router.add_post("/lookup", lookup)
    server = ThreadedServer(app).start()
    try:
        sdl = f"""
schema @upstream(batch: {{maxSize: 2}}) {{ query: Query }}
type Query {{
  posts: [Post] @expr(body: [{{id: 1, userId: 1}}, {{id: 2, userId: 2}}, {{id: 3, userId: 1}},
                           {{id: 4, userId: 3}}])
}}
type Post {{
  id: Int!
  userId: Int!
  user: User @http(url: "{server.url}/lookup", method: POST,
                   body: {{id: "{{{{.value.userId}}}}", kind: "user"}}, batchKey: ["id"])
}}
type User {{ id: Int! name: String! }}
"""
        body = run(sdl, vm, "{ posts { id user { name } } }")
    finally:
        server.stop()
    assert body == {"data": {"posts": [
        {"id": 1, "user": {"name": "u1"}}, {"id": 2, "user": {"name": "u2"}},
        {"id": 3, "user": {"name": "u1"}}, {"id": 4, "user": None}]}}
    assert sorted(received, key=lambda r: len(r[1]), reverse=True) == [
        ("application/json", [{"id": 1, "kind": "user"}, {"id": 2, "kind": "user"}]),
        ("application/json", [{"id": 3, "kind": "user"}])]


def test_set_cookie_goes_only_to_the_request_that_made_the_call(vm) -> None:
    """With ``setCookies``, concurrent identical queries on a ``dedupe`` field share one
    upstream call (and are not shared whole), but its ``Set-Cookie`` reaches only the
    request that made it; ``experimental`` headers reach all of them."""
    from aiohttp import web
    from plait.example_upstream import ThreadedServer

    calls = []

    async def login(request: web.Request) -> web.Response:
        calls.append(1)
        await asyncio.sleep(0.2)
        return web.json_response({"id": 1}, headers={"Set-Cookie": "s=1", "X-Trace": "t"})

    app = web.Application()
    app.router.add_get("/me", login)
    server = ThreadedServer(app).start()
    sdl = f"""
schema @server(headers: {{setCookies: true, experimental: ["x-trace"]}}) {{ query: Query }}
type Query {{ me: U @http(url: "{server.url}/me", dedupe: true) }}
type U {{ id: Int }}
"""

    async def go() -> list[Any]:
        async with plait.Engine.from_string(sdl, vm=vm) as engine:
            return await asyncio.gather(*(engine.execute("{ me { id } }") for _ in range(3)))

    try:
        results = asyncio.run(go())
    finally:
        server.stop()
    assert len(calls) == 1
    assert all(json.loads(r.body) == {"data": {"me": {"id": 1}}} for r in results)
    assert sorted(len(r.headers) for r in results) == [1, 1, 2]
    assert sum(("set-cookie", "s=1") in r.headers for r in results) == 1
    assert all(("x-trace", "t") in r.headers for r in results)


def test_condition_variables_may_not_be_null(upstream, vm) -> None:
    """Spec 6.4.1: @include(if:) is Boolean!; a nullable variable with a default given an
    explicit null is a request error, not a silent false."""
    query = "query($s: Boolean = false) { greet @include(if: $s) }"
    sdl = config(EXAMPLE, upstream)
    assert run(sdl, vm, query) == {"data": {}}
    assert run(sdl, vm, query, {"s": True}) == {"data": {"greet": "Hello World!"}}
    body = run(sdl, vm, query, {"s": None})
    assert "data" not in body
    assert body["errors"][0]["message"] == \
        'Argument "if" of non-null type "Boolean!" must not be null (variable "$s").'
