"""Pass 1: turn parsed SDL documents into type definitions (GraphQL spec 3).

Collects object, interface, input, enum, union and scalar types with their fields,
arguments and directive uses, and the ``schema`` definition. Reports duplicate types
(in one file), duplicate fields, arguments and enum values, and definitions a config may
not hold (operations, fragments). Types of the same name and kind in *different* linked
files merge, as Tailcall's config merge does; extensions (``extend type``) merge too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from graphql.language import ast as gql

from .diagnostics import Diagnostics, Loc
from .located import LValue, from_graphql, node_loc
from .model import (ENUM, INPUT, INTERFACE, OBJECT, SCALAR, SPEC_SCALARS, TAILCALL_SCALARS,
                    UNION, ArgDef, DirectiveUse, EnumValueDef, FieldDef, TypeDef, TypeRef)

_KINDS: dict[type, str] = {
    gql.ObjectTypeDefinitionNode: OBJECT, gql.ObjectTypeExtensionNode: OBJECT,
    gql.InterfaceTypeDefinitionNode: INTERFACE, gql.InterfaceTypeExtensionNode: INTERFACE,
    gql.InputObjectTypeDefinitionNode: INPUT, gql.InputObjectTypeExtensionNode: INPUT,
    gql.EnumTypeDefinitionNode: ENUM, gql.EnumTypeExtensionNode: ENUM,
    gql.UnionTypeDefinitionNode: UNION, gql.UnionTypeExtensionNode: UNION,
    gql.ScalarTypeDefinitionNode: SCALAR, gql.ScalarTypeExtensionNode: SCALAR,
}
#: The SDL keyword of each kind (``type``, ``input`` ...).
KIND_WORDS = {OBJECT: "type", INTERFACE: "interface", INPUT: "input", ENUM: "enum",
              UNION: "union", SCALAR: "scalar"}
#: How messages name each kind.
KIND_NAMES = {OBJECT: "object", INTERFACE: "interface", INPUT: "input", ENUM: "enum",
              UNION: "union", SCALAR: "scalar"}


@dataclass(slots=True)
class SchemaDef:
    """A ``schema { query: Q }`` block (or its extension) with its directives."""

    loc: Loc
    operations: dict[str, tuple[str, Loc]] = field(default_factory=dict)
    directives: list[DirectiveUse] = field(default_factory=list)


@dataclass(slots=True)
class CollectedTypes:
    types: dict[str, TypeDef]
    schemas: list[SchemaDef]


def builtin_types() -> dict[str, TypeDef]:
    """The scalars every config may use without declaring them."""
    where = Loc("<builtin>", 0, 0)
    return {name: TypeDef(name, SCALAR, where, builtin=True)
            for name in SPEC_SCALARS + TAILCALL_SCALARS}


def collect_types(documents: list[tuple[str, gql.DocumentNode]],
                  diags: Diagnostics, introspection: bool = False) -> CollectedTypes:
    """Collect every type of every document (``(display name, document)`` pairs).

    ``introspection`` allows the reserved ``__`` names (only for the built-in types)."""
    types = builtin_types()
    defined_in: dict[str, str] = {}
    schemas: list[SchemaDef] = []
    extensions: list[tuple[str, gql.TypeExtensionNode]] = []
    for file, document in documents:
        for definition in document.definitions:
            if isinstance(definition, (gql.SchemaDefinitionNode, gql.SchemaExtensionNode)):
                schemas.append(_schema(definition, file, diags))
            elif isinstance(definition, gql.TypeExtensionNode):
                extensions.append((file, definition))
            elif isinstance(definition, gql.TypeDefinitionNode):
                _define(types, defined_in, _type(definition, file, diags, introspection), file,
                        diags)
            elif isinstance(definition, gql.DirectiveDefinitionNode):
                diags.warning(node_loc(definition, file),
                              f"directive definition @{definition.name.value} is ignored",
                              "plait knows its config directives; remove the definition")
            else:
                diags.error(node_loc(definition, file),
                            "operations and fragments do not belong in a config file",
                            "keep queries in .graphql files passed to `plait explain`")
    for file, extension in extensions:
        _extend(types, _type(extension, file, diags), file, diags)
    return CollectedTypes(types, schemas)


def _define(types: dict[str, TypeDef], defined_in: dict[str, str], new: TypeDef, file: str,
            diags: Diagnostics) -> None:
    old = types.get(new.name)
    if old is None or (old.builtin and (new.kind == SCALAR or new.name in TAILCALL_SCALARS)):
        types[new.name] = new
        defined_in[new.name] = file
    elif old.builtin:
        diags.error(new.loc, f'"{new.name}" is a built-in scalar and cannot be redefined '
                    f"as {KIND_WORDS[new.kind]}")
    elif defined_in[new.name] != file and old.kind == new.kind:
        _merge(old, new, diags)
    else:
        diags.error(new.loc, f'duplicate type "{new.name}" (first defined at {old.loc})',
                    "rename one of them, or use `extend type` to add fields")


def _extend(types: dict[str, TypeDef], new: TypeDef, file: str, diags: Diagnostics) -> None:
    old = types.get(new.name)
    if old is None or old.builtin:
        diags.error(new.loc, f'cannot extend unknown type "{new.name}"',
                    f"define `{KIND_WORDS[new.kind]} {new.name}` first")
    elif old.kind != new.kind:
        diags.error(new.loc, f'cannot extend {KIND_WORDS[old.kind]} "{new.name}" with '
                    f"`extend {KIND_WORDS[new.kind]}`")
    else:
        for name, field_def in list(new.fields.items()):
            if name in old.fields:
                diags.error(field_def.loc, f'duplicate field "{old.name}.{name}" (first defined '
                            f"at {old.fields[name].loc})")
                del new.fields[name]
        _merge(old, new, diags)


def _plain_args(use: DirectiveUse) -> dict[str, object]:
    return {name: value.plain() for name, value in use.values.items()}


def _signature(field_def: FieldDef) -> tuple[str, tuple[tuple[str, str], ...]]:
    return str(field_def.type), tuple((a.name, str(a.type)) for a in field_def.args.values())


def _merge(old: TypeDef, new: TypeDef, diags: Diagnostics) -> None:
    """Merge ``new`` into ``old``: new fields are added; a field defined again with the same
    type and arguments merges its directives (Tailcall's config merge); a different
    definition is an error."""
    for name, field_def in new.fields.items():
        existing = old.fields.get(name)
        if existing is None:
            old.fields[name] = field_def
        elif _signature(existing) != _signature(field_def):
            diags.error(field_def.loc, f'conflicting definitions of "{old.name}.{name}": '
                        f"{field_def.type} here, {existing.type} at {existing.loc}")
        else:
            mine = {use.name: use for use in existing.directives}
            for use in field_def.directives:
                twin = mine.get(use.name)
                if twin is None:
                    existing.directives.append(use)
                elif _plain_args(twin) != _plain_args(use):
                    diags.error(use.loc, f'conflicting @{use.name} on "{old.name}.{name}" '
                                f"(also at {twin.loc} with other arguments)")
    for name, value in new.values.items():
        old.values.setdefault(name, value)
    old.interfaces += [i for i in new.interfaces if i[0] not in dict(old.interfaces)]
    old.members += [m for m in new.members if m[0] not in dict(old.members)]
    present = {use.name for use in old.directives}
    old.directives += [use for use in new.directives
                       if use.name not in present or use.name in ("addField", "link")]


def _schema(node: gql.SchemaDefinitionNode | gql.SchemaExtensionNode, file: str,
            diags: Diagnostics) -> SchemaDef:
    schema = SchemaDef(node_loc(node, file), directives=directive_uses(node, file, diags))
    for operation in node.operation_types or ():
        kind = operation.operation.value
        if kind in schema.operations:
            diags.error(node_loc(operation, file), f"schema defines {kind} twice")
        schema.operations[kind] = (operation.type.name.value, node_loc(operation.type, file))
    return schema


def _type(node: gql.TypeDefinitionNode | gql.TypeExtensionNode, file: str,
          diags: Diagnostics, introspection: bool = False) -> TypeDef:
    kind = _KINDS[type(node)]
    if node.name.value.startswith("__") and not introspection:
        diags.error(node_loc(node.name, file), f'"{node.name.value}": names starting with '
                    '"__" are reserved for introspection (spec 3.1)')
    description = getattr(node, "description", None)
    typedef = TypeDef(node.name.value, kind, node_loc(node.name, file),
                      directives=directive_uses(node, file, diags),
                      description=description.value if description else None)
    for iface in getattr(node, "interfaces", None) or ():
        typedef.interfaces.append((iface.name.value, node_loc(iface, file)))
    for member in getattr(node, "types", None) or ():
        if member.name.value in dict(typedef.members):
            diags.error(node_loc(member, file), f'union {typedef.name} includes '
                        f'"{member.name.value}" twice')
            continue
        typedef.members.append((member.name.value, node_loc(member, file)))
    for value in getattr(node, "values", None) or ():
        name = value.name.value
        if name in typedef.values:
            diags.error(node_loc(value, file), f'duplicate enum value "{typedef.name}.{name}"')
        typedef.values[name] = EnumValueDef(name, node_loc(value, file),
                                            directive_uses(value, file, diags),
                                            description=_description(value))
    for field_node in getattr(node, "fields", None) or ():
        name = field_node.name.value
        if name in typedef.fields:
            diags.error(node_loc(field_node.name, file),
                        f'duplicate field "{typedef.name}.{name}" (first defined at '
                        f"{typedef.fields[name].loc})")
            continue
        typedef.fields[name] = _field(field_node, typedef.name, file, diags)
    return typedef


def _field(node: gql.FieldDefinitionNode | gql.InputValueDefinitionNode, owner: str,
           file: str, diags: Diagnostics) -> FieldDef:
    field_def = FieldDef(node.name.value, type_ref(node.type, file), owner,
                         node_loc(node.name, file),
                         directives=directive_uses(node, file, diags),
                         description=_description(node))
    if isinstance(node, gql.InputValueDefinitionNode) and node.default_value is not None:
        field_def.default = from_graphql(node.default_value, file)
    for arg in getattr(node, "arguments", None) or ():
        name = arg.name.value
        if name in field_def.args:
            diags.error(node_loc(arg, file), f'duplicate argument "{name}" on '
                        f"{owner}.{field_def.name}")
            continue
        default = from_graphql(arg.default_value, file) if arg.default_value else None
        field_def.args[name] = ArgDef(name, type_ref(arg.type, file), node_loc(arg.name, file),
                                      default, directive_uses(arg, file, diags),
                                      _description(arg))
    return field_def


def _description(node: gql.Node) -> str | None:
    description = getattr(node, "description", None)
    return description.value if description is not None else None


def type_ref(node: gql.TypeNode, file: str) -> TypeRef:
    """Convert a type node (``[Post!]!``) into a :class:`TypeRef`."""
    if isinstance(node, gql.NonNullTypeNode):
        inner = type_ref(node.type, file)
        inner.non_null = True
        inner.loc = node_loc(node, file)
        return inner
    if isinstance(node, gql.ListTypeNode):
        return TypeRef(None, type_ref(node.type, file), False, node_loc(node, file))
    assert isinstance(node, gql.NamedTypeNode)
    return TypeRef(node.name.value, None, False, node_loc(node, file))


def directive_uses(node: gql.Node, file: str, diags: Diagnostics) -> list[DirectiveUse]:
    """The directives written on ``node``, arguments converted to located values."""
    uses = []
    for directive in getattr(node, "directives", None) or ():
        values: dict[str, LValue] = {}
        arg_locs: dict[str, Loc] = {}
        for argument in directive.arguments or ():
            name = argument.name.value
            if name in values:
                diags.error(node_loc(argument, file),
                            f'argument "{name}" given twice to @{directive.name.value}')
            values[name] = from_graphql(argument.value, file)
            arg_locs[name] = node_loc(argument, file)
        uses.append(DirectiveUse(directive.name.value, node_loc(directive, file), values,
                                 arg_locs=arg_locs))
    return uses
