"""The built-in HTTP/1.1 load generator (used when wrk is absent, or for ``--rate`` and
``--requests`` runs, which Debian's wrk cannot do).

Each worker process runs one uvloop loop with its share of keep-alive connections. A
connection is an ``asyncio.Protocol`` driven entirely from callbacks (no Task or Future
per request): the response is parsed by ``httptools.HttpResponseParser``; when it is
complete the latency is recorded and the next request is written at once (closed loop) or
at its scheduled time (open loop).

Open loop (``rate``): request *k* of a connection is due at ``start + k * interval``
(``interval = connections / rate``, the connections' schedules staggered). A connection
that is still busy when a request falls due sends it as soon as it is free, and the
latency is measured from the *due* time, not the send time: that is the
coordinated-omission correction (as wrk2 does). The uncorrected latencies are kept too.

A response counts as an error when the connection fails, the status is not 2xx, or the
body holds a GraphQL ``"errors"`` member.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from .histogram import Histogram

_ERRORS_MARK = b'"errors"'


@dataclass
class Load:
    url: str
    requests: list[tuple[bytes, dict[str, str]]]   # (body, extra headers) cycled through
    connections: int = 10
    duration: float | None = 10.0
    total: int | None = None        # stop after this many responses instead of a duration
    rate: float | None = None       # open loop: requests per second over all connections
    workers: int = 1                # processes
    timeout: float = 10.0


@dataclass
class Outcome:
    latency: Histogram                      # µs; CO-corrected for open-loop runs
    uncorrected: Histogram | None           # open loop only: from the actual send time
    completed: int = 0
    errors: Counter = field(default_factory=Counter)   # kind -> count
    statuses: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    bytes_read: int = 0
    cpu_seconds: float = 0.0                # the generator's own CPU time (all workers)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def merge(self, other: Outcome) -> None:
        self.latency.merge(other.latency)
        if self.uncorrected is not None and other.uncorrected is not None:
            self.uncorrected.merge(other.uncorrected)
        self.completed += other.completed
        self.errors.update(other.errors)
        self.statuses.update(other.statuses)
        self.seconds = max(self.seconds, other.seconds)
        self.bytes_read += other.bytes_read
        self.cpu_seconds += other.cpu_seconds


def build_requests(url: str, bodies: list[tuple[bytes, dict[str, str]]]) -> list[bytes]:
    parts = urlsplit(url)
    host = parts.netloc
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    out = []
    for body, headers in bodies:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}",
                 "Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()
                  if k.lower() not in ("host", "content-length", "content-type", "connection")]
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return out


class _Run:
    """State shared by the connections of one worker."""

    def __init__(self, load: Load, wire: list[bytes], connections: int, budget: int | None,
                 rate: float | None, progress: Any, slot: int) -> None:
        self.load = load
        self.wire = wire
        self.connections = connections
        self.remaining = budget             # requests still to send (None: by duration)
        self.outstanding = 0
        self.rate = rate
        self.open_loop = rate is not None
        self.latency = Histogram()
        self.uncorrected = Histogram() if self.open_loop else None
        self.errors: Counter = Counter()
        self.statuses: Counter = Counter()
        self.completed = 0
        self.ok = 0                         # 200 answers (other statuses in ``statuses``)
        self.bytes_read = 0
        self.stopping = False
        self.deadline_ns: int | None = None
        self.done: asyncio.Future[None] | None = None
        self.progress = progress
        self.slot = slot

    def take(self) -> bool:
        """May one more request be sent?"""
        if self.stopping:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        if self.deadline_ns is not None and time.perf_counter_ns() >= self.deadline_ns:
            return False
        return True

    def finished_one(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and self.done is not None and not self.done.done() and (
                self.stopping or (self.remaining is not None and self.remaining <= 0)):
            self.done.set_result(None)


class _Link(asyncio.Protocol):
    """One TCP connection of a ``_Connection`` (which outlives it across reconnects):
    events of a connection that was already replaced are ignored."""

    __slots__ = ("conn",)

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.link = self
        self.conn.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.conn.link is self:
            self.conn.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn.link is self:
            self.conn.link = None
            self.conn.connection_lost(exc)


class _Connection:
    def __init__(self, run: _Run, index: int, interval_ns: int, offset_ns: int,
                 start_ns: int) -> None:
        self.run = run
        self.index = index                     # which request body to send next
        self.interval_ns = interval_ns
        self.due_ns = start_ns + offset_ns     # open loop: when the next request is due
        self.transport: asyncio.Transport | None = None
        self.link: _Link | None = None
        self.reconnecting = False
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.sent_ns = 0
        self.intended_ns = 0
        self.bad_body = False
        self.slow = False          # fall back to httptools (chunked or unusual responses)
        self.buf = b""
        self.timer: asyncio.TimerHandle | None = None

    # -- connection events (through ``_Link``) ---------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.run.bytes_read += len(data)
        if self.slow:
            self._feed(data)
            return
        # Fast path: responses framed by Content-Length, parsed with a few bytes methods
        # (no Python callback per header or body chunk); anything else goes to httptools.
        buf = self.buf + data if self.buf else data
        while buf:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0 or b"\r\ntransfer-encoding:" in head or not head.startswith(b"http/1."):
                self.slow, self.buf = True, b""
                self._feed(buf)
                return
            eol = head.find(b"\r\n", at + 17)
            try:
                length = int(head[at + 17:eol if eol >= 0 else len(head)])
                status = int(buf[9:12])
            except ValueError:
                self.buf = b""
                self._fail("parse")
                return
            total = end + 4 + length
            if len(buf) < total:
                break
            bad = buf.find(_ERRORS_MARK, end + 4, total) >= 0
            keep = b"\r\nconnection: close" not in head and head.startswith(b"http/1.1")
            buf = buf[total:]
            self._complete(status, bad, keep)
            if self.transport is None:
                buf = b""
        self.buf = buf

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("parse")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.run.stopping:
            return
        if self.busy:
            self._fail("read" if exc is None else "socket")
        else:                       # closed by the server between requests: reopen
            self._schedule_reconnect()

    # -- httptools callbacks -----------------------------------------------------------
    def on_message_begin(self) -> None:
        self.bad_body = False

    def on_body(self, body: bytes) -> None:
        if _ERRORS_MARK in body:
            self.bad_body = True

    def on_message_complete(self) -> None:
        self._complete(self.parser.get_status_code(), self.bad_body,
                       self.parser.should_keep_alive())

    def _complete(self, status: int, bad_body: bool, keep_alive: bool) -> None:
        run = self.run
        now = time.perf_counter_ns()
        self.busy = False
        if run.stopping:
            return
        if status == 200:
            run.ok += 1
        else:
            run.statuses[status] += 1
        if not 200 <= status < 300:
            run.errors["status"] += 1
        elif bad_body:
            run.errors["graphql"] += 1
        run.latency.record((now - self.intended_ns) // 1000)
        if run.uncorrected is not None:
            run.uncorrected.record((now - self.sent_ns) // 1000)
        run.completed += 1
        if not keep_alive and self.transport is not None:
            self.transport.close()
            self.transport = self.link = None
        run.finished_one()
        self.next()

    # -- sending -------------------------------------------------------------------------
    def next(self) -> None:
        run = self.run
        if self.transport is None:
            if not run.stopping:
                self._schedule_reconnect()
            return
        if not run.open_loop:
            if run.take():
                self._send(time.perf_counter_ns())
            return
        now = time.perf_counter_ns()
        if run.deadline_ns is not None and self.due_ns >= run.deadline_ns:
            return
        if self.due_ns <= now:
            if run.take():
                self._send(self.due_ns)
        else:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later((self.due_ns - now) / 1e9, self._send_due)

    def _send_due(self) -> None:
        self.timer = None
        if self.transport is not None and not self.busy and self.run.take():
            self._send(self.due_ns)

    def _send(self, intended_ns: int) -> None:
        run = self.run
        self.busy = True
        run.outstanding += 1
        self.due_ns += self.interval_ns
        wire = run.wire
        self.index = (self.index + 1) % len(wire)
        self.sent_ns = time.perf_counter_ns()
        # a timer may fire a little early: never measure from a time not yet reached
        self.intended_ns = min(intended_ns, self.sent_ns)
        self.transport.write(wire[self.index])  # type: ignore[union-attr]

    def _fail(self, kind: str) -> None:
        run = self.run
        if run.stopping:
            return
        if self.busy:
            self.busy = False
            run.errors[kind] += 1
            run.finished_one()
        if self.transport is not None:
            self.transport.abort()
            self.transport = self.link = None
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if not self.reconnecting and not self.run.stopping:
            self.reconnecting = True
            asyncio.get_running_loop().create_task(self._reconnect())

    async def connect(self) -> None:
        host, port = _address(self.run.load.url)
        self.parser = httptools.HttpResponseParser(self)
        self.buf = b""
        self.busy = False
        await asyncio.get_running_loop().create_connection(lambda: _Link(self), host, port)

    async def _reconnect(self) -> None:
        run = self.run
        try:
            for _ in range(50):
                if run.stopping:
                    return
                try:
                    await self.connect()
                    break
                except OSError:
                    run.errors["connect"] += 1
                    await asyncio.sleep(0.1)
            else:
                return
        finally:
            self.reconnecting = False
        self.next()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def _worker(load: Load, connections: int, budget: int | None, rate: float | None,
                  offset: int, progress: Any, slot: int) -> Outcome:
    loop = asyncio.get_running_loop()
    wire = build_requests(load.url, load.requests)
    run = _Run(load, wire, connections, budget, rate, progress, slot)
    run.done = loop.create_future()
    start_ns = time.perf_counter_ns() + 50_000_000   # connect first, then start together
    interval_ns = int(1e9 * connections / rate) if rate else 0
    conns = []
    for i in range(connections):
        stagger = (interval_ns * i) // connections if rate else 0
        conn = _Connection(run, (offset + i) % len(wire), interval_ns, stagger, start_ns)
        conns.append(conn)
        await conn.connect()
    await asyncio.sleep(max(0.0, (start_ns - time.perf_counter_ns()) / 1e9))
    begin = time.perf_counter_ns()
    cpu_begin = time.process_time()
    if load.duration is not None and load.total is None:
        run.deadline_ns = begin + int(load.duration * 1e9)

    def report() -> None:
        if progress is not None:
            progress[2 * slot] = run.completed
            progress[2 * slot + 1] = sum(run.errors.values())
        handle[0] = loop.call_later(0.2, report)

    handle = [loop.call_later(0.2, report)]
    for conn in conns:
        conn.next()
    if run.outstanding == 0 and run.remaining is not None and run.remaining <= 0:
        run.done.set_result(None)
    if run.deadline_ns is not None:
        await asyncio.sleep(load.duration)           # type: ignore[arg-type]
        # responses still in flight at the deadline are not counted (as wrk)
        run.stopping = True
        seconds = (time.perf_counter_ns() - begin) / 1e9
    else:
        seen = -1
        while not run.done.done():
            await asyncio.wait([run.done], timeout=load.timeout)
            if run.completed == seen and not run.done.done():  # no progress: give up
                run.errors["timeout"] += run.outstanding
                break
            seen = run.completed
        seconds = (time.perf_counter_ns() - begin) / 1e9
        run.stopping = True
    handle[0].cancel()
    for conn in conns:
        conn.close()
    report()
    handle[0].cancel()
    if run.ok:
        run.statuses[200] += run.ok
    return Outcome(run.latency, run.uncorrected, run.completed, run.errors, run.statuses,
                   seconds, run.bytes_read, time.process_time() - cpu_begin)


def _child(load: Load, connections: int, budget: int | None, rate: float | None,
           offset: int, progress: Any, slot: int, pipe: Any) -> None:
    import uvloop

    try:
        outcome = uvloop.run(_worker(load, connections, budget, rate, offset, progress, slot))
        pipe.send(("ok", _pack(outcome)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def _pack(o: Outcome) -> dict[str, Any]:
    return {"latency": o.latency.to_json(),
            "uncorrected": o.uncorrected.to_json() if o.uncorrected else None,
            "completed": o.completed, "errors": dict(o.errors), "statuses": dict(o.statuses),
            "seconds": o.seconds, "bytes_read": o.bytes_read, "cpu_seconds": o.cpu_seconds}


def _unpack(d: dict[str, Any]) -> Outcome:
    return Outcome(Histogram.from_json(d["latency"]),
                   Histogram.from_json(d["uncorrected"]) if d["uncorrected"] else None,
                   d["completed"], Counter(d["errors"]), Counter(d["statuses"]),
                   d["seconds"], d["bytes_read"], d["cpu_seconds"])


class Generator:
    """Run ``load`` in worker processes: ``start()``, poll ``progress()``, ``wait()``."""

    def __init__(self, load: Load) -> None:
        if load.connections < 1:
            raise ValueError("connections must be at least 1")
        self.load = load
        workers = max(1, min(load.workers, load.connections))
        self.ctx = multiprocessing.get_context("fork")
        self.counters = self.ctx.Array("q", 2 * workers, lock=False)
        self.procs: list[Any] = []
        self.pipes: list[Any] = []
        base, extra = divmod(load.connections, workers)
        offset = 0
        for w in range(workers):
            conns = base + (w < extra)
            share = conns / load.connections
            budget = None
            if load.total is not None:
                budget = load.total // workers + (w < load.total % workers)
            rate = load.rate * share if load.rate else None
            parent, child = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(target=_child, args=(load, conns, budget, rate, offset,
                                                         self.counters, w, child),
                                    daemon=True)
            self.procs.append(proc)
            self.pipes.append((parent, child))
            offset += conns
        self.started = 0.0

    def start(self) -> Generator:
        self.started = time.monotonic()
        for proc in self.procs:
            proc.start()
        for _, child in self.pipes:
            child.close()
        return self

    def progress(self) -> tuple[int, int]:
        """(responses so far, errors so far)."""
        c = self.counters
        return sum(c[0::2]), sum(c[1::2])

    def running(self) -> bool:
        return any(p.is_alive() for p in self.procs) and not all(
            parent.poll() for parent, _ in self.pipes)

    def wait(self) -> Outcome:
        total: Outcome | None = None
        problems = []
        for proc, (parent, _) in zip(self.procs, self.pipes):
            try:
                kind, value = parent.recv()
            except EOFError:
                kind, value = "error", f"worker exited with code {proc.exitcode}"
            proc.join(5)
            if kind != "ok":
                problems.append(value)
                continue
            outcome = _unpack(value)
            if total is None:
                total = outcome
            else:
                total.merge(outcome)
        if total is None:
            raise RuntimeError("load generator failed: " + "; ".join(problems))
        return total

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
                proc.join(2)


def run(load: Load) -> Outcome:
    """Run ``load`` to completion (no progress output)."""
    gen = Generator(load).start()
    try:
        return gen.wait()
    finally:
        gen.kill()


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
