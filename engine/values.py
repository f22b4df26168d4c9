"""Upstream JSON as the VMs see it: decoded lazily, never re-encoded when it passes through.

Responses are decoded once with msgspec into the shape the field's type expects — objects
as ``dict[str, msgspec.Raw]`` — so a leaf selected unchanged is copied to the response as
its original bytes. Nested values are decoded on first use and cached per request by
identity (:func:`materialize`), so every part of the engine sees the same object.
"""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Raw

_MISSING: Any = object()

_decode_any = msgspec.json.Decoder().decode
_decode_object = msgspec.json.Decoder(dict[str, Raw]).decode
_decode_list = msgspec.json.Decoder(list[Raw]).decode


class FieldError:
    """A field that failed: written as null with an error (spec 7.1.2)."""

    __slots__ = ("message", "extensions")

    def __init__(self, message: str, extensions: dict[str, Any] | None = None) -> None:
        self.message = message
        self.extensions = extensions

    def __repr__(self) -> str:
        return f"FieldError({self.message!r})"


#: ``extensions`` of errors for upstream bodies that are not JSON.
_INVALID = {"code": "UPSTREAM_INVALID_RESPONSE"}


def decode_response(body: bytes, decoder: msgspec.json.Decoder) -> Any:
    """Decode an upstream body with the step's decoder (built by the planner from the
    field's type); a shape mismatch falls back to generic decoding (the writer then reports
    the mismatch where it is), invalid JSON is a :class:`FieldError`."""
    if not body.strip():
        return FieldError("upstream returned an empty body", _INVALID)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        return FieldError(f"upstream returned invalid JSON ({exc})", _INVALID)
    try:
        return _decode_any(body)
    except msgspec.DecodeError as exc:  # pragma: no cover - the typed pass saw the same bytes
        return FieldError(f"upstream returned invalid JSON ({exc})", _INVALID)


def materialize(value: Any, cache: dict[int, Any]) -> Any:
    """Decode a ``Raw`` one level (objects to ``dict[str, Raw]``, lists to ``list[Raw]``,
    scalars fully), cached by identity; other values are returned as they are."""
    if type(value) is not Raw:
        return value
    key = id(value)
    found = cache.get(key, _MISSING)
    if found is not _MISSING:
        return found
    data = bytes(value)
    first = data.lstrip()[:1]
    if first == b"{":
        decoded: Any = _decode_object(data)
    elif first == b"[":
        decoded = _decode_list(data)
    else:
        decoded = _decode_any(data)
    cache[key] = decoded
    return decoded


def plain(value: Any) -> Any:
    """Fully decoded Python data (for templates, batch keys, ``select``)."""
    if type(value) is Raw:
        return _decode_any(bytes(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def lookup(value: Any, path: tuple[str, ...], cache: dict[int, Any]) -> Any:
    """Follow ``path`` (keys, or list indexes as digit strings) into a value; None when
    any step is missing."""
    return _follow(value, path, cache, False)


def lookup_mapped(value: Any, path: tuple[str, ...], cache: dict[int, Any]) -> Any:
    """Follow an ``@addField`` path: like :func:`lookup`, but a key segment that meets a
    list maps the rest of the path over its items (a list of the values found, nulls
    kept, nested lists for nested lists), as the planner types such a field."""
    return _follow(value, path, cache, True)


def _follow(value: Any, path: tuple[str, ...], cache: dict[int, Any], map_lists: bool) -> Any:
    current = value
    for position, segment in enumerate(path):
        current = materialize(current, cache)
        if isinstance(current, dict):
            current = current.get(segment)
        elif isinstance(current, list):
            if not segment.isdigit():
                if not map_lists:
                    return None
                rest = path[position:]
                return [_follow(item, rest, cache, True) for item in current]
            index = int(segment)
            current = current[index] if index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return materialize(current, cache)
