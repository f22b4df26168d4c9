"""The schema as clients see it (spec 3, 4.5): public names, introspection types.

Built once per Blueprint. ``@modify(name:)`` renames and ``@omit`` hides fields; the
introspection types (``planner/introspection.graphql``) and meta-fields ``__typename``,
``__schema`` and ``__type`` are added (spec 4.5). Query validation, introspection and the
planner all read this view.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .diagnostics import Diagnostics, Loc
from .model import (ENUM, INPUT, INTERFACE, OBJECT, SCALAR, SPEC_SCALARS, UNION, ArgDef,
                    Blueprint, DirectiveUse, EnumValueDef, FieldDef, TypeDef, TypeRef)

_NOWHERE = Loc("<introspection>", 0, 0)


@dataclass(slots=True)
class SchemaField:
    """A field under its public name; ``definition`` is None for meta-fields."""

    name: str
    type: TypeRef
    owner: str
    args: dict[str, ArgDef] = field(default_factory=dict)
    definition: FieldDef | None = None
    description: str | None = None
    deprecation: str | None = None


@dataclass(slots=True)
class SchemaType:
    name: str
    kind: str
    fields: dict[str, SchemaField] = field(default_factory=dict)
    input_fields: dict[str, FieldDef] = field(default_factory=dict)
    interfaces: tuple[str, ...] = ()
    #: Object types a value of this type can be (itself for objects).
    possible: frozenset[str] = frozenset()
    enum_values: dict[str, EnumValueDef] = field(default_factory=dict)
    description: str | None = None
    specified_by: str | None = None
    introspection: bool = False

    @property
    def is_composite(self) -> bool:
        return self.kind in (OBJECT, INTERFACE, UNION)

    @property
    def is_leaf(self) -> bool:
        return self.kind in (SCALAR, ENUM)

    @property
    def is_input(self) -> bool:
        return self.kind in (SCALAR, ENUM, INPUT)


@dataclass(frozen=True, slots=True)
class ClientDirective:
    """A directive clients may use in operations (spec 3.13)."""

    name: str
    locations: tuple[str, ...]
    args: dict[str, ArgDef]
    description: str
    repeatable: bool = False


def _arg(name: str, type_ref: TypeRef, description: str, default: object = None) -> ArgDef:
    from .located import LValue

    value = None if default is None else LValue("string", default, _NOWHERE)
    return ArgDef(name, type_ref, _NOWHERE, value, description=description)


def _named(name: str, non_null: bool = False) -> TypeRef:
    return TypeRef(name, None, non_null, _NOWHERE)


_EXECUTABLE = ("FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT")
CLIENT_DIRECTIVES = {
    "skip": ClientDirective("skip", _EXECUTABLE, {"if": _arg("if", _named("Boolean", True),
                                                             "Skipped when true.")},
                            "Directs the executor to skip this field or fragment when the "
                            "`if` argument is true."),
    "include": ClientDirective("include", _EXECUTABLE,
                               {"if": _arg("if", _named("Boolean", True),
                                           "Included when true.")},
                               "Directs the executor to include this field or fragment only "
                               "when the `if` argument is true."),
    "deprecated": ClientDirective(
        "deprecated", ("FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INPUT_FIELD_DEFINITION",
                       "ENUM_VALUE"),
        {"reason": _arg("reason", _named("String"), "Why the element is deprecated.",
                        "No longer supported")},
        "Marks an element of a GraphQL schema as no longer supported."),
    "specifiedBy": ClientDirective(
        "specifiedBy", ("SCALAR",), {"url": _arg("url", _named("String", True),
                                                 "The URL that specifies the scalar.")},
        "Exposes a URL that specifies the behaviour of this scalar."),
}


@lru_cache(maxsize=1)
def introspection_types() -> dict[str, TypeDef]:
    """The spec 4.5 introspection types, parsed from ``introspection.graphql``."""
    from graphql import Source, parse

    from .collect_types import collect_types

    text = (Path(__file__).parent / "introspection.graphql").read_text()
    diags = Diagnostics()
    collected = collect_types([("<introspection>", parse(Source(text, "<introspection>")))],
                              diags, introspection=True)
    assert not diags.items, diags.items
    return {name: t for name, t in collected.types.items() if name.startswith("__")}


def _deprecation(uses: list[DirectiveUse]) -> str | None:
    for use in uses:
        if use.name == "deprecated":
            reason = use.values.get("reason")
            return reason.value if reason is not None and reason.kind == "string" \
                else "No longer supported"
    return None


class SchemaView:
    """Public schema of a Blueprint, with introspection."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint
        self.query = blueprint.query
        self.mutation = blueprint.mutation
        self.directives = CLIENT_DIRECTIVES
        self.types: dict[str, SchemaType] = {}
        sources = dict(blueprint.types)
        for name, typedef in introspection_types().items():
            sources[name] = typedef
        used = self._used_scalars(sources)
        for name, typedef in sources.items():
            if typedef.builtin and name not in used:
                continue
            self.types[name] = self._convert(typedef, sources)
        self.typename_field = SchemaField("__typename", _named("String", True), "",
                                          description="The name of the object type.")
        self.schema_field = SchemaField("__schema", _named("__Schema", True), "",
                                        description="The schema (introspection).")
        self.type_field = SchemaField(
            "__type", _named("__Type"), "",
            {"name": _arg("name", _named("String", True), "The name of the type.")},
            description="A type of the schema by name (introspection).")

    @staticmethod
    def _used_scalars(sources: dict[str, TypeDef]) -> set[str]:
        used = set(SPEC_SCALARS)
        for typedef in sources.values():
            for field_def in typedef.fields.values():
                used.add(field_def.type.named)
                used.update(arg.type.named for arg in field_def.args.values())
        return used

    def _convert(self, typedef: TypeDef, sources: dict[str, TypeDef]) -> SchemaType:
        introspection = typedef.name.startswith("__")
        converted = SchemaType(typedef.name, typedef.kind, description=typedef.description,
                               introspection=introspection)
        if typedef.kind in (OBJECT, INTERFACE):
            for field_def in typedef.fields.values():
                if field_def.public_name is None:
                    continue
                converted.fields[field_def.public_name] = SchemaField(
                    field_def.public_name, field_def.type, typedef.name, dict(field_def.args),
                    field_def, field_def.description, _deprecation(field_def.directives))
            converted.interfaces = tuple(name for name, _ in typedef.interfaces)
        if typedef.kind == INPUT:
            converted.input_fields = {f.public_name: f for f in typedef.fields.values()
                                      if f.public_name is not None}
        if typedef.kind == ENUM:
            converted.enum_values = dict(typedef.values)
        if typedef.kind == OBJECT:
            converted.possible = frozenset({typedef.name})
        elif typedef.kind == UNION:
            converted.possible = frozenset(name for name, _ in typedef.members)
        elif typedef.kind == INTERFACE:
            converted.possible = frozenset(
                t.name for t in sources.values()
                if t.kind == OBJECT and typedef.name in dict(t.interfaces))
        for use in typedef.directives:
            if use.name == "specifiedBy" and "url" in use.args:
                converted.specified_by = use.args["url"]
        return converted

    def field(self, type_name: str, name: str) -> SchemaField | None:
        """The field ``name`` selectable on ``type_name``, meta-fields included."""
        if name == "__typename":
            target = self.types.get(type_name)
            return self.typename_field if target is not None and target.is_composite else None
        if type_name == self.query:
            if name == "__schema":
                return self.schema_field
            if name == "__type":
                return self.type_field
        target = self.types.get(type_name)
        return target.fields.get(name) if target is not None else None
