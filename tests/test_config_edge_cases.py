"""Edge cases found by adversarial review of ``plait check``: each must give a located
error (or load), never an internal error, a hang or a false follow-on error."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import plait
from plait.planner import check_config, load_config

from .conftest import run_plait

Q = "type Query { a: Int @expr(body: 1) }\n"


def messages(path: Path | str, *more: Path | str) -> list[str]:
    result = check_config([str(path), *map(str, more)])
    return [d.message for d in result.diagnostics]


def test_null_settings_mean_default(write_config) -> None:
    path = write_config("schema @upstream(timeout: null, connectTimeout: null, tcpKeepAlive: "
                        "null) @server(port: null) { query: Query }\n" + Q)
    blueprint = load_config(path)
    assert blueprint.upstream.timeout_s == 60.0 and blueprint.server.port == 8000


@pytest.mark.parametrize("directive", ['@http(url: null)', '@http(path: null)'])
def test_null_url_is_a_missing_url(write_config, directive: str) -> None:
    path = write_config('schema @upstream(baseURL: "http://x") { query: Query }\n'
                        f"type Query {{ a: Int {directive} }}\n")
    assert '@http needs argument "url" (String!)' in messages(path)


def test_null_and_empty_call_steps(write_config) -> None:
    path = write_config('type Query { a: Int @call(steps: [{query: null}]) '
                        "b: Int @call(steps: []) }\n")
    assert messages(path) == [
        "@call on Query.a: step 1 needs exactly one of query or mutation",
        "@call on Query.b: steps must not be empty"]


@pytest.mark.parametrize(("text", "message"), [
    ("server:\n  port: !foo 1\n", "unsupported YAML tag !foo"),
    ("server:\n  port: !!int abc\n", "invalid YAML value 'abc' (invalid literal for int() "
                                     "with base 10: 'abc')"),
    ("server: &a\n  port: *a\n", "YAML aliases are not supported in settings files"),
    ("server:\n  port: 1\n  port: 2\n", 'duplicate key "port"'),
    ("? [a, b]\n: 1\n", "settings keys must be plain names"),
])
def test_yaml_problems_are_located(write_config, text: str, message: str) -> None:
    write_config(Q, "s.graphql")
    path = write_config(text, "s.yml")
    assert message in messages(path.parent / "s.graphql", path)


def test_yaml_billion_laughs_ends_quickly(write_config) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = write_config("\n".join(lines) + "\n", "laughs.yml")
    completed = run_plait("check", str(path), timeout=30)
    assert completed.returncode == 1
    assert "YAML aliases are not supported in settings files" in completed.stderr


def test_yaml_12_booleans(write_config) -> None:
    write_config(Q, "s.graphql")
    path = write_config("server:\n  hostname: yes\nupstream:\n  userAgent: no\n", "s.yml")
    blueprint = load_config(path.parent / "s.graphql", path)
    assert blueprint.server.hostname == "yes" and blueprint.upstream.user_agent == "no"


def test_json_settings_are_parsed_as_json(write_config) -> None:
    write_config(Q, "s.graphql")
    path = write_config('{"server":\t{"hostname": "\\ud83d\\ude00", "port": 8001}}', "s.json")
    blueprint = load_config(path.parent / "s.graphql", path)
    assert blueprint.server.hostname == "\U0001F600" and blueprint.server.port == 8001


@pytest.mark.parametrize(("text", "message", "col"), [
    ('{"server": {"port": NaN}}', "invalid JSON: expected a value", 21),
    ('{"server": {"port": 1e400}}', "invalid JSON: number out of range", 21),
    ('{"server": 1, "server": 2}', 'invalid JSON: duplicate key "server"', 15),
])
def test_json_settings_are_strict(write_config, text: str, message: str, col: int) -> None:
    path = write_config(text, "s.json")
    [diag] = check_config([str(path)]).diagnostics
    assert (diag.message, diag.loc.col) == (message, col)


def test_json_report_survives_odd_text(write_config) -> None:
    path = write_config('{"server": {"port": "\\ud83d\\ude00"}}', "s.json")
    completed = run_plait("check", str(path), "--format", "json")
    report = json.loads(completed.stdout)
    assert report["diagnostics"][0]["message"] == 'server.port: expected Int, found String "😀"'


def test_long_link_src(write_config) -> None:
    path = write_config('schema @link(src: "' + "a" * 5000 + '.graphql") { query: Query }\n' + Q)
    [message] = messages(path)
    assert message.startswith('cannot read linked Config file "aaaa')
    assert message.endswith(": File name too long")


def test_special_files_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "zero.graphql"
    os.symlink("/dev/zero", link)
    assert messages(link) == ["config path is not a regular file"]


def test_linked_file_with_bad_extension_points_at_the_link(write_config) -> None:
    write_config("notes", "notes.txt")
    path = write_config('schema @link(src: "notes.txt") { query: Query }\n' + Q)
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == 'linked Config file "notes.txt" has an unsupported type (.txt)'
    assert (diag.loc.file, diag.loc.line, diag.loc.col) == (str(path), 1, 8)


def test_linked_directory(write_config, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write_config('schema @link(src: "sub") { query: Query }\n' + Q)
    assert messages(path) == ['linked Config file "sub" is a directory']


def test_identical_definitions_in_linked_files_merge(write_config) -> None:
    shared = "type User { id: Int! name: String }\nenum E { A B }\n"
    write_config(shared, "b.graphql")
    path = write_config('schema @link(src: "b.graphql") { query: Query }\n'
                        'type Query { u: User @http(url: "http://h/u") e: E @expr(body: "A") }\n'
                        + shared, "a.graphql")
    blueprint = load_config(path)
    assert list(blueprint.type("User").fields) == ["id", "name"]


def test_conflicting_resolvers_in_linked_files(write_config) -> None:
    write_config('type Query { a: Int @expr(body: 2) }\n', "b.graphql")
    path = write_config('schema @link(src: "b.graphql") { query: Query }\n'
                        "type Query { a: Int @expr(body: 1) }\n", "a.graphql")
    [message] = messages(path)
    assert message.startswith('conflicting @expr on "Query.a" (also at ')


def test_one_bad_setting_does_not_hide_the_others(write_config) -> None:
    path = write_config('schema @server(port: "1", workers: 0, vars: [{key: "base", '
                        'value: "http://x"}]) { query: Query }\n'
                        'type Query { a: Int @http(url: "{{.vars.base}}/a") }\n')
    assert messages(path) == ['@server argument port: expected Int, found String "1"',
                              "@server workers must be between 1 and 1024, found 0"]


def test_every_batch_range_is_reported(write_config) -> None:
    path = write_config("schema @upstream(batch: {delay: 70000, maxSize: 0}) { query: Query }\n"
                        + Q)
    assert messages(path) == [
        "@upstream batch.delay must be between 0 and 60000, found 70000",
        "@upstream batch.maxSize must be between 1 and 100000, found 0"]


def test_type_level_call_is_checked(write_config) -> None:
    path = write_config(Q + 'type T @call(steps: [{query: "nope"}]) { x: Int }\n')
    assert messages(path) == ['@call on T: Query has no field "nope"']


def test_later_call_step_args_read_the_previous_result(write_config) -> None:
    sdl = ('type Query { post(id: Int!): Post @http(url: "http://x/posts/{{.args.id}}")\n'
           '  user(id: Int!): User @http(url: "http://x/users/{{.args.id}}")\n'
           '  a(postId: Int!): User @call(steps: [{query: "post", args: {id: "{{.args.postId}}"}},'
           ' {query: "user", args: {id: "{{.args.%s}}"}}]) }\n'
           'type Post { id: Int! userId: Int! }\ntype User { id: Int! }\n')
    assert messages(write_config(sdl % "userId")) == []
    assert messages(write_config(sdl % "userID")) == [
        '{{.args.userID}}: Post has no field "userID"; did you mean "userId"?']


@pytest.mark.parametrize(("sdl", "message"), [
    ("union U = T | T\ntype T { x: Int }\n", 'union U includes "T" twice'),
    ("interface J { x: Int }\ninterface I implements J { x: Int }\n"
     "type T implements I { x: Int }\n",
     "T implements I, which implements J, so T must also implement J (spec 3.7)"),
    ("input Rec { r: Rec! }\n", "input Rec can never be built: it requires itself through "
                                "non-null fields (Rec → Rec)"),
    ("type __Bad { x: Int }\n", '"__Bad": names starting with "__" are reserved for '
                                "introspection (spec 3.1)"),
    ("schema { query: Query mutation: Query }\n",
     'mutation root type "Query" is also the query root; use a separate type such as '
     "Mutation"),
])
def test_type_system_rules(write_config, sdl: str, message: str) -> None:
    assert message in messages(write_config(Q + sdl))


def test_template_path_cannot_continue_past_a_scalar(write_config) -> None:
    path = write_config('type Query { t: T @expr(body: {}) }\n'
                        'type T { x: Int j: JSON y: Int @expr(body: "{{.value.x.z}}") '
                        'k: Int @expr(body: "{{.value.j.z}}") }\n')
    assert messages(path) == ['{{.value.x.z}}: cannot read "z" from a Int value']


def test_batch_key_that_names_no_field_warns(write_config) -> None:
    path = write_config('schema @upstream(batch: {}) { query: Query }\n'
                        'type Query { ps: [P] @http(url: "http://h/p") }\n'
                        'type P { id: Int u: U @http(url: "http://h/u", query: [{key: "id", '
                        'value: "{{.value.id}}"}], batchKey: ["nope"]) }\ntype U { id: Int }\n')
    result = check_config([str(path)])
    assert result.blueprint is not None
    assert [d.message for d in result.diagnostics] == [
        'batchKey "nope" on P.u is not a field of U; it must be a key of every upstream item']


def test_empty_query_key(write_config) -> None:
    path = write_config('type Query { a: Int @http(url: "http://h", query: [{key: "", '
                        'value: "x"}]) }\n')
    assert messages(path) == ["@http on Query.a: query parameter key must not be empty"]


def test_unknown_argument_points_at_its_name(write_config) -> None:
    path = write_config('schema @server(port: 8000, unknownArg: 1) { query: Query }\n' + Q)
    [diag] = check_config([str(path)]).diagnostics
    assert diag.loc.col == 28


def test_add_field_through_a_union_says_so(write_config) -> None:
    path = write_config(Q + 'type W @addField(name: "x", path: ["u", "id"]) { u: U }\n'
                        "union U = A\ntype A { id: Int }\n")
    assert messages(path) == ['@addField path: "u" of W is a union (U); the path cannot go '
                              "past it"]


def test_error_report_is_capped(write_config) -> None:
    path = write_config('type Query { a: Int @http(url: "http://h/' + "{{.x}}" * 2000 + '") }\n')
    result = check_config([str(path)])
    assert len(result.diagnostics) == 1000 and result.dropped == 1000
    assert result.error_count == 2000
    completed = run_plait("check", str(path))
    assert "... and 1000 more not shown" in completed.stderr
    assert completed.stderr.endswith("plait check: 2000 errors, 0 warnings\n")


def test_batched_bodies_may_read_only_the_key() -> None:
    """Items batched into one POST share one call: a body reading anything but the key
    (here a header) would send one request's values for everybody's items."""
    from plait.planner.diagnostics import ConfigError

    sdl = """
schema @upstream(batch: {delay: 1}) { query: Query }
type Query { posts: [Post] @http(url: "http://127.0.0.1:1/posts") }
type Post {
  userId: Int
  user: User @http(url: "http://127.0.0.1:1/users", method: POST, batchKey: ["id"],
                   body: {id: "{{.value.userId}}", tenant: "{{.headers.x-tenant}}"})
}
type User { id: Int }
"""
    with pytest.raises(ConfigError) as raised:
        plait.load_config_string(sdl)
    assert "a batched body may read only the key" in str(raised.value)
    plait.load_config_string(sdl.replace(', tenant: "{{.headers.x-tenant}}"', ""))
