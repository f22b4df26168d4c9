"""The input types of directive arguments and settings entries, and their checker.

Types are written as GraphQL type strings (``"[KeyValue!]!"``) over a small registry of
scalars, enums and input objects. :func:`coerce` applies GraphQL input coercion (spec
3.10, 3.11, 3.12: a single item where a list is due becomes a one-item list) and records
a located error for each mismatch, returning :data:`INVALID` for values it cannot use.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .diagnostics import Diagnostics, did_you_mean
from .located import LValue


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: Returned by :func:`coerce` for a value that failed its check (already reported).
INVALID: Any = _Invalid()


@dataclass(frozen=True, slots=True)
class ScalarType:
    name: str  # String Int Float Boolean JSON


@dataclass(frozen=True, slots=True)
class EnumType:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InputType:
    name: str
    fields: Mapping[str, str]  # field name -> type string


@dataclass(frozen=True, slots=True)
class ListOf:
    item: "TypeSpec"


@dataclass(frozen=True, slots=True)
class NonNull:
    inner: "TypeSpec"


TypeSpec = ScalarType | EnumType | InputType | ListOf | NonNull
NamedType = ScalarType | EnumType | InputType


class TypeRegistry:
    """Named argument types, looked up by the type strings of directive specs."""

    def __init__(self, *types: NamedType) -> None:
        self.named: dict[str, NamedType] = {
            name: ScalarType(name) for name in ("String", "Int", "Float", "Boolean", "JSON")
        }
        for named in types:
            self.named[named.name] = named

    def parse(self, text: str) -> TypeSpec:
        """Parse a type string such as ``[KeyValue!]!``."""
        text = text.strip()
        if text.endswith("!"):
            return NonNull(self.parse(text[:-1]))
        if text.startswith("[") and text.endswith("]"):
            return ListOf(self.parse(text[1:-1]))
        return self.named[text]


def type_name(spec: TypeSpec) -> str:
    """The GraphQL spelling of a type spec, for messages."""
    if isinstance(spec, NonNull):
        return type_name(spec.inner) + "!"
    if isinstance(spec, ListOf):
        return f"[{type_name(spec.item)}]"
    return spec.name


def coerce_partial(value: LValue, spec: InputType, registry: TypeRegistry,
                   diags: Diagnostics, where: str) -> Any:
    """Like :func:`coerce` for an input object, keeping the fields that passed."""
    if value.kind != "object":
        return coerce(value, spec, registry, diags, where)
    return _coerce_input(value, spec, registry, diags, where, partial=True)


def coerce(value: LValue, spec: TypeSpec, registry: TypeRegistry, diags: Diagnostics,
           where: str) -> Any:
    """Check ``value`` against ``spec``; return plain Python data or :data:`INVALID`.

    ``where`` names the value in messages, e.g. ``@upstream argument batch.delay``.
    """
    if isinstance(spec, NonNull):
        if value.kind == "null":
            diags.error(value.loc, f"{where}: expected {type_name(spec)}, found null")
            return INVALID
        return coerce(value, spec.inner, registry, diags, where)
    if value.kind == "null":
        return None
    if isinstance(spec, ListOf):
        items = value.value if value.kind == "list" else [value]
        out = [coerce(item, spec.item, registry, diags, f"{where}[{i}]")
               for i, item in enumerate(items)]
        return INVALID if any(item is INVALID for item in out) else out
    if isinstance(spec, InputType):
        return _coerce_input(value, spec, registry, diags, where)
    if isinstance(spec, EnumType):
        if value.kind in ("enum", "string") and value.value in spec.values:
            return value.value
        if value.kind in ("enum", "string"):
            hint = did_you_mean(value.value, spec.values) or \
                f"; expected one of {', '.join(spec.values)}"
            diags.error(value.loc, f'{where}: "{value.value}" is not a valid {spec.name}{hint}')
        else:
            diags.error(value.loc, f"{where}: expected {spec.name}, found {value.describe()}")
        return INVALID
    return _coerce_scalar(value, spec, diags, where)


def _coerce_scalar(value: LValue, spec: ScalarType, diags: Diagnostics, where: str) -> Any:
    name = spec.name
    if name == "JSON":
        return value.plain()
    accepted = {"String": ("string",), "Int": ("int",), "Float": ("int", "float"),
                "Boolean": ("boolean",)}[name]
    if value.kind in accepted:
        if name == "Int" and not -(2 ** 53) <= value.value <= 2 ** 53:
            diags.error(value.loc, f"{where}: {value.value} is out of range for Int")
            return INVALID
        return float(value.value) if name == "Float" else value.value
    diags.error(value.loc, f"{where}: expected {name}, found {value.describe()}")
    return INVALID


def _coerce_input(value: LValue, spec: InputType, registry: TypeRegistry,
                  diags: Diagnostics, where: str, partial: bool = False) -> Any:
    """Check an input object. With ``partial``, return the fields that passed even when
    others failed (already reported), so callers can keep checking."""
    if value.kind != "object":
        diags.error(value.loc, f"{where}: expected {spec.name} object, found {value.describe()}")
        return INVALID
    out: dict[str, Any] = {}
    ok = True
    for key, item in value.value.items():
        if key not in spec.fields:
            hint = did_you_mean(key, spec.fields) or \
                f"; known fields: {', '.join(spec.fields)}"
            diags.error(value.key_locs.get(key, item.loc),
                        f'{where}: unknown field "{key}"{hint}')
            ok = False
            continue
        coerced = coerce(item, registry.parse(spec.fields[key]), registry, diags,
                         f"{where}.{key}")
        if coerced is INVALID:
            ok = False
        else:
            out[key] = coerced
    for key, field_type in spec.fields.items():
        if field_type.endswith("!") and key not in value.value:
            diags.error(value.loc, f'{where}: missing required field "{key}" '
                        f"({field_type})")
            ok = False
    if not ok and not partial:
        return INVALID
    return out
