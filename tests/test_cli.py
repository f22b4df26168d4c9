"""The ``plait`` command: version, help, module entry point, exit codes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import plait

from .conftest import BENCH_CONFIG, CONFIGS, REPO, run_plait


def test_version() -> None:
    completed = run_plait("--version")
    assert completed.returncode == 0
    assert completed.stdout == f"plait {plait.__version__}\n"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "plait"
    assert script.exists(), "the `plait` console script is not installed beside python"
    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                               timeout=60)
    assert completed.stdout == f"plait {plait.__version__}\n"


def test_help_lists_commands() -> None:
    completed = run_plait("--help")
    assert completed.returncode == 0
    assert "check" in completed.stdout and "validate configs" in completed.stdout


def test_check_help_names_its_options() -> None:
    completed = run_plait("check", "--help")
    assert completed.returncode == 0
    for option in ("--n-plus-one-queries", "--format", "CONFIG"):
        assert option in completed.stdout


def test_no_command_prints_help_and_exits_2() -> None:
    completed = run_plait()
    assert completed.returncode == 2
    assert "usage: plait" in completed.stdout


def test_unknown_option_is_a_usage_error() -> None:
    completed = run_plait("check", "--bogus", str(BENCH_CONFIG))
    assert completed.returncode == 2
    assert "unrecognized arguments: --bogus" in completed.stderr


def test_valid_config_exits_0_with_one_line_summary() -> None:
    completed = run_plait("check", str(CONFIGS / "good" / "kitchen_sink.graphql"))
    assert completed.returncode == 0, completed.stderr
    [line] = completed.stdout.splitlines()
    assert line.startswith(f"ok: {CONFIGS / 'good' / 'kitchen_sink.graphql'}: 14 types, ")
    assert "2 warnings;" in line
    # Settings plait reads but does not act on are warnings, never silently ignored.
    sink = CONFIGS / "good" / "kitchen_sink.graphql"
    assert completed.stderr == (
        f"{sink}:9:22: warning: @telemetry export has no effect: plait does not export "
        "telemetry yet\n"
        f"{sink}:9:72: warning: @telemetry requestHeaders has no effect: plait does not "
        "export telemetry yet\n")


def test_warnings_do_not_fail_the_check(write_config) -> None:
    path = write_config('type Query { posts: [P] @http(url: "http://h/p") }\n'
                        'type P { id: Int u: Int @http(url: "http://h/u", '
                        'query: [{key: "id", value: "{{.value.id}}"}], batchKey: ["id"]) }\n')
    completed = run_plait("check", str(path))
    assert completed.returncode == 0
    assert "warning: batchKey on P.u without @upstream(batch: ...)" in completed.stderr
    assert "1 warning;" in completed.stdout


def test_explain_prints_the_plan() -> None:
    completed = run_plait("explain", str(BENCH_CONFIG),
                          "{posts{id userId title user{id name email}}}")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == "query — 2 step(s), 7 instruction(s)"
    assert "  #0 fetch Query.posts for r0: @http GET http://127.0.0.1:3000/posts (dedupe)" in lines
    assert ("  #1 fetch Post.user for r1 after #0: @http GET "
            "http://127.0.0.1:3000/users/{{.value.userId}} (dedupe)") in lines
    assert lines[-1] == "critical path: 2 dependent upstream call(s)"


def test_explain_shows_batches_and_reads_query_files(tmp_path) -> None:
    query = tmp_path / "q.graphql"
    query.write_text("query Q($c: Boolean!) { posts { comments @include(if: $c) { id } } }")
    completed = run_plait("explain", str(REPO / "examples" / "jsonplaceholder.graphql"),
                          str(query), "--variables", '{"c": true}')
    assert completed.returncode == 0, completed.stderr
    assert "#1 batch Post.comments for r1 after #0: @http GET {{.vars.api}}/comments?" \
           "postId={{.value.id}} (batched by postId)" in completed.stdout


def test_explain_reports_query_errors() -> None:
    completed = run_plait("explain", str(REPO / "examples" / "jsonplaceholder.graphql"),
                          "{ posts { nope } }")
    assert completed.returncode == 1
    assert completed.stderr == ('error (line 1, column 11): Cannot query field "nope" on '
                                'type "Post".\n')


def test_settings_plait_does_not_act_on_are_warnings(write_config) -> None:
    path = write_config(
        'schema @server(version: HTTP2, batchRequests: false)\n'
        '  @upstream(proxy: {url: "http://proxy"}, batch: {delay: 1, headers: ["x-a"]}) {\n'
        '  query: Query\n}\n'
        'type Query { a: Int @expr(body: 1) }\n')
    completed = run_plait("check", str(path))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines() == [
        f"{path}:1:25: warning: @server version has no effect: plait serves HTTP/1.1 only, "
        "not HTTP2",
        f"{path}:1:47: warning: @server batchRequests has no effect: plait always accepts "
        "batched requests (a JSON array body)",
        f"{path}:2:20: warning: @upstream proxy has no effect: plait connects to upstreams "
        "directly",
        f"{path}:2:70: warning: @upstream batch.headers has no effect: plait batches calls "
        "apart whenever any header sent upstream differs"]
    assert "4 warnings;" in completed.stdout


def test_unsupported_batch_and_hook_settings_are_errors(write_config) -> None:
    path = write_config(
        'schema @upstream(onRequest: "sign", batch: {delay: 1}) { query: Query }\n'
        'type Query { posts: [P] @expr(body: [{id: 1}]) }\n'
        'type P { id: Int u: Int @http(url: "http://h/u", method: POST, '
        'encoding: ApplicationXWwwFormUrlencoded, body: {id: "{{.value.id}}"}, '
        'batchKey: ["id"]) }\n')
    completed = run_plait("check", str(path))
    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    assert f"{path}:1:29: @upstream onRequest: onRequest hooks are not supported" in lines
    assert (f"{path}:3:144: @http on P.u: batchKey on POST cannot batch form bodies "
            "(encoding: ApplicationXWwwFormUrlencoded): the per-item bodies are sent as one "
            "JSON array") in lines
