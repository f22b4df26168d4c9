"""The upstream HTTP/1.1 client: keep-alive connection pools driven by protocol callbacks.

Why our own client: the engine makes one or more upstream calls per GraphQL request, so the
client's per-call cost is on the hot path. An own ``asyncio.Protocol`` client measured 2-3x
faster than aiohttp's (see DESIGN.md, "Speed principles"). It does one thing: send an
HTTP/1.1 request over a pooled connection and hand back status, headers and the whole
(decoded) body.

Design
------
- ``HttpClient`` keeps one ``_Pool`` per origin (scheme, host, port). A pool holds at most
  ``pool_size`` open connections (a *slot* per connection, counted from the moment a connect
  starts), a LIFO list of idle connections, and a FIFO queue of waiting requests. A request
  takes the most recently used idle connection, else opens a new one if a slot is free, else
  queues. A finished connection, or a freed slot, goes straight to the oldest waiter.
- ``_Connection`` is the ``asyncio.Protocol``. It owns an ``httptools.HttpResponseParser``
  whose callbacks fill the response in place; the request coroutine awaits one future that
  the callbacks resolve. A simple head (``HTTP/1.1``, ``Content-Length``, plain fields)
  that arrives whole is read in C instead (``plait.engine._http_head``, not under
  ``PLAIT_NO_EXTENSIONS=1``): one call instead of a callback per header line; its body is
  then counted to ``Content-Length`` without the parser. Per request: one
  ``transport.write`` (head and body joined) and one future; no Task, no streams, no
  per-request timer: each connection keeps one deadline timer that, when it fires for an
  older request's deadline, re-arms for the current one.
  Parsed URLs are cached (pool and request target per URL string, bounded).
- Ownership: an idle connection belongs to its pool, a busy one to the request coroutine
  that took it. The coroutine alone returns it (``_Pool.release``) or closes it and frees its
  slot (``_Pool.discard``) — on every path, including errors and cancellation, so nothing
  leaks. Protocol callbacks only touch pool accounting for idle connections (the server
  closed them, or they expired after ``idle_timeout``: one sweeper timer per pool).
- Errors are ``UpstreamError(kind, message)``; on any error the connection is aborted, never
  reused. The only retry is the keep-alive race: a request written to a *reused* connection
  that then ends (EOF/reset) before any response byte arrives is sent once more on a fresh
  connection, keeping the same slot. Only idempotent methods (GET, HEAD, OPTIONS, PUT,
  DELETE, TRACE) are retried: a POST or PATCH whose connection died may have been processed.
- Limits: ``max_response_bytes`` caps the body bytes received and, separately, the decoded
  size (inflating is bounded chunk by chunk with ``max_length``, so a zip bomb stops at the
  cap); a declared Content-Length over the cap fails at the headers. Response heads are
  capped at 1 MiB. Exceeding a cap aborts the connection at once, so nothing more is read.
- Timeouts: ``connect_timeout`` bounds TCP (and TLS) setup; ``request_timeout`` bounds the
  whole call from ``request()`` on (pool wait, connect, send, response). Every timeout has
  kind ``"timeout"``; the message says which phase.
- The client binds to the event loop of its first request; it works on uvloop and on the
  default asyncio loop.
"""
from __future__ import annotations

import asyncio
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Self
from urllib.parse import quote

import httptools

from . import extensions_disabled

__all__ = ["HttpClient", "UpstreamError", "UpstreamRequest", "UpstreamResponse"]

ERROR_KINDS: Final = frozenset(
    {"connect", "timeout", "reset", "status", "too_large", "protocol", "closed"})
_MAX_HEAD_BYTES: Final = 1024 * 1024
_MAX_CACHED_URLS: Final = 4096
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_KNOWN_METHODS: Final = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
# Request headers the client writes itself; a caller's copy is dropped (User-Agent replaces).
_MANAGED_HEADERS: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding",
     "keep-alive", "te", "upgrade", "user-agent"})
_ACCEPT_ENCODING: Final = "Accept-Encoding: gzip, deflate\r\n"
_DECODED_ENCODINGS: Final = frozenset({b"gzip", b"x-gzip", b"deflate"})
# Everything printable in ASCII but the space stays as it is in a request target.
_TARGET_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F))


class UpstreamError(Exception):
    """An upstream call failed; ``kind`` says how (one of ``ERROR_KINDS``).

    ``"connect"``: no connection (refused, unresolvable, TLS handshake failed);
    ``"timeout"``: connect, pool wait or exchange took too long; ``"reset"``: the server
    closed or reset the connection before the response was complete; ``"too_large"``: over
    ``max_response_bytes``; ``"protocol"``: malformed HTTP or content coding, or a request
    the client refuses to send (bad URL, method or header); ``"closed"``: the client was
    closed. The client never raises ``"status"``: it returns every response; the kind is
    for callers that turn a non-2xx response into an error.
    """

    kind: str
    message: str

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind!r}, {self.message!r})"


class _StaleConnection(Exception):
    """A reused keep-alive connection ended before any response byte (internal)."""


class _Abort(Exception):
    """Raised inside parser callbacks to stop parsing; the reason is in ``error`` (internal)."""


@dataclass(slots=True)
class UpstreamRequest:
    """One upstream call: an absolute http(s) URL, extra headers and an optional body."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None


@dataclass(slots=True)
class UpstreamResponse:
    """A complete upstream response; header names are lower-cased, the body is decoded.

    Headers are as received (a decoded body keeps its ``content-encoding`` header).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes


#: ``_http_head.read_head``: (status, headers, content_length, keep_alive, body_start).
_HeadReader = Callable[[bytes], tuple[int, list[tuple[str, str]], int, bool, int] | None]


def _head_reader() -> _HeadReader | None:
    """The compiled response-head reader, or None under ``PLAIT_NO_EXTENSIONS=1`` (every
    response is then parsed by httptools). A missing build is an ImportError."""
    if extensions_disabled():
        return None
    try:
        from ._http_head import read_head
    except ImportError as exc:
        raise ImportError(
            "plait's compiled extension plait.engine._http_head is not built: run "
            "`pip install -e .` (or `python setup.py build_ext --inplace`), or set "
            "PLAIT_NO_EXTENSIONS=1 to use the pure-Python code") from exc
    return read_head


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes requests, parses responses with httptools."""

    __slots__ = (
        "body_left",
        "chunks",
        "closed",
        "complete",
        "content_length",
        "deadline",
        "decoded_size",
        "decoder",
        "encoding",
        "error",
        "extra",
        "framed",
        "head_request",
        "headers",
        "headers_done",
        "idle",
        "idle_since",
        "informational",
        "keep_alive",
        "limit",
        "lost",
        "lost_waiter",
        "parser",
        "pool",
        "raw_deflate",
        "raw_size",
        "read_head",
        "received",
        "requests",
        "status",
        "timer",
        "transport",
        "until_close",
        "waiter",
    )

    def __init__(self, pool: _Pool, limit: int, read_head: _HeadReader | None) -> None:
        self.pool = pool
        self.limit = limit
        #: The compiled head reader (``_http_head.read_head``), None: httptools only.
        self.read_head = read_head
        #: Body bytes still to come of a response whose head ``read_head`` read (-1: none).
        self.body_left = -1
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[UpstreamResponse] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.deadline = 0.0
        self.head_request = False
        self.requests = 0
        self.received = 0
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.raw_size = 0
        self.decoded_size = 0
        self.encoding: bytes | None = None
        self.decoder: Any = None
        self.raw_deflate = False
        self.content_length = -1
        self.framed = False
        self.headers_done = False
        self.informational = False
        self.until_close = False
        self.complete = False
        self.keep_alive = False
        self.extra = False
        self.error: BaseException | None = None
        self.closed = False
        self.lost = False
        self.lost_waiter: asyncio.Future[None] | None = None
        self.idle = False
        self.idle_since = 0.0

    # -- request side -------------------------------------------------------------------

    def send(self, payload: bytes, head_request: bool,
             deadline: float) -> asyncio.Future[UpstreamResponse]:
        """Write one request and return the future the parser callbacks resolve."""
        pool = self.pool
        if self.closed or self.transport.is_closing():  # type: ignore[union-attr]
            if pool.client._closed:
                raise UpstreamError("closed", "the HTTP client is closed")
            if self.requests:
                raise _StaleConnection()
            raise UpstreamError(
                "reset", f"connection to {pool.label} closed before the request was sent")
        stats = pool.client.stats
        stats["requests_sent"] += 1
        if self.requests:
            stats["reused"] += 1
        self.requests += 1
        loop = pool.loop
        waiter = self.waiter = loop.create_future()
        self.deadline = deadline
        if self.timer is None:
            # One timer per connection, re-armed lazily: it fires at the deadline of the
            # request that armed it and moves itself to the current one (see _on_timer).
            self.timer = loop.call_at(deadline, self._on_timer)
        self.head_request = head_request
        self.received = 0
        self.raw_size = 0
        self.body_left = -1
        self.headers_done = False
        self.until_close = False
        self.complete = False
        self.transport.write(payload)  # type: ignore[union-attr]
        return waiter

    def reusable(self) -> bool:
        """True when the last exchange left the connection fit for another request."""
        return (self.keep_alive and not self.closed and not self.extra
                and not self.until_close and self.waiter is None)

    def abort(self) -> None:
        """Close the transport at once (unsent and unread data dropped)."""
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()

    # -- protocol callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            # Bytes nobody asked for (idle, or after the response): never reuse this one.
            self.extra = True
            self.abort()
            return
        if self.body_left >= 0:
            self._counted_body(data)
            return
        if not self.received and self.read_head is not None and not self.head_request:
            head = self.read_head(data)
            if head is not None and head[2] <= self.limit:
                self._simple_head(data, *head)
                return
        self.received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self.error is None:
                self.error = UpstreamError(
                    "protocol", f"{self.pool.label} switched protocols unasked")
        except httptools.HttpParserError as exc:
            if self.error is None:
                if self.complete:
                    self.extra = True  # e.g. data after `Connection: close`
                else:
                    self.error = UpstreamError(
                        "protocol", f"malformed HTTP response from {self.pool.label}: {exc}")
        if self.error is not None:
            self._fail(self.error)
        elif self.complete:
            self._finish()
        elif not self.headers_done and self.received > _MAX_HEAD_BYTES:
            self._fail(UpstreamError(
                "too_large", f"response head from {self.pool.label} exceeds "
                f"{_MAX_HEAD_BYTES} bytes"))

    def _simple_head(self, data: bytes, status: int, headers: list[tuple[str, str]],
                     content_length: int, keep_alive: bool, body_start: int) -> None:
        """``read_head`` read the response head at the start of ``data``: take it as the
        parser callbacks would have, then the body bytes that follow it."""
        self.status = status
        self.headers = headers
        self.keep_alive = keep_alive
        self.headers_done = True
        self.chunks = []
        self.received = body_start
        self.body_left = content_length
        self._counted_body(data[body_start:] if body_start < len(data) else b"")

    def _counted_body(self, data: bytes) -> None:
        """Body bytes of a ``Content-Length`` response whose head ``read_head`` read;
        bytes past its end were not asked for: the connection is not reused."""
        size = len(data)
        self.received += size
        left = self.body_left
        if size < left:
            self.chunks.append(data)
            self.body_left = left - size
            self.raw_size += size
            return
        if size > left:
            self.extra = True
            data = data[:left]
        if left:
            self.chunks.append(data)
        self.raw_size += left
        self.body_left = -1
        self.complete = True
        self._finish()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost finishes the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = True
        if self.waiter is not None:
            if (exc is None and self.until_close and self.headers_done
                    and not self.complete and self.error is None):
                self.complete = True  # read-until-close body ends here
                self.keep_alive = False
                self._finish()
            elif self.received == 0 and self.requests > 1:
                self._fail(_StaleConnection())
            else:
                where = "mid-response" if self.received else "before responding"
                reason = f" ({exc})" if exc is not None else ""
                self._fail(UpstreamError(
                    "reset", f"{self.pool.label} closed the connection {where}{reason}"))
        elif self.idle:
            self.pool.idle_lost(self)
        lost_waiter = self.lost_waiter
        if lost_waiter is not None and not lost_waiter.done():
            lost_waiter.set_result(None)

    # -- parser callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True  # a second (unrequested) response: do not reuse
            return
        self.headers = []
        self.chunks = []
        self.encoding = None
        self.content_length = -1
        self.framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        name = name.lower()
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if name == b"content-length":
            self.framed = True
            try:
                self.content_length = int(value)
            except ValueError:
                pass
        elif name == b"transfer-encoding":
            self.framed = True
        elif name == b"content-encoding":
            self.encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        parser = self.parser
        status = parser.get_status_code()
        if status < 200 and status != 101:
            self.informational = True  # 1xx: skipped, the real response follows
            return
        self.status = status
        self.headers_done = True
        if self.head_request:
            # httptools cannot be told "no body": finish here, use a fresh parser next time.
            self.complete = True
            self.keep_alive = parser.should_keep_alive()
            return
        if self.content_length > self.limit:
            self.error = UpstreamError(
                "too_large", f"response from {self.pool.label} declares "
                f"{self.content_length} bytes, over the {self.limit}-byte limit")
            raise _Abort
        if not self.framed and status != 204 and status != 304:
            self.until_close = True
        encoding = self.encoding
        if encoding and encoding in _DECODED_ENCODINGS:
            self.raw_deflate = False
            self.decoded_size = 0
            self.decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib

    def on_body(self, body: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        size = self.raw_size + len(body)
        if size > self.limit:
            self.error = UpstreamError(
                "too_large", f"response from {self.pool.label} exceeds {self.limit} bytes")
            raise _Abort
        self.raw_size = size
        if self.decoder is not None:
            body = self._inflate(body)
            if not body:
                return
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        if self.complete:
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    # -- internals ----------------------------------------------------------------------

    def _inflate(self, data: bytes) -> bytes:
        """Decompress one body chunk, never producing more than the decoded-size cap."""
        room = self.limit - self.decoded_size
        try:
            out = self.decoder.decompress(data, room + 1)
        except zlib.error as exc:
            if (self.encoding == b"deflate" and not self.raw_deflate
                    and self.decoded_size == 0):
                # "deflate" is meant to be zlib-wrapped; some servers send raw deflate.
                self.raw_deflate = True
                self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._inflate(data)
            encoding = (self.encoding or b"").decode("latin-1")
            self.error = UpstreamError(
                "protocol", f"cannot decode the {encoding} body from {self.pool.label}: {exc}")
            raise _Abort from exc
        if len(out) > room:
            self.error = UpstreamError(
                "too_large", f"decoded response from {self.pool.label} exceeds "
                f"{self.limit} bytes")
            raise _Abort
        self.decoded_size += len(out)
        return out

    def _finish(self) -> None:
        """Resolve the waiter with the completed response."""
        chunks = self.chunks
        self.chunks = []
        decoder = self.decoder
        if decoder is not None:
            self.decoder = None
            try:
                tail = decoder.flush()
            except zlib.error as exc:
                self._fail(UpstreamError(
                    "protocol", f"cannot decode the body from {self.pool.label}: {exc}"))
                return
            if tail:
                if len(tail) > self.limit - self.decoded_size:
                    self._fail(UpstreamError(
                        "too_large", f"decoded response from {self.pool.label} exceeds "
                        f"{self.limit} bytes"))
                    return
                chunks.append(tail)
        if not chunks:
            body = b""
        elif len(chunks) == 1:
            body = chunks[0]
        else:
            body = b"".join(chunks)
        waiter = self.waiter
        self.waiter = None
        if self.head_request:
            self.parser = httptools.HttpResponseParser(self)
        if waiter is not None and not waiter.done():
            waiter.set_result(UpstreamResponse(self.status, self.headers, body))

    def _fail(self, error: BaseException) -> None:
        """Abort the connection and fail the waiter with ``error``."""
        self.chunks = []
        self.decoder = None
        waiter = self.waiter
        self.waiter = None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _on_timer(self) -> None:
        """Fail the exchange if its deadline passed, else re-arm for it (idle: disarm)."""
        self.timer = None
        if self.waiter is None or self.closed:
            return
        loop = self.pool.loop
        # A timer may fire a hair early (loop clock resolution): allow 1 ms.
        if loop.time() + 0.001 >= self.deadline:
            self._fail(UpstreamError(
                "timeout", f"request to {self.pool.label} timed out after "
                f"{self.pool.client._request_timeout:g}s"))
        else:
            self.timer = loop.call_at(self.deadline, self._on_timer)


class _Pool:
    """The connections of one origin: slot accounting, LIFO idle list, FIFO waiters."""

    __slots__ = (
        "client",
        "conns",
        "host",
        "host_header",
        "idle",
        "label",
        "loop",
        "open",
        "port",
        "server_hostname",
        "ssl",
        "sweeper",
        "waiters",
    )

    def __init__(self, client: HttpClient, loop: asyncio.AbstractEventLoop, host: str,
                 port: int, ssl_context: ssl.SSLContext | None, host_header: str) -> None:
        self.client = client
        self.loop = loop
        self.host = host
        self.port = port
        self.ssl = ssl_context
        self.server_hostname = host if ssl_context is not None else None
        self.host_header = host_header
        #: The origin as errors name it: ``http://host:port`` (default port omitted).
        self.label = f"{'https' if ssl_context is not None else 'http'}://{host_header}"
        self.idle: list[_Connection] = []
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self.open = 0  # slots in use: connecting, busy or idle connections
        self.conns: set[_Connection] = set()
        self.sweeper: asyncio.TimerHandle | None = None

    def release(self, conn: _Connection) -> None:
        """Take back a connection after an exchange: hand it on, park it, or close it."""
        if not conn.reusable() or self.client._closed:
            self.discard(conn)
            return
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle = True
        conn.idle_since = now = self.loop.time()
        self.idle.append(conn)
        if self.sweeper is None:
            self.sweeper = self.loop.call_at(now + self.client._idle_timeout, self._sweep)

    def discard(self, conn: _Connection) -> None:
        """Close a connection its owner gives up on and free its slot."""
        conn.abort()
        self.conns.discard(conn)
        self.free_slot()

    def free_slot(self) -> None:
        """Give a slot to the oldest waiter (it will connect), or return it."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.open -= 1

    def idle_lost(self, conn: _Connection) -> None:
        """An idle connection closed (by the server or by us): forget it, free its slot."""
        conn.idle = False
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        self.conns.discard(conn)
        self.free_slot()

    def _sweep(self) -> None:
        """Close connections idle for ``idle_timeout``; re-arm for the next oldest."""
        self.sweeper = None
        idle = self.idle
        timeout = self.client._idle_timeout
        cutoff = self.loop.time() - timeout
        while idle and idle[0].idle_since <= cutoff:
            conn = idle[0]
            self.idle_lost(conn)
            conn.abort()
        if idle:
            self.sweeper = self.loop.call_at(idle[0].idle_since + timeout, self._sweep)


def _expire_waiter(waiter: asyncio.Future[Any], pool: _Pool, timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(UpstreamError(
            "timeout", f"no free connection to {pool.label} within {timeout:g}s "
            f"(pool_size={pool.client._pool_size})"))


def _keep_alive(sock: Any, idle: float) -> None:
    """TCP keep-alive probes after ``idle`` seconds without traffic (where supported)."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(idle)))
    except OSError:
        pass


class HttpClient:
    """Pooled keep-alive HTTP/1.1 client for upstream calls (see the module docstring)."""

    stats: dict[str, int]

    def __init__(self, *, pool_size: int = 60, connect_timeout: float = 60.0,
                 request_timeout: float = 60.0, idle_timeout: float = 60.0,
                 max_response_bytes: int = 16 * 1024 * 1024, user_agent: str = "plait/0.1",
                 verify_ssl: bool = True, tcp_keepalive: float = 0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if min(connect_timeout, request_timeout, idle_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be positive")
        if "\r" in user_agent or "\n" in user_agent:
            raise ValueError("user_agent must be a single line")
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._max_response_bytes = max_response_bytes
        self._verify_ssl = verify_ssl
        #: Seconds idle before TCP keep-alive probes (``@upstream(tcpKeepAlive:)``; 0: off).
        self._tcp_keepalive = tcp_keepalive
        self._ua_line = f"User-Agent: {user_agent}\r\n" if user_agent else ""
        self._ssl_context: ssl.SSLContext | None = None
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._origins: dict[str, _Pool] = {}  # "scheme://authority" -> pool
        self._targets: dict[str, tuple[_Pool, str]] = {}  # URL -> (pool, request target)
        self._closed = False
        self._read_head = _head_reader()
        self.stats = {"connections_opened": 0, "requests_sent": 0, "reused": 0, "retries": 0}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def request(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send ``request`` and return the complete response, whatever its status.

        Raises ``UpstreamError`` when no complete HTTP response is obtained.
        """
        if self._closed:
            raise UpstreamError("closed", "the HTTP client is closed")
        pool, target = self._route(request.url)
        payload = self._encode(request, pool, target)
        method = request.method
        head_request = method == "HEAD" or (
            method not in _KNOWN_METHODS and method.upper() == "HEAD")
        deadline = pool.loop.time() + self._request_timeout
        idle = pool.idle
        if idle:
            conn = idle.pop()
            conn.idle = False
        else:
            conn = await self._acquire(pool, deadline)
        retried = False
        while True:
            try:
                response = await conn.send(payload, head_request, deadline)
            except _StaleConnection:
                # The keep-alive race: the server closed the idle connection as we used it.
                # Retry once on a fresh connection in the same slot.
                conn.abort()
                pool.conns.discard(conn)
                if method.upper() not in _IDEMPOTENT:
                    pool.free_slot()
                    raise UpstreamError("reset", f"{pool.label} closed the connection before "
                                        f"answering a {method.upper()} (not retried: the "
                                        "method is not idempotent)") from None
                if retried:  # pragma: no cover - a fresh connection is never stale
                    pool.free_slot()
                    raise UpstreamError("reset", f"{pool.label} closed the connection") from None
                retried = True
                self.stats["retries"] += 1
                conn = await self._connect(pool, deadline)
                continue
            except BaseException:
                conn._fail(_Abort())  # no-op for a finished exchange; stops a cancelled one
                pool.discard(conn)
                raise
            pool.release(conn)
            return response

    async def close(self) -> None:
        """Close every connection; pending and later requests fail with kind "closed"."""
        if self._closed:
            return
        self._closed = True
        lost: list[asyncio.Future[None]] = []
        for pool in self._pools.values():
            if pool.sweeper is not None:
                pool.sweeper.cancel()
                pool.sweeper = None
            while pool.waiters:
                waiter = pool.waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(UpstreamError("closed", "the HTTP client was closed"))
            for conn in list(pool.conns):
                if not conn.lost and conn.transport is not None:
                    conn.lost_waiter = pool.loop.create_future()
                    lost.append(conn.lost_waiter)
                if conn.idle:
                    pool.idle_lost(conn)
                if conn.waiter is not None:
                    conn._fail(UpstreamError("closed", "the HTTP client was closed"))
                else:
                    conn.abort()
        if lost:
            await asyncio.wait(lost, timeout=1.0)

    # -- internals ----------------------------------------------------------------------

    async def _acquire(self, pool: _Pool, deadline: float) -> _Connection:
        """Get a connection when none is idle: open one if a slot is free, else queue."""
        if pool.open < self._pool_size:
            pool.open += 1
            return await self._connect(pool, deadline)
        loop = pool.loop
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        pool.waiters.append(waiter)
        timer = loop.call_at(deadline, _expire_waiter, waiter, pool, self._request_timeout)
        try:
            conn = await waiter
        except BaseException:
            timer.cancel()
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over, but we were cancelled meanwhile
                if handed is None:
                    pool.free_slot()
                else:
                    pool.release(handed)
            else:
                try:
                    pool.waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        timer.cancel()
        if conn is None:  # a slot was handed over
            return await self._connect(pool, deadline)
        return conn

    async def _connect(self, pool: _Pool, deadline: float) -> _Connection:
        """Open a connection in a slot the caller holds; frees the slot on failure."""
        loop = pool.loop
        conn = _Connection(pool, self._max_response_bytes, self._read_head)
        budget = min(self._connect_timeout, deadline - loop.time())
        try:
            if budget <= 0:
                raise TimeoutError
            async with asyncio.timeout(budget):
                await loop.create_connection(
                    lambda: conn, pool.host, pool.port, ssl=pool.ssl,
                    server_hostname=pool.server_hostname)
        except BaseException as exc:
            conn.abort()
            pool.free_slot()
            error = self._connect_error(exc, pool, budget)
            if error is None:
                raise
            raise error from exc
        if self._closed:
            conn.abort()
            pool.free_slot()
            raise UpstreamError("closed", "the HTTP client was closed")
        if self._tcp_keepalive > 0 and conn.transport is not None:
            _keep_alive(conn.transport.get_extra_info("socket"), self._tcp_keepalive)
        pool.conns.add(conn)
        self.stats["connections_opened"] += 1
        return conn

    def _connect_error(self, exc: BaseException, pool: _Pool,
                       budget: float) -> UpstreamError | None:
        """Translate a connect failure; None for exceptions to re-raise as they are."""
        if isinstance(exc, UpstreamError):
            return exc
        if isinstance(exc, TimeoutError):
            which = "connect_timeout" if budget >= self._connect_timeout else "request_timeout"
            return UpstreamError(
                "timeout", f"connecting to {pool.label} timed out after {max(budget, 0):g}s "
                f"({which})")
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            return UpstreamError("connect", f"TLS handshake with {pool.label} failed: {exc}")
        if isinstance(exc, ConnectionRefusedError):
            return UpstreamError("connect", f"connection refused by {pool.label}")
        if isinstance(exc, OSError):
            return UpstreamError("connect", f"cannot connect to {pool.label}: {exc}")
        return None

    def _route(self, url: str) -> tuple[_Pool, str]:
        """Split ``url`` into its origin's pool and the request target (cached per URL)."""
        hit = self._targets.get(url)
        if hit is not None:
            return hit
        if url.startswith("http://"):
            start = 7
        elif url.startswith("https://"):
            start = 8
        else:
            lowered = url[:8].lower()
            if lowered.startswith("http://"):
                start = 7
            elif lowered.startswith("https://"):
                start = 8
            else:
                raise UpstreamError("protocol", f"not an absolute http(s) URL: {url!r}")
        end = url.find("/", start)
        if end == -1:
            end = len(url)
        query = url.find("?", start, end)
        if query != -1:
            end = query
        fragment = url.find("#", start, end)
        if fragment != -1:
            end = fragment
        prefix = url[:end]
        pool = self._origins.get(prefix)
        if pool is None:
            pool = self._new_origin(prefix, start)
        target = url[end:]
        if not target.startswith("/"):
            target = "/" + target
        fragment = target.find("#")
        if fragment != -1:
            target = target[:fragment]
        if " " in target or not target.isprintable():
            raise UpstreamError("protocol", f"invalid characters in URL {url!r}")
        if not target.isascii():
            target = quote(target, safe=_TARGET_SAFE)
        targets = self._targets
        if len(targets) >= _MAX_CACHED_URLS:
            targets.clear()
        hit = targets[url] = (pool, target)
        return hit

    def _new_origin(self, prefix: str, start: int) -> _Pool:
        """Parse an origin (scheme://authority) and find or create its pool."""
        scheme = prefix[:start - 3].lower()
        authority = prefix[start:]
        if "@" in authority:
            raise UpstreamError("protocol", f"credentials in URLs are not supported: {prefix!r}")
        port_text = ""
        if authority.startswith("["):
            close = authority.find("]")
            if close == -1:
                raise UpstreamError("protocol", f"bad IPv6 host in {prefix!r}")
            host = authority[1:close]
            rest = authority[close + 1:]
            if rest:
                if not rest.startswith(":"):
                    raise UpstreamError("protocol", f"bad host in {prefix!r}")
                port_text = rest[1:]
        else:
            host, _, port_text = authority.partition(":")
        if not host or not host.isprintable() or " " in host:
            raise UpstreamError("protocol", f"bad host in {prefix!r}")
        default_port = 443 if scheme == "https" else 80
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise UpstreamError("protocol", f"bad port in {prefix!r}")
            port = int(port_text)
        else:
            port = default_port
        host = host.lower()
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            loop = asyncio.get_running_loop()
            context = self._get_ssl_context() if scheme == "https" else None
            bracketed = f"[{host}]" if ":" in host else host
            host_header = bracketed if port == default_port else f"{bracketed}:{port}"
            pool = self._pools[key] = _Pool(self, loop, host, port, context, host_header)
        if len(self._origins) >= _MAX_CACHED_URLS:
            self._origins.clear()
        self._origins[prefix] = pool
        return pool

    def _get_ssl_context(self) -> ssl.SSLContext:
        context = self._ssl_context
        if context is None:
            context = ssl.create_default_context()
            if not self._verify_ssl:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return context

    def _encode(self, request: UpstreamRequest, pool: _Pool, target: str) -> bytes:
        """The request bytes: head and body joined, for a single write."""
        method = request.method
        if method not in _KNOWN_METHODS:
            if not _TOKEN.fullmatch(method):
                raise UpstreamError("protocol", f"invalid HTTP method {method!r}")
            if method.upper() in _KNOWN_METHODS:
                method = method.upper()
        ua = self._ua_line
        extra = ""
        if request.headers:
            lines = []
            for name, value in request.headers:
                lname = name.lower()
                if lname in _MANAGED_HEADERS:
                    if lname != "user-agent":
                        continue
                    ua = ""
                if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
                    raise UpstreamError("protocol", f"invalid request header {name!r}")
                lines.append(f"{name}: {value}\r\n")
            extra = "".join(lines)
        body = request.body
        if body is not None:
            length = f"Content-Length: {len(body)}\r\n"
        elif method in _BODY_METHODS:
            length = "Content-Length: 0\r\n"
        else:
            length = ""
        head = (f"{method} {target} HTTP/1.1\r\nHost: {pool.host_header}\r\n{ua}"
                f"{_ACCEPT_ENCODING}{length}{extra}\r\n")
        try:
            data = head.encode("latin-1")
        except UnicodeEncodeError:
            data = head.encode("utf-8")
        if body:
            return data + body
        return data
