"""Pass 6: every template reference names something that exists.

``{{.args.x}}`` needs an argument ``x`` on the field (deeper segments walk input types);
``{{.value.x}}`` needs a field ``x`` on the parent type (deeper segments walk output
types, list indexes allowed); ``{{.parent.x}}`` needs ``x`` on every type that contains
the parent type; ``{{.vars.x}}`` needs ``@server(vars:)`` to define ``x``. ``headers`` and
``env`` are only known at run time. Root fields have no parent value.
"""
from __future__ import annotations

from .diagnostics import Diagnostics, Loc, did_you_mean
from .model import (INPUT, INTERFACE, OBJECT, ArgDef, CallResolver, ExprResolver, FieldDef,
                    GraphQLResolver, GrpcResolver, HttpResolver, Resolver, TypeDef)
from .settings import ServerSettings
from .templates import Ref, Template


def resolver_templates(resolver: Resolver) -> list[Template]:
    """Every template a resolver renders against the request (not ``select``)."""
    if isinstance(resolver, HttpResolver):
        found = [resolver.url] + [p.value for p in resolver.query]
        found += [t for _, t in resolver.headers]
        return found + (resolver.body.templates() if resolver.body else [])
    if isinstance(resolver, GrpcResolver):
        found = [resolver.url] + [t for _, t in resolver.headers]
        return found + (resolver.body.templates() if resolver.body else [])
    if isinstance(resolver, GraphQLResolver):
        return [resolver.url] + [t for _, t in resolver.args + resolver.headers]
    if isinstance(resolver, CallResolver):
        return [t for step in resolver.steps for t in step.args.templates()]
    if isinstance(resolver, ExprResolver):
        return resolver.body.templates()
    return []


def _checked_refs(resolver: Resolver) -> list[Ref]:
    """The references rendered against the field itself: in a ``@call`` chain a later
    step's ``{{.args...}}`` reads the previous step's result instead (``check_calls``
    checks those)."""
    if isinstance(resolver, CallResolver):
        return [ref for number, step in enumerate(resolver.steps)
                for template in step.args.templates() for ref in template.refs
                if number == 0 or ref.root != "args"]
    return [ref for template in resolver_templates(resolver) for ref in template.refs]


def check_templates(types: dict[str, TypeDef], roots: set[str], server: ServerSettings,
                    diags: Diagnostics) -> None:
    containers = _containers(types)
    for typedef in types.values():
        if typedef.resolver is not None:
            for ref in _checked_refs(typedef.resolver):
                _check_ref(ref, typedef, None, types, roots, containers, server, diags)
        for field_def in typedef.fields.values():
            if field_def.resolver is None:
                continue
            for ref in _checked_refs(field_def.resolver):
                _check_ref(ref, typedef, field_def, types, roots, containers, server, diags)


def _containers(types: dict[str, TypeDef]) -> dict[str, list[str]]:
    """type name -> names of the object/interface types with a field of that type."""
    found: dict[str, dict[str, None]] = {}
    for typedef in types.values():
        if typedef.kind not in (OBJECT, INTERFACE):
            continue
        for field_def in typedef.fields.values():
            found.setdefault(field_def.type.named, {})[typedef.name] = None
    return {name: list(holders) for name, holders in found.items()}


def _check_ref(ref: Ref, owner: TypeDef, field_def: FieldDef | None,
               types: dict[str, TypeDef], roots: set[str], containers: dict[str, list[str]],
               server: ServerSettings, diags: Diagnostics) -> None:
    loc = ref.loc or (field_def.loc if field_def else owner.loc)
    where = f"{owner.name}.{field_def.name}" if field_def else owner.name
    if ref.root == "args":
        if field_def is None:
            diags.error(loc, f"{ref}: a type-level resolver on {owner.name} has no arguments")
        elif ref.path:
            _walk_args(ref, field_def.args, where, types, loc, diags)
    elif ref.root == "value":
        if owner.name in roots and field_def is not None:
            diags.error(loc, f"{ref}: {where} is a root field and has no parent value",
                        "use {{.args...}} for values the client passes")
        elif ref.path:
            _walk_output(ref, ref.path, owner, types, loc, diags)
    elif ref.root == "parent":
        holders = containers.get(owner.name, [])
        if not holders or owner.name in roots:
            diags.error(loc, f"{ref}: {owner.name} is not nested in another type, so it has "
                        "no parent value")
        elif ref.path:
            for holder in holders:
                _walk_output(ref, ref.path, types[holder], types, loc, diags)
    elif ref.root == "vars":
        if not ref.path:
            diags.error(loc, f"{ref}: name a variable, e.g. {{{{.vars.baseUrl}}}}")
        elif ref.path[0] not in server.vars:
            known = did_you_mean(ref.path[0], server.vars)
            diags.error(loc, f'{ref}: no server variable "{ref.path[0]}"{known}',
                        f'define it with @server(vars: [{{key: "{ref.path[0]}", value: '
                        '"..."}])')
    elif ref.root in ("headers", "env") and len(ref.path) != 1:
        diags.error(loc, f"{ref}: {ref.root} templates take exactly one name, e.g. "
                    f"{{{{.{ref.root}.{'X-Api-Key' if ref.root == 'headers' else 'API_URL'}}}}}")


def _walk_args(ref: Ref, args: dict[str, ArgDef], where: str, types: dict[str, TypeDef],
               loc: Loc, diags: Diagnostics) -> None:
    first = ref.path[0]
    arg = args.get(first)
    if arg is None:
        guess = did_you_mean(first, args) or (
            f"; {where} takes {', '.join(args)}" if args else f"; {where} takes no arguments")
        diags.error(loc, f'{ref}: {where} has no argument "{first}"{guess}',
                    f'declare it, e.g. {where.split(".")[-1]}({first}: ID!)'
                    if first not in args and not guess.startswith("; did") else None)
        return
    current = types.get(arg.type.named)
    for segment in ref.path[1:]:
        if segment.isdigit() or current is None or current.kind != INPUT:
            return
        nxt = current.fields.get(segment)
        if nxt is None:
            diags.error(loc, f'{ref}: input {current.name} has no field "{segment}"'
                        f"{did_you_mean(segment, current.fields)}")
            return
        current = types.get(nxt.type.named)


def _walk_output(ref: Ref, path: tuple[str, ...], start: TypeDef, types: dict[str, TypeDef],
                 loc: Loc, diags: Diagnostics) -> None:
    current: TypeDef | None = start
    for segment in path:
        if segment.isdigit():
            continue
        if current is None:
            return
        if current.kind not in (OBJECT, INTERFACE):
            if current.kind == "scalar" and current.name not in ("String", "Int", "Float",
                                                                  "Boolean", "ID"):
                return  # custom scalars such as JSON: the path goes into untyped data
            diags.error(loc, f'{ref}: cannot read "{segment}" from a {current.name} value')
            return
        nxt = current.fields.get(segment)
        if nxt is None:
            diags.error(loc, f'{ref}: {current.name} has no field "{segment}"'
                        f"{did_you_mean(segment, current.fields)}")
            return
        current = types.get(nxt.type.named)
