"""Runtime settings: defaults, units, settings files and their precedence."""
from __future__ import annotations

from plait.planner import check_config, load_config, load_config_string

from .conftest import CONFIGS

LINKED = CONFIGS / "good" / "linked"


def test_defaults() -> None:
    blueprint = load_config_string("type Query { a: Int @expr(body: 1) }")
    assert blueprint.server.port == 8000 and blueprint.server.workers is None
    assert blueprint.server.introspection is True
    assert blueprint.upstream.batch is None and blueprint.upstream.allowed_headers == frozenset()
    assert blueprint.upstream.timeout_s == 60.0


def test_seconds_and_milliseconds_are_normalised() -> None:
    blueprint = load_config_string(
        "schema @server(globalResponseTimeout: 1500) @upstream(timeout: 3, connectTimeout: 1,"
        " batch: {delay: 7}) { query: Query }\ntype Query { a: Int @expr(body: 1) @cache(maxAge: 250) }")
    assert blueprint.server.global_response_timeout_ms == 1500
    assert (blueprint.upstream.timeout_s, blueprint.upstream.connect_timeout_s) == (3.0, 1.0)
    assert blueprint.upstream.batch is not None and blueprint.upstream.batch.delay_ms == 7
    assert blueprint.upstream.batch.max_size == 100
    assert blueprint.field("Query", "a").cache_max_age_ms == 250


def test_linked_settings_file_and_configs() -> None:
    result = check_config([str(LINKED / "main.graphql")])
    assert result.blueprint is not None, [d.format() for d in result.diagnostics]
    assert [f.rsplit("/", 1)[1] for f in result.files] == [
        "main.graphql", "types.graphql", "settings.yml", "more.graphql"]
    blueprint = result.blueprint
    assert blueprint.server.port == 8090
    assert blueprint.server.vars == {"api": "http://127.0.0.1:3000"}
    assert blueprint.upstream.batch is not None and blueprint.upstream.batch.max_size == 10
    assert set(blueprint.type("Query").fields) == {"posts", "users", "greet"}


def test_later_files_override_earlier_ones() -> None:
    blueprint = load_config(LINKED / "main.graphql", LINKED / "override.json")
    assert blueprint.server.port == 9000 and blueprint.server.hostname == "127.0.0.1"
    assert blueprint.upstream.allowed_headers == frozenset({"authorization"})
    assert blueprint.upstream.timeout_s == 5.0  # from settings.yml, not overridden


def test_settings_links_section_follows_configs(write_config) -> None:
    write_config("type Query { a: Int @expr(body: 1) }\n", "sub/types.graphql")
    path = write_config("links:\n  - src: sub/types.graphql\nserver:\n  port: 1234\n",
                        "settings.yaml")
    blueprint = load_config(path)
    assert blueprint.server.port == 1234 and "a" in blueprint.type("Query").fields


def test_link_cycles_load_each_file_once(write_config) -> None:
    write_config('schema @link(src: "a.graphql") { query: Query }\n'
                 "type Query { b: Int @expr(body: 2) }\n", "b.graphql")
    path = write_config('schema @link(src: "b.graphql") { query: Query }\n'
                        "type T { x: Int }\n", "a.graphql")
    result = check_config([str(path)])
    assert result.blueprint is not None and len(result.files) == 2


def test_remote_links_are_refused(write_config) -> None:
    path = write_config('schema @link(src: "http://example.invalid/c.graphql") '
                        "{ query: Query }\ntype Query { a: Int @expr(body: 1) }\n")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message == ("@link src http://example.invalid/c.graphql: plait reads linked "
                            "files from disk")


def test_missing_non_config_link(write_config) -> None:
    path = write_config('schema @link(type: Protobuf, src: "news.proto") { query: Query }\n'
                        "type Query { a: Int @expr(body: 1) }\n")
    [diag] = check_config([str(path)]).diagnostics
    assert diag.message.startswith('linked Protobuf file "news.proto" not found')


def test_legacy_response_headers_are_custom_headers(write_config) -> None:
    path = write_config('schema @server(responseHeaders: [{key: "x-a", value: "1"}], '
                        'headers: {custom: [{key: "x-b", value: "2"}]}) { query: Query }\n'
                        "type Query { a: Int @expr(body: 1) }\n")
    result = check_config([str(path)])
    assert result.blueprint is not None
    assert result.blueprint.server.response_headers == (("x-a", "1"), ("x-b", "2"))
    assert [d.message for d in result.diagnostics] == [
        "@server argument responseHeaders is deprecated; use headers: {custom: [...]}"]
