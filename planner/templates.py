"""Mustache templates in directive arguments: ``{{.args.id}}``, ``{{.value.userId}}`` ...

A template string compiles once, at config load, into literal text and :class:`Ref` parts.
Roots (Tailcall dialect): ``args`` (the field's arguments), ``value`` (the parent object),
``parent`` (the object one level above ``value``), ``headers`` (request headers), ``env``
(process environment), ``vars`` (``@server(vars:)``). The leading dot is optional.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Loc, did_you_mean

ROOTS = ("args", "value", "parent", "headers", "env", "vars")
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*|[0-9]+")


@dataclass(frozen=True, slots=True)
class Ref:
    """A ``{{.root.a.b}}`` reference; ``offset`` is where ``{{`` starts in the string."""

    root: str
    path: tuple[str, ...]
    offset: int = field(default=0, compare=False)
    #: Where the reference is in the config (set when compiled from a located value).
    loc: Loc | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return "{{." + ".".join((self.root, *self.path)) + "}}"


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template: literal strings and :class:`Ref` parts, in order."""

    parts: tuple[str | Ref, ...]

    @property
    def refs(self) -> tuple[Ref, ...]:
        return tuple(part for part in self.parts if isinstance(part, Ref))

    @property
    def is_constant(self) -> bool:
        return not self.refs

    @property
    def single_ref(self) -> Ref | None:
        """The reference when the whole string is one ``{{...}}`` (keeps its JSON type)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Ref):
            return self.parts[0]
        return None

    def source(self) -> str:
        return "".join(str(part) for part in self.parts)


@dataclass(frozen=True, slots=True)
class TemplateError:
    """A problem at ``offset`` (characters into the template string)."""

    offset: int
    message: str
    hint: str | None = None


def parse_template(text: str, roots: tuple[str, ...] | None = ROOTS
                   ) -> tuple[Template, list[TemplateError]]:
    """Compile ``text``. ``roots=None`` accepts any first segment (``select`` paths)."""
    parts: list[str | Ref] = []
    errors: list[TemplateError] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            if pos < len(text):
                parts.append(text[pos:])
            break
        if start > pos:
            parts.append(text[pos:start])
        end = text.find("}}", start + 2)
        if end < 0:
            errors.append(TemplateError(start, "unterminated template: missing \"}}\""))
            parts.append(text[start:])
            break
        ref, error = _parse_ref(text[start + 2:end], start, roots)
        if error:
            errors.append(error)
        elif ref:
            parts.append(ref)
        pos = end + 2
    merged: list[str | Ref] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return Template(tuple(merged)), errors


def _parse_ref(inner: str, offset: int, roots: tuple[str, ...] | None
               ) -> tuple[Ref | None, TemplateError | None]:
    expr = inner.strip()
    if expr.startswith("."):
        expr = expr[1:]
    if not expr:
        shown = "{{" + inner + "}}"
        return None, TemplateError(offset, f'empty template "{shown}"',
                                   "write a path such as {{.args.id}}")
    segments = expr.split(".")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            return None, TemplateError(offset, f'invalid template path "{inner.strip()}"',
                                       "paths are dot-separated names, e.g. {{.value.userId}}")
    if roots is not None and segments[0] not in roots:
        guess = did_you_mean(segments[0], roots)
        return None, TemplateError(
            offset, f'unknown template root "{segments[0]}"{guess}',
            f"a template starts with one of: {', '.join('.' + r for r in roots)}")
    if roots is None:
        return Ref("", tuple(segments), offset), None
    return Ref(segments[0], tuple(segments[1:]), offset), None


@dataclass(frozen=True, slots=True)
class JsonTemplate:
    """JSON data (``@expr`` bodies, ``@http`` bodies, ``@call`` args) whose strings may
    hold templates; ``value`` mirrors the JSON with each templated string replaced by a
    :class:`Template`."""

    value: Any

    def templates(self) -> list[Template]:
        found: list[Template] = []
        stack = [self.value]
        while stack:
            current = stack.pop()
            if isinstance(current, Template):
                found.append(current)
            elif isinstance(current, dict):
                stack.extend(current.values())
            elif isinstance(current, list):
                stack.extend(current)
        return found

    @property
    def is_constant(self) -> bool:
        return all(t.is_constant for t in self.templates())
