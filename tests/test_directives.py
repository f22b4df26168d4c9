"""Each directive of the Tailcall 1.6 dialect parses into the Blueprint it describes."""
from __future__ import annotations

import pytest

from plait.planner import Blueprint, load_config, load_config_string
from plait.planner.model import (CallResolver, ExprResolver, GraphQLResolver, GrpcResolver,
                                 HttpResolver)
from plait.planner.templates import Ref, Template

from .conftest import BENCH_CONFIG, CONFIGS


@pytest.fixture(scope="module")
def sink() -> Blueprint:
    return load_config(CONFIGS / "good" / "kitchen_sink.graphql")


def ref(root: str, *path: str) -> Ref:
    return Ref(root, path, 0)


def test_server(sink: Blueprint) -> None:
    server = sink.server
    assert (server.port, server.hostname, server.workers) == (8001, "127.0.0.1", 2)
    assert server.global_response_timeout_ms == 5000
    assert server.vars == {"api": "http://127.0.0.1:3000"}
    assert server.response_headers == (("x-served-by", "plait"),)
    assert server.cache_control is True
    assert (server.graphql_path, server.status_path) == ("/gql", "/health")


def test_upstream_units(sink: Blueprint) -> None:
    upstream = sink.upstream
    assert upstream.allowed_headers == frozenset({"authorization", "x-request-id"})
    assert upstream.batch is not None
    assert (upstream.batch.delay_ms, upstream.batch.max_size) == (5, 50)
    assert (upstream.timeout_s, upstream.connect_timeout_s) == (10.0, 2.0)
    assert upstream.pool_max_idle_per_host == 32
    assert upstream.user_agent == "plait-test"


def test_telemetry_and_links(sink: Blueprint) -> None:
    assert sink.telemetry.export == {"prometheus": {"path": "/metrics"}}
    assert sink.telemetry.request_headers == ("x-request-id",)
    assert [(link.type, link.src) for link in sink.links] == [
        ("Protobuf", "news.proto"), ("Htpasswd", "users.htpasswd")]


def test_http_with_query_headers_and_dedupe(sink: Blueprint) -> None:
    http = sink.field("Query", "posts").resolver
    assert isinstance(http, HttpResolver)
    assert http.method == "GET" and http.dedupe is True and not http.batched
    assert http.url.parts == (ref("vars", "api"), "/posts")
    assert [(q.key, q.value.parts, q.skip_empty) for q in http.query] == [
        ("_limit", (ref("args", "limit"),), False), ("tag", (ref("args", "tag"),), True)]
    assert [(k, t.parts) for k, t in http.headers] == [
        ("x-request-id", (ref("headers", "x-request-id"),))]


def test_http_body_object_and_string(sink: Blueprint) -> None:
    create = sink.field("Mutation", "createPost").resolver
    assert isinstance(create, HttpResolver) and create.method == "POST"
    assert create.body is not None
    assert create.body.value == {"title": Template((ref("args", "input", "title"),)),
                                 "userId": Template((ref("args", "input", "userId"),))}
    raw = sink.field("Mutation", "rawPost").resolver
    assert isinstance(raw, HttpResolver) and raw.method == "PUT"
    assert raw.body is not None and raw.body.value == Template((ref("args", "input"),))


def test_http_batch_key_and_select(sink: Blueprint) -> None:
    user = sink.field("Post", "user").resolver
    assert isinstance(user, HttpResolver) and user.batch_key == ("id",) and user.batched
    node = sink.field("Query", "node").resolver
    assert isinstance(node, HttpResolver) and node.select is not None
    assert node.select.value == {"id": Template((Ref("", ("id",), 0),)),
                                 "kind": Template((Ref("", ("type",), 0),))}


def test_cache_on_field_and_type(sink: Blueprint) -> None:
    assert sink.field("Query", "post").cache_max_age_ms == 3000
    assert sink.type("Post").cache_max_age_ms == 1000


def test_expr_with_nested_templates(sink: Blueprint) -> None:
    expr = sink.field("Query", "greeting").resolver
    assert isinstance(expr, ExprResolver)
    assert expr.body.value == {"text": "hello", "env": Template((ref("env", "HOME"),)),
                               "nested": [{"n": 1}, {"n": Template((ref("headers", "x"),))}]}
    assert not expr.body.is_constant
    parent = sink.field("Comment", "postTitle").resolver
    assert isinstance(parent, ExprResolver)
    assert parent.body.value == Template((ref("parent", "title"),))


def test_grpc_and_graphql(sink: Blueprint) -> None:
    grpc = sink.field("Query", "news").resolver
    assert isinstance(grpc, GrpcResolver)
    assert grpc.method == "news.NewsService.GetAllNews"
    assert grpc.url.parts == ("http://127.0.0.1:50051",)
    remote = sink.field("Query", "remoteUser").resolver
    assert isinstance(remote, GraphQLResolver)
    assert (remote.name, remote.batch) == ("user", True)
    assert [(k, t.parts) for k, t in remote.args] == [("id", (ref("args", "id"),))]


def test_call_steps(sink: Blueprint) -> None:
    call = sink.field("Post", "author").resolver
    assert isinstance(call, CallResolver)
    [step] = call.steps
    assert (step.kind, step.field) == ("query", "user")
    assert step.args.value == {"id": Template((ref("value", "userId"),))}


def test_modify_omit_protected_discriminate(sink: Blueprint) -> None:
    post = sink.type("Post")
    assert post.fields["title"].public_name == "headline"
    assert post.fields["body"].omitted and post.fields["internal"].omitted
    assert sink.field("Query", "secret").protected
    assert sink.field("Query", "search").discriminate == "kind"


def test_add_field_paths_and_types(sink: Blueprint) -> None:
    user = sink.type("User")
    assert user.fields["city"].source_path == ("address", "city")
    assert str(user.fields["city"].type) == "String"
    assert user.fields["firstTag"].source_path == ("tags", "0")
    assert str(user.fields["firstTag"].type) == "String"


def test_add_field_through_a_list_is_a_list() -> None:
    blueprint = load_config_string(
        'type Query { u: U @expr(body: {}) }\n'
        'type U @addField(name: "cities", path: ["homes", "city"])\n'
        '  @addField(name: "maybeCities", path: ["maybeHomes", "city"])\n'
        '  @addField(name: "firstCity", path: ["homes", "0", "city"])\n'
        '  { homes: [H!]! maybeHomes: [H] }\n'
        'type H { city: String! }\n')
    assert str(blueprint.field("U", "cities").type) == "[String!]"
    # a null item maps to a null city, and an index may be out of range
    assert str(blueprint.field("U", "maybeCities").type) == "[String]"
    assert str(blueprint.field("U", "firstCity").type) == "String"


def test_enum_alias_and_union_interface(sink: Blueprint) -> None:
    status = sink.type("Status")
    assert status.values["DRAFT"].aliases == ("draft", "d")
    assert [m for m, _ in sink.type("SearchResult").members] == ["Post", "User"]
    assert [i for i, _ in sink.type("Post").interfaces] == ["Node"]


def test_input_defaults_and_arguments(sink: Blueprint) -> None:
    posts = sink.field("Query", "posts")
    assert posts.args["limit"].default is not None and posts.args["limit"].default.value == 10
    assert str(sink.type("PostInput").fields["userId"].type) == "Int!"
    assert sink.type("PostInput").fields["draft"].default.value is False


def test_legacy_base_url_and_path() -> None:
    from plait.planner import check_config
    import tempfile, os

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "legacy.graphql")
        with open(path, "w") as handle:
            handle.write('schema @upstream(baseURL: "http://127.0.0.1:3000") { query: Query }\n'
                         'type Query { posts: [Int] @http(path: "/posts") }\n')
        result = check_config([path])
    assert result.blueprint is not None
    assert result.blueprint.field("Query", "posts").resolver.url.parts == (
        "http://127.0.0.1:3000/posts",)
    assert [d.message for d in result.diagnostics] == [
        "@upstream argument baseURL is deprecated; use full URLs in @http(url: ...)",
        "@http argument path is deprecated; use url"]


def test_tailcall_bench_config_loads_unmodified() -> None:
    blueprint = load_config(BENCH_CONFIG)
    assert blueprint.query == "Query" and blueprint.mutation is None
    greet = blueprint.field("Query", "greet").resolver
    assert isinstance(greet, ExprResolver) and greet.body.value == "Hello World!"
    user = blueprint.field("Post", "user").resolver
    assert isinstance(user, HttpResolver) and user.dedupe
    assert user.url.parts == ("http://127.0.0.1:3000/users/", ref("value", "userId"))
    assert blueprint.upstream.pool_max_idle_per_host == 200
    assert blueprint.upstream.connect_timeout_s == 5.0


def test_example_config_loads() -> None:
    from .conftest import REPO

    blueprint = load_config(REPO / "examples" / "jsonplaceholder.graphql")
    assert blueprint.mutation == "Mutation"
