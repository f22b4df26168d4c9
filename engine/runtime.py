"""What both VMs share: resolving steps against upstreams, per request.

The VMs (``refvm`` in Python, ``_cvm`` in Cython) dispatch the same instructions and call
these functions for the parts that are the same in both: starting fetches (with
per-request and cross-request de-duplication), batching, ``@expr`` and ``@call``,
awaiting, and gathering the objects the next wave needs.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from typing import Any

import msgspec
from msgspec import Raw

from plait.planner.model import (CallResolver, ExprResolver, GraphQLResolver, GrpcResolver,
                                 HttpResolver, Resolver, TypeDef)
from plait.planner.plan import response_decoder
from plait.planner.program import AbstractShape, GatherSpec, StepSpec
from plait.planner.variables import coerce_arguments

from .render import (ResponseScope, Scope, form_string, query_string, render_json,
                     render_text, render_url, render_value, to_text, with_query)
from .upstream import HttpClient, UpstreamError, UpstreamRequest, UpstreamResponse
from .values import FieldError, decode_response, lookup, materialize, plain

_json = msgspec.json.encode
_MISSING: Any = object()


class Fetched:
    """One upstream exchange; decoded forms are cached here, so requests that share the
    exchange (dedupe) also share the decoding."""

    __slots__ = ("response", "decoded", "received")

    def __init__(self, response: UpstreamResponse) -> None:
        self.response = response
        self.decoded: dict[int, Any] = {}
        #: When the answer arrived (``time.monotonic()``): what is left of its max-age.
        self.received = time.monotonic()


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
        #: ``@upstream(httpCache: N)``: GET answers kept as their Cache-Control allows.
        size = blueprint.upstream.http_cache_size
        self.http_cache = ResultCache(max_entries=size) if size > 0 else None
        #: Per batched resolver (by id): how its keys are sent (see :func:`_batch_plan`).
        self.batch_plans: dict[int, tuple[Any, ...]] = {}
        server = blueprint.server
        #: ``@server(dedupe: true)``: every upstream GET is deduplicated, as with
        #: ``@http(dedupe: true)`` on each field.
        self.dedupe_all = server.dedupe
        #: Upstream response headers to pass on (``@server(headers: {setCookies,
        #: experimental})``) and whether the upstreams' Cache-Control counts
        #: (``cacheControl``): only then does a request keep its exchanges.
        self.set_cookies = server.set_cookies
        self.experimental = frozenset(h.lower() for h in server.experimental_headers)
        self.track_exchanges = bool(server.cache_control or self.set_cookies
                                    or self.experimental)
        #: The mutation root type's name (its fields run serially; see start_fetch).
        self.mutation_type = blueprint.mutation
        self.root_types: dict[str, TypeDef | None] = {
            "query": blueprint.types.get(blueprint.query),
            "mutation": blueprint.types.get(blueprint.mutation) if blueprint.mutation else None,
        }


    def batch_window(self, resolver: HttpResolver, param: str | None, url: str,
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
        #: The running loop, looked up once (each lookup costs a getpid() system call).
        self.loop = asyncio.get_running_loop()
        self.root: dict[str, Any] = {}
        self.cache: dict[int, Any] = {}          # materialized Raw values, by identity
        self.parent_of: dict[int, Any] = {}      # object → the object it was found in
        self.local: dict[tuple[Any, ...], asyncio.Future[Fetched]] = {}
        # (step, its results, [(parent ids, future) | (None, (future, batch members))])
        self.pending: list[tuple[StepSpec, dict[int, Any], list[tuple[Any, Any]]]] = []
        self.forwarded = [(name, value) for name, value in headers.items()
                          if name in shared.allowed_headers]
        #: The exchanges this request used, with whether it made them itself (not
        #: joined, not from a cache): a Future of :class:`Fetched` or a
        #: :class:`BatchWindow`. None unless the server passes upstream headers on.
        self.exchanges: list[tuple[Any, bool]] | None = \
            [] if shared.track_exchanges else None

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
            dedupe = dedupe or self.shared.dedupe_all
        if max_age_ms:
            return self._cached_call(request, key, dedupe, self.shared.results,
                                     lambda _fetched: max_age_ms / 1000)
        if self.shared.http_cache is not None and request.method == "GET":
            return self._cached_call(request, key, dedupe, self.shared.http_cache,
                                     lambda fetched: cacheable_for(fetched.response.headers))
        return self._call(request, key, dedupe)

    def _hit(self, key: tuple[Any, ...], hit: Fetched) -> asyncio.Future[Fetched]:
        future: asyncio.Future[Fetched] = self.loop.create_future()
        future.set_result(hit)
        self.local[key] = future
        if self.exchanges is not None:
            self.exchanges.append((future, False))
        return future

    def _cached_call(self, request: UpstreamRequest, key: tuple[Any, ...], dedupe: bool,
                     cache: ResultCache, fresh_for: Callable[[Fetched], float]
                     ) -> asyncio.Future[Fetched]:
        """Answer from ``cache`` while an entry is fresh; otherwise call, and keep a 2xx
        answer for ``fresh_for(answer)`` seconds (``@cache``: its maxAge; ``httpCache``:
        what the upstream's own ``Cache-Control`` allows, see :func:`cacheable_for`)."""
        loop = self.loop
        hit = cache.get(key, loop.time())
        if hit is not None:
            return self._hit(key, hit)
        future = self._call(request, key, dedupe)

        def keep(done: asyncio.Future[Fetched]) -> None:
            if not done.cancelled() and done.exception() is None:
                fetched = done.result()
                if 200 <= fetched.response.status < 300:
                    ttl = fresh_for(fetched)
                    if ttl > 0:
                        cache.put(key, fetched, loop.time() + ttl)

        future.add_done_callback(keep)
        return future

    def _call(self, request: UpstreamRequest, key: tuple[Any, ...],
              dedupe: bool) -> asyncio.Future[Fetched]:
        shared = self.shared.inflight
        exchanges = self.exchanges
        if dedupe and request.method == "GET":
            found = shared.get(key)
            own = found is None
            if found is None:
                found = self.loop.create_task(_exchange(self.shared.client, request))
                shared[key] = found
                found.add_done_callback(lambda _f, k=key: shared.pop(k, None))
            self.local[key] = found
            if exchanges is not None:
                exchanges.append((found, own))
            return found
        future = self.loop.create_task(_exchange(self.shared.client, request))
        if request.method == "GET":
            self.local[key] = future
        if exchanges is not None:
            exchanges.append((future, True))
        return future


async def _exchange(client: HttpClient, request: UpstreamRequest) -> Fetched:
    return Fetched(await client.request(request))


# -- upstream response headers ----------------------------------------------------------
def _cache_directives(headers: list[tuple[str, str]]) -> dict[str, str] | None:
    """The ``Cache-Control`` directives of a response (lower-case names; ``""`` for a
    directive without argument), or None when it has none."""
    found: dict[str, str] | None = None
    for name, value in headers:
        if len(name) == 13 and name.lower() == "cache-control":
            if found is None:
                found = {}
            for item in value.split(","):
                directive, _, argument = item.partition("=")
                directive = directive.strip().lower()
                if directive:
                    found.setdefault(directive, argument.strip().strip('"'))
    return found


def _seconds(text: str | None) -> int | None:
    """A delta-seconds value (RFC 9111 1.2.2: ASCII digits; huge values are capped)."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= 10 else 2**31


def _age(headers: list[tuple[str, str]]) -> int:
    for name, value in headers:
        if len(name) == 3 and name.lower() == "age":
            return _seconds(value.strip()) or 0
    return 0


def cacheable_for(headers: list[tuple[str, str]]) -> float:
    """Seconds a shared cache may reuse an upstream answer (RFC 9111): its ``s-maxage``
    or ``max-age`` less its ``Age``; 0 (never) without either, or with ``no-store``,
    ``no-cache``, ``private`` or ``Vary: *``."""
    directives = _cache_directives(headers)
    if not directives or "no-store" in directives or "no-cache" in directives \
            or "private" in directives:
        return 0
    for name, value in headers:
        if name.lower() == "vary" and value.strip() == "*":
            return 0
    ttl = _seconds(directives.get("s-maxage"))
    if ttl is None:
        ttl = _seconds(directives.get("max-age"))
    return max(0, ttl - _age(headers)) if ttl is not None else 0


class UpstreamMeta:
    """What the upstream answers a request used pass on to its client: ``headers``
    (``Set-Cookie`` of the exchanges the request made itself, with ``setCookies``; the
    ``experimental`` headers of all), and the bounds they set on the response's
    ``Cache-Control``: ``max_age_s`` (the smallest max-age left, None when none said
    one), ``private`` (one said ``private``, or a ``Set-Cookie`` is passed on),
    ``no_store`` (one said ``no-store`` or ``no-cache``)."""

    __slots__ = ("headers", "max_age_s", "private", "no_store")

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.max_age_s: int | None = None
        self.private = False
        self.no_store = False


def response_meta(ctx: RequestContext) -> UpstreamMeta | None:
    """The :class:`UpstreamMeta` of a finished request (None: nothing to pass on)."""
    exchanges = ctx.exchanges
    if not exchanges:
        return None
    shared = ctx.shared
    meta = UpstreamMeta()
    passed: set[tuple[str, str]] = set()
    seen: set[int] = set()
    now = time.monotonic()
    for item, own in exchanges:
        futures = item.exchanges if isinstance(item, BatchWindow) else (item,)
        for future in futures:
            if not future.done() or future.cancelled() or future.exception() is not None:
                continue
            fetched = future.result()
            if id(fetched) in seen:
                continue
            seen.add(id(fetched))
            headers = fetched.response.headers
            for name, value in headers:
                lower = name.lower()
                if lower == "set-cookie":
                    # Never from an answer shared with other requests (dedupe, batch
                    # windows, caches): a session cookie goes to the client it is for.
                    if not (own and shared.set_cookies):
                        continue
                    meta.private = True  # a response setting a cookie is for this client
                elif lower not in shared.experimental:
                    continue
                if (lower, value) not in passed:
                    passed.add((lower, value))
                    meta.headers.append((lower, value))
            directives = _cache_directives(headers)
            if directives is None:
                continue  # says nothing: does not bound the response
            if "no-store" in directives or "no-cache" in directives:
                meta.no_store = True
            if "private" in directives:
                meta.private = True
            ttl = _seconds(directives.get("max-age"))
            if ttl is not None:
                left = max(0, ttl - _age(headers) - int(now - fetched.received))
                if meta.max_age_s is None or left < meta.max_age_s:
                    meta.max_age_s = left
    return meta


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
    if resolver.headers:
        configured = [(name, render_text(template, scope))
                      for name, template in resolver.headers]
        if headers:
            # A header the config sets replaces the client's forwarded one (sent once).
            names = {name.lower() for name, _ in configured}
            headers = [header for header in headers if header[0] not in names]
        headers += configured
    body = None
    if resolver.body is not None:
        rendered = render_json(resolver.body, scope)
        if resolver.encoding == "ApplicationXWwwFormUrlencoded" and isinstance(rendered, dict):
            body = form_string(list(rendered.items())).encode()
            _content_type(headers, "application/x-www-form-urlencoded")
        else:
            body = _json(rendered)
            _content_type(headers, "application/json")
    return UpstreamRequest(resolver.method, url, headers, body)


def _content_type(headers: list[tuple[str, str]], value: str) -> None:
    """Add ``content-type`` unless ``@http(headers:)`` sets one."""
    for name, _ in headers:
        if len(name) == 12 and name.lower() == "content-type":
            return
    headers.append(("content-type", value))


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
                raw = value
                value = msgspec.json.decode(raw)
                if not isinstance(value, (str, int, float, bool, type(None))):
                    value = bytes(raw)  # an object or list: its text is its key
            elif not isinstance(value, (str, int, float, bool, type(None))):
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
    if spec.owner == ctx.shared.mutation_type:
        ctx.local.clear()  # spec 6.2.2: each mutation field runs after the previous one
        # finished, so what an earlier one read may have changed: read it again
    resolver = spec.resolver
    unsupported = _unsupported(resolver)
    if unsupported is not None:
        for parent in parents:
            results[id(parent)] = unsupported
        return
    args = ctx.arguments(spec)
    age = cache_age(ctx, spec)
    entries: list[tuple[list[int], Any]] = []
    for group in (grouping or _group_parents)(ctx, parents, spec.parent_refs):
        scope = ctx.scope(args, group[0])
        ids = [id(parent) for parent in group]
        if isinstance(resolver, HttpResolver):
            entries.append((ids, ctx.call(_http_request(resolver, scope, ctx),
                                          resolver.dedupe, age)))
        elif isinstance(resolver, CallResolver):
            entries.append((ids, ctx.loop.create_task(_run_call(ctx, resolver, scope))))
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


def _batch_plan(ctx: RequestContext, resolver: HttpResolver) -> tuple[Any, ...]:
    """How a batched resolver sends its keys (cached per resolver): ``(param, key
    template, base)``. GET: the first query parameter that reads ``{{.value...}}`` carries
    the keys (``?id=1&id=2``). Other methods (Tailcall's POST batching): each item's
    ``body`` is rendered and the bodies are sent as one JSON array; an item's key is the
    first template in its body that reads ``{{.value...}}``. ``base`` is the resolver
    without the batch parameter (or body): parents that render it alike share a batch."""
    plans = ctx.shared.batch_plans
    found = plans.get(id(resolver))
    if found is not None:
        return found
    if resolver.method == "GET":
        param = next((p for p in resolver.query
                      if any(ref.root == "value" for ref in p.value.refs)), None)
        assert param is not None  # checked when the config loads
        found = (param.key, param.value,
                 replace(resolver, query=[p for p in resolver.query if p is not param]))
    else:
        assert resolver.body is not None  # checked when the config loads
        template = next(t for t in resolver.body.templates()
                        if any(ref.root == "value" for ref in t.refs))
        found = (None, template, replace(resolver, body=None))
    plans[id(resolver)] = found
    return found


def start_batch(ctx: RequestContext, spec: StepSpec, parents: list[Any],
                results: dict[int, Any]) -> None:
    """BATCH: one call per ``maxSize`` distinct keys; items are matched back by
    ``batchKey`` (missing keys resolve to null, list fields collect every match)."""
    resolver = spec.resolver
    assert isinstance(resolver, HttpResolver)
    args = ctx.arguments(spec)
    param, key_template, base = _batch_plan(ctx, resolver)
    # (url, headers) -> members (parent id, key), and for bodies: key -> item body
    groups: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
    bodies: dict[tuple[Any, ...], dict[str, bytes]] = {}
    for parent in _unique(parents):
        scope = ctx.scope(args, parent)
        key = render_value(key_template, scope)
        if key is None or key == "":
            results[id(parent)] = None
            continue
        key = to_text(key)
        request = _http_request(base, scope, ctx)
        if param is None:
            _content_type(request.headers, "application/json")
        group_key = (request.url, tuple(request.headers))
        groups.setdefault(group_key, []).append((id(parent), key))
        if param is None:
            items = bodies.setdefault(group_key, {})
            if key not in items:  # one body per distinct key
                items[key] = _json(render_json(resolver.body, scope))  # type: ignore[arg-type]
    delay = ctx.shared.batch_delay_ms
    size = max(1, ctx.shared.batch_max)
    age = cache_age(ctx, spec)
    for group_key, members in groups.items():
        url, headers = group_key
        items = bodies.get(group_key)
        keys = list(dict.fromkeys(k for _, k in members))
        if delay > 0:
            window = ctx.shared.batch_window(resolver, param, url, headers)
            if ctx.exchanges is not None:
                ctx.exchanges.append((window, False))
            ctx.pending.append((spec, results, [(None, (window.add(keys, items), members))]))
            continue
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            request = _batch_request(resolver.method, param, url, headers, chunk, items)
            index = ctx.loop.create_task(_fetch_index(
                ctx.call(request, resolver.dedupe, age), resolver))
            chunk_set = set(chunk)
            chunk_members = [(pid, k) for pid, k in members if k in chunk_set]
            ctx.pending.append((spec, results, [(None, (index, chunk_members))]))


def _batch_request(method: str, param: str | None, url: str,
                   headers: tuple[tuple[str, str], ...], keys: list[str],
                   bodies: dict[str, bytes] | None) -> UpstreamRequest:
    """One batch call: the keys as a repeated query parameter, or the items' bodies as
    one JSON array (in the order the keys were first asked for)."""
    if param is not None:
        return UpstreamRequest(method, with_query(url, query_string([(param, keys)])),
                               list(headers), None)
    assert bodies is not None
    return UpstreamRequest(method, url, list(headers),
                           b"[" + b",".join([bodies[key] for key in keys]) + b"]")


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

    def __init__(self, shared: "SharedState", resolver: HttpResolver, param: str | None,
                 url: str, headers: tuple[tuple[str, str], ...], delay_ms: int) -> None:
        self.shared = shared
        self.resolver = resolver
        self.param = param
        self.url = url
        self.headers = headers
        self.keys: dict[str, None] = {}
        #: POST batching: each key's item body (the first one asked for).
        self.bodies: dict[str, bytes] = {}
        #: The exchanges the window made (for the requests' upstream response headers).
        self.exchanges: list[asyncio.Future[Fetched]] = []
        self.loop = loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Any] = loop.create_future()
        loop.call_later(delay_ms / 1000, self._fire)

    def add(self, keys: list[str], bodies: dict[str, bytes] | None = None
            ) -> asyncio.Future[Any]:
        for key in keys:
            self.keys[key] = None
        if bodies:
            for key, body in bodies.items():
                self.bodies.setdefault(key, body)
        return self.future

    def _fire(self) -> None:
        self.shared.close_window(self)
        self.loop.create_task(self._run())

    async def _run(self) -> None:
        keys = list(self.keys)
        size = max(1, self.shared.batch_max)
        calls = []
        for start in range(0, len(keys), size):
            chunk = keys[start:start + size]
            request = _batch_request(self.resolver.method, self.param, self.url, self.headers,
                                     chunk, None if self.param is not None else self.bodies)
            exchange = self.loop.create_task(_exchange(self.shared.client, request))
            self.exchanges.append(exchange)
            calls.append((chunk, _fetch_index(exchange, self.resolver)))
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
    if status == 204:
        return None  # No Content: the field is null (a DELETE's usual answer)
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
    """``@call``: each step resolves a root field. The first step's ``args`` are rendered
    against the calling field; each later step's against the previous step's result
    (Tailcall: ``{{.args.x}}`` reads field ``x`` of that result), whose fields also fill
    the arguments the step does not name."""
    previous: Any = None
    for index, step in enumerate(resolver.steps):
        root = ctx.shared.root_types[step.kind]
        assert root is not None
        target = root.fields[step.field]
        if index == 0:
            args = render_json(step.args, scope) or {}
        else:
            result = plain(previous)
            result = result if isinstance(result, dict) else {}
            step_scope = Scope(result, scope.value, scope.parent, scope.headers, scope.env,
                               scope.vars, scope.cache)
            args = render_json(step.args, step_scope) or {}
            args = {**{k: v for k, v in result.items() if k in target.args}, **args}
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
    if status == 204:
        return None
    return decode_response(fetched.response.body, response_decoder(type_ref, leaf))


# -- gathering ------------------------------------------------------------------------
def resolve_object(abstract: AbstractShape, value: dict[str, Any], cache: dict[int, Any]
                   ) -> tuple[str | None, Any]:
    """The object type of a value at an interface/union position, and the object to
    complete as that type.

    With ``@discriminate`` its key is authoritative: a value naming a type that is not a
    possible type gets none (``__typename`` is read only when the key is absent). Without
    it: ``__typename``; then Tailcall's keyed form, an object whose only key names a
    possible type and holds an object (``{"Photo": {...}}``, completed as that inner
    object); then the first possible type whose non-null fields are all present."""
    discriminator = abstract.discriminator
    if discriminator:
        tag = value.get(discriminator)
        if tag is None:
            tag = value.get("__typename")
        name = plain(materialize(tag, cache))
        return (name if isinstance(name, str) and name in abstract.shapes else None), value
    tag = value.get("__typename")
    if tag is not None:
        name = plain(materialize(tag, cache))
        if isinstance(name, str) and name in abstract.shapes:
            return name, value
    if len(value) == 1:
        for key, inner in value.items():
            if key in abstract.shapes:
                inner = materialize(inner, cache)
                if isinstance(inner, dict):
                    return key, inner
    keys = value.keys()
    for name, required in abstract.required:
        if required <= keys:
            return name, value
    return None, value


def select_type(abstract: AbstractShape, name: str, items: list[Any],
                cache: dict[int, Any], parent_of: dict[int, Any]) -> list[Any]:
    """A GATHER ``is`` segment: the objects among ``items`` whose type is ``name``
    (unwrapped from a keyed wrapper, which then has the wrapper's holder as parent)."""
    found = []
    for item in items:
        resolved, inner = resolve_object(abstract, item, cache)
        if resolved == name:
            if inner is not item:
                parent_of[id(inner)] = parent_of.get(id(item))
            found.append(inner)
    return found


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
    segments = spec.segments
    for position, segment in enumerate(segments):
        kind = segment[0]
        following: list[Any] = []
        # Before an index segment, keep each list whole, as (list, its holder) pairs.
        indexed = position + 1 < len(segments) and segments[position + 1][0] == "index"
        if kind == "key":
            for item in current:
                if indexed:
                    following.append((materialize(item.get(segment[1]), cache), item))
                else:
                    _flatten_into(item.get(segment[1]), following, cache, item, parent_of)
        elif kind == "index":
            for value, holder in current:
                if isinstance(value, list) and segment[1] < len(value):
                    if indexed:
                        following.append((materialize(value[segment[1]], cache), holder))
                    else:
                        _flatten_into(value[segment[1]], following, cache, holder, parent_of)
        else:  # "is": keep values of one object type
            following = select_type(segment[1], segment[2], current, cache, parent_of)
        current = following
    return current


