"""Tailcall's custom scalars: which values each one accepts (on output and on input).

``JSON`` and ``Empty`` take any value, and so do scalars a config declares under other
names. The others are checked by name:

| scalar | accepts |
|---|---|
| ``Int8`` … ``Int32``, ``UInt8`` … ``UInt32`` | an integer in the type's range (a JSON number; ``34.0`` counts as ``34``) |
| ``Int64``, ``Int128``, ``UInt64``, ``UInt128`` | an integer in range, as a number or as a string of decimal digits (``"9007199254740993"``, exact beyond 53 bits) |
| ``Email`` | an address ``local@domain`` (the HTML living standard's valid e-mail address) |
| ``PhoneNumber`` | digits with an optional leading ``+``, spaces, ``-``, ``.``, ``/``, parentheses and an ``x``/``ext`` extension; 3 to 20 digits |
| ``Date`` | an ISO 8601 full-date ``YYYY-MM-DD`` that exists |
| ``DateTime`` | an RFC 3339 date-time (``2024-01-31T10:00:00Z``, ``...+02:00``) |
| ``Url`` | an absolute URL (a scheme, then no whitespace) |
| ``Bytes`` | a string |

A rejected value is reported as ``<Scalar> cannot represent value: <value as JSON>``.
"""
from __future__ import annotations

import datetime
import re
from typing import Any

_INT_RANGES = {
    "Int8": (-(2 ** 7), 2 ** 7 - 1), "Int16": (-(2 ** 15), 2 ** 15 - 1),
    "Int32": (-(2 ** 31), 2 ** 31 - 1), "Int64": (-(2 ** 63), 2 ** 63 - 1),
    "Int128": (-(2 ** 127), 2 ** 127 - 1),
    "UInt8": (0, 2 ** 8 - 1), "UInt16": (0, 2 ** 16 - 1), "UInt32": (0, 2 ** 32 - 1),
    "UInt64": (0, 2 ** 64 - 1), "UInt128": (0, 2 ** 128 - 1),
}
#: Sized integers that may also arrive as strings (beyond what a JSON number keeps exact).
_STRING_INTS = frozenset({"Int64", "Int128", "UInt64", "UInt128"})
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_PHONE = re.compile(r"\+?[0-9 ()./-]+(?: ?(?:x|ext\.?) ?[0-9]{1,6})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                        r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+")
_INTEGER = re.compile(r"-?[0-9]+")

#: The scalars whose values are checked (the others pass any JSON through).
CHECKED_SCALARS = frozenset({*_INT_RANGES, "Email", "PhoneNumber", "Date", "DateTime", "Url",
                             "Bytes"})


def _valid_date(text: str) -> bool:
    try:
        datetime.date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def scalar_value(name: str, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` (plain JSON data) is a valid ``name``, and the value to answer
    (an integral float of a sized integer becomes an int; others are unchanged)."""
    kind = type(value)
    bounds = _INT_RANGES.get(name)
    if bounds is not None:
        if kind is float and value.is_integer():
            value, kind = int(value), int
        if kind is int:
            return bounds[0] <= value <= bounds[1], value
        if kind is str and name in _STRING_INTS and len(value) <= 41 and \
                _INTEGER.fullmatch(value):  # (the widest, UInt128, has 39 digits)
            return bounds[0] <= int(value) <= bounds[1], value
        return False, value
    if kind is not str:
        return False, value
    if name == "Email":
        return _EMAIL.fullmatch(value) is not None, value
    if name == "PhoneNumber":
        digits = sum(ch.isdigit() for ch in value)
        return _PHONE.fullmatch(value) is not None and 3 <= digits <= 20, value
    if name == "Date":
        return _DATE.fullmatch(value) is not None and _valid_date(value), value
    if name == "DateTime":
        found = _DATE_TIME.fullmatch(value)
        if found is None or not _valid_date(found.group(1)):
            return False, value
        hour, minute, second = (int(found.group(n)) for n in (2, 3, 4))
        offset = found.group(6)
        valid_offset = len(offset) == 1 or (int(offset[1:3]) < 24 and int(offset[4:6]) < 60)
        return hour < 24 and minute < 60 and second <= 60 and valid_offset, value
    if name == "Url":
        return _URL.fullmatch(value) is not None, value
    return True, value  # Bytes: any string


def scalar_error(name: str, shown: str) -> str:
    return f"{name} cannot represent value: {shown}"
