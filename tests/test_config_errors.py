"""Each error kind of ``plait check``, with exact messages and positions.

Every ``tests/configs/bad/NAME.graphql`` has a ``NAME.expected`` beside it holding exactly
what ``plait check NAME.graphql`` prints (run from that directory): every error, each as
``file:line:col: message`` with its hint, and the summary line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from plait.planner import Severity, check_config

from .conftest import CONFIGS, run_plait

BAD = CONFIGS / "bad"
CASES = sorted(p.relative_to(BAD) for p in BAD.rglob("*.graphql") if p.with_suffix(".expected").exists())


@pytest.mark.parametrize("case", CASES, ids=[str(c.with_suffix("")) for c in CASES])
def test_bad_config_reports_every_error(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    expected = (BAD / case).with_suffix(".expected").read_text()
    result = check_config([str(case)])
    assert result.blueprint is None
    errors = sum(d.severity is Severity.ERROR for d in result.diagnostics)
    warnings = len(result.diagnostics) - errors
    printed = "".join(d.format() + "\n" for d in result.diagnostics)
    printed += f"plait check: {errors} error{'s' * (errors != 1)}, " \
               f"{warnings} warning{'s' * (warnings != 1)}\n"
    assert printed == expected


def test_cli_prints_the_same_and_exits_1() -> None:
    completed = run_plait("check", "templates.graphql", cwd=BAD)
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == (BAD / "templates.expected").read_text()


def test_all_errors_are_reported_not_only_the_first() -> None:
    result = check_config([str(BAD / "directives.graphql")])
    messages = [d.message for d in result.diagnostics]
    assert len(messages) >= 10
    assert any("port" in m for m in messages) and any("@omit" in m for m in messages)


def test_json_format_lists_diagnostics_with_positions() -> None:
    import json

    completed = run_plait("check", "unknown_type.graphql", "--format", "json", cwd=BAD)
    assert completed.returncode == 1
    report = json.loads(completed.stdout)
    assert report["ok"] is False
    assert report["diagnostics"][0] == {
        "file": "unknown_type.graphql", "line": 9, "column": 9, "severity": "error",
        "message": 'unknown type "Usr" in field Post.user; did you mean "User"?', "hint": None,
    }


def test_unknown_type_did_you_mean_only_offers_fitting_kinds(write_config) -> None:
    path = write_config('type Query { a(x: Poste): Int @expr(body: 1) }\n'
                        'type Post { id: Int }\ninput PostIn { id: Int }\n')
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == 'unknown type "Poste" in argument Query.a(x:); did you mean "PostIn"?'
    assert (diag.loc.line, diag.loc.col) == (1, 19)


def test_template_column_points_inside_the_string(write_config) -> None:
    path = write_config('type Query {\n  a(id: Int): Int @http(url: "http://h/{{.args.x}}/{{.args.id}}")\n}\n')
    [diag] = check_config([str(path)]).diagnostics
    line = path.read_text().splitlines()[1]
    assert diag.loc.col == line.index("{{.args.x}}") + 1
    assert diag.message.startswith('{{.args.x}}: Query.a has no argument "x"')


def test_template_in_escaped_string_points_at_the_string(write_config) -> None:
    # With escapes the offset inside the literal is not exact, so the string start is used.
    path = write_config('type Query {\n  a: Int @http(url: "http://h/\\u0041{{.args.x}}")\n}\n')
    [diag] = check_config([str(path)]).diagnostics
    assert (diag.loc.line, diag.loc.col) == (2, 21)


def test_settings_yaml_errors_point_into_the_yaml(write_config) -> None:
    write_config("type Query { a: Int @expr(body: 1) }\n", "schema.graphql")
    path = write_config("server:\n  port: 8000\n  workers: many\n", "settings.yml")
    result = check_config([str(path.parent / "schema.graphql"), str(path)])
    [diag] = result.diagnostics
    assert diag.message == 'server.workers: expected Int, found String "many"'
    assert (diag.loc.file, diag.loc.line, diag.loc.col) == (str(path), 3, 12)


def test_json_settings_syntax_error_is_located(write_config) -> None:
    path = write_config('{"server": {"port": 80,}}', "settings.json")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message.startswith("invalid JSON: ")
    assert (diag.loc.line, diag.loc.col) == (1, 24)


def test_yaml_syntax_error_is_located(write_config) -> None:
    path = write_config("server:\n  port: [8000\n", "settings.yaml")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message.startswith("invalid YAML: ")
    assert diag.loc.line == 3


def test_settings_file_alone_has_no_query_root(write_config) -> None:
    path = write_config("server:\n  port: 8000\n", "settings.yml")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == "the config has no query root"


def test_conflicting_query_roots(write_config) -> None:
    write_config("schema { query: Other }\ntype Other { a: Int @expr(body: 1) }\n", "b.graphql")
    path = write_config('schema @link(src: "b.graphql") { query: Query }\n'
                        "type Query { a: Int @expr(body: 1) }\n", "a.graphql")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message.startswith('query root is "Other" here but "Query" at ')


def test_extend_unknown_type(write_config) -> None:
    path = write_config("type Query { a: Int @expr(body: 1) }\nextend type Post { b: Int }\n")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == 'cannot extend unknown type "Post"'
    assert (diag.loc.line, diag.loc.col) == (2, 13)


def test_operations_do_not_belong_in_configs(write_config) -> None:
    path = write_config("type Query { a: Int @expr(body: 1) }\nquery { a }\n")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == "operations and fragments do not belong in a config file"


def test_variables_are_refused_in_directive_arguments(write_config) -> None:
    path = write_config("type Query { a: Int @http(url: $url) }\n")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == "syntax error: Unexpected variable '$url' in constant value"
    assert (diag.loc.line, diag.loc.col) == (1, 32)


def test_subscriptions_are_refused(write_config) -> None:
    path = write_config("schema { query: Query subscription: S }\n"
                        "type Query { a: Int @expr(body: 1) }\ntype S { b: Int }\n")
    messages = [d.message for d in check_config([str(path)]).diagnostics]
    assert messages == ["subscriptions are not supported yet"]


def test_batch_key_on_post_needs_value_in_body(write_config) -> None:
    path = write_config(
        'schema @upstream(batch: {delay: 1}) { query: Query }\n'
        'type Query { posts: [Post] @http(url: "http://h/posts") }\n'
        'type Post { id: Int u: User @http(url: "http://h/u", method: POST, body: {a: 1}, '
        'batchKey: ["id"]) }\ntype User { id: Int }\n')
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == ("@http on Post.u: batchKey on POST needs a body that uses "
                            "{{.value...}} (per-item bodies are sent as one JSON array)")


def test_parent_template_on_a_root_type(write_config) -> None:
    path = write_config('type Query { a: Int @expr(body: "{{.parent.x}}") }\n')
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == ("{{.parent.x}}: Query is not nested in another type, so it has "
                            "no parent value")


def test_parent_template_checks_every_containing_type(write_config) -> None:
    path = write_config(
        'type Query { a: A @expr(body: {}) b: B @expr(body: {}) }\n'
        'type A { title: String c: C }\ntype B { c: C }\n'
        'type C { t: String @expr(body: "{{.parent.title}}") }\n')
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == '{{.parent.title}}: B has no field "title"'
