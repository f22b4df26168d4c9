"""Pass 5: directives on fields and types become resolvers and field properties.

``@http``, ``@grpc``, ``@graphQL``, ``@call``, ``@expr`` (and ``@js``, which plait refuses)
become resolver objects with compiled templates; ``@cache``, ``@modify``, ``@omit``,
``@protected``, ``@discriminate`` set field properties; ``@addField`` adds fields; ``@alias``
sets enum value aliases.
"""
from __future__ import annotations

from .compile_templates import compile_json, compile_string
from .diagnostics import Diagnostics, did_you_mean
from .directive_specs import DIRECTIVES
from .located import LValue
from .model import (INTERFACE, OBJECT, CallResolver, CallStep, DirectiveUse, ExprResolver,
                    FieldDef, GraphQLResolver, GrpcResolver, HttpQueryParam, HttpResolver,
                    Resolver, TypeDef, TypeRef)
from .settings import UpstreamSettings
from .templates import JsonTemplate, Template

JS_HINT = "plait does not run JavaScript; express the logic with @expr, @call or select"


def build_resolvers(types: dict[str, TypeDef], upstream: UpstreamSettings,
                    diags: Diagnostics) -> None:
    """Attach resolvers and properties to every object/interface type and field."""
    for typedef in types.values():
        if typedef.builtin:
            continue
        typedef.resolver = _resolver(typedef.directives, typedef.name, upstream, diags)
        for use in _valid(typedef.directives):
            if use.name == "cache":
                typedef.cache_max_age_ms = _max_age(use, diags)
            elif use.name == "protected":
                typedef.protected = True
        for field_def in list(typedef.fields.values()):
            where = f"{typedef.name}.{field_def.name}"
            field_def.resolver = _resolver(field_def.directives, where, upstream, diags)
            _field_properties(field_def, diags)
        for value in typedef.values.values():
            for use in _valid(value.directives):
                if use.name == "alias":
                    value.aliases = tuple(use.args["options"])
        if typedef.kind in (OBJECT, INTERFACE):
            for use in _valid(typedef.directives):
                if use.name == "addField":
                    _add_field(typedef, use, types, diags)
        _check_public_names(typedef, diags)


def _valid(uses: list[DirectiveUse]) -> list[DirectiveUse]:
    return [use for use in uses if use.valid]


def _resolver(uses: list[DirectiveUse], where: str, upstream: UpstreamSettings,
              diags: Diagnostics) -> Resolver | None:
    resolvers = [use for use in uses if use.name in DIRECTIVES and DIRECTIVES[use.name].resolver]
    if len(resolvers) > 1:
        names = ", ".join(f"@{use.name} at {use.loc.line}:{use.loc.col}" for use in resolvers)
        diags.error(resolvers[1].loc, f"{where} has more than one resolver ({names})",
                    "keep one; use @call to combine several root fields")
        return None
    if not resolvers or not resolvers[0].valid:
        return None
    use = resolvers[0]
    what = f"@{use.name} on {where}"
    if use.name == "http":
        return _http(use, what, upstream, diags)
    if use.name == "grpc":
        return _grpc(use, what, diags)
    if use.name == "graphQL":
        return GraphQLResolver(
            use.loc, _url(use, what, diags), use.args["name"],
            _pairs(use, "args", what, diags), _pairs(use, "headers", what, diags),
            bool(use.args.get("batch")), bool(use.args.get("dedupe")))
    if use.name == "call":
        return _call(use, what, diags)
    if use.name == "expr":
        body = use.values.get("body")
        return ExprResolver(use.loc, compile_json(body, diags, what) if body
                            else JsonTemplate(None))
    diags.error(use.loc, f"{what}: @js is not supported", JS_HINT)
    return None


def _url(use: DirectiveUse, what: str, diags: Diagnostics,
         base: str | None = None) -> Template:
    value = use.values.get("url")
    if value is None or value.kind == "null":
        path = use.values.get("path")
        base = use.args.get("baseURL") or base
        if path is None or path.kind == "null" or base is None:
            example = path.value if path is not None and path.kind == "string" \
                else "/users/{{.args.id}}"
            hint = f'give the full upstream URL, e.g. url: "http://host{example}"'
            if path is not None and path.kind == "string":
                diags.error(use.loc, f'{what}: path "{path.value}" has no baseURL to resolve '
                            f"against; none is set in @{use.name}(baseURL:) or "
                            "@upstream(baseURL:)", hint)
            else:
                diags.error(use.loc, f'@{use.name} needs argument "url" (String!)', hint)
            return Template(())
        value = LValue("string", base.rstrip("/") + "/" + path.value.lstrip("/"), path.loc)
    template = compile_string(value, diags, f"{what} url")
    first = template.parts[0] if template.parts else ""
    if isinstance(first, str) and not first.lower().startswith(("http://", "https://")):
        diags.error(value.loc, f'{what}: url "{value.value}" is not an absolute http(s) URL',
                    "start it with http:// or https:// (or a template such as "
                    "{{.vars.baseUrl}})")
    return template


def _pairs(use: DirectiveUse, name: str, what: str,
           diags: Diagnostics) -> list[tuple[str, Template]]:
    value = use.values.get(name)
    if value is None or value.kind == "null":
        return []
    items = value.value if value.kind == "list" else [value]
    return [(item.value["key"].value,
             compile_string(item.value["value"], diags, f"{what} {name}"))
            for item in items]


def _http(use: DirectiveUse, what: str, upstream: UpstreamSettings,
          diags: Diagnostics) -> HttpResolver:
    args = use.args
    for hook in ("onRequest", "onResponseBody"):
        if args.get(hook):
            diags.error(use.values[hook].loc, f"{what}: {hook} hooks are not supported",
                        JS_HINT)
    query = []
    query_value = use.values.get("query")
    if query_value is not None and query_value.kind != "null":
        items = query_value.value if query_value.kind == "list" else [query_value]
        for item in items:
            entry = item.value
            if not entry["key"].value:
                diags.error(entry["key"].loc, f"{what}: query parameter key must not be empty")
            skip = entry.get("skipEmpty")
            query.append(HttpQueryParam(entry["key"].value,
                                        compile_string(entry["value"], diags,
                                                       f"{what} query"),
                                        bool(skip.value) if skip is not None else False))
    body = use.values.get("body")
    select = use.values.get("select")
    resolver = HttpResolver(
        use.loc, _url(use, what, diags, upstream.base_url), args.get("method") or "GET",
        query, _pairs(use, "headers", what, diags),
        compile_json(body, diags, f"{what} body") if body is not None else None,
        tuple(args.get("batchKey") or ()), bool(args.get("dedupe")),
        args.get("encoding") or "ApplicationJson",
        compile_json(select, diags, f"{what} select", roots=None) if select else None)
    if resolver.batch_key:
        _check_batch(resolver, use, what, diags)
    return resolver


def _check_batch(resolver: HttpResolver, use: DirectiveUse, what: str,
                 diags: Diagnostics) -> None:
    if resolver.method == "GET":
        uses_value = any(ref.root == "value" for param in resolver.query
                         for ref in param.value.refs)
        if not uses_value:
            diags.error(use.values["batchKey"].loc,
                        f"{what}: batchKey needs a query parameter that uses "
                        "{{.value...}} (it carries the batched keys)",
                        'e.g. query: [{key: "id", value: "{{.value.userId}}"}]')
    elif resolver.body is None or not any(ref.root == "value" for t in
                                          resolver.body.templates() for ref in t.refs):
        diags.error(use.values["batchKey"].loc,
                    f"{what}: batchKey on {resolver.method} needs a body that uses "
                    "{{.value...}} (per-item bodies are sent as one JSON array)")
    elif len({(ref.root, ref.path) for t in resolver.body.templates() for ref in t.refs
              if ref.root not in ("vars", "env")}) != 1:
        diags.error(use.values["batchKey"].loc,
                    f"{what}: batchKey on {resolver.method}: a batched body may read only "
                    "the key ({{.value...}} once), vars and env; items whose bodies differ "
                    "in anything else could not share one call",
                    "move request-specific values to the url, query or headers")
    elif resolver.encoding == "ApplicationXWwwFormUrlencoded":
        diags.error(use.values["batchKey"].loc,
                    f"{what}: batchKey on {resolver.method} cannot batch form bodies "
                    "(encoding: ApplicationXWwwFormUrlencoded): the per-item bodies are "
                    "sent as one JSON array",
                    "remove encoding (the batch is sent as JSON) or batchKey")


def _grpc(use: DirectiveUse, what: str, diags: Diagnostics) -> GrpcResolver:
    method = use.args["method"]
    if method.count(".") < 2:
        diags.error(use.values["method"].loc, f'{what}: method "{method}" is not '
                    "package.Service.Method", 'e.g. method: "news.NewsService.GetAllNews"')
    body = use.values.get("body")
    select = use.values.get("select")
    return GrpcResolver(
        use.loc, _url(use, what, diags), method,
        compile_json(body, diags, f"{what} body") if body is not None else None,
        _pairs(use, "headers", what, diags), tuple(use.args.get("batchKey") or ()),
        bool(use.args.get("dedupe")),
        compile_json(select, diags, f"{what} select", roots=None) if select else None)


def _call(use: DirectiveUse, what: str, diags: Diagnostics) -> CallResolver | None:
    steps = []
    for index, step in enumerate(use.values["steps"].value
                                 if use.values["steps"].kind == "list"
                                 else [use.values["steps"]]):
        entry: dict[str, LValue] = step.value
        kinds = [kind for kind in ("query", "mutation")
                 if kind in entry and entry[kind].kind != "null"]
        if len(kinds) != 1:
            diags.error(step.loc, f"{what}: step {index + 1} needs exactly one of query or "
                        "mutation", 'e.g. steps: [{query: "user", args: {id: "{{.value.'
                        'userId}}"}}]')
            continue
        args = entry.get("args")
        if args is not None and args.kind not in ("object", "null"):
            diags.error(args.loc, f"{what}: step {index + 1} args must be an object, found "
                        f"{args.describe()}")
            continue
        steps.append(CallStep(kinds[0], entry[kinds[0]].value,
                              compile_json(args, diags, f"{what} args") if args is not None
                              and args.kind == "object" else JsonTemplate({}),
                              entry[kinds[0]].loc))
    if not steps:
        if not use.values["steps"].value:
            diags.error(use.values["steps"].loc, f"{what}: steps must not be empty",
                        'e.g. steps: [{query: "user", args: {id: "{{.value.userId}}"}}]')
        return None
    return CallResolver(use.loc, steps, bool(use.args.get("dedupe")))


def _max_age(use: DirectiveUse, diags: Diagnostics) -> int | None:
    max_age = use.args["maxAge"]
    if max_age <= 0:
        diags.error(use.values["maxAge"].loc, f"@cache maxAge must be > 0 milliseconds, "
                    f"found {max_age}")
        return None
    return max_age


def _field_properties(field_def: FieldDef, diags: Diagnostics) -> None:
    for use in _valid(field_def.directives):
        if use.name == "cache":
            field_def.cache_max_age_ms = _max_age(use, diags)
        elif use.name == "modify":
            if use.args.get("omit"):
                field_def.public_name = None
            elif use.args.get("name"):
                field_def.public_name = use.args["name"]
        elif use.name == "omit":
            field_def.public_name = None
        elif use.name == "protected":
            field_def.protected = True
        elif use.name == "discriminate":
            field_def.discriminate = use.args.get("field") or "type"


def _add_field(typedef: TypeDef, use: DirectiveUse, types: dict[str, TypeDef],
               diags: Diagnostics) -> None:
    name: str = use.args["name"]
    path: list[str] = use.args["path"]
    if name in typedef.fields:
        diags.error(use.values["name"].loc, f'@addField: {typedef.name} already has a field '
                    f'"{name}"')
        return
    if not path:
        diags.error(use.values["path"].loc, "@addField path must not be empty")
        return
    current: TypeDef = typedef
    result: TypeRef | None = None  # the type read so far
    outer_lists = 0  # lists passed through before ``result``
    maybe_absent = False  # an earlier step may be null, or an index may be out of range
    for index, segment in enumerate(path):
        if segment.isdigit():
            if result is None or not result.is_list:
                diags.error(use.values["path"].loc, f"@addField path: index {segment} is not "
                            "applied to a list")
                return
            assert result.of is not None
            result = result.of
            maybe_absent = True
            continue
        field_def = current.fields.get(segment)
        if field_def is None:
            diags.error(use.values["path"].loc, f'@addField path: {current.name} has no field '
                        f'"{segment}"{did_you_mean(segment, current.fields)}')
            return
        if result is not None:
            outer_lists += result.list_depth()
            level: TypeRef | None = result
            while level is not None:  # the value read so far, and any items mapped over
                maybe_absent = maybe_absent or not level.non_null
                level = level.of
        result = field_def.type
        nxt = types.get(field_def.type.named)
        rest = path[index + 1:]
        if rest and not all(part.isdigit() for part in rest):
            if nxt is None or nxt.kind not in (OBJECT, INTERFACE):
                what = "a leaf" if nxt is None or nxt.kind in ("scalar", "enum") else \
                    f"a {nxt.kind} ({nxt.name})"
                diags.error(use.values["path"].loc, f'@addField path: "{segment}" of '
                            f"{current.name} is {what}; the path cannot go past it")
                return
            current = nxt
    assert result is not None
    if maybe_absent and result.non_null:
        result = TypeRef(result.name, result.of, False, result.loc)
    for _ in range(outer_lists):
        result = TypeRef(None, result, False, use.loc)
    typedef.fields[name] = FieldDef(name, result, typedef.name, use.loc,
                                    source_path=tuple(path))


def _check_public_names(typedef: TypeDef, diags: Diagnostics) -> None:
    seen: dict[str, FieldDef] = {}
    for field_def in typedef.fields.values():
        public = field_def.public_name
        if public is None:
            continue
        if public in seen and seen[public] is not field_def:
            diags.error(field_def.loc, f'{typedef.name}.{field_def.name} is exposed as '
                        f'"{public}", which {typedef.name}.{seen[public].name} already uses')
        seen[public] = field_def
