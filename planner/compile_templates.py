"""Compile located strings and JSON values into templates, reporting errors in place."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from .diagnostics import Diagnostics, Loc
from .located import LValue
from .templates import ROOTS, JsonTemplate, Ref, Template, parse_template


def _offset_loc(value: LValue, offset: int) -> Loc:
    """Exact position of character ``offset`` of a one-line string literal, else its start."""
    if value.text_col is None:
        return value.loc
    return Loc(value.loc.file, value.loc.line, value.text_col + offset)


def compile_string(value: LValue, diags: Diagnostics, what: str,
                   roots: tuple[str, ...] | None = ROOTS) -> Template:
    """Compile a located string; each reference remembers its position."""
    template, errors = parse_template(value.value, roots)
    for error in errors:
        diags.error(_offset_loc(value, error.offset), f"{what}: {error.message}", error.hint)
    parts = tuple(replace(part, loc=_offset_loc(value, part.offset))
                  if isinstance(part, Ref) else part for part in template.parts)
    return Template(parts)


def compile_json(value: LValue, diags: Diagnostics, what: str,
                 roots: tuple[str, ...] | None = ROOTS) -> JsonTemplate:
    """Compile JSON data; strings holding ``{{`` become :class:`Template` objects."""
    return JsonTemplate(_compile(value, diags, what, roots))


def _compile(value: LValue, diags: Diagnostics, what: str,
             roots: tuple[str, ...] | None) -> Any:
    # Depth is bounded by the parser's nesting limit, so recursion is safe here.
    if value.kind == "string":
        if "{{" not in value.value:
            return value.value
        return compile_string(value, diags, what, roots)
    if value.kind == "list":
        return [_compile(item, diags, what, roots) for item in value.value]
    if value.kind == "object":
        return {key: _compile(item, diags, what, roots) for key, item in value.value.items()}
    return value.value
