"""The HTTP server behind ``plait start``: GraphQL over HTTP on uvloop.

    server = plait.server.Server(plait.Engine.from_file("examples/jsonplaceholder.graphql"))
    host, port = await server.start("127.0.0.1", 0)
    ...
    await server.close(grace=10)

Design
------
- One ``asyncio.Protocol`` per connection (``_Connection``) parses HTTP/1.1 with
  ``httptools.HttpRequestParser``; no web framework on the hot path. Keep-alive,
  pipelining (responses leave in request order: each request gets an ``_Exchange`` queued
  on its connection, and the queue is flushed from its head as answers become ready),
  chunked request bodies (httptools decodes them). Every response is one
  ``transport.write``. ``Upgrade`` (curl's h2c) is ignored: such requests are answered in
  HTTP/1.1. A header field repeated with the same spelling keeps its last value.
- Fast path: ``plait._fastpath`` (Cython) reads the common request (keep-alive
  ``POST {graphql_path} HTTP/1.1``, ``Content-Length`` JSON body, plain header lines,
  nothing owed on the connection) straight from the received bytes and hands its
  parameters to :meth:`_Connection.fast_request`; anything else goes to httptools
  unchanged, so answers are the same either way. A constant operation's answer is
  written again from its serialized bytes (keyed by the request body and ``Accept``).
- No Task per request: ``_run`` steps the engine's coroutine once inside the protocol
  callback; an operation that needs no I/O (``{greet}``) is answered right there. Only a
  coroutine that really waits is handed to a Task (``_Resume`` continues it).
- GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): ``POST`` with an
  ``application/json`` body (an object, or an array of them: a batch), ``GET`` with
  ``query``/``variables``/``operationName`` parameters (queries only: a mutation is 405).
  ``Accept`` picks ``application/graphql-response+json`` (request errors are 400) or
  ``application/json`` (request errors are 200 with ``errors``; the default, also for a
  missing Accept or ``*/*``). Malformed requests get 400 (bad JSON, invalid UTF-8, wrong
  parameter types), 413 (body limit), 414 (64 KB URLs), 415 (content type), 431 (header
  limit), 404, 405; ``GET {status_path}`` and ``GET /health`` answer ``{"status":"ok"}``,
  and a browser's ``GET {graphql_path}`` without a query gets GraphiQL.
- Robustness: an exception while handling a request becomes a 500 JSON answer (the
  connection stays usable); protocol errors are answered, then the connection is
  half-closed and drained briefly (so the client reads the answer, not a reset). One timer
  per connection enforces the request timeout (headers and body must arrive within
  ``request_timeout`` of their first byte, or of the connection's opening) and the idle
  keep-alive timeout. Reading pauses while too many pipelined answers are pending or the
  client does not read.
- Cooperative yield (``yield_cpu``, on by default): after an event-loop turn that read
  requests, at most once a millisecond, the process gives up the rest of its scheduler
  slice (``sched_yield``) if another process waits for the CPU. A front proxy or client on
  the same host (plait as a fast path behind an existing gateway) then waits about a
  millisecond, not a whole slice: on 2 cores shared with wrk, ``{greet}`` p99 7.9 ->
  2.7-2.9 ms at the same req/s. The scheduler's accounting is unchanged, so the process
  keeps its share of the CPU; with no one waiting the call returns at once.
- ``Server.close(grace)`` stops accepting, closes idle connections, lets in-flight requests
  finish (their answers carry ``Connection: close``) for up to ``grace`` seconds, aborts
  what is left, then closes the engine.
- ``run()`` is ``plait start``: one uvloop loop per process; with several workers each
  child binds the port with ``SO_REUSEPORT`` (the kernel spreads connections); SIGTERM and
  SIGINT shut down gracefully.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any, Final
from urllib.parse import parse_qsl

import httptools
import msgspec

from .engine import extensions_disabled
from .engine_api import Engine, ExecutionResult, SharedRun
from .planner.query_errors import RequestInvalid

__all__ = [
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_HEADER_SIZE",
    "DEFAULT_REQUEST_TIMEOUT",
    "MAX_URL_SIZE",
    "Server",
    "run",
]

log = logging.getLogger("plait.server")
access_log = logging.getLogger("plait.access")

DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
DEFAULT_MAX_HEADER_SIZE: Final = 16 * 1024
MAX_URL_SIZE: Final = 64 * 1024
DEFAULT_REQUEST_TIMEOUT: Final = 10.0
DEFAULT_KEEPALIVE_TIMEOUT: Final = 60.0
DEFAULT_MAX_BATCH_SIZE: Final = 100
#: Answers a connection may owe before it stops reading more pipelined requests.
MAX_PENDING: Final = 64
#: After an answer that ends a connection on a protocol error, unread input is drained
#: this long (so the client sees the answer rather than a reset).
LINGER_SECONDS: Final = 2.0

_decode = msgspec.json.decode
_encode = msgspec.json.encode

JSON, GRAPHQL_RESPONSE = 0, 1
CT_JSON: Final = b"application/json; charset=utf-8"
CT_GRAPHQL_RESPONSE: Final = b"application/graphql-response+json; charset=utf-8"
CT_HTML: Final = b"text/html; charset=utf-8"
_CONTENT_TYPES = (CT_JSON, CT_GRAPHQL_RESPONSE)

_REASONS: Final = {
    200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
    415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
}
_STATUS_LINES: Final = {code: f"HTTP/1.1 {code} {reason}\r\n".encode()
                        for code, reason in _REASONS.items()}
_OK_STATUS: Final = b'{"status":"ok"}'
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


def _errors(message: str, code: str = "BAD_REQUEST") -> bytes:
    return _encode({"errors": [{"message": message, "extensions": {"code": code}}]})


_INTERNAL_ERROR: Final = _errors("Internal server error.", "INTERNAL_SERVER_ERROR")

GRAPHIQL_HTML: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plait · GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3.8.3/graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script crossorigin src="https://unpkg.com/react@18.3.1/umd/react.production.min.js"></script>
<script crossorigin
  src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3.8.3/graphiql.min.js"></script>
<script>
  const fetcher = GraphiQL.createFetcher({ url: __ENDPOINT__ });
  ReactDOM.createRoot(document.getElementById("graphiql"))
    .render(React.createElement(GraphiQL, { fetcher }));
</script>
</body>
</html>
"""


# -- content negotiation -------------------------------------------------------------------
_accept_cache: dict[str | None, tuple[int, bool]] = {}


def negotiate(accept: str | None) -> tuple[int, bool]:
    """``(mode, html)`` for an ``Accept`` header: ``mode`` is ``GRAPHQL_RESPONSE`` when the
    client accepts ``application/graphql-response+json`` at least as much as
    ``application/json`` (wildcards count for the latter), else ``JSON``; ``html`` when it
    accepts ``text/html`` (a browser)."""
    found = _accept_cache.get(accept)
    if found is not None:
        return found
    q_graphql = q_json = q_html = 0.0
    for part in (accept or "").split(","):
        media, *params = part.split(";")
        media = media.strip().lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if media == "application/graphql-response+json":
            q_graphql = max(q_graphql, q)
        elif media in ("application/json", "application/*", "*/*"):
            q_json = max(q_json, q)
        elif media == "text/html":
            q_html = max(q_html, q)
    mode = GRAPHQL_RESPONSE if q_graphql > 0 and q_graphql >= q_json else JSON
    found = (mode, q_html > 0 and q_html >= max(q_graphql, q_json))
    if len(_accept_cache) >= 512:
        _accept_cache.clear()
    _accept_cache[accept] = found
    return found


def _is_json(content_type: str | None) -> bool | None:
    """True for ``application/json`` (charset utf-8 or none), None for another charset,
    False for anything else."""
    if content_type is None:
        return False
    media, *params = content_type.split(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and \
                value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return None
    return True


class _BadRequest(Exception):
    """A request the server answers with ``status`` and a GraphQL-style error body."""

    def __init__(self, status: int, message: str, headers: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _params(payload: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    """``query``, ``variables``, ``operationName`` of one request object (spec: the
    GraphQL-over-HTTP request parameters); raises :class:`_BadRequest`."""
    if not isinstance(payload, dict):
        raise _BadRequest(400, "A GraphQL request must be a JSON object.")
    query = payload.get("query")
    if not isinstance(query, str):
        raise _BadRequest(400, "The request has no query." if query is None
                          else "The query must be a string.")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _BadRequest(400, "The variables must be a JSON object.")
    name = payload.get("operationName")
    if name is not None and not isinstance(name, str):
        raise _BadRequest(400, "The operationName must be a string.")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _BadRequest(400, "The extensions must be a JSON object.")
    return query, variables, name


# -- stepping coroutines without a Task ----------------------------------------------------
class _Resume:
    """Awaitable that continues a coroutine already stepped once (its first yield is
    ``first``): lets a Task take over a coroutine ``_run`` started outside any Task."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Any:
        coro, value = self.coro, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # noqa: BLE001 - cancellation goes to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _resume(coro: Any, first: Any) -> Any:
    return await _Resume(coro, first)


# -- the per-request state ------------------------------------------------------------------
class _Exchange:
    """One request on a connection and, once ``done``, its answer."""

    __slots__ = (
        "body",
        "close",
        "content_type",
        "cors",
        "done",
        "headers",
        "http10",
        "keep_alive",
        "method",
        "started",
        "status",
        "target",
    )

    def __init__(self, keep_alive: bool, http10: bool) -> None:
        self.keep_alive = keep_alive
        self.http10 = http10
        self.done = False
        self.status = 500
        self.content_type = CT_JSON
        self.body = b""
        self.headers = b""
        #: CORS headers for this request's origin (``@server(headers: {cors: ...})``).
        self.cors = b""
        #: End the connection after this answer (protocol errors, timeouts).
        self.close = False
        self.method = ""
        self.target = ""
        self.started = 0.0

    def answer(self, status: int, content_type: bytes, body: bytes,
               headers: bytes = b"") -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.headers = headers
        self.done = True


#: Header field names as received -> lower-case text (bounded; most clients send few
#: distinct spellings).
_HEADER_NAMES: dict[bytes, str] = {}


def _header_name(name: bytes) -> str:
    text = _HEADER_NAMES.get(name)
    if text is None:
        text = name.decode("latin-1").lower()
        if len(_HEADER_NAMES) >= 1024:
            _HEADER_NAMES.clear()
        if len(name) <= 64:
            _HEADER_NAMES[name] = text
    return text


class _Callbacks:
    """What httptools calls back: the connection's methods, and a C-level ``on_header``
    (``dict.__setitem__``: no Python frame per header field)."""

    __slots__ = (
        "on_body",
        "on_header",
        "on_headers_complete",
        "on_message_begin",
        "on_message_complete",
        "on_url",
    )

    def __init__(self, connection: _Connection) -> None:
        self.on_message_begin = connection.on_message_begin
        self.on_url = connection.url.append
        self.on_header = connection.raw_headers.__setitem__
        self.on_headers_complete = connection.on_headers_complete
        self.on_body = connection.on_body
        self.on_message_complete = connection.on_message_complete


class _Reject(Exception):
    """Raised from a parser callback to stop parsing; the connection answers and closes."""


# parser phases
_IDLE, _HEAD, _BODY = 0, 1, 2  # plait._fastpath reads phase _IDLE as 0


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, queues exchanges, writes answers in order."""

    __slots__ = (
        "body",
        "body_size",
        "deadline",
        "eof",
        "headers",
        "lingering",
        "loop",
        "parser",
        "peer",
        "pending",
        "phase",
        "raw_headers",
        "reading_paused",
        "rejected",
        "seen",
        "server",
        "stopped",
        "timer",
        "timer_at",
        "transport",
        "upgrade",
        "url",
        "writing_paused",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: Any = None
        #: The header fields of the request being read, as httptools gives them (a field
        #: repeated with the same spelling keeps its last value).
        self.raw_headers: dict[bytes, bytes] = {}
        #: The request target of the request being read, in pieces.
        self.url: list[bytes] = []
        self.parser = httptools.HttpRequestParser(_Callbacks(self))
        self.pending: deque[_Exchange] = deque()
        self.phase = _IDLE
        self.headers: dict[str, str] = {}
        #: Bytes received since the current request head or body began (roughly: a chunk
        #: that spans two requests counts toward one).
        self.seen = 0
        self.body: list[bytes] = []
        self.body_size = 0
        #: No more requests are read (a final answer is queued, or the connection ends).
        self.stopped = False
        self.lingering = False
        self.eof = False
        self.reading_paused = False
        self.writing_paused = False
        self.rejected: tuple[int, str] | None = None
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.peer = ""
        #: The head of a request that asked for an Upgrade, to be parsed again without it.
        self.upgrade: bytes | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        server = self.server
        if server.closing:
            transport.close()
            return
        server.connections.add(self)
        self._set_deadline(self.loop.time() + server.request_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stopped = True
        self.transport = None
        self.pending.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server._forget(self)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._update_reading()

    def eof_received(self) -> bool:
        self.eof = True
        if self.pending:
            self.stopped = True
            return True  # keep writing what is owed; _flush closes after the last answer
        return False

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return  # lingering after a final answer, or closing: input is discarded
        server = self.server
        if server.yield_cpu and not server._yield_pending and \
                self.loop.time() >= server._yield_after:
            server._yield_pending = True  # Server._yield runs on the next turn
            self.loop.call_soon(server._yield)
        fast = server.fast
        if fast is not None and self.phase == _IDLE and not self.pending and \
                self.upgrade is None:
            used = fast.feed(self, data)  # simple requests, read in C (plait._fastpath)
            if used:
                if used == len(data) or self.stopped or self.transport is None:
                    return
                data = data[used:]
        self.seen += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data, upgrade.args[0])
            return
        except httptools.HttpParserError as exc:
            if self.stopped and self.rejected is None:
                return  # stopped on purpose (a final answer is queued)
            status, message = self.rejected or (400, f"Malformed HTTP request: {exc}.")
            self._fail(status, message)
            return
        except Exception:
            log.exception("unexpected error while reading a request")
            self._fail(500, "Internal server error.")
            return
        # httptools buffers a header field (or a trailer) until it ends: bound what one
        # request may send before its head, or its body, is complete.
        if self.phase != _BODY:
            if self.seen > self.server.head_guard and not self.stopped:
                if sum(map(len, self.url)) > MAX_URL_SIZE:
                    self._fail(414, "The request URL is too long.")
                else:
                    self._fail(431, "The request headers are too large.")
        elif self.seen > self.server.body_guard and not self.stopped:
            self._fail(413, "The request body is too large.")

    def _upgrade(self, data: bytes, offset: int) -> None:
        """httptools ends a request at its head when it asks for an Upgrade (curl's h2c,
        websockets) and leaves the bytes that follow unparsed. plait speaks HTTP/1.1 only
        and ignores Upgrade (RFC 9110 7.8): the request is parsed again without it, body
        included, by a fresh parser (at most a few times per read: no quadratic work)."""
        for _ in range(8):
            head, self.upgrade = self.upgrade, None
            if head is None:  # CONNECT: answered; what follows is not HTTP
                self.stopped = True
                if not self.pending and self.transport is not None:
                    self.transport.close()
                return
            self.parser = httptools.HttpRequestParser(_Callbacks(self))
            data = head + data[offset:]
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as upgrade:
                offset = upgrade.args[0]
            except httptools.HttpParserError as exc:
                if not (self.stopped and self.rejected is None):
                    self._fail(*(self.rejected or
                                 (400, f"Malformed HTTP request: {exc}.")))
                return
            except Exception:  # nothing may take the worker down
                log.exception("unexpected error while reading a request")
                self._fail(500, "Internal server error.")
                return
        self._fail(400, "Too many Upgrade requests at once.")

    # -- httptools callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.stopped:
            raise _Reject
        self.phase = _HEAD
        self.url.clear()
        self.raw_headers.clear()
        self.body = []
        self.body_size = 0
        # Inlined _set_deadline: the timer (armed earlier) is rarely due sooner.
        self.deadline = deadline = self.loop.time() + self.server.request_timeout
        if self.timer is None or self.timer_at > deadline:
            self._set_deadline(deadline)

    def on_headers_complete(self) -> None:
        self.phase = _BODY
        self.seen = 0
        if sum(map(len, self.url)) > MAX_URL_SIZE:
            self._reject(414, "The request URL is too long.")
        raw = self.raw_headers
        if sum(map(len, raw)) + sum(map(len, raw.values())) + 4 * len(raw) > \
                self.server.max_header_size:
            self._reject(431, "The request headers are too large.")
        names = _HEADER_NAMES
        try:
            self.headers = headers = {names[name]: value.decode("latin-1")
                                      for name, value in raw.items()}
        except KeyError:
            self.headers = headers = {_header_name(name): value.decode("latin-1")
                                      for name, value in raw.items()}
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() \
                and int(length) > self.server.max_body_size:
            self._reject(413, "The request body is too large.")
        expect = headers.get("expect")
        if expect is not None and expect.lower() == "100-continue" and not self.pending:
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.server.max_body_size:
            self._reject(413, "The request body is too large.")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.phase = _IDLE
        self.seen = 0
        parser = self.parser
        method = parser.get_method()
        keep_alive = parser.should_keep_alive()
        if parser.should_upgrade():
            if method != b"CONNECT":
                self.upgrade = self._without_upgrade()
                return  # answered once parsed again (see data_received)
            keep_alive = False
        exchange = _Exchange(keep_alive, parser.get_http_version() == "1.0")
        pending = self.pending
        pending.append(exchange)
        if not keep_alive or self.server.closing:
            self.stopped = True  # this is the last request read on this connection
        url = self.url[0] if len(self.url) == 1 else b"".join(self.url)
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        try:
            self.server._dispatch(self, exchange, method, url, self.headers, body)
        except Exception:
            log.exception("unexpected error while handling a request")
            exchange.answer(500, CT_JSON, _INTERNAL_ERROR)
        if exchange.done and pending[0] is exchange:
            self._flush()
        else:
            self.deadline = 0.0  # the server is working; the client waits for us
            if len(pending) >= MAX_PENDING:
                self._update_reading()

    def fast_request(self, mode: int, query: str, variables: dict[str, Any] | None,
                     name: str | None, headers: dict[str, str], key: Any) -> None:
        """A keep-alive ``POST`` with a JSON GraphQL request that ``plait._fastpath`` read
        (nothing else is owed on this connection): run it as :meth:`Server._post` would.
        A constant operation's answer is given back to the fast path under ``key``."""
        server = self.server
        exchange = _Exchange(True, False)
        self.pending.append(exchange)
        try:
            started = server.engine.start(query, variables, name, headers,
                                          lowercase_names=True)
            result = server._run(self, exchange, mode, started, False)
        except Exception:
            log.exception("unexpected error while handling a request")
            exchange.answer(500, CT_JSON, _INTERNAL_ERROR)
            started = result = None
        if exchange.done:
            if result is not None and result.constant and not variables and \
                    not exchange.close:
                server.fast.remember(key, *server._serialize_parts(exchange))
            self._flush()
        else:
            self.deadline = 0.0  # the server is working; the client waits for us
            if type(started) is SharedRun and server.gather:
                # identical requests join it in C until it ends (plait._fastpath.Gathering)
                server.fast.gather(key, started, mode, _Exchange(True, False))

    def _without_upgrade(self) -> bytes:
        """The head of the request just read, minus its Upgrade and related fields."""
        parser = self.parser
        lines = [b"%b %b HTTP/%b\r\n" % (parser.get_method(), b"".join(self.url),
                                          parser.get_http_version().encode())]
        for name, value in self.raw_headers.items():
            key = name.lower()
            if key in (b"upgrade", b"http2-settings"):
                continue
            if key == b"connection":
                tokens = [t.strip() for t in value.split(b",")]
                value = b", ".join(t for t in tokens
                                   if t and t.lower() not in (b"upgrade", b"http2-settings"))
                if not value:
                    continue
            lines.append(b"%b: %b\r\n" % (name, value))
        lines.append(b"\r\n")
        return b"".join(lines)

    # -- answers -----------------------------------------------------------------------------
    def ready(self, exchange: _Exchange) -> None:
        """An answer computed later is ready; write what can go out in order."""
        if self.pending and self.pending[0] is exchange:
            self._flush()

    def _flush(self) -> None:
        pending = self.pending
        transport = self.transport
        server = self.server
        while pending and pending[0].done:
            exchange = pending.popleft()
            if transport is None:
                return
            close = (exchange.close or not exchange.keep_alive or
                     (not pending and (self.eof or (self.phase == _IDLE and
                                                    (self.stopped or server.closing)))))
            transport.write(server._serialize(exchange, close))
            if server.access:
                server._log_access(self, exchange)
            if close:
                self._end(exchange.close)
                return
        self._written()

    def _written(self) -> None:
        """Answers went out: with nothing owed, the keep-alive timeout applies again;
        reading resumes if it was paused for too many pending answers."""
        pending = self.pending
        if not pending:
            if self.phase == _IDLE:  # idle now: the keep-alive timeout applies
                self.deadline = deadline = self.loop.time() + self.server.keepalive_timeout
                if self.timer is None or self.timer_at > deadline:
                    self._set_deadline(deadline)
            if self.reading_paused:
                self._update_reading()
        elif self.reading_paused and len(pending) < MAX_PENDING:
            self._update_reading()

    def _end(self, linger: bool) -> None:
        """Close after the answers written so far; ``linger``: half-close and drain the
        client's unread input for a while (it may still be sending a refused body)."""
        self.stopped = True
        self.pending.clear()
        transport = self.transport
        if transport is None:
            return
        if linger and transport.can_write_eof():
            self.lingering = True
            try:
                transport.write_eof()
            except OSError:
                transport.close()
                return
            if self.reading_paused:
                self.reading_paused = False
                transport.resume_reading()
            self._set_deadline(self.loop.time() + LINGER_SECONDS)
        else:
            transport.close()

    def _reject(self, status: int, message: str) -> None:
        self.rejected = (status, message)
        raise _Reject

    def _fail(self, status: int, message: str) -> None:
        """A protocol error: answer it after what is owed, then close the connection."""
        self.stopped = True
        self.rejected = None
        exchange = _Exchange(False, False)
        exchange.close = True
        exchange.answer(status, CT_JSON, _errors(message))
        self.pending.append(exchange)
        if self.pending[0] is exchange:
            self._flush()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self.lingering:
            return
        pause = self.writing_paused or len(self.pending) >= MAX_PENDING
        if pause and not self.reading_paused:
            self.reading_paused = True
            transport.pause_reading()
        elif not pause and self.reading_paused:
            self.reading_paused = False
            transport.resume_reading()

    # -- timeouts ----------------------------------------------------------------------------
    def _set_deadline(self, when: float) -> None:
        """One timer per connection; it re-arms itself when the deadline moved later."""
        self.deadline = when
        timer = self.timer
        if timer is None or self.timer_at > when:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(when, self._on_timer)
            self.timer_at = when

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if not deadline or self.transport is None:
            return
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline
            return
        transport = self.transport
        if self.lingering:
            transport.close()
        elif self.phase != _IDLE:
            log.info("closing a connection from %s: request not received within %.1f s",
                     self._peer(), self.server.request_timeout)
            if self.pending:
                transport.close()
            else:
                self.stopped = True
                exchange = _Exchange(False, False)
                exchange.answer(408, CT_JSON, _errors("The request was not received in time."))
                transport.write(self.server._serialize(exchange, True))
                transport.close()
        elif not self.pending:
            transport.close()  # idle keep-alive connection (or one that never sent a byte)

    def _peer(self) -> str:
        if not self.peer and self.transport is not None:
            peer = self.transport.get_extra_info("peername")
            self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        return self.peer

    def shutdown(self) -> None:
        """The server is closing: end now when idle, else after the last answer owed."""
        if self.transport is None:
            return
        if not self.pending and self.phase == _IDLE:
            self.stopped = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# -- the server -----------------------------------------------------------------------------
#: At most one yield per this many seconds of loop time (``Server.yield_cpu``): once per
#: turn cost Q1/Q2 6-8% (their execution cycles turn the loop often); every 3 ms no longer
#: helped ``{greet}``'s p99 (bench/RESULTS.md).
_YIELD_INTERVAL = 0.001
#: ``os.sched_yield`` where the platform has it (``Server.yield_cpu``).
_sched_yield: Callable[[], None] | None = getattr(os, "sched_yield", None)


class Server:
    """Serves one :class:`plait.Engine` over HTTP/1.1 (see the module docstring)."""

    def __init__(self, engine: Engine, *, max_body_size: int = DEFAULT_MAX_BODY_SIZE,
                 max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
                 graphiql: bool = True, fast_path: bool | None = None,
                 yield_cpu: bool = True) -> None:
        self.engine = engine
        #: Yield the CPU after each loop turn that read requests (module docstring).
        self.yield_cpu = yield_cpu and _sched_yield is not None
        self._yield_pending = False
        self._yield_after = 0.0
        settings = engine.blueprint.server
        self.settings = settings
        self.max_body_size = max_body_size
        self.max_header_size = max_header_size
        self.request_timeout = request_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_batch_size = max_batch_size
        #: Bytes of request head read before 414/431 even when httptools still buffers.
        self.head_guard = MAX_URL_SIZE + max_header_size + 8192
        #: Bytes of body (with chunk framing and trailers) read before 413 regardless.
        self.body_guard = 4 * max_body_size + 65536
        self.graphql_path = settings.graphql_path.encode("utf-8")
        self.status_paths = {settings.status_path.encode("utf-8"), b"/health"}
        self.cors: dict[str, Any] | None = settings.cors
        self.cache_control = settings.cache_control
        extra = []
        for name, value in settings.response_headers:
            if any(c in f"{name}{value}" for c in "\r\n\0") or not name:
                log.warning("ignoring response header %r: invalid characters", name)
                continue
            extra.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
        self.extra_headers = b"".join(extra)
        endpoint = _encode(settings.graphql_path).decode().replace("</", "<\\/")
        self.graphiql = GRAPHIQL_HTML.replace("__ENDPOINT__", endpoint).encode() \
            if graphiql else None
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        self.access = access_log.isEnabledFor(logging.INFO)
        #: Reads simple requests in C (``plait._fastpath``); off with access logging (it
        #: times each exchange) and under PLAIT_NO_EXTENSIONS=1, unless ``fast_path``.
        if fast_path is None:
            fast_path = not extensions_disabled()
        self.fast: Any = None
        #: Fast-path requests may join a running shared execution by their bytes alone
        #: (``plait._fastpath.Gathering``): not when a request header can change an answer.
        self.gather = not engine.headers_change_answers
        if fast_path and not self.access:
            from ._fastpath import FastPath

            self.fast = FastPath(self, self.graphql_path, max_body_size, max_header_size,
                                 self.cors is not None, _accept_cache, keepalive_timeout)
        self.loop: Any = None
        self._server: Any = None
        self._date = b""
        self._date_timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0, *,
                    sock: socket.socket | None = None, reuse_port: bool = False,
                    backlog: int = 1024) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: an ephemeral port), or on a bound ``sock``;
        returns the address actually listened on."""
        self.loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        self._tick()
        if sock is not None:
            self._server = await self.loop.create_server(
                lambda: _Connection(self), sock=sock, backlog=backlog)
        else:
            self._server = await self.loop.create_server(
                lambda: _Connection(self), host, port, reuse_port=reuse_port or None,
                backlog=backlog)
        address = self._server.sockets[0].getsockname()
        return address[0], address[1]

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting, close idle connections, give in-flight requests up to ``grace``
        seconds to be answered, abort what is left, then close the engine."""
        if self._server is None or self.closing:
            return
        self.closing = True
        self._server.close()
        for connection in list(self.connections):
            connection.shutdown()
        assert self._idle is not None
        if self.connections:
            try:
                await asyncio.wait_for(self._idle.wait(), max(grace, 0.0))
            except TimeoutError:
                log.warning("%d connection(s) still busy after %.1f s; closing them",
                            len(self.connections), grace)
        for connection in list(self.connections):
            connection.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        if self._date_timer is not None:
            self._date_timer.cancel()
        await self.engine.close()

    def _forget(self, connection: _Connection) -> None:
        self.connections.discard(connection)
        if self.closing and not self.connections and self._idle is not None:
            self._idle.set()

    def _tick(self) -> None:
        self._date = b"Date: " + formatdate(usegmt=True).encode() + b"\r\n"
        self._date_timer = self.loop.call_at(
            self.loop.time() + 1.0 - time.time() % 1.0, self._tick)

    # -- responses ---------------------------------------------------------------------------
    def _serialize(self, exchange: _Exchange, close: bool) -> bytes:
        body = exchange.body
        if close:
            connection = b"Connection: close\r\n"
        elif exchange.http10:
            connection = b"Connection: keep-alive\r\n"
        else:
            connection = b""
        return b"%bContent-Type: %b\r\nContent-Length: %d\r\n%b%b%b%b%b\r\n%b" % (
            _STATUS_LINES[exchange.status], exchange.content_type, len(body), self._date,
            self.extra_headers, exchange.headers, exchange.cors, connection, body)

    def _serialize_parts(self, exchange: _Exchange) -> tuple[bytes, bytes]:
        """A keep-alive HTTP/1.1 answer as :meth:`_serialize` writes it, split around the
        ``Date`` line (for answers the fast path writes again)."""
        whole = self._serialize(exchange, False)
        at = whole.index(self._date)
        return whole[:at], whole[at + len(self._date):]

    def _log_access(self, connection: _Connection, exchange: _Exchange) -> None:
        elapsed = (time.perf_counter() - exchange.started) * 1000 if exchange.started else 0
        access_log.info("peer=%s method=%s target=%s status=%d bytes=%d ms=%.2f",
                        connection._peer(), exchange.method or "-",
                        exchange.target[:200] or "-", exchange.status, len(exchange.body),
                        elapsed)

    def _cors_headers(self, headers: dict[str, str], preflight: bool) -> bytes:
        """CORS response headers for the request's ``Origin`` (Fetch standard, as
        configured by ``@server(headers: {cors: {...}})``); empty when not allowed."""
        cors = self.cors or {}
        origin = headers.get("origin", "")
        allowed = cors.get("allowOrigins") or ["*"]
        credentials = bool(cors.get("allowCredentials"))
        if "*" in allowed and not credentials:
            allow = "*"
        elif origin in allowed or "*" in allowed:
            allow = origin
        else:
            return b""
        lines = [f"Access-Control-Allow-Origin: {allow}"]
        vary = list(cors.get("vary") or [])
        if allow != "*" and "origin" not in (v.lower() for v in vary):
            vary.append("Origin")
        if vary:
            lines.append("Vary: " + ", ".join(vary))
        if credentials:
            lines.append("Access-Control-Allow-Credentials: true")
        if cors.get("exposeHeaders"):
            lines.append("Access-Control-Expose-Headers: " + ", ".join(cors["exposeHeaders"]))
        if preflight:
            methods = cors.get("allowMethods") or ["GET", "POST", "OPTIONS"]
            lines.append("Access-Control-Allow-Methods: " + ", ".join(methods))
            requested = headers.get("access-control-request-headers")
            allow_headers = ", ".join(cors["allowHeaders"]) if cors.get("allowHeaders") \
                else (requested or "content-type")
            lines.append(f"Access-Control-Allow-Headers: {allow_headers}")
            if cors.get("maxAge") is not None:
                lines.append(f"Access-Control-Max-Age: {int(cors['maxAge'])}")
            if cors.get("allowPrivateNetwork") and \
                    headers.get("access-control-request-private-network") == "true":
                lines.append("Access-Control-Allow-Private-Network: true")
        text = "".join(f"{line}\r\n" for line in lines)
        if any(c in text.replace("\r\n", "") for c in "\r\n\0"):
            return b""
        return text.encode("latin-1", "replace")

    # -- requests ----------------------------------------------------------------------------
    def _dispatch(self, connection: _Connection, exchange: _Exchange, method: bytes,
                  url: bytes, headers: dict[str, str], body: bytes) -> None:
        if self.access:
            exchange.method = method.decode("latin-1")
            exchange.target = url.decode("latin-1")
            exchange.started = time.perf_counter()
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
        else:  # absolute-form (a proxy-style target) or "*"
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                exchange.answer(400, CT_JSON, _errors("The request target is not a URL."))
                return
            path, query = parsed.path or b"/", parsed.query or b""
        if self.cors is not None and "origin" in headers:
            exchange.cors = self._cors_headers(headers, method == b"OPTIONS")
            if method == b"OPTIONS" and "access-control-request-method" in headers:
                exchange.answer(204, CT_JSON, b"")  # a CORS preflight
                return
        if path == self.graphql_path:
            accept = headers.get("accept")
            found = _accept_cache.get(accept)
            mode, html = found if found is not None else negotiate(accept)
            try:
                if method == b"POST":
                    self._post(connection, exchange, mode, headers, body)
                elif method == b"GET":
                    self._get(connection, exchange, mode, html, headers, query)
                else:
                    raise _BadRequest(405, "GraphQL requests use GET or POST.",
                                      b"Allow: GET, POST\r\n")
            except _BadRequest as bad:
                exchange.answer(bad.status, _CONTENT_TYPES[mode], _errors(bad.message),
                                bad.headers)
        elif path in self.status_paths:
            if method == b"GET":
                exchange.answer(200, CT_JSON, _OK_STATUS)
            else:
                exchange.answer(405, CT_JSON, _errors("Use GET."), b"Allow: GET\r\n")
        else:
            exchange.answer(404, CT_JSON, _errors("Not found.", "NOT_FOUND"))

    def _post(self, connection: _Connection, exchange: _Exchange, mode: int,
              headers: dict[str, str], body: bytes) -> None:
        content_type = headers.get("content-type")
        if content_type != "application/json":
            accepted = _is_json(content_type)
            if not accepted:
                raise _BadRequest(415, "GraphQL POST requests need Content-Type: "
                                  "application/json" +
                                  ("; charset=utf-8." if accepted is None else "."))
        try:
            payload = _decode(body)
        except UnicodeDecodeError:
            raise _BadRequest(400, "The request body is not valid UTF-8.") from None
        except msgspec.DecodeError as exc:
            if "UTF-8" in str(exc):  # newer msgspec reports a bad string as a DecodeError
                raise _BadRequest(400, "The request body is not valid UTF-8.") from None
            raise _BadRequest(400, f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise _BadRequest(400, "The request body is nested too deeply.") from None
        if isinstance(payload, list):
            if not payload:
                raise _BadRequest(400, "A batch must hold at least one request.")
            if len(payload) > self.max_batch_size:
                raise _BadRequest(400, f"A batch may hold at most {self.max_batch_size} "
                                  "requests.")
            self._run(connection, exchange, mode, self._batch(payload, headers), True)
            return
        query, variables, name = _params(payload)
        self._run(connection, exchange, mode,
                  self.engine.start(query, variables, name, headers,
                                    lowercase_names=True), False)

    def _get(self, connection: _Connection, exchange: _Exchange, mode: int, html: bool,
             headers: dict[str, str], raw_query: bytes) -> None:
        try:
            params: dict[str, str] = {}
            for key, value in parse_qsl(raw_query.decode("utf-8"), keep_blank_values=True,
                                        errors="strict", max_num_fields=64):
                params.setdefault(key, value)
        except UnicodeDecodeError:
            raise _BadRequest(400, "The request URL is not valid UTF-8.") from None
        except ValueError as exc:
            raise _BadRequest(400, f"The request URL is malformed: {exc}.") from None
        query = params.get("query")
        if query is None:
            if html and self.graphiql is not None:
                exchange.answer(200, CT_HTML, self.graphiql)
                return
            raise _BadRequest(400, "The request has no query parameter.")
        variables = None
        if params.get("variables"):
            try:
                variables = _decode(params["variables"])
            except (msgspec.DecodeError, RecursionError):
                raise _BadRequest(400, "The variables parameter is not valid JSON.") from None
            if variables is not None and not isinstance(variables, dict):
                raise _BadRequest(400, "The variables must be a JSON object.")
        if params.get("extensions"):
            try:
                extensions = _decode(params["extensions"])
            except (msgspec.DecodeError, RecursionError):
                raise _BadRequest(400, "The extensions parameter is not valid JSON.") \
                    from None
            if extensions is not None and not isinstance(extensions, dict):
                raise _BadRequest(400, "The extensions must be a JSON object.")
        name = params.get("operationName") or None
        try:
            kind = self.engine._prepared(query, name).operation.kind
        except RequestInvalid:
            kind = None  # execute() answers with the errors
        if kind is not None and kind != "query":
            raise _BadRequest(405, f"A {kind} cannot be sent with GET; use POST.",
                              b"Allow: POST\r\n")
        self._run(connection, exchange, mode,
                  self.engine.start(query, variables, name, headers,
                                    lowercase_names=True), False)

    async def _batch(self, items: list[Any], headers: dict[str, str]) -> bytes:
        async def one(item: Any) -> bytes:
            try:
                query, variables, name = _params(item)
            except _BadRequest as bad:
                return _errors(bad.message)
            try:
                return (await self.engine.execute(query, variables, name, headers)).body
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unexpected error while executing a batched request")
                return _INTERNAL_ERROR

        bodies = await asyncio.gather(*(one(item) for item in items))
        return b"[" + b",".join(bodies) + b"]"

    def _run(self, connection: _Connection, exchange: _Exchange, mode: int, coro: Any,
             batch: bool) -> Any:
        """Answer what :meth:`Engine.start` gave: an ``ExecutionResult`` at once (and
        return it); a ``SharedRun`` when its execution finishes (no Task); a coroutine
        (an ``ExecutionResult`` or, for a batch, the body bytes) stepped now, answered at
        once if it finished (and returned), else finished by a Task (and None returned)."""
        kind = type(coro)
        if kind is ExecutionResult:
            self._answer(exchange, mode, coro, batch)
            return coro
        if kind is SharedRun:
            coro.future.add_done_callback(
                lambda f: self._settle(connection, exchange, mode, False, f, coro.result))
            return None
        try:
            first = coro.send(None)
        except StopIteration as stop:
            self._answer(exchange, mode, stop.value, batch)
            return stop.value
        task = self.loop.create_task(_resume(coro, first))
        self.tasks.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self.tasks.discard(task)
            self._settle(connection, exchange, mode, batch, task, task.result)

        task.add_done_callback(done)
        return None

    def _yield(self) -> None:
        """After an event-loop turn that read requests, at most once per
        ``_YIELD_INTERVAL``: let a process waiting for this CPU run now (``yield_cpu``; a
        no-op when none waits)."""
        self._yield_pending = False
        self._yield_after = self.loop.time() + _YIELD_INTERVAL
        _sched_yield()  # type: ignore[misc]

    def _settle(self, connection: _Connection, exchange: _Exchange, mode: int, batch: bool,
                future: asyncio.Future[Any], result: Callable[[], Any]) -> None:
        """``future`` is done: answer (:meth:`_conclude`), then write what the connection
        can."""
        self._conclude(exchange, mode, batch, future, result)
        connection.ready(exchange)

    def _conclude(self, exchange: _Exchange, mode: int, batch: bool,
                  future: asyncio.Future[Any], result: Callable[[], Any]) -> None:
        """``future`` is done: answer ``exchange`` with ``result()`` (503 if it was
        cancelled: the server is closing; 500 if it failed)."""
        try:
            if future.cancelled():
                exchange.answer(503, CT_JSON,
                                _errors("The server is shutting down.", "UNAVAILABLE"))
            else:
                self._answer(exchange, mode, result(), batch)
        except Exception:
            log.exception("unexpected error while executing a request")
            exchange.answer(500, CT_JSON, _INTERNAL_ERROR)

    def _answer(self, exchange: _Exchange, mode: int, result: Any, batch: bool) -> None:
        if batch:
            exchange.answer(200, _CONTENT_TYPES[mode], result)
            return
        headers = b""
        if self.cache_control and not result.request_error:
            age = result.cache_max_age_ms
            # cacheControl: the smallest of the response's fields' @cache(maxAge) and the
            # max-age left of the upstream answers it used; `private` when one of them
            # (or a @protected field) is; never cached with errors or when an upstream
            # said no-store/no-cache.
            if result.no_store or b'"errors":' in result.body:
                headers = b"Cache-Control: no-store\r\n"
            elif age is not None:
                headers = b"Cache-Control: %s, max-age=%d\r\n" % (
                    b"private" if result.private else b"public", age // 1000)
            elif result.private:
                headers = b"Cache-Control: private\r\n"
        if result.headers:
            # setCookies / experimental: upstream response headers passed on.
            headers += b"".join(_header_line(name, value) for name, value in result.headers)
        if mode == GRAPHQL_RESPONSE:
            exchange.answer(400 if result.request_error else 200, CT_GRAPHQL_RESPONSE,
                            result.body, headers)
        else:
            exchange.answer(200, CT_JSON, result.body, headers)


def _header_line(name: str, value: str) -> bytes:
    if any(c in value for c in "\r\n\0") or not name.isascii():
        return b""
    return f"{name}: {value}\r\n".encode("latin-1", "replace")


# -- plait start ------------------------------------------------------------------------------
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
                  "error": logging.ERROR, "critical": logging.CRITICAL}


def _tune_malloc() -> None:
    """Keep glibc from returning every freed response buffer to the OS (DESIGN.md:
    kernel time per request 17.5 -> 10 us)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 64 * 1024 * 1024)   # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 * 1024 * 1024)   # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _url(host: str, port: int, path: str) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


async def _serve(engine: Engine, sock: socket.socket, grace: float,
                 on_ready: Callable[[str, int], None], early_stop: list[int],
                 options: dict[str, Any], group: tuple[bytes, int, int] | None = None) -> None:
    """One worker: serve on ``sock`` until SIGTERM/SIGINT, then shut down gracefully.
    ``group`` (token, index, count): share running executions with the sibling workers."""
    loop = asyncio.get_running_loop()
    siblings = None
    if group is not None:
        from .siblings import Siblings

        siblings = Siblings(*group)
        try:
            await siblings.start()
        except OSError as exc:  # e.g. the link address is taken: serve without sharing
            log.warning("not sharing executions with the other workers: %s", exc)
            siblings.close()
            siblings = None
        else:
            engine.siblings = siblings
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if early_stop:
        stop.set()
    server = Server(engine, **options)
    host, port = await server.start(sock=sock)
    on_ready(host, port)
    await stop.wait()
    log.info("shutting down (grace %.1f s)", grace)
    if siblings is not None:
        engine.siblings = None
        siblings.close()  # what we waited on from a sibling now runs here
    await server.close(grace)


def _worker(engine_factory: Callable[[], Engine], sock: socket.socket, grace: float,
            on_ready: Callable[[str, int], None], early_stop: list[int],
            options: dict[str, Any], group: tuple[bytes, int, int] | None = None) -> None:
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(engine_factory(), sock, grace, on_ready, early_stop,
                                       options, group))
    finally:
        loop.close()


def run(config_path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        host: str | None = None, port: int | None = None, workers: int | None = None,
        log_level: str = "warning", *, grace: float = 10.0,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE, share_across_workers: bool = True,
        yield_cpu: bool = True) -> int:
    """``plait start``: load and check the config, listen, serve until SIGTERM/SIGINT.
    Returns the exit code (0 after a clean shutdown, 1 for an invalid config or a port that
    cannot be bound). ``share_across_workers``: see :func:`_supervise`; ``yield_cpu``: see
    :class:`Server` (the module docstring)."""
    from .cli import _count, _summary
    from .planner import check_config

    logging.basicConfig(level=_LEVELS.get(log_level.lower(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
                        stream=sys.stderr)
    paths = [os.fspath(config_path)] if isinstance(config_path, (str, os.PathLike)) \
        else [os.fspath(p) for p in config_path]
    result = check_config(paths)
    for diagnostic in result.diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    if result.dropped:
        print(f"... and {result.dropped} more not shown", file=sys.stderr)
    blueprint = result.blueprint
    if blueprint is None:
        print(f"plait start: {_count(result.error_count, 'error')}, "
              f"{_count(result.warning_count, 'warning')}", file=sys.stderr)
        return 1
    settings = blueprint.server
    host = host if host is not None else settings.hostname
    port = port if port is not None else settings.port
    workers = workers or settings.workers or os.cpu_count() or 1
    stats = _summary(blueprint)
    print(f"plait: config {', '.join(result.files)}: {_count(stats['types'], 'type')}, "
          f"{_count(stats['fields'], 'field')}, {_count(stats['resolvers'], 'resolver')} "
          f"({stats['upstream_resolvers']} upstream)", flush=True)
    _tune_malloc()
    try:
        sock = _bind(host, port, reuse_port=False)
    except OSError as exc:
        print(f"plait start: cannot listen on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1

    def announce(bound_host: str, bound_port: int) -> None:
        print(f"plait: listening on {_url(bound_host, bound_port, settings.graphql_path)} "
              f"({_count(workers, 'worker')}, pid {os.getpid()})", flush=True)

    def engine() -> Engine:
        return Engine(blueprint)

    options: dict[str, Any] = {"max_body_size": max_body_size, "yield_cpu": yield_cpu}

    if workers == 1:
        early: list[int] = []
        try:
            _worker(engine, sock, grace, announce, early, options)
        except KeyboardInterrupt:
            return 130
        return 0
    bound_host, bound_port = sock.getsockname()[:2]
    sock.close()
    try:  # holds the port (bound, not listening) while workers join it with SO_REUSEPORT
        reserve = _bind(bound_host, bound_port, reuse_port=True)
    except OSError as exc:
        print(f"plait start: cannot listen on {host}:{bound_port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    try:
        return _supervise(engine, bound_host, bound_port, workers, grace, announce, options,
                          share_across_workers)
    finally:
        reserve.close()


def _supervise(engine: Callable[[], Engine], host: str, port: int, workers: int,
               grace: float, announce: Callable[[str, int], None],
               options: dict[str, Any], share_across_workers: bool = True) -> int:
    """Fork ``workers`` children serving ``host:port`` (each its own ``SO_REUSEPORT``
    socket); forward SIGTERM/SIGINT; restart a worker that dies unexpectedly. With
    ``share_across_workers`` (Linux), a worker's request may join a sibling's running
    execution (:mod:`plait.siblings`)."""
    import select

    children: dict[int, int] = {}
    stopping = False
    # Workers share running executions over abstract Unix sockets (Linux), each link
    # proven by this token (plait.siblings).
    token = secrets.token_bytes(16)
    share = share_across_workers and sys.platform.startswith("linux")
    restarts: deque[float] = deque(maxlen=5)
    ready_r, ready_w = os.pipe()
    notify: list[int] = [ready_w]  # emptied once the first workers have started
    signals = {signal.SIGTERM, signal.SIGINT}

    def stop_all(_signum: int = signal.SIGTERM, _frame: Any = None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def spawn(index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        # Signals stay blocked across fork so the child never runs the parent's handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            raise
        if pid:
            children[pid] = index
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
            return
        code = 1
        try:  # the child
            os.close(ready_r)
            fd = notify[0] if notify else None
            early: list[int] = []
            for signum in signals:
                signal.signal(signum, lambda *_a: early.append(1))
            signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)

            def ready(_host: str, _port: int) -> None:
                if fd is not None:
                    os.write(fd, b"1")
                    os.close(fd)

            _worker(engine, _bind(host, port, reuse_port=True), grace, ready, early, options,
                    (token, index, workers) if share else None)
            code = 0
        except BaseException:
            log.exception("worker %d failed", os.getpid())
        finally:
            os._exit(code)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for index in range(workers):
        spawn(index)
    notify.clear()
    os.close(ready_w)
    started, deadline = 0, time.monotonic() + 60
    while started < workers and not stopping:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if select.select([ready_r], [], [], min(remaining, 0.5))[0]:
            data = os.read(ready_r, 64)
            if not data:
                break  # every worker closed its end: some died before they were ready
            started += len(data)
    os.close(ready_r)
    code = 0
    if started < workers:
        if not stopping:
            print(f"plait start: only {started} of {workers} workers started",
                  file=sys.stderr)
            code = 1
        stop_all()
    else:
        announce(host, port)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, None)
        if index is None:
            continue
        exit_code = os.waitstatus_to_exitcode(status)
        if stopping:
            if exit_code != 0:
                code = 1
            continue
        log.error("worker %d exited with status %d; restarting it", pid, exit_code)
        restarts.append(time.monotonic())
        if len(restarts) == restarts.maxlen and restarts[-1] - restarts[0] < 10:
            print("plait start: workers keep failing; stopping", file=sys.stderr)
            code = 1
            stop_all()
            continue
        spawn(index)
    return code
