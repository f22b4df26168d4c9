"""Mustache template compilation (``{{.args.id}}`` and friends)."""
from __future__ import annotations

import pytest

from plait.planner.templates import ROOTS, Ref, Template, parse_template


def test_literal_only() -> None:
    template, errors = parse_template("http://h/posts")
    assert errors == [] and template.parts == ("http://h/posts",) and template.is_constant


def test_refs_between_literals() -> None:
    template, errors = parse_template("http://h/{{.args.id}}/c?x={{ .value.a.b }}")
    assert errors == []
    assert template.parts == ("http://h/", Ref("args", ("id",)), "/c?x=",
                              Ref("value", ("a", "b")))
    assert [r.offset for r in template.refs] == [9, 26]


def test_leading_dot_is_optional_and_whole_roots_allowed() -> None:
    template, errors = parse_template("{{args}}{{value.0.id}}")
    assert errors == []
    assert template.parts == (Ref("args", ()), Ref("value", ("0", "id")))


def test_single_ref_keeps_json_type() -> None:
    assert parse_template("{{.args.id}}")[0].single_ref == Ref("args", ("id",))
    assert parse_template("x{{.args.id}}")[0].single_ref is None


@pytest.mark.parametrize("root", ROOTS)
def test_every_root_is_known(root: str) -> None:
    template, errors = parse_template("{{." + root + ".x}}")
    assert errors == [] and template.refs[0].root == root


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("a{{.args.id", 1, 'unterminated template: missing "}}"'),
    ("{{}}", 0, 'empty template "{{}}"'),
    ("xx{{ . }}", 2, 'empty template "{{ . }}"'),
    ("{{.args..id}}", 0, 'invalid template path ".args..id"'),
    ("{{.args.a b}}", 0, 'invalid template path ".args.a b"'),
    ("{{.valeu.id}}", 0, 'unknown template root "valeu"; did you mean "value"?'),
    ("{{.foo}}", 0, 'unknown template root "foo"'),
])
def test_errors_carry_offsets(text: str, offset: int, message: str) -> None:
    _, errors = parse_template(text)
    assert [(e.offset, e.message) for e in errors] == [(offset, message)]


def test_select_paths_accept_any_root() -> None:
    template, errors = parse_template("{{.data.user}}", roots=None)
    assert errors == [] and template.parts == (Ref("", ("data", "user")),)


def test_source_round_trip() -> None:
    text = "http://h/{{.args.id}}?q={{.headers.x-key}}"
    assert parse_template(text)[0].source() == text
    assert Template(()).source() == ""
