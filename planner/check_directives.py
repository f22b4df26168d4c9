"""Pass 2: every directive use is known, in an allowed place, and has valid arguments.

Checks each ``@name(...)`` against :data:`directive_specs.DIRECTIVES`: unknown directives
(with a did-you-mean), wrong places, repeats of non-repeatable directives, unknown,
missing and wrongly typed arguments. Checked values are stored on ``DirectiveUse.args``.
"""
from __future__ import annotations

from collections.abc import Iterator

from .arg_types import INVALID, coerce
from .collect_types import CollectedTypes
from .diagnostics import Diagnostics, did_you_mean
from .directive_specs import DIRECTIVES, PLACE_NAMES, REGISTRY
from .model import ENUM, INPUT, INTERFACE, OBJECT, SCALAR, UNION, DirectiveUse

#: Directives of older Tailcall releases and what replaced them.
RENAMED = {
    "const": "@const was renamed: use @expr(body: ...)",
    "groupBy": "@groupBy was replaced by @http(batchKey: [...])",
    "graphql": "the directive is spelled @graphQL",
}

_TYPE_PLACES = {OBJECT: "OBJECT", INTERFACE: "INTERFACE", UNION: "UNION", ENUM: "ENUM",
                INPUT: "INPUT_OBJECT", SCALAR: "SCALAR"}


def directive_sites(collected: CollectedTypes
                    ) -> Iterator[tuple[str, str, list[DirectiveUse]]]:
    """Yield ``(place, description, uses)`` for every spot that carries directives."""
    for schema in collected.schemas:
        yield "SCHEMA", "schema", schema.directives
    for typedef in collected.types.values():
        if typedef.builtin:
            continue
        yield _TYPE_PLACES[typedef.kind], typedef.name, typedef.directives
        field_place = "INPUT_FIELD_DEFINITION" if typedef.kind == INPUT else "FIELD_DEFINITION"
        for field_def in typedef.fields.values():
            yield field_place, f"{typedef.name}.{field_def.name}", field_def.directives
            for arg in field_def.args.values():
                yield ("ARGUMENT_DEFINITION", f"{typedef.name}.{field_def.name}({arg.name}:)",
                       arg.directives)
        for value in typedef.values.values():
            yield "ENUM_VALUE", f"{typedef.name}.{value.name}", value.directives


def check_directives(collected: CollectedTypes, diags: Diagnostics) -> None:
    """Validate every directive use in place, filling ``use.args`` / ``use.valid``."""
    for place, where, uses in directive_sites(collected):
        seen: dict[str, DirectiveUse] = {}
        for use in uses:
            spec = DIRECTIVES.get(use.name)
            if spec is None:
                guess = did_you_mean("@" + use.name, ["@" + name for name in DIRECTIVES])
                diags.error(use.loc, f'unknown directive "@{use.name}"{guess}',
                            RENAMED.get(use.name))
                use.valid = False
                continue
            if place not in spec.places:
                allowed = " or ".join(sorted(PLACE_NAMES[p] for p in spec.places))
                diags.error(use.loc, f"@{use.name} is not allowed on {PLACE_NAMES[place]} "
                            f"({where}); it goes on {allowed}")
                use.valid = False
                continue
            if use.name in seen and not spec.repeatable and place != "SCHEMA":
                diags.error(use.loc, f"@{use.name} is given twice on {where} (first at "
                            f"{seen[use.name].loc})")
            seen.setdefault(use.name, use)
            _check_args(use, diags)


def _check_args(use: DirectiveUse, diags: Diagnostics) -> None:
    spec = DIRECTIVES[use.name]
    for name, value in use.values.items():
        if name not in spec.args:
            guess = did_you_mean(name, spec.args) or (
                f"; @{use.name} takes {', '.join(spec.args)}" if spec.args else
                f"; @{use.name} takes no arguments")
            diags.error(use.arg_locs.get(name, value.loc),
                        f'unknown argument "{name}" on @{use.name}{guess}')
            use.valid = False
            continue
        if spec.deprecated and name in spec.deprecated:
            diags.warning(value.loc, f"@{use.name} argument {name} is deprecated; use "
                          f"{spec.deprecated[name]}")
        coerced = coerce(value, REGISTRY.parse(spec.args[name]), REGISTRY, diags,
                         f"@{use.name} argument {name}")
        if coerced is INVALID:
            use.valid = False
        else:
            use.args[name] = coerced
    for name, type_text in spec.args.items():
        if type_text.endswith("!") and name not in use.values:
            diags.error(use.loc, f'@{use.name} needs argument "{name}" ({type_text})')
            use.valid = False
