"""What both VMs share: resolving steps against upstreams, per request.

The VMs (``refvm`` in Python, ``_cvm`` in Cython) dispatch the same instructions and call
these functions for the parts that are the same in both: starting fetches (with
per-request and cross-request de-duplication), batching, ``@expr`` and ``@call``,
awaiting, and gathering the objects the next wave needs.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable

from typing import Any

import msgspec
from msgspec import Raw

from plait.planner.model import (CallResolver, ExprResolver, GraphQLResolver, GrpcResolver,
                                 HttpResolver, Resolver, TypeDef)
from plait.planner.plan import response_decoder
from plait.planner.program import AbstractShape, GatherSpec, StepSpec
from plait.planner.variables import coerce_arguments

from .render import (ResponseScope, Scope, query_string, render_json, render_text,
                     render_url, to_text, with_query)
from .upstream import HttpClient, UpstreamError, UpstreamRequest, UpstreamResponse
from .values import FieldError, decode_response, lookup, materialize, plain

_json = msgspec.json.encode
_MISSING: Any = object()


class Fetched:
    """One upstream exchange; decoded forms are cached here, so requests that share the
    exchange (dedupe) also share the decoding."""

    __slots__ = ("response", "decoded")

    def __init__(self, response: UpstreamResponse) -> None:
        self.response = response
        self.decoded: dict[int, Any] = {}


class ResultCache:
    """``@cache(maxAge:)``: finished upstream exchanges of cached fields, kept per request
    identity (method, URL, forwarded and rendered headers, body) for ``maxAge`` ms, so a
    repeated call within that time makes no upstream request. Only 2xx answers are kept
    (an error is retried on the next request). Bounded: the oldest entries go first once
    ``max_entries`` or ``max_bytes`` of bodies is exceeded."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: dict[tuple[Any, ...], tuple[float, Fetched]] = {}

    def get(self, key: tuple[Any, ...], now: float) -> Fetched | None:
        found = self.entries.get(key)
        if found is None:
            return None
        if found[0] <= now:
            self._drop(key)
            return None
        return found[1]

    def put(self, key: tuple[Any, ...], fetched: Fetched, expires: float) -> None:
        size = len(fetched.response.body)
        if size > self.max_bytes // 4:
            return  # one body may not evict everything else
        if key in self.entries:
            self._drop(key)
        self.entries[key] = (expires, fetched)
        self.bytes += size
        while len(self.entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: tuple[Any, ...]) -> None:
        _, fetched = self.entries.pop(key)
        self.bytes -= len(fetched.response.body)


class SharedState:
    """Per engine: the client, in-flight calls shared across requests, settings."""

    def __init__(self, blueprint: Any, client: HttpClient) -> None:
        self.blueprint = blueprint
        self.client = client
        self.inflight: dict[tuple[Any, ...], asyncio.Future[Fetched]] = {}
        self.env = dict(os.environ)
        self.vars = dict(blueprint.server.vars)
        self.allowed_headers = blueprint.upstream.allowed_headers
        batch = blueprint.upstream.batch
        self.batch_max = batch.max_size if batch else 100
        self.batch_delay_ms = batch.delay_ms if batch else 0
        self.windows: dict[tuple[Any, ...], BatchWindow] = {}
        self.results = ResultCache()
        self.root_types: dict[str, TypeDef | None] = {
            "query": blueprint.types.get(blueprint.query),
            "mutation": blueprint.types.get(blueprint.mutation) if blueprint.mutation else None,
        }


    def batch_window(self, resolver: HttpResolver, param: str, url: str,
                     headers: tuple[tuple[str, str], ...]) -> "BatchWindow":
        """The open window collecting keys for this batch call (one per delay period)."""
        key = (id(resolver), url, headers)
        window = self.windows.get(key)
        if window is None:
            window = BatchWindow(self, resolver, param, url, headers, self.batch_delay_ms)
            self.windows[key] = window
        return window

    def close_window(self, window: "BatchWindow") -> None:
        key = (id(window.resolver), window.url, window.headers)
        if self.windows.get(key) is window:
            del self.windows[key]


class RequestContext:
    """Per request: headers, variables, started fetches, identity caches."""

    def __init__(self, shared: SharedState, variables: dict[str, Any],
                 headers: dict[str, str]) -> None:
        self.shared = shared
        self.variables = variables
        self.headers = headers
        self.root: dict[str, Any] = {}
        self.cache: dict[int, Any] = {}          # materialized Raw values, by identity
        self.parent_of: dict[int, Any] = {}      # object → the object it was found in
        self.local: dict[tuple[Any, ...], asyncio.Future[Fetched]] = {}
        # (step, its results, [(parent ids, future) | (None, (future, batch members))])
        self.pending: list[tuple[StepSpec, dict[int, Any], list[tuple[Any, Any]]]] = []
        self.forwarded = [(name, value) for name, value in headers.items()
                          if name in shared.allowed_headers]

    # -- arguments and scopes -----------------------------------------------------------
    def arguments(self, spec: StepSpec) -> dict[str, Any]:
        return coerce_arguments(spec.arguments, spec.field.args, self.variables,
                                self.shared.blueprint.types)

    def scope(self, args: dict[str, Any], value: Any) -> Scope:
        return Scope(args, value, self.parent_of.get(id(value)), self.headers,
                     self.shared.env, self.shared.vars, self.cache)

    # -- upstream calls ------------------------------------------------------------------
    def call(self, request: UpstreamRequest, dedupe: bool,
             max_age_ms: int | None = None) -> asyncio.Future[Fetched]:
        """Start (or join) an upstream exchange. Identical GETs are made once per request;
        with ``dedupe`` they are also shared with concurrent requests; with ``max_age_ms``
        (``@cache``) a finished answer is reused for that long."""
        key = (request.method, request.url, tuple(request.headers), request.body)
        if request.method == "GET":
            found = self.local.get(key)
            if found is not None:
                return found
        if max_age_ms:
            return self._cached_call(request, key, dedupe, max_age_ms)
        return self._call(request, key, dedupe)

    def _cached_call(self, request: UpstreamRequest, key: tuple[Any, ...], dedupe: bool,
                     max_age_ms: int) -> asyncio.Future[Fetched]:
        loop = asyncio.get_running_loop()
        results = self.shared.results
        hit = results.get(key, loop.time())
        if hit is not None:
            future: asyncio.Future[Fetched] = loop.create_future()
            future.set_result(hit)
            self.local[key] = future
            return future
        future = self._call(request, key, dedupe)

        def keep(done: asyncio.Future[Fetched]) -> None:
            if not done.cancelled() and done.exception() is None:
                fetched = done.result()
                if 200 <= fetched.response.status < 300:
                    results.put(key, fetched, loop.time() + max_age_ms / 1000)

        future.add_done_callback(keep)
        return future

    def _call(self, request: UpstreamRequest, key: tuple[Any, ...],
              dedupe: bool) -> asyncio.Future[Fetched]:
        shared = self.shared.inflight
        if dedupe and request.method == "GET":
            found = shared.get(key)
            if found is None:
                found = asyncio.ensure_future(_exchange(self.shared.client, request))
                shared[key] = found
                found.add_done_callback(lambda _f, k=key: shared.pop(k, None))
            self.local[key] = found
            return found
        future = asyncio.ensure_future(_exchange(self.shared.client, request))
        if request.method == "GET":
            self.local[key] = future
        return future


async def _exchange(client: HttpClient, request: UpstreamRequest) -> Fetched:
    return Fetched(await client.request(request))


def _http_request(resolver: HttpResolver, scope: Scope, ctx: RequestContext,
                  extra_query: list[tuple[str, Any]] | None = None) -> UpstreamRequest:
    url = render_url(resolver.url, scope)
    pairs: list[tuple[str, Any]] = []
    for param in resolver.query:
        value = _param_value(param.value, scope)
        if param.skip_empty and (value is None or value == "" or value == []):
            continue
        pairs.append((param.key, value))
    if extra_query:
        pairs += extra_query
    url = with_query(url, query_string(pairs))
    headers = list(ctx.forwarded)
    headers += [(name, render_text(template, scope)) for name, template in resolver.headers]
    body = None
    if resolver.body is not None:
        rendered = render_json(resolver.body, scope)
        if resolver.encoding == "ApplicationXWwwFormUrlencoded" and isinstance(rendered, dict):
            body = query_string(list(rendered.items())).encode()
            headers.append(("content-type", "application/x-www-form-urlencoded"))
        else:
            body = _json(rendered)
            headers.append(("content-type", "application/json"))
    return UpstreamRequest(resolver.method, url, headers, body)


def _param_value(template: Any, scope: Scope) -> Any:
    ref = template.single_ref
    if ref is not None:
        return scope.resolve(ref)
    return render_text(template, scope)


def cache_age(ctx: RequestContext, spec: StepSpec) -> int | None:
    """``@cache(maxAge)`` of the step's field, or of the type that declares it."""
    age = spec.field.cache_max_age_ms
    if age is None:
        owner = ctx.shared.blueprint.types.get(spec.owner)
        age = owner.cache_max_age_ms if owner is not None else None
    return age


def _unsupported(resolver: Resolver) -> FieldError | None:
    if isinstance(resolver, GrpcResolver):
        return FieldError("@grpc resolvers are not supported yet",
                          {"code": "NOT_SUPPORTED"})
    if isinstance(resolver, GraphQLResolver):
        return FieldError("@graphQL resolvers are not supported yet",
                          {"code": "NOT_SUPPORTED"})
    return None


def _unique(parents: list[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for parent in parents:
        if id(parent) not in seen:
            seen.add(id(parent))
            out.append(parent)
    return out


# -- instructions ---------------------------------------------------------------------
def _group_parents(ctx: RequestContext, parents: list[Any], refs: tuple[Any, ...]
                   ) -> list[list[Any]]:
    """Parents whose referenced values are equal render the same request: group them, so
    100 posts by 10 authors render and issue 10 requests, not 100."""
    if not refs:
        return [_unique(parents)]
    groups: dict[Any, list[Any]] = {}
    seen: set[int] = set()
    cache = ctx.cache
    for parent in parents:
        if id(parent) in seen:
            continue
        seen.add(id(parent))
        key: list[Any] = []
        for ref in refs:
            holder = parent if ref.root == "value" else ctx.parent_of.get(id(parent))
            if len(ref.path) == 1 and isinstance(holder, dict):
                value = holder.get(ref.path[0])
            else:
                value = lookup(holder, ref.path, cache) if ref.path else holder
            if type(value) is Raw:
                value = msgspec.json.decode(value)
            if not isinstance(value, (str, int, float, bool, type(None))):
                value = _json(plain(value))
            key.append(type(value))  # True == 1 == 1.0 in Python; their renderings differ
            key.append(value)
        groups.setdefault(tuple(key), []).append(parent)
    return list(groups.values())


def start_fetch(ctx: RequestContext, spec: StepSpec, parents: list[Any],
                results: dict[int, Any], grouping: Any = None) -> None:
    """FETCH: one call (or ``@call`` chain) per distinct rendered request. ``grouping`` is
    the parent-grouping function (the compiled VM passes its own twin of
    :func:`_group_parents`)."""
    resolver = spec.resolver
    unsupported = _unsupported(resolver)
    if unsupported is not None:
        for parent in parents:
            results[id(parent)] = unsupported
        return
    args = ctx.arguments(spec)
    entries: list[tuple[list[int], Any]] = []
    for group in (grouping or _group_parents)(ctx, parents, spec.parent_refs):
        scope = ctx.scope(args, group[0])
        ids = [id(parent) for parent in group]
        if isinstance(resolver, HttpResolver):
            entries.append((ids, ctx.call(_http_request(resolver, scope, ctx),
                                          resolver.dedupe, cache_age(ctx, spec))))
        elif isinstance(resolver, CallResolver):
            entries.append((ids, asyncio.ensure_future(_run_call(ctx, resolver, scope))))
        else:  # pragma: no cover - EXPR and BATCH have their own instructions
            for parent_id in ids:
                results[parent_id] = FieldError("unsupported resolver")
    if entries:
        ctx.pending.append((spec, results, entries))


def run_expr(ctx: RequestContext, spec: StepSpec, parents: list[Any],
             results: dict[int, Any]) -> None:
    """EXPR: evaluate the ``@expr`` body for each parent (no upstream)."""
    resolver = spec.resolver
    assert isinstance(resolver, ExprResolver)
    args = ctx.arguments(spec)
    if resolver.body.is_constant:
        value = resolver.body.value
        for parent in parents:
            results[id(parent)] = value
        return
    for parent in _unique(parents):
        results[id(parent)] = render_json(resolver.body, ctx.scope(args, parent))


def start_batch(ctx: RequestContext, spec: StepSpec, parents: list[Any],
                results: dict[int, Any]) -> None:
    """BATCH: one call per ``maxSize`` distinct keys; items are matched back by
    ``batchKey`` (missing keys resolve to null, list fields collect every match)."""
    resolver = spec.resolver
    assert isinstance(resolver, HttpResolver)
    args = ctx.arguments(spec)
    batch_param = next((p for p in resolver.query
                        if any(ref.root == "value" for ref in p.value.refs)), None)
    assert batch_param is not None  # checked when the config loads
    # The request without the batch parameter: parents that render it alike share a batch.
    base = HttpResolver(resolver.loc, resolver.url, resolver.method,
                        [p for p in resolver.query if p is not batch_param], resolver.headers,
                        resolver.body)
    groups: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
    for parent in _unique(parents):
        scope = ctx.scope(args, parent)
        key = _param_value(batch_param.value, scope)
        if key is None or key == "":
            results[id(parent)] = None
            continue
        request = _http_request(base, scope, ctx)
        group_key = (request.url, tuple(request.headers))
        groups.setdefault(group_key, []).append((id(parent), to_text(key)))
    delay = ctx.shared.batch_delay_ms
    size = max(1, ctx.shared.batch_max)
    for (url, headers), members in groups.items():
        keys = list(dict.fromkeys(k for _, k in members))
        if delay > 0:
            window = ctx.shared.batch_window(resolver, batch_param.key, url, headers)
            ctx.pending.append((spec, results, [(None, (window.add(keys), members))]))
            continue
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            request = UpstreamRequest(resolver.method,
                                      with_query(url, query_string([(batch_param.key, chunk)])),
                                      list(headers), None)
            index = asyncio.ensure_future(_fetch_index(
                ctx.call(request, resolver.dedupe, cache_age(ctx, spec)), resolver))
            chunk_set = set(chunk)
            chunk_members = [(pid, k) for pid, k in members if k in chunk_set]
            ctx.pending.append((spec, results, [(None, (index, chunk_members))]))


async def _fetch_index(fetch: Awaitable[Fetched], resolver: HttpResolver) -> Any:
    """One batch call's items by their ``batchKey`` value, or a FieldError."""
    try:
        fetched = await fetch
    except UpstreamError as exc:
        return _upstream_error(exc)
    return batch_index(fetched, resolver)


def batch_index(fetched: Fetched, resolver: HttpResolver) -> Any:
    status = fetched.response.status
    if status >= 400 or status < 200:
        return FieldError(f"upstream returned HTTP {status}",
                          {"code": "UPSTREAM_HTTP_ERROR", "status": status})
    cache_key = ("batch", resolver.batch_key)
    found = fetched.decoded.get(cache_key, _MISSING)  # type: ignore[call-overload]
    if found is not _MISSING:
        return found
    decoded = decode_response(fetched.response.body, _BATCH_DECODER)
    if isinstance(decoded, FieldError):
        found = decoded
    elif not isinstance(decoded, list):
        found = FieldError("upstream batch response is not a list")
    else:
        found = {}
        for item in decoded:
            if not isinstance(item, dict):
                continue
            value: Any = item
            for segment in resolver.batch_key:
                value = value.get(segment) if isinstance(value, dict) else None
            found.setdefault(to_text(value), []).append(item)
    fetched.decoded[cache_key] = found  # type: ignore[index]
    return found


class BatchWindow:
    """Keys asked for by concurrent requests within ``delay`` ms, fetched together
    (``@upstream(batch: {delay, maxSize})``); resolves to key → items (or errors)."""

    def __init__(self, shared: "SharedState", resolver: HttpResolver, param: str, url: str,
                 headers: tuple[tuple[str, str], ...], delay_ms: int) -> None:
        self.shared = shared
        self.resolver = resolver
        self.param = param
        self.url = url
        self.headers = headers
        self.keys: dict[str, None] = {}
        loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = loop.create_future()
        loop.call_later(delay_ms / 1000, self._fire)

    def add(self, keys: list[str]) -> asyncio.Future[Any]:
        for key in keys:
            self.keys[key] = None
        return self.future

    def _fire(self) -> None:
        self.shared.close_window(self)
        asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        keys = list(self.keys)
        size = max(1, self.shared.batch_max)
        calls = []
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            request = UpstreamRequest(self.resolver.method,
                                      with_query(self.url, query_string([(self.param, chunk)])),
                                      list(self.headers), None)
            calls.append((chunk, _fetch_index(_exchange(self.shared.client, request),
                                              self.resolver)))
        merged: dict[str, Any] = {}
        for chunk, call in calls:
            index = await call
            if isinstance(index, FieldError):
                for key in chunk:
                    merged[key] = index
            else:
                merged.update(index)
        if not self.future.done():
            self.future.set_result(merged)


async def await_pending(ctx: RequestContext) -> None:
    """AWAIT: wait for every started fetch and store results (or located errors)."""
    while ctx.pending:
        pending, ctx.pending = ctx.pending, []
        for spec, results, entries in pending:
            for ids, item in entries:
                if ids is None:
                    future, members = item
                    await _settle_batch(ctx, spec, results, future, members)
                    continue
                try:
                    outcome = await item
                except UpstreamError as exc:
                    outcome = _upstream_error(exc)
                except Exception as exc:  # noqa: BLE001 - one failed call must not fail all
                    outcome = FieldError(f"internal error resolving {spec.label}: {exc!r}",
                                         {"code": "INTERNAL"})
                if isinstance(outcome, Fetched):
                    outcome = _decoded(outcome, spec)
                for parent_id in ids:
                    results[parent_id] = outcome


def _upstream_error(exc: UpstreamError) -> FieldError:
    return FieldError(f"upstream request failed: {exc.message}",
                      {"code": "UPSTREAM_" + exc.kind.upper()})


def _decoded(fetched: Fetched, spec: StepSpec) -> Any:
    status = fetched.response.status
    if status >= 400 or status < 200:
        return FieldError(f"upstream returned HTTP {status}",
                          {"code": "UPSTREAM_HTTP_ERROR", "status": status})
    key = id(spec.decoder)
    found = fetched.decoded.get(key, _MISSING)
    if found is _MISSING:
        found = decode_response(fetched.response.body, spec.decoder)
        select = getattr(spec.resolver, "select", None)
        if select is not None and not isinstance(found, FieldError):
            found = _select(select, found)
        fetched.decoded[key] = found
    return found


def _select(select: Any, value: Any) -> Any:
    """``@http(select:)``: reshape the decoded response with its templates."""
    return render_json(select, ResponseScope(plain(value)))


async def _settle_batch(ctx: RequestContext, spec: StepSpec, results: dict[int, Any],
                        future: Any, members: list[tuple[int, str]]) -> None:
    """Scatter a batch's items to the parents that asked for them by key."""
    index = await future
    many = spec.result_type.is_list
    for parent_id, key in members:
        if isinstance(index, FieldError):
            results[parent_id] = index
            continue
        matches = index.get(key, [])
        if isinstance(matches, FieldError):
            results[parent_id] = matches
        else:
            results[parent_id] = matches if many else (matches[0] if matches else None)


_BATCH_DECODER = msgspec.json.Decoder(list[Any])


async def _run_call(ctx: RequestContext, resolver: CallResolver, scope: Scope) -> Any:
    """``@call``: each step resolves a root field; later steps also take the previous
    result's fields as arguments."""
    previous: Any = None
    for index, step in enumerate(resolver.steps):
        root = ctx.shared.root_types[step.kind]
        assert root is not None
        target = root.fields[step.field]
        args = render_json(step.args, scope) or {}
        if index > 0 and isinstance(plain(previous), dict):
            args = {**{k: v for k, v in plain(previous).items() if k in target.args}, **args}
        for name, definition in target.args.items():
            if name not in args and definition.default is not None:
                args[name] = definition.default.plain()
        previous = await resolve_with(ctx, target.resolver, args, target.type)
        if isinstance(previous, FieldError):
            return previous
    return previous


async def resolve_with(ctx: RequestContext, resolver: Resolver | None, args: dict[str, Any],
                       type_ref: Any) -> Any:
    """Resolve a root field's resolver with given arguments (for ``@call``)."""
    scope = Scope(args, None, None, ctx.headers, ctx.shared.env, ctx.shared.vars, ctx.cache)
    if resolver is None:
        return None
    unsupported = _unsupported(resolver)
    if unsupported is not None:
        return unsupported
    if isinstance(resolver, ExprResolver):
        return render_json(resolver.body, scope)
    if isinstance(resolver, CallResolver):
        return await _run_call(ctx, resolver, scope)
    assert isinstance(resolver, HttpResolver)
    try:
        fetched = await ctx.call(_http_request(resolver, scope, ctx), resolver.dedupe)
    except UpstreamError as exc:
        return _upstream_error(exc)
    status = fetched.response.status
    if status >= 400:
        return FieldError(f"upstream returned HTTP {status}",
                          {"code": "UPSTREAM_HTTP_ERROR", "status": status})
    named = ctx.shared.blueprint.types.get(type_ref.named)
    leaf = named is None or named.kind in ("scalar", "enum")
    return decode_response(fetched.response.body, response_decoder(type_ref, leaf))


# -- gathering ------------------------------------------------------------------------
def resolve_type(abstract: AbstractShape, value: dict[str, Any], cache: dict[int, Any]
                 ) -> str | None:
    """The object type of a value at an interface/union position: ``@discriminate``'s key,
    then ``__typename``, then the first possible type whose non-null fields are present."""
    for key in (abstract.discriminator, "__typename"):
        if key:
            name = plain(materialize(value.get(key), cache))
            if isinstance(name, str) and name in abstract.shapes:
                return name
    keys = value.keys()
    for name, required in abstract.required:
        if required <= keys:
            return name
    return None


def _flatten_into(value: Any, out: list[Any], cache: dict[int, Any], holder: Any,
                  parent_of: dict[int, Any]) -> None:
    value = materialize(value, cache)
    if isinstance(value, dict):
        parent_of[id(value)] = holder
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            _flatten_into(item, out, cache, holder, parent_of)


def gather(ctx: RequestContext, spec: GatherSpec, sources: list[Any],
           slots: list[dict[int, Any]]) -> list[Any]:
    """GATHER: the objects the next steps resolve for (see :class:`GatherSpec`)."""
    cache, parent_of = ctx.cache, ctx.parent_of
    current: list[Any] = []
    if spec.source_slot >= 0:
        results = slots[spec.source_slot]
        for parent in sources:
            value = results.get(id(parent))
            if value is not None and not isinstance(value, FieldError):
                _flatten_into(value, current, cache, parent, parent_of)
    else:
        current = list(sources)
    for segment in spec.segments:
        kind = segment[0]
        following: list[Any] = []
        if kind == "key":
            for item in current:
                _flatten_into(item.get(segment[1]), following, cache, item, parent_of)
        elif kind == "index":
            for item in current:
                value = materialize(item, cache)
                if isinstance(value, list) and segment[1] < len(value):
                    _flatten_into(value[segment[1]], following, cache, item, parent_of)
        else:  # "is": keep values of one object type
            abstract, name = segment[1], segment[2]
            following = [item for item in current
                         if resolve_type(abstract, item, cache) == name]
        current = following
    return current


