"""N+1 detection (``plait check --n-plus-one-queries``)."""
from __future__ import annotations

import json

from plait.planner import find_n_plus_one, load_config, load_config_string

from .conftest import BENCH_CONFIG, run_plait

BENCH = BENCH_CONFIG


def chains(sdl: str) -> list[str]:
    return [h.chain() for h in find_n_plus_one(load_config_string(sdl))]


def test_bench_config_reports_post_user_under_posts() -> None:
    [hazard] = find_n_plus_one(load_config(BENCH))
    assert hazard.field == "Post.user"
    assert hazard.chain() == "Query.posts → Post.user"
    assert hazard.query() == "query { posts { user } }"


def test_cli_output() -> None:
    completed = run_plait("check", str(BENCH), "--n-plus-one-queries")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"ok: {BENCH}: 3 types, 13 fields, 3 resolvers (2 upstream), "
                               "0 warnings; checked in ")
    assert lines[1:] == ["N+1 queries: 1", "  query { posts { user } }  Query.posts → Post.user"]


def test_cli_json_output() -> None:
    completed = run_plait("check", str(BENCH), "-n", "--format", "json")
    report = json.loads(completed.stdout)
    assert report["ok"] is True and report["summary"]["upstream_resolvers"] == 2
    assert report["n_plus_one"] == [{"field": "Post.user", "path": "Query.posts → Post.user",
                                     "query": "query { posts { user } }"}]


BASE = """
schema @upstream(batch: {delay: 1}) { query: Query }
type Query { posts: [Post] @http(url: "http://h/posts") post: Post @http(url: "http://h/p") }
type User { id: Int posts: [Post] @http(url: "http://h/u/{{.value.id}}/posts") }
"""


def test_batched_fields_are_not_reported() -> None:
    sdl = BASE + """type Post { id: Int userId: Int
      user: User @http(url: "http://h/users", query: [{key: "id", value: "{{.value.userId}}"}],
                       batchKey: ["id"]) }"""
    # posts → user is batched; user.posts is a call per user, under the posts list.
    assert chains(sdl) == ["Query.posts → Post.user → User.posts"]


def test_fields_outside_lists_are_not_reported_and_cycles_end() -> None:
    sdl = BASE + 'type Post { id: Int userId: Int user: User @http(url: "http://h/u/{{.value.userId}}") }'
    # Query.post → Post.user is one call; under Query.posts it is N+1 (reported once), and
    # User.posts below it is a call per user of every post: reported too, once.
    assert chains(sdl) == ["Query.posts → Post.user", "Query.posts → Post.user → User.posts"]


def test_call_to_unbatched_field_is_reported() -> None:
    sdl = """type Query { posts: [Post] @http(url: "http://h/posts")
                          user(id: Int!): User @http(url: "http://h/u/{{.args.id}}")
                          greet(n: Int): String @expr(body: "hi") }
             type Post { userId: Int author: User @call(steps: [{query: "user", args: {id: "{{.value.userId}}"}}])
                         hello: String @call(steps: [{query: "greet"}]) }
             type User { id: Int }"""
    assert chains(sdl) == ["Query.posts → Post.author"]


def test_graphql_batch_and_omitted_fields() -> None:
    sdl = """type Query { posts: [Post] @http(url: "http://h/posts") }
             type Post { id: Int
               a: Int @graphQL(url: "http://g/graphql", name: "a", batch: true)
               b: Int @graphQL(url: "http://g/graphql", name: "b")
               c: Int @http(url: "http://h/c") @omit }"""
    assert chains(sdl) == ["Query.posts → Post.b"]


def test_unions_and_nested_lists() -> None:
    sdl = """type Query { feed: [[Item]] @http(url: "http://h/feed") }
             union Item = A | B
             type A { id: Int x: Int @http(url: "http://h/x/{{.value.id}}") }
             type B { id: Int }"""
    assert chains(sdl) == ["Query.feed → A.x"]


def test_interface_implementations_and_union_members_are_walked() -> None:
    sdl = """type Query { animals: [Animal] @http(url: "http://h/a") pets: [Pet] @http(url: "http://h/p") }
             interface Animal { name: String }
             type Dog implements Animal { name: String owner: Owner @http(url: "http://h/o/{{.value.name}}") }
             type Cat implements Animal { name: String }
             union Pet = Cat | Fish
             type Fish { id: Int food: Owner @http(url: "http://h/f/{{.value.id}}") }
             type Owner { id: Int }"""
    hazards = find_n_plus_one(load_config_string(sdl))
    assert [(h.chain(), h.query()) for h in hazards] == [
        ("Query.animals → Dog.owner", "query { animals { ... on Dog { owner } } }"),
        ("Query.pets → Fish.food", "query { pets { ... on Fish { food } } }")]


def test_clean_config_says_none(write_config) -> None:
    path = write_config('type Query { posts: [Post] @http(url: "http://h/posts") }\n'
                        "type Post { id: Int }\n")
    completed = run_plait("check", str(path), "-n")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "N+1 queries: none"
