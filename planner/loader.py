"""Load configs into a validated :class:`~plait.planner.model.Blueprint`.

Runs the passes in order (see DESIGN.md, "The pipeline"): read and parse every file
(following ``@link(type: Config)`` and settings-file ``links``), collect types, check
directives, merge settings, check types, build resolvers, check templates, ``@call``
chains, field rules and auth providers (``@protected``). Every pass reports into one
:class:`Diagnostics`, so a broken config yields all of its errors at once.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graphql.language import ast as gql

from .auth import assign_requirements, load_providers
from .build_resolvers import build_resolvers
from .check_calls import check_calls
from .check_directives import check_directives
from .check_fields import check_fields
from .check_templates import check_templates
from .check_types import check_types
from .collect_types import SchemaDef, collect_types
from .diagnostics import ConfigError, Diagnostic, Diagnostics, Loc
from .model import Blueprint
from .sdl_parse import parse_sdl
from .settings import SettingsSource, build_settings, sources_from_directives
from .settings_file import parse_settings
from .source import (SDL_EXTENSIONS, SETTINGS_EXTENSIONS, ConfigSource, decode_source,
                     read_source)

#: Link types whose ``src`` must be a readable local file.
FILE_LINKS = ("Config", "Protobuf", "Script", "Cert", "Key", "Operation", "Htpasswd", "Jwks")


@dataclass(slots=True)
class CheckResult:
    """What loading found: a blueprint when there were no errors, and every diagnostic."""

    blueprint: Blueprint | None
    diagnostics: list[Diagnostic]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: Findings beyond the report limit, counted but not kept.
    dropped: int = 0
    error_count: int = 0
    warning_count: int = 0

    @property
    def ok(self) -> bool:
        return self.blueprint is not None


def load_config(*paths: str | os.PathLike[str]) -> Blueprint:
    """Load and validate config files; raise :class:`ConfigError` listing every error."""
    result = check_config([os.fspath(p) for p in paths])
    if result.blueprint is None:
        raise ConfigError(result.diagnostics)
    return result.blueprint


def load_config_string(text: str, name: str = "<string>.graphql") -> Blueprint:
    """Load a config given as SDL text (links resolve relative to the working directory)."""
    diags = Diagnostics()
    source = decode_source(name, Path(name), text.encode("utf-8"), diags)
    result = _check([source] if source else [], diags, time.perf_counter())
    if result.blueprint is None:
        raise ConfigError(result.diagnostics)
    return result.blueprint


def check_config(paths: Sequence[str]) -> CheckResult:
    """Load ``paths`` (SDL and settings files, merged in order) and report everything."""
    started = time.perf_counter()
    diags = Diagnostics()
    if not paths:
        diags.error(Loc("<command line>", 1, 1), "no config files given")
    sources = [s for s in (read_source(p, Path(p), diags) for p in paths) if s is not None]
    return _check(sources, diags, started)


def _check(sources: list[ConfigSource], diags: Diagnostics, started: float) -> CheckResult:
    documents: list[tuple[str, gql.DocumentNode]] = []
    settings: list[SettingsSource] = []
    loaded: set[Path] = set()
    queue = list(sources)
    files: list[str] = []
    while queue:
        # Depth-first: a linked file is merged right after the file that links it, so
        # files later on the command line override settings of earlier ones and their links.
        source = queue.pop(0)
        pending: list[ConfigSource] = []
        resolved = source.path.resolve()
        if resolved in loaded:
            continue
        loaded.add(resolved)
        files.append(source.display)
        if source.kind == "settings":
            for section in parse_settings(source, diags):
                settings.append(SettingsSource(section.directive, section.loc, section.args,
                                               section.values, source.display, from_file=True))
                if section.directive == "link":
                    pending += _follow_link(source, section.args, section.loc, diags)
            queue[:0] = pending
            continue
        document = parse_sdl(source, diags)
        if document is None:
            continue
        documents.append((source.display, document))
        for link_src, link_type, loc in _peek_links(document, source.display):
            pending += _follow_link(source, {"src": link_src, "type": link_type}, loc, diags)
        queue[:0] = pending

    collected = collect_types(documents, diags)
    check_directives(collected, diags)
    directive_settings = [s for schema in collected.schemas
                          for s in sources_from_directives(schema.directives, schema.loc.file)]
    order = {name: index for index, name in enumerate(files)}
    ordered = sorted(directive_settings + settings, key=lambda s: order.get(s.file, 0))
    server, upstream, links, telemetry = build_settings(ordered, diags)
    roots = _roots(collected.schemas, collected.types, diags, files)
    check_types(collected.types, roots, diags)
    build_resolvers(collected.types, upstream, diags)
    root_names = {name for name, _ in roots.values()}
    check_templates(collected.types, root_names, server, diags)
    query = roots.get("query", ("Query", None))[0]
    mutation = roots["mutation"][0] if "mutation" in roots else None
    check_calls(collected.types, query, mutation, diags)
    check_fields(collected.types, root_names, upstream, links, diags)
    providers = load_providers(links, diags)
    assign_requirements(collected.types, query, mutation, providers, diags)

    blueprint = None
    if not diags.has_errors:
        blueprint = Blueprint(collected.types, query, mutation, server, upstream, links,
                              telemetry, files, providers)
    return CheckResult(blueprint, diags.sorted(), files, time.perf_counter() - started,
                       diags.dropped, diags.error_count, diags.warning_count)


def _peek_links(document: gql.DocumentNode, file: str) -> list[tuple[str, str, Loc]]:
    """``@link`` uses on the schema with a literal ``src`` (checked fully later)."""
    from .located import node_loc

    found = []
    for definition in document.definitions:
        if not isinstance(definition, (gql.SchemaDefinitionNode, gql.SchemaExtensionNode)):
            continue
        for directive in definition.directives or ():
            if directive.name.value != "link":
                continue
            args = {a.name.value: a.value for a in directive.arguments}
            src, kind = args.get("src"), args.get("type")
            if isinstance(src, gql.StringValueNode):
                kind_name = kind.value if isinstance(kind, gql.EnumValueNode) else "Config"
                found.append((src.value, kind_name, node_loc(directive, file)))
    return found


def _follow_link(declaring: ConfigSource, args: dict, loc: Loc,
                 diags: Diagnostics) -> list[ConfigSource]:
    """Check a link's target; return it as a source to load when it is a Config."""
    src: str = args["src"]
    kind: str = args.get("type") or "Config"
    if kind not in FILE_LINKS:
        return []
    if src.startswith(("http://", "https://")):
        diags.error(loc, f"@link src {src}: plait reads linked files from disk",
                    "download the file and link its local path")
        return []
    display = os.path.normpath(os.path.join(os.path.dirname(declaring.display), src))
    path = declaring.path.parent / src
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:
        diags.error(loc, f'cannot read linked {kind} file "{_short(src)}": '
                    f"{exc.strerror or exc}")
        return []
    if is_dir:
        diags.error(loc, f'linked {kind} file "{_short(src)}" is a directory')
        return []
    if not exists:
        diags.error(loc, f'linked {kind} file "{_short(src)}" not found (looked for '
                    f"{_short(display)})", "link paths are relative to the file that declares "
                    "them")
        return []
    if kind != "Config":
        return []
    if path.suffix.lower() not in SDL_EXTENSIONS + SETTINGS_EXTENSIONS:
        diags.error(loc, f'linked Config file "{_short(src)}" has an unsupported type '
                    f"({path.suffix or 'no extension'})",
                    "link .graphql/.gql schemas or .yml/.yaml/.json settings")
        return []
    source = read_source(display, path, diags)
    return [source] if source else []


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _roots(schemas: list[SchemaDef], types: dict, diags: Diagnostics,
           files: list[str]) -> dict[str, tuple[str, Loc]]:
    roots: dict[str, tuple[str, Loc]] = {}
    for schema in schemas:
        for operation, (name, loc) in schema.operations.items():
            if operation in roots and roots[operation][0] != name:
                diags.error(loc, f'{operation} root is "{name}" here but "{roots[operation][0]}"'
                            f" at {roots[operation][1]}")
                continue
            roots.setdefault(operation, (name, loc))
    for operation, default in (("query", "Query"), ("mutation", "Mutation")):
        if operation not in roots and default in types and not types[default].builtin:
            roots[operation] = (default, types[default].loc)
    if "query" not in roots and files and not diags.has_errors:
        where = schemas[0].loc if schemas else Loc(files[0], 1, 1)
        diags.error(where, "the config has no query root",
                    "add `schema { query: Query }` and a `type Query { ... }`")
    if "subscription" in roots:
        diags.error(roots.pop("subscription")[1], "subscriptions are not supported yet")
    return roots
