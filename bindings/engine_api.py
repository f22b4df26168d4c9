"""The embedding API: ``plait.Engine``.

    engine = plait.Engine.from_file("examples/jsonplaceholder.graphql")
    result = await engine.execute("{ posts { title } }")
    result.body        # the response JSON bytes: {"data": ...} (+ "errors")
    result.json()      # parsed, for convenience

Operations are parsed, validated (spec 5) and planned once per (document, operation name,
``@skip``/``@include`` variable values) and cached; each execution binds variables and
headers and runs the Program on the selected VM.
"""
from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

import msgspec

from .engine import runtime
from .engine.auth import Authenticator
from .engine.values import FieldError
from .engine_vm import select_vm
from .planner import Blueprint, load_config, load_config_string
from .planner.check_templates import resolver_templates
from .planner.collect_fields import condition_variables
from .planner.emit import emit
from .planner.model import ExprResolver
from .planner.introspect import Budget, resolve_introspection
from .planner.op_ast import Document, OperationDefinition
from .planner.operation import paused_gc, parse_and_validate, select_operation
from .planner.plan import Planner
from .planner.program import Program
from .planner.query_errors import QueryError, RequestInvalid
from .planner.schema_view import SchemaView
from .planner.variables import coerce_variables

_encode = msgspec.json.encode
_decode = msgspec.json.decode
#: Most distinct documents (and plans) kept in the caches.
CACHE_SIZE = 1024


class ExecutionResult:
    """A GraphQL response: ``body`` is the exact JSON bytes sent to clients."""

    __slots__ = ("body", "request_error", "cache_max_age_ms", "private", "no_store",
                 "headers", "constant")

    def __init__(self, body: bytes, request_error: bool = False,
                 cache_max_age_ms: int | None = None, private: bool = False,
                 meta: runtime.UpstreamMeta | None = None) -> None:
        self.body = body
        #: True for the answer of a constant operation (no upstream, no variables, nothing
        #: read from the request): every identical request gets the same answer.
        self.constant = False
        #: True when the request failed before execution (parse, validation, variables).
        self.request_error = request_error
        #: The smallest ``@cache(maxAge)`` (ms) of the fields in the response, if any
        #: (None for responses with ``@protected`` fields: they are not for shared caches).
        self.cache_max_age_ms = cache_max_age_ms
        #: True when the operation selected ``@protected`` fields: the answer depends on
        #: the request's credentials (or an upstream answer said ``private``).
        self.private = private
        #: True when an upstream answer said ``no-store``/``no-cache``.
        self.no_store = False
        #: Upstream response headers for the client (``@server(headers: {setCookies,
        #: experimental})``), as (lower-case name, value) pairs.
        self.headers: list[tuple[str, str]] = []
        if meta is not None:
            # With @server(headers: {cacheControl}), the upstreams' own Cache-Control
            # bounds the response's too: the smallest max-age left wins.
            if meta.max_age_s is not None:
                upstream_ms = meta.max_age_s * 1000
                if cache_max_age_ms is None or upstream_ms < cache_max_age_ms:
                    self.cache_max_age_ms = upstream_ms
            self.private = private or meta.private
            self.no_store = meta.no_store
            self.headers = meta.headers

    def json(self) -> dict[str, Any]:
        return _decode(self.body)

    @property
    def data(self) -> Any:
        return self.json().get("data")

    @property
    def errors(self) -> list[dict[str, Any]] | None:
        return self.json().get("errors")

    def __repr__(self) -> str:
        return f"ExecutionResult({self.body[:200]!r})"


class _Prepared:
    """A validated operation ready to plan: document, operation, fragments and the
    variables whose values decide ``@skip``/``@include``."""

    __slots__ = ("document", "operation", "fragments", "conditions")

    def __init__(self, document: Document, operation: OperationDefinition,
                 fragments: dict[str, Any], conditions: tuple[str, ...]) -> None:
        self.document = document
        self.operation = operation
        self.fragments = fragments
        self.conditions = conditions


class _Introspector:
    """Answers ``__schema``/``__type`` for one request (one size budget per request)."""

    __slots__ = ("view", "fragments", "variables", "budget")

    def __init__(self, view: SchemaView, fragments: dict[str, Any],
                 variables: dict[str, Any]) -> None:
        self.view = view
        self.fragments = fragments
        self.variables = variables
        self.budget = Budget()

    def __call__(self, node: Any) -> Any:
        try:
            return resolve_introspection(node, self.view, self.fragments, self.variables,
                                         self.budget)
        except QueryError as exc:
            return FieldError(exc.message, {"code": exc.code})


def _constant(program: Program, operation: OperationDefinition) -> bool:
    """A response that cannot change: no variables, and every step an ``@expr`` whose
    templates read only literal arguments, ``vars`` or ``env`` (fixed per process)."""
    if operation.variables:
        return False
    for step in program.steps:
        resolver = step.resolver
        if not isinstance(resolver, ExprResolver):
            return False
        for template in resolver.body.templates():
            if any(ref.root not in ("args", "vars", "env") for ref in template.refs):
                return False
    return True


def _shareable(program: Program) -> bool:
    """Whole-operation sharing (Tailcall's ``dedupe`` on root fields): a query whose every
    root step asks for ``dedupe`` may share one execution with identical concurrent
    operations (same query, variables and forwarded headers)."""
    if program.operation != "query":
        return False
    roots = [s for s in program.steps if program.parents.get(s.slot, -1) == -1]
    return bool(roots) and all(getattr(s.resolver, "dedupe", False) for s in roots)


def _rounds(program: Program) -> int:
    """Rounds of resolver steps an execution runs one after another (a step under another
    step's values waits for it): 1 for ``{posts{title}}``, 2 for ``{posts{user{name}}}``
    on the benchmark config (each of its steps an upstream call)."""
    depth: dict[int, int] = {}

    def rounds(slot: int) -> int:
        if slot not in depth:
            parent = program.parents.get(slot, -1)
            depth[slot] = 1 if parent < 0 else rounds(parent) + 1
        return depth[slot]

    return max((rounds(slot) for slot in program.parents), default=0)


class SharedRun:
    """Whole-operation sharing: the execution of an identical operation that is already
    running, one per sharing key (so one per set of identical requests). Awaiting it (or,
    without a Task, :meth:`result` once ``future`` is done) gives the requests' common
    :class:`ExecutionResult` (read-only); a waiter going away never cancels the shared
    execution."""

    __slots__ = ("future", "cache_max_age_ms", "private", "_result")

    def __init__(self, future: "asyncio.Future[tuple[bytes, Any]]",
                 cache_max_age_ms: int | None, private: bool) -> None:
        self.future = future
        self.cache_max_age_ms = cache_max_age_ms
        self.private = private
        self._result: ExecutionResult | None = None

    def result(self) -> ExecutionResult:
        if self._result is None:
            body, meta = self.future.result()
            self._result = ExecutionResult(body, cache_max_age_ms=self.cache_max_age_ms,
                                           private=self.private, meta=meta)
        return self._result

    def __await__(self) -> Any:
        yield from asyncio.shield(self.future).__await__()
        return self.result()


def _constant_result(body: bytes, age: int | None) -> ExecutionResult:
    result = ExecutionResult(body, cache_max_age_ms=age)
    result.constant = True
    return result


def _template_headers(blueprint: Blueprint) -> frozenset[str]:
    """Names (lower case) of the request headers any resolver template reads."""
    names = set()
    for typedef in blueprint.types.values():
        for field in typedef.fields.values():
            if field.resolver is not None:
                for template in resolver_templates(field.resolver):
                    names.update(ref.path[0].lower() for ref in template.refs
                                 if ref.root == "headers" and ref.path)
    return frozenset(names)


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


class Engine:
    """Executes GraphQL operations against a validated config."""

    def __init__(self, blueprint: Blueprint, *, vm: str | None = None,
                 client: Any = None) -> None:
        from .engine.upstream import HttpClient

        self.blueprint = blueprint
        self.view = SchemaView(blueprint)
        self.vm_name, self._vm = select_vm(vm)
        upstream = blueprint.upstream
        self.client = client or HttpClient(
            pool_size=upstream.pool_max_idle_per_host,
            connect_timeout=upstream.connect_timeout_s,
            request_timeout=upstream.timeout_s,
            idle_timeout=upstream.pool_idle_timeout_s,
            user_agent=upstream.user_agent,
            verify_ssl=upstream.verify_ssl,
            tcp_keepalive=upstream.tcp_keep_alive_s)
        self._shared = runtime.SharedState(blueprint, self.client)
        #: Checks credentials for ``@protected`` fields (None: the config has no provider).
        self._auth = Authenticator(blueprint.auth_providers) \
            if blueprint.auth_providers else None
        self._documents: _LRU = _LRU(CACHE_SIZE)
        self._prepared_ops: _LRU = _LRU(CACHE_SIZE)
        self._programs: _LRU = _LRU(CACHE_SIZE)
        self._operations: dict[tuple[Any, ...], SharedRun] = {}
        #: The other workers of a ``plait start`` (:class:`plait.siblings.Siblings`), whose
        #: running shared executions this engine's identical operations may join (those
        #: with more than one round of upstream calls, ``Program.across_workers``: for a
        #: one-round execution, passing its answer between workers costs about as much as
        #: running it, and tying the workers to one execution cycle measured slower).
        self.siblings: Any = None
        #: Request headers that can change an answer: the forwarded ones and every header
        #: a template reads. Whole-operation sharing keys on their values.
        self._keyed_headers = tuple(sorted(frozenset(self._shared.allowed_headers) |
                                           _template_headers(blueprint)))

    @property
    def headers_change_answers(self) -> bool:
        """True when some request header can change an answer (a forwarded header, or one
        a template reads); whole-operation sharing then keys on their values."""
        return bool(self._keyed_headers)

    @classmethod
    def from_file(cls, *paths: str | os.PathLike[str], **options: Any) -> "Engine":
        return cls(load_config(*paths), **options)

    @classmethod
    def from_string(cls, sdl: str, **options: Any) -> "Engine":
        return cls(load_config_string(sdl), **options)

    # -- planning ------------------------------------------------------------------------
    def document(self, query: str) -> Document:
        """Parse and validate ``query`` (cached); raises :class:`RequestInvalid`."""
        found = self._documents.get(query)
        if found is None:
            found = parse_and_validate(query, self.view)
            self._documents.put(query, found)
        return found

    def _prepared(self, query: str, operation_name: str | None) -> "_Prepared":
        """Parsed, validated and selected operation with its plan-key variables (cached)."""
        key = (query, operation_name)
        found = self._prepared_ops.get(key)
        if found is None:
            document = self.document(query)
            operation = select_operation(document, operation_name)
            fragments = {f.name: f for f in document.fragments}
            body = document.source.body
            conditions = tuple(condition_variables(operation.selections, fragments)) \
                if "@skip" in body or "@include" in body else ()
            found = _Prepared(document, operation, fragments, conditions)
            self._prepared_ops.put(key, found)
        return found

    def program(self, document: Document, operation: OperationDefinition, query: str,
                variables: dict[str, Any]) -> Program:
        """The Program for ``operation`` of ``query`` with these variables (cached)."""
        return self._program(self._prepared(query, operation.name), query, variables)

    def _program(self, prepared: "_Prepared", query: str, variables: dict[str, Any],
                 denied: dict[Any, FieldError] | None = None) -> Program:
        """``denied``: the auth requirements this request fails (their fields become
        errors; one Program per distinct set and messages, cached like the others)."""
        document, operation = prepared.document, prepared.operation
        key = (query, operation.name,
               tuple([variables.get(name) is True for name in prepared.conditions])
               if prepared.conditions else ())
        if denied:
            key += (tuple((req, error.message) for req, error in denied.items()),)
        found = self._programs.get(key)
        if found is None:
            with paused_gc():
                plan = Planner(self.view, document, variables, denied).plan(operation)
                found = emit(plan, document.source)
            # Whole-operation sharing is keyed by forwarded headers, not credentials.
            # Nor when upstream Set-Cookie headers reach the client: a session cookie
            # is for the one request that caused it.
            found.shareable = _shareable(found) and not found.guards \
                and not self._shared.set_cookies
            found.across_workers = found.shareable and _rounds(found) > 1
            found.constant = _constant(found, operation)
            self._programs.put(key, found)
        return found

    def explain(self, query: str, operation_name: str | None = None,
                variables: dict[str, Any] | None = None) -> str:
        from .planner.explain import explain_program

        document = self.document(query)
        operation = select_operation(document, operation_name)
        coerced, errors = coerce_variables(operation, self.view, variables)
        if errors:
            raise RequestInvalid(errors, document.source)
        return explain_program(self.program(document, operation, query, coerced))

    # -- execution -----------------------------------------------------------------------
    async def execute(self, query: str, variables: dict[str, Any] | None = None,
                      operation_name: str | None = None,
                      headers: dict[str, str] | None = None) -> ExecutionResult:
        """Run one operation; request errors come back as ``{"errors": [...]}``."""
        started = self.start(query, variables, operation_name, headers)
        if type(started) is ExecutionResult:
            return started
        return await started

    def start(self, query: str, variables: dict[str, Any] | None = None,
              operation_name: str | None = None, headers: dict[str, str] | None = None,
              *, lowercase_names: bool = False
              ) -> "ExecutionResult | SharedRun | Coroutine[Any, Any, ExecutionResult]":
        """What :meth:`execute` does before it first waits: the answer when it is known
        at once (request errors, constant operations), the :class:`SharedRun` of an
        identical operation already running, or a coroutine that computes the answer.
        Servers use it to answer without a Task when they can; ``lowercase_names`` says
        the header names are lower case already (the server's are)."""
        try:
            if not isinstance(query, str):
                raise RequestInvalid([QueryError("The query must be a string.",
                                                 code="BAD_REQUEST")], None)
            if variables is not None and not isinstance(variables, dict):
                raise RequestInvalid([QueryError("Variables must be a JSON object.",
                                                 code="BAD_REQUEST")], None)
            prepared = self._prepared(query, operation_name)
            if prepared.operation.variables or variables:
                coerced, errors = coerce_variables(prepared.operation, self.view, variables)
                for name in prepared.conditions:
                    if name in coerced and coerced[name] is None:
                        # spec 6.4.1: @skip/@include(if: Boolean!) given an explicit null
                        errors.append(QueryError(
                            f'Argument "if" of non-null type "Boolean!" must not be null '
                            f'(variable "${name}").', [prepared.operation.start],
                            "BAD_USER_INPUT"))
                if errors:
                    raise RequestInvalid(errors, prepared.document.source)
            else:
                coerced = {}
            program = self._program(prepared, query, coerced)
            if program.introspects and not self.blueprint.server.introspection:
                raise RequestInvalid([QueryError(
                    "GraphQL introspection is not allowed by this server "
                    "(@server(introspection: false)).", [prepared.operation.start],
                    "INTROSPECTION_DISABLED")], prepared.document.source)
        except RequestInvalid as exc:
            return ExecutionResult(_encode({"errors": exc.to_list()}), request_error=True)
        age = program.cache_max_age_ms
        if program.constant_body is not None:
            return _constant_result(program.constant_body, age)
        if lowercase_names:  # the caller's header names are lower case already
            lowered = headers or {}
        else:
            lowered = {k.lower(): v for k, v in headers.items()} if headers else {}
        if program.guards:
            return self._guarded(program, prepared, query, coerced, lowered)
        if program.constant:
            return self._first_constant(program, prepared, coerced, lowered, age)
        # An answer that depends on the client's headers (forwarded, or read by a
        # template) is for that client only: Cache-Control says private.
        keyed = tuple([lowered.get(name) for name in self._keyed_headers]) \
            if self._keyed_headers else ()
        private = any(keyed)
        if program.shareable:
            key = (query, operation_name, _encode(coerced) if coerced else b"", keyed)
            shared = self._operations.get(key)
            if shared is None:
                siblings = self.siblings if program.across_workers else None
                running = None
                if siblings is not None:  # a sibling worker may be running it already
                    digest = siblings.digest(key)
                    running = siblings.join(
                        digest, lambda: self._run(program, prepared, coerced, lowered))
                if running is None:
                    running = asyncio.ensure_future(
                        self._run(program, prepared, coerced, lowered))
                    if siblings is not None:
                        siblings.announce(digest, running)
                shared = self._operations[key] = SharedRun(running, age, private)
                running.add_done_callback(lambda _f: self._operations.pop(key, None))
            return shared
        return self._plain(program, prepared, coerced, lowered, age, private)

    async def _guarded(self, program: Program, prepared: "_Prepared", query: str,
                       coerced: dict[str, Any], lowered: dict[str, str]) -> ExecutionResult:
        """@protected fields: check the credentials once for this request, then run the
        Program planned with the fields it may not read replaced by their error (no
        upstream call is made for them or below them). The answer depends on the
        credentials: never shared, never kept, no Cache-Control max-age."""
        assert self._auth is not None
        denied = await self._auth.check(program.guards, lowered)
        if denied:
            program = self._program(prepared, query, coerced, denied)
        body, meta = await self._run(program, prepared, coerced, lowered)
        return ExecutionResult(body, private=True, meta=meta)

    async def _first_constant(self, program: Program, prepared: "_Prepared",
                              coerced: dict[str, Any], headers: dict[str, str],
                              age: int | None) -> ExecutionResult:
        program.constant_body, _ = await self._run(program, prepared, coerced, headers)
        return _constant_result(program.constant_body, age)

    async def _plain(self, program: Program, prepared: "_Prepared", coerced: dict[str, Any],
                     headers: dict[str, str], age: int | None, private: bool
                     ) -> ExecutionResult:
        body, meta = await self._run(program, prepared, coerced, headers)
        return ExecutionResult(body, cache_max_age_ms=age, private=private, meta=meta)

    async def _run(self, program: Program, prepared: "_Prepared", variables: dict[str, Any],
                   headers: dict[str, str]) -> tuple[bytes, runtime.UpstreamMeta | None]:
        """The response body, and what the upstream answers pass on to the client."""
        timeout = self.blueprint.server.global_response_timeout_ms
        if timeout is None:
            return await self._execute(program, prepared, variables, headers)
        try:
            return await asyncio.wait_for(
                self._execute(program, prepared, variables, headers), timeout / 1000)
        except asyncio.TimeoutError:
            return _encode({"data": None, "errors": [{
                "message": f"The response took longer than {timeout} ms "
                           "(@server(globalResponseTimeout)).",
                "extensions": {"code": "RESPONSE_TIMEOUT"}}]}), None

    async def _execute(self, program: Program, prepared: "_Prepared",
                       variables: dict[str, Any], headers: dict[str, str]
                       ) -> tuple[bytes, runtime.UpstreamMeta | None]:
        ctx = runtime.RequestContext(self._shared, variables, headers)
        if program.introspects:
            ctx.introspect = _Introspector(self.view, prepared.fragments, variables)
        data, errors = await self._vm(program, ctx)
        meta = runtime.response_meta(ctx) if ctx.exchanges else None
        if errors:
            return b'{"data":' + data + b',"errors":' + _encode(errors) + b"}", meta
        return b'{"data":' + data + b"}", meta

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> "Engine":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
