"""Pass 4: the type system holds together (GraphQL spec 3.6–3.10, 3.13).

Every type reference resolves (with a did-you-mean), fields have output types and
arguments/input fields input types, interfaces are implemented faithfully (spec 3.6.1
IsValidImplementation), union members are object types, root operation types exist,
and default values fit their declared types (spec 3.10 input coercion).
"""
from __future__ import annotations

from .collect_types import KIND_NAMES, KIND_WORDS
from .diagnostics import Diagnostics, Loc, did_you_mean
from .located import LValue
from .model import (ENUM, INPUT, INPUT_KINDS, INTERFACE, OBJECT, OUTPUT_KINDS, SCALAR,
                    UNION, TypeDef, TypeRef)

_INT_RANGE = (-(2 ** 31), 2 ** 31 - 1)


def check_types(types: dict[str, TypeDef], roots: dict[str, tuple[str, Loc]],
                diags: Diagnostics) -> None:
    """Report every dangling or ill-formed type in ``types``."""
    for typedef in types.values():
        if typedef.builtin:
            continue
        if typedef.kind in (OBJECT, INTERFACE, INPUT) and not typedef.fields:
            diags.error(typedef.loc, f'{KIND_WORDS[typedef.kind]} "{typedef.name}" has no '
                        "fields", "GraphQL types need at least one field (spec 3.6)")
        if typedef.kind == ENUM and not typedef.values:
            diags.error(typedef.loc, f'enum "{typedef.name}" has no values')
        if typedef.kind == UNION:
            _check_union(typedef, types, diags)
        for field_def in typedef.fields.values():
            where = f"{typedef.name}.{field_def.name}"
            wanted = INPUT_KINDS if typedef.kind == INPUT else OUTPUT_KINDS
            if _check_ref(field_def.type, types, wanted, f"field {where}", diags) and \
                    field_def.default is not None:
                check_value(field_def.default, field_def.type, types,
                            f"default value of {where}", diags)
            for arg in field_def.args.values():
                if _check_ref(arg.type, types, INPUT_KINDS, f"argument {where}({arg.name}:)",
                              diags) and arg.default is not None:
                    check_value(arg.default, arg.type, types,
                                f"default value of {where}({arg.name}:)", diags)
        if typedef.kind in (OBJECT, INTERFACE):
            _check_implements(typedef, types, diags)
    _check_input_cycles(types, diags)
    if "mutation" in roots and "query" in roots and roots["mutation"][0] == roots["query"][0]:
        diags.error(roots["mutation"][1], f'mutation root type "{roots["mutation"][0]}" is '
                    "also the query root; use a separate type such as Mutation")
    for operation, (name, loc) in roots.items():
        root = types.get(name)
        if root is None:
            diags.error(loc, f'{operation} root type "{name}" is not defined'
                        f"{did_you_mean(name, _named(types, OBJECT))}")
        elif root.kind != OBJECT:
            diags.error(loc, f'{operation} root type "{name}" must be an object type, '
                        f"not {KIND_NAMES[root.kind]}")


def _named(types: dict[str, TypeDef], *kinds: str) -> list[str]:
    return [name for name, t in types.items() if t.kind in kinds]


def _check_ref(ref: TypeRef, types: dict[str, TypeDef], wanted: frozenset[str], what: str,
               diags: Diagnostics) -> bool:
    named = types.get(ref.named)
    if named is None:
        candidates = [n for n, t in types.items() if t.kind in wanted]
        diags.error(_named_loc(ref), f'unknown type "{ref.named}" in {what}'
                    f"{did_you_mean(ref.named, candidates)}")
        return False
    if named.kind not in wanted:
        need = "a scalar, enum or input type" if wanted is INPUT_KINDS else \
            "an output type (object, interface, union, enum or scalar)"
        diags.error(_named_loc(ref), f'{what} has {KIND_NAMES[named.kind]} type '
                    f'"{named.name}"; it needs {need}')
        return False
    return True


def _named_loc(ref: TypeRef) -> Loc:
    while ref.of is not None:
        ref = ref.of
    return ref.loc


def _check_union(union: TypeDef, types: dict[str, TypeDef], diags: Diagnostics) -> None:
    if not union.members:
        diags.error(union.loc, f'union "{union.name}" has no member types')
    for name, loc in union.members:
        member = types.get(name)
        if member is None:
            diags.error(loc, f'unknown type "{name}" in union {union.name}'
                        f"{did_you_mean(name, _named(types, OBJECT))}")
        elif member.kind != OBJECT:
            diags.error(loc, f'union {union.name} member "{name}" must be an object type, '
                        f"not {KIND_NAMES[member.kind]}")


def _check_implements(typedef: TypeDef, types: dict[str, TypeDef], diags: Diagnostics) -> None:
    for name, loc in typedef.interfaces:
        iface = types.get(name)
        if iface is None:
            diags.error(loc, f'unknown interface "{name}" implemented by {typedef.name}'
                        f"{did_you_mean(name, _named(types, INTERFACE))}")
            continue
        if iface.kind != INTERFACE:
            diags.error(loc, f'{typedef.name} implements "{name}", which is '
                        f"{KIND_NAMES[iface.kind]}, not an interface")
            continue
        for inherited, _ in iface.interfaces:
            if inherited not in dict(typedef.interfaces) and inherited != typedef.name:
                diags.error(loc, f"{typedef.name} implements {name}, which implements "
                            f"{inherited}, so {typedef.name} must also implement {inherited} "
                            "(spec 3.7)")
        for field_name, wanted in iface.fields.items():
            have = typedef.fields.get(field_name)
            if have is None:
                diags.error(typedef.loc, f'{typedef.name} implements {name} but has no field '
                            f'"{field_name}" ({wanted.type})')
                continue
            if not is_subtype(have.type, wanted.type, types):
                diags.error(have.loc, f"{typedef.name}.{field_name} has type {have.type}, "
                            f"which does not satisfy {name}.{field_name}: {wanted.type}")
            for arg_name, arg in wanted.args.items():
                mine = have.args.get(arg_name)
                if mine is None or str(mine.type) != str(arg.type):
                    diags.error(have.loc, f'{typedef.name}.{field_name} needs argument '
                                f'"{arg_name}: {arg.type}" as declared by {name}')


def _check_input_cycles(types: dict[str, TypeDef], diags: Diagnostics) -> None:
    """Spec 3.10: an input object cannot reach itself through non-null singular fields."""
    edges = {t.name: [f.type.named for f in t.fields.values()
                      if f.type.non_null and not f.type.is_list]
             for t in types.values() if t.kind == INPUT}
    reported: set[str] = set()
    for start in edges:
        stack = [(start, [start])]
        seen = {start}
        while stack:
            name, path = stack.pop()
            for target in edges.get(name, ()):
                if target == start and start not in reported:
                    reported.update(path)
                    chain = ".".join(path[:1]) + "".join(f" → {p}" for p in path[1:] + [start])
                    diags.error(types[start].loc, f"input {start} can never be built: it "
                                f"requires itself through non-null fields ({chain})",
                                "make one of the fields nullable or a list")
                elif target in edges and target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))


def is_subtype(have: TypeRef, wanted: TypeRef, types: dict[str, TypeDef]) -> bool:
    """Spec 3.6.1 IsValidImplementationFieldType (covariant result types)."""
    if have.non_null and not wanted.non_null:
        return is_subtype(_nullable(have), wanted, types)
    if have.non_null != wanted.non_null:
        return False
    if have.is_list or wanted.is_list:
        return bool(have.of and wanted.of) and is_subtype(have.of, wanted.of, types)
    if have.name == wanted.name:
        return True
    target = types.get(wanted.name or "")
    if target is None:
        return False
    if target.kind == UNION:
        return have.name in dict(target.members)
    if target.kind == INTERFACE:
        source = types.get(have.name or "")
        return source is not None and wanted.name in dict(source.interfaces)
    return False


def _nullable(ref: TypeRef) -> TypeRef:
    return TypeRef(ref.name, ref.of, False, ref.loc)


def check_value(value: LValue, ref: TypeRef, types: dict[str, TypeDef], what: str,
                diags: Diagnostics) -> bool:
    """Spec 3.10 input coercion of a literal (a default value) to ``ref``."""
    if value.kind == "null":
        if ref.non_null:
            diags.error(value.loc, f"{what}: null is not allowed for {ref}")
            return False
        return True
    if ref.is_list:
        assert ref.of is not None
        items = value.value if value.kind == "list" else [value]
        return all([check_value(item, ref.of, types, what, diags) for item in items])
    named = types.get(ref.named)
    if named is None:
        return False
    if named.kind == ENUM:
        if value.kind == "enum" and value.value in named.values:
            return True
        diags.error(value.loc, f"{what}: expected a value of enum {named.name}, found "
                    f"{value.describe()}{did_you_mean(str(value.value), named.values)}")
        return False
    if named.kind == INPUT:
        return _check_input_object(value, named, types, what, diags)
    if named.kind == SCALAR:
        return _check_scalar(value, named.name, what, diags)
    return False


def _check_input_object(value: LValue, named: TypeDef, types: dict[str, TypeDef], what: str,
                        diags: Diagnostics) -> bool:
    if value.kind != "object":
        diags.error(value.loc, f"{what}: expected {named.name} object, found "
                    f"{value.describe()}")
        return False
    ok = True
    for key, item in value.value.items():
        field_def = named.fields.get(key)
        if field_def is None:
            diags.error(value.key_locs[key], f'{what}: {named.name} has no field "{key}"'
                        f"{did_you_mean(key, named.fields)}")
            ok = False
        else:
            ok = check_value(item, field_def.type, types, what, diags) and ok
    for key, field_def in named.fields.items():
        if field_def.type.non_null and field_def.default is None and key not in value.value:
            diags.error(value.loc, f'{what}: missing required field "{key}" of {named.name}')
            ok = False
    return ok


_SCALAR_KINDS = {"Int": ("int",), "Float": ("int", "float"), "String": ("string",),
                 "Boolean": ("boolean",), "ID": ("string", "int")}


def _check_scalar(value: LValue, name: str, what: str, diags: Diagnostics) -> bool:
    kinds = _SCALAR_KINDS.get(name)
    if kinds is None:  # custom scalars (JSON, Date, ...) accept any literal
        return True
    if value.kind not in kinds:
        diags.error(value.loc, f"{what}: expected {name}, found {value.describe()}")
        return False
    if name == "Int" and not _INT_RANGE[0] <= value.value <= _INT_RANGE[1]:
        diags.error(value.loc, f"{what}: {value.value} does not fit a 32-bit Int")
        return False
    return True
