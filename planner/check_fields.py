"""Pass 8: field-level rules that need the whole config.

Root fields need a resolver; ``@protected`` needs an auth provider link; ``@grpc`` needs a
Protobuf link; ``@discriminate`` goes on fields of union or interface type; ``batchKey``
without ``@upstream(batch:)`` runs with default batch settings (a warning).
"""
from __future__ import annotations

from .diagnostics import Diagnostics
from .directive_specs import DIRECTIVES
from .model import INTERFACE, UNION, FieldDef, GrpcResolver, HttpResolver, TypeDef
from .settings import LinkSettings, UpstreamSettings

RESOLVER_HINT = "add a resolver: @http, @call, @expr, @graphQL or @grpc"


def check_fields(types: dict[str, TypeDef], roots: set[str], upstream: UpstreamSettings,
                 links: list[LinkSettings], diags: Diagnostics) -> None:
    link_types = {link.type for link in links}
    has_auth = bool(link_types & {"Htpasswd", "Jwks"})
    for typedef in types.values():
        if typedef.builtin:
            continue
        if typedef.protected and not has_auth:
            diags.error(typedef.loc, f"@protected on {typedef.name} needs an auth provider",
                        "add @link(type: Htpasswd, src: ...) or @link(type: Jwks, src: ...)")
        for field_def in typedef.fields.values():
            where = f"{typedef.name}.{field_def.name}"
            resolver = field_def.resolver
            if typedef.name in roots and resolver is None and not field_def.source_path \
                    and not _resolver_was_written(field_def):
                diags.error(field_def.loc, f"root field {where} has no resolver",
                            RESOLVER_HINT)
            if field_def.protected and not has_auth:
                diags.error(field_def.loc, f"@protected on {where} needs an auth provider",
                            "add @link(type: Htpasswd, src: ...) or @link(type: Jwks, "
                            "src: ...)")
            if isinstance(resolver, GrpcResolver) and "Protobuf" not in link_types:
                diags.error(resolver.loc, f"@grpc on {where} needs the service definition",
                            'add @link(type: Protobuf, src: "service.proto") to the schema')
            if isinstance(resolver, (HttpResolver, GrpcResolver)) and resolver.batch_key \
                    and upstream.batch is None:
                diags.warning(resolver.loc, f"batchKey on {where} without "
                              "@upstream(batch: ...): batching with delay 0 ms, maxSize 100",
                              "set @upstream(batch: {delay: 1, maxSize: 100}) to choose")
            if isinstance(resolver, (HttpResolver, GrpcResolver)) and resolver.batch_key:
                item = types.get(field_def.type.named)
                key = resolver.batch_key[0]
                if item is not None and item.fields and key not in item.fields:
                    diags.warning(resolver.loc, f'batchKey "{key}" on {where} is not a field of '
                                  f"{item.name}; it must be a key of every upstream item",
                                  f"known fields: {', '.join(list(item.fields)[:8])}")
            if field_def.discriminate is not None:
                target = types.get(field_def.type.named)
                if target is None or target.kind not in (UNION, INTERFACE):
                    diags.error(field_def.loc, f"@discriminate on {where}: the field's type "
                                f"{field_def.type} is not a union or interface")


def _resolver_was_written(field_def: FieldDef) -> bool:
    """True when a resolver directive (or a directive that failed its checks, such as a
    misspelt ``@htp``) is on the field: its own error already explains the problem."""
    return any(not use.valid or (use.name in DIRECTIVES and DIRECTIVES[use.name].resolver)
               for use in field_def.directives)
