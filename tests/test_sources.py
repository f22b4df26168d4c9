"""Hostile and broken config files: a clear located error and exit 1, never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_plait


def check_fails_cleanly(path: Path | str, *extra: str) -> str:
    completed = run_plait("check", str(path), *extra)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout
    assert "internal error" not in completed.stderr
    return completed.stderr


def test_missing_file(tmp_path: Path) -> None:
    err = check_fails_cleanly(tmp_path / "nope.graphql")
    assert err.startswith(f"{tmp_path / 'nope.graphql'}:1:1: config file not found\n")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "dir.graphql"
    folder.mkdir()
    assert "config path is a directory, not a file" in check_fails_cleanly(folder)


def test_wrong_extension(write_config) -> None:
    err = check_fails_cleanly(write_config("type Query { a: Int }", "config.txt"))
    assert ":1:1: unsupported config file type (.txt)\n" in err
    assert "hint: use .graphql or .gql for the schema" in err


@pytest.mark.parametrize("text", ["", "   \n\t\n"], ids=["empty", "whitespace"])
def test_empty_file(write_config, text: str) -> None:
    assert ":1:1: config file is empty\n" in check_fails_cleanly(write_config(text))


def test_comments_only(write_config) -> None:
    err = check_fails_cleanly(write_config("# nothing here\n# at all\n"))
    assert "syntax error: Unexpected <EOF>" in err


def test_binary_junk(write_config) -> None:
    path = write_config(b"type Query {\n  a: Int\x00\x01\x02\xff\xfe }")
    assert ":2:9: config file is binary, not text (NUL byte)\n" in check_fails_cleanly(path)


def test_invalid_utf8(write_config) -> None:
    path = write_config(b"type Query {\n  a: Int # caf\xe9\n}")
    assert ":2:15: config file is not UTF-8 text (invalid byte 0xe9)\n" in \
        check_fails_cleanly(path)


def test_utf8_bom_is_accepted(write_config) -> None:
    path = write_config("\ufefftype Query { a: Int @expr(body: 1) }\n".encode())
    assert run_plait("check", str(path)).returncode == 0


def test_ten_megabytes_of_nested_brackets(write_config) -> None:
    depth = 5 * 1024 * 1024
    path = write_config('type Query { a: Int @expr(body: ' + "[" * depth + "]" * depth + ") }")
    err = check_fails_cleanly(path)
    assert "syntax error: Document is nested too deeply. Parsing aborted" in err


def test_ten_megabytes_of_open_braces(write_config) -> None:
    path = write_config("type Query " + "{" * (10 * 1024 * 1024))
    assert ":1:13: syntax error: Expected Name, found '{'" in check_fails_cleanly(path)


def test_deeply_nested_settings_files(write_config) -> None:
    depth = 200_000
    err = check_fails_cleanly(write_config("[" * depth + "]" * depth, "s.json"))
    assert "s.json:1:257: invalid JSON: settings file is nested too deeply\n" in err
    err = check_fails_cleanly(write_config("[" * depth, "s.yml"))
    assert "s.yml:1:1: settings file is nested too deeply\n" in err


def test_file_over_the_size_limit(write_config) -> None:
    path = write_config(b"#" * (16 * 1024 * 1024 + 1))
    assert "config file is too large (over 16777216 bytes)" in check_fails_cleanly(path)


def test_all_files_are_read_even_when_one_is_broken(write_config, tmp_path: Path) -> None:
    good = write_config("type Query { a: Int @htp(url: \"x\") }\n", "a.graphql")
    completed = run_plait("check", str(tmp_path / "missing.graphql"), str(good))
    assert completed.returncode == 1
    assert "config file not found" in completed.stderr
    assert 'unknown directive "@htp"' in completed.stderr
