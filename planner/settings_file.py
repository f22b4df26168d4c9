"""Runtime settings from a ``.yml``/``.yaml``/``.json`` file (Tailcall 1.3+ layout).

Top-level sections ``server``, ``upstream``, ``links`` and ``telemetry`` take the same
entries as the ``@server``, ``@upstream``, ``@link`` and ``@telemetry`` directives, and are
checked by the same code, with positions from the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from .arg_types import INVALID, InputType, coerce_partial
from .diagnostics import Diagnostics, Loc, did_you_mean
from .directive_specs import DIRECTIVES, REGISTRY
from .json_located import JsonError, parse_json_located
from .located import LocatedError, LValue, from_yaml
from .source import ConfigSource

#: section name in the file -> directive whose arguments it holds
SECTIONS = {"server": "server", "upstream": "upstream", "links": "link",
            "telemetry": "telemetry"}


@dataclass(slots=True)
class SettingsSection:
    """One checked section: ``args`` are plain values, ``values`` their located forms."""

    directive: str
    loc: Loc
    args: dict
    values: dict[str, LValue]


def parse_settings(source: ConfigSource, diags: Diagnostics) -> list[SettingsSection]:
    """Parse and check a settings file; every problem is reported with its position."""
    root = _load(source, diags)
    if root is None:
        return []
    if root.kind != "object":
        diags.error(root.loc, f"settings file must hold a mapping, found {root.describe()}",
                    "expected top-level keys: " + ", ".join(SECTIONS))
        return []
    sections: list[SettingsSection] = []
    for key, value in root.value.items():
        key_loc = root.key_locs[key]
        if key in ("schema", "types", "unions", "enums"):
            diags.error(key_loc, f'"{key}" in a settings file is not supported',
                        "define types in a .graphql file and list it under links "
                        "(type: Config)")
            continue
        if key not in SECTIONS:
            guess = did_you_mean(key, SECTIONS) or f"; expected {', '.join(SECTIONS)}"
            diags.error(key_loc, f'unknown settings section "{key}"{guess}')
            continue
        directive = SECTIONS[key]
        spec = InputType(directive, DIRECTIVES[directive].args)
        items = value.value if key == "links" and value.kind == "list" else [value]
        for index, item in enumerate(items):
            where = f"{key}[{index}]" if key == "links" else key
            checked = coerce_partial(item, spec, REGISTRY, diags, where)
            if checked is not INVALID and checked is not None:
                sections.append(SettingsSection(directive, item.loc, checked, item.value))
    return sections


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans (``yes``/``no``/``on``/``off`` are
    strings), as Tailcall's YAML reader has them."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _load(source: ConfigSource, diags: Diagnostics) -> LValue | None:
    if source.path.suffix.lower() == ".json":
        try:
            return parse_json_located(source.text, source.display)
        except JsonError as exc:
            line = source.text.count("\n", 0, exc.offset) + 1
            col = exc.offset - (source.text.rfind("\n", 0, exc.offset) + 1) + 1
            diags.error(Loc(source.display, line, col), f"invalid JSON: {exc.message}")
            return None
    try:
        node = yaml.compose(source.text, Loader=_Yaml12Loader)
        if node is None:
            diags.error(Loc(source.display, 1, 1), "settings file is empty")
            return None
        return from_yaml(node, source.display)
    except LocatedError as exc:
        diags.error(exc.loc, exc.message)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(source.display, mark.line + 1, mark.column + 1) if mark else \
            Loc(source.display, 1, 1)
        diags.error(loc, f"invalid YAML: {exc.problem or exc.context}")
    except RecursionError:
        diags.error(Loc(source.display, 1, 1), "settings file is nested too deeply")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Loc(source.display, mark.line + 1, mark.column + 1) if mark else \
            Loc(source.display, 1, 1)
        diags.error(where, f"invalid YAML: {exc}")
    return None
