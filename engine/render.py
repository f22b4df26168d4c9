"""Render compiled templates against a request: URLs, query strings, headers, bodies.

Scope roots (Tailcall semantics): ``args`` (the field's coerced arguments), ``value`` (the
parent object), ``parent`` (the object above it), ``headers`` (request headers, by lower-case
name), ``env``, ``vars``. A missing value renders as an empty string; in URLs, values from
``args``/``value``/``parent``/``headers`` are percent-encoded (``vars`` and ``env`` are
config-controlled and inserted as they are, so ``{{.vars.api}}/posts`` works).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import msgspec

from plait.planner.templates import JsonTemplate, Ref, Template

from .values import lookup, plain

_PATH_SAFE = "-_.~!$&'()*+,;=:@"
_encode = msgspec.json.encode


class Scope:
    """The values templates can read while resolving one field for one parent."""

    __slots__ = ("args", "value", "parent", "headers", "env", "vars", "cache")

    def __init__(self, args: dict[str, Any], value: Any, parent: Any,
                 headers: dict[str, str], env: dict[str, str], vars: dict[str, str],
                 cache: dict[int, Any]) -> None:
        self.args = args
        self.value = value
        self.parent = parent
        self.headers = headers
        self.env = env
        self.vars = vars
        self.cache = cache

    def resolve(self, ref: Ref) -> Any:
        root = ref.root
        if root == "args":
            return plain(_walk(self.args, ref.path))
        if root == "value":
            return plain(lookup(self.value, ref.path, self.cache))
        if root == "parent":
            return plain(lookup(self.parent, ref.path, self.cache))
        if root == "headers":
            return self.headers.get(ref.path[0].lower()) if ref.path else dict(self.headers)
        if root == "env":
            return self.env.get(ref.path[0]) if ref.path else None
        if root == "vars":
            return self.vars.get(ref.path[0]) if ref.path else dict(self.vars)
        return None


class ResponseScope(Scope):
    """For ``select``: every path is read from the decoded upstream response."""

    __slots__ = ()

    def __init__(self, response: Any) -> None:
        super().__init__({}, response, None, {}, {}, {}, {})

    def resolve(self, ref: Ref) -> Any:
        return _walk(self.value, ref.path)


def _walk(value: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return None
    return value


def to_text(value: Any) -> str:
    """How a value appears inside a string template."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return _encode(value).decode()  # numbers, and objects/lists as JSON text


def render_text(template: Template, scope: Scope) -> str:
    if len(template.parts) == 1 and type(template.parts[0]) is str:
        return template.parts[0]  # type: ignore[return-value]
    return "".join(part if type(part) is str else to_text(scope.resolve(part))  # type: ignore
                   for part in template.parts)


def render_url(template: Template, scope: Scope) -> str:
    """The URL with its values encoded: in the path as path text (``/`` and ``?``
    escaped), after the first literal ``?`` as one query component (``&``, ``=``, ``+``,
    ``#`` and spaces escaped too, so a value cannot add parameters of its own)."""
    out = []
    safe = _PATH_SAFE
    for part in template.parts:
        if type(part) is str:
            out.append(part)
            if "?" in part:  # type: ignore[operator]
                safe = ""
        else:
            text = to_text(scope.resolve(part))  # type: ignore[arg-type]
            out.append(text if part.root in ("vars", "env") else quote(text, safe=safe))
    return "".join(out)


def render_value(template: Template, scope: Scope) -> Any:
    """A template as a JSON value: a lone ``{{...}}`` keeps the value's type."""
    ref = template.single_ref
    if ref is not None:
        return scope.resolve(ref)
    return render_text(template, scope)


def render_json(body: JsonTemplate, scope: Scope) -> Any:
    return _render_json(body.value, scope)


def _render_json(value: Any, scope: Scope) -> Any:
    if type(value) is Template:
        return render_value(value, scope)
    if isinstance(value, dict):
        return {key: _render_json(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_json(item, scope) for item in value]
    return value


def query_string(pairs: list[tuple[str, Any]]) -> str:
    """``k=v&k=v`` with list values repeated (Tailcall's batch convention)."""
    return _pairs(pairs, lambda text: quote(text, safe=""))


def form_string(pairs: list[tuple[str, Any]]) -> str:
    """``application/x-www-form-urlencoded`` as the WHATWG URL standard serializes it:
    a space is ``+``, every byte but ASCII alphanumerics and ``*-._`` is ``%XX``; list
    values repeat their key."""
    return _pairs(pairs, _form)


def _pairs(pairs: list[tuple[str, Any]], escape: Callable[[str], str]) -> str:
    out = []
    for key, value in pairs:
        values = value if isinstance(value, list) else [value]
        for item in values:
            out.append(f"{escape(key)}={escape(to_text(item))}")
    return "&".join(out)


def _form(text: str) -> str:
    return quote_plus(text, safe="*").replace("~", "%7E")


def with_query(url: str, query: str) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"
