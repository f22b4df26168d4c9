"""Parse JSON (RFC 8259) into located values, so settings errors name line:column.

Iterative (no recursion limit to hit) and strict: no NaN/Infinity, no trailing commas,
duplicate keys are errors. Strings use the standard library's scanner (escapes and
surrogate pairs as ``json`` does).
"""
from __future__ import annotations

import bisect
from json.decoder import scanstring  # type: ignore[attr-defined]
from json.scanner import NUMBER_RE  # type: ignore[attr-defined]

from .diagnostics import Loc
from .located import LValue

#: Deepest nesting accepted in a settings file.
MAX_DEPTH = 256
_WS = " \t\n\r"


class JsonError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Positions:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]

    def loc(self, offset: int) -> Loc:
        index = bisect.bisect_left(self.newlines, offset)
        start = self.newlines[index - 1] + 1 if index else 0
        return Loc(self.file, index + 1, offset - start + 1)


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def parse_json_located(text: str, file: str) -> LValue:
    """Parse ``text``; raise :class:`JsonError` (message, offset) when it is not JSON."""
    where = _Positions(text, file)
    # Stack entries: [container LValue, pending key (objects), key offset]
    stack: list[list] = []
    pos = _skip(text, 0)
    root: LValue | None = None
    while True:
        if pos >= len(text):
            raise JsonError("unexpected end of data", pos)
        char = text[pos]
        value: LValue | None = None
        if char == "{" or char == "[":
            if len(stack) >= MAX_DEPTH:
                raise JsonError("settings file is nested too deeply", pos)
            container = LValue("object" if char == "{" else "list",
                               {} if char == "{" else [], where.loc(pos))
            stack.append([container, None, 0])
            pos = _skip(text, pos + 1)
            closing = "}" if char == "{" else "]"
            if pos < len(text) and text[pos] == closing:
                pos += 1
                stack.pop()
                value = container
            elif char == "{":
                pos = _read_key(text, pos, stack[-1], where)
                continue
            else:
                continue
        elif char == '"':
            try:
                string, end = scanstring(text, pos + 1)
            except ValueError as exc:
                raise JsonError(f"invalid string: {_reason(exc)}", pos) from None
            value = LValue("string", string, where.loc(pos), text_col=None)
            pos = end
        else:
            match = NUMBER_RE.match(text, pos)
            if match is not None:
                integer, fraction, exponent = match.groups()
                if fraction or exponent:
                    number = float(integer + (fraction or "") + (exponent or ""))
                    if number in (float("inf"), float("-inf")):
                        raise JsonError("number out of range", pos)
                    value = LValue("float", number, where.loc(pos))
                else:
                    value = LValue("int", int(integer), where.loc(pos))
                pos = match.end()
            else:
                for word, kind, literal in (("true", "boolean", True),
                                            ("false", "boolean", False),
                                            ("null", "null", None)):
                    if text.startswith(word, pos):
                        value = LValue(kind, literal, where.loc(pos))
                        pos += len(word)
                        break
                else:
                    raise JsonError("expected a value", pos)
        # attach ``value`` to its container, then move past separators
        while True:
            if not stack:
                root = value
                pos = _skip(text, pos)
                if pos != len(text):
                    raise JsonError("extra data after the value", pos)
                assert root is not None
                return root
            top = stack[-1]
            container = top[0]
            if container.kind == "object":
                container.value[top[1]] = value
            else:
                container.value.append(value)
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip(text, pos + 1)
                if container.kind == "object":
                    pos = _read_key(text, pos, top, where)
                break
            closing = "}" if container.kind == "object" else "]"
            if pos < len(text) and text[pos] == closing:
                pos += 1
                stack.pop()
                value = container
                continue
            raise JsonError(f"expected ',' or '{closing}'", pos)


def _reason(exc: ValueError) -> str:
    message = getattr(exc, "msg", str(exc))
    return message.replace(" starting at", "").lower()


def _read_key(text: str, pos: int, top: list, where: _Positions) -> int:
    if pos >= len(text) or text[pos] != '"':
        raise JsonError("expected a property name in double quotes", pos)
    try:
        key, end = scanstring(text, pos + 1)
    except ValueError as exc:
        raise JsonError(f"invalid string: {_reason(exc)}", pos) from None
    container: LValue = top[0]
    if key in container.value:
        raise JsonError(f'duplicate key "{key}"', pos)
    container.key_locs[key] = where.loc(pos)
    top[1] = key
    end = _skip(text, end)
    if end >= len(text) or text[end] != ":":
        raise JsonError("expected ':'", end)
    return _skip(text, end + 1)
