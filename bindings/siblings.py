"""Whole-operation sharing across the workers of one ``plait start`` (Linux).

Each worker runs its own engine, so identical concurrent operations arriving at two workers
would run twice. :class:`Siblings` lets a worker's request join an execution a sibling
worker is already running, as requests of one worker join each other's
(:class:`plait.engine_api.SharedRun`):

- a worker that starts a shareable execution with more than one round of upstream calls
  (``Program.across_workers``) announces it (``START`` and a digest of the sharing key:
  operation, variables, the headers that can change an answer);
- when it ends, the worker sends the answer body (``DONE``), or ``FAIL`` when the answer
  carries upstream response metadata, is large, or the execution failed;
- a sibling whose request has the announced digest waits for that body instead of
  executing; on ``FAIL``, or if the announcing worker's connection ends (it died), it runs
  the operation itself. A lost answer therefore never leaves a request waiting.

Transport: each worker listens on an abstract Unix stream socket and connects to its
siblings'; frames are ``length (4 bytes) | kind (1) | digest (16) | payload``. A connection
is used only if the process at its other end is a sibling (``SO_PEERCRED``: same user,
same parent, the supervisor) and, on the accepting side, if its first frame carries the
secret token the supervisor drew before forking; so no other local process can feed
answers in, nor learn the token by taking over a restarting worker's address. ``plait start
--no-worker-sharing`` turns it off.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any, Final

import msgspec

log = logging.getLogger("plait.server")

_HEADER: Final = struct.Struct("!IB16s")  # frame length (after these 4 bytes), kind, digest
_PEERCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid
HELLO, START, DONE, FAIL = 1, 2, 3, 4
#: Larger answers are not passed between workers (the sibling runs its own execution).
MAX_SHARED_BODY: Final = 256 * 1024
_RETRY_S: Final = 0.5
_encode = msgspec.json.encode


def address(token: bytes, index: int) -> bytes:
    """The abstract socket address of worker ``index`` of the group ``token`` names."""
    return b"\0plait-" + hashlib.blake2b(token, digest_size=8).hexdigest().encode() + \
        b"-%d" % index


class _Remote:
    """A sibling's running execution that requests of this worker wait on."""

    __slots__ = ("fallback", "future", "origin")

    def __init__(self, origin: int) -> None:
        self.origin = origin
        self.future: asyncio.Future[tuple[bytes, Any]] | None = None
        self.fallback: Callable[[], Coroutine[Any, Any, tuple[bytes, Any]]] | None = None


class Siblings:
    """This worker's links to the other workers of its group (see the module docstring)."""

    def __init__(self, token: bytes, index: int, count: int) -> None:
        self.token = token
        self.index = index
        self.count = count
        self.loop: asyncio.AbstractEventLoop | None = None
        self.out: dict[int, asyncio.Transport] = {}
        self.remote: dict[bytes, _Remote] = {}
        self.server: Any = None
        self.closed = False

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address(self.token, self.index))
            sock.setblocking(False)
            sock.listen(16)
            self.server = await self.loop.create_unix_server(lambda: _Inbound(self),
                                                             sock=sock)
        except BaseException:
            sock.close()
            raise
        for other in range(self.count):
            if other != self.index:
                self._connect(other)

    def close(self) -> None:
        self.closed = True
        if self.server is not None:
            self.server.close()
        for transport in self.out.values():
            transport.close()
        self.out.clear()
        for digest in list(self.remote):
            self._fall_back(digest)

    def _connect(self, other: int) -> None:
        if self.closed or other in self.out or self.loop is None:
            return
        self.loop.create_task(self._open(other))

    async def _open(self, other: int) -> None:
        loop = self.loop
        assert loop is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address(self.token, other))
            if not is_sibling(sock):
                log.warning("sibling link: the process at worker %d's address is not a "
                            "sibling; not linking", other)
                raise ConnectionRefusedError
            transport, _ = await loop.create_unix_connection(
                lambda: _Outbound(self, other), sock=sock)
        except OSError:
            sock.close()
            if not self.closed:  # not up yet (or restarting): try again later
                loop.call_later(_RETRY_S, self._connect, other)
            return
        if self.closed:
            transport.close()
            return
        transport.write(_frame(HELLO, _token16(self.token), b"%d" % self.index))
        self.out[other] = transport

    # -- what the engine calls ------------------------------------------------------------
    @staticmethod
    def digest(key: tuple[Any, ...]) -> bytes:
        return hashlib.blake2b(_encode(key), digest_size=16).digest()

    def join(self, digest: bytes,
             fallback: Callable[[], Coroutine[Any, Any, tuple[bytes, Any]]]
             ) -> asyncio.Future[tuple[bytes, Any]] | None:
        """A future of the answer of a sibling's running execution with this digest (or of
        ``fallback()`` if that one fails or its worker goes away); None if none runs."""
        found = self.remote.get(digest)
        if found is None or self.loop is None:
            return None
        if found.future is None:
            found.future = self.loop.create_future()
            found.fallback = fallback
        return found.future

    def announce(self, digest: bytes, running: asyncio.Future[tuple[bytes, Any]]) -> None:
        """This worker runs the execution ``digest`` names: tell the siblings, and send
        them the outcome when it ends."""
        if not self.out:
            return
        self._send(_frame(START, digest, b""))
        running.add_done_callback(lambda done: self._finished(digest, done))

    def _finished(self, digest: bytes, done: asyncio.Future[tuple[bytes, Any]]) -> None:
        if not done.cancelled() and done.exception() is None:
            body, meta = done.result()
            if meta is None and len(body) <= MAX_SHARED_BODY:
                self._send(_frame(DONE, digest, body))
                return
        self._send(_frame(FAIL, digest, b""))

    def _send(self, frame: bytes) -> None:
        for transport in self.out.values():
            transport.write(frame)

    # -- what the siblings send -------------------------------------------------------------
    def received(self, origin: int, kind: int, digest: bytes, payload: bytes) -> None:
        if kind == START:
            if digest not in self.remote:
                self.remote[digest] = _Remote(origin)
            return
        found = self.remote.get(digest)
        if found is None or found.origin != origin:
            return
        if kind == DONE:
            del self.remote[digest]
            if found.future is not None and not found.future.done():
                found.future.set_result((payload, None))
        else:
            self._fall_back(digest)

    def lost(self, origin: int) -> None:
        """The connection from worker ``origin`` ended: run what we waited on ourselves."""
        for digest, found in list(self.remote.items()):
            if found.origin == origin:
                self._fall_back(digest)

    def _fall_back(self, digest: bytes) -> None:
        found = self.remote.pop(digest, None)
        if found is None or found.future is None or found.future.done():
            return
        assert found.fallback is not None and self.loop is not None
        future = found.future
        task = self.loop.create_task(found.fallback())

        def settle(done: asyncio.Task[tuple[bytes, Any]]) -> None:
            if future.done():
                return
            if done.cancelled():
                future.cancel()
            elif done.exception() is not None:
                future.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                future.set_result(done.result())

        task.add_done_callback(settle)


def is_sibling(sock: Any) -> bool:
    """The process at the other end of a connected Unix socket runs as this user and was
    forked by this process's parent (the ``plait start`` supervisor)."""
    try:
        pid, uid, _gid = _PEERCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        with open(f"/proc/{pid}/stat", "rb") as stat:
            parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError, struct.error):
        return False
    return uid == os.getuid() and parent == os.getppid() and pid != os.getpid()


def _token16(token: bytes) -> bytes:
    return hashlib.blake2b(token, digest_size=16, person=b"plait-hello").digest()


def _frame(kind: int, digest: bytes, payload: bytes) -> bytes:
    return _HEADER.pack(1 + 16 + len(payload), kind, digest) + payload


class _Outbound(asyncio.Protocol):
    """Our connection to a sibling (we only write on it)."""

    def __init__(self, siblings: Siblings, other: int) -> None:
        self.siblings = siblings
        self.other = other

    def data_received(self, data: bytes) -> None:
        pass  # siblings never answer on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        siblings = self.siblings
        siblings.out.pop(self.other, None)
        if not siblings.closed and siblings.loop is not None:
            siblings.loop.call_later(_RETRY_S, siblings._connect, self.other)


class _Inbound(asyncio.Protocol):
    """A sibling's connection to us: HELLO (token, index), then START/DONE/FAIL frames."""

    def __init__(self, siblings: Siblings) -> None:
        self.siblings = siblings
        self.buffer = bytearray()
        self.origin = -1
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is None or not is_sibling(sock):
            self._refuse()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        buffer = self.buffer
        buffer += data
        size = _HEADER.size
        while len(buffer) >= size:
            length, kind, digest = _HEADER.unpack_from(buffer)
            end = 4 + length
            if length < 17 or length > MAX_SHARED_BODY + 17:
                self._refuse()
                return
            if len(buffer) < end:
                return
            payload = bytes(buffer[size:end])
            del buffer[:end]
            if self.origin < 0:
                if kind != HELLO or digest != _token16(self.siblings.token) or \
                        not payload.isdigit():
                    self._refuse()
                    return
                self.origin = int(payload)
                continue
            self.siblings.received(self.origin, kind, digest, payload)

    def _refuse(self) -> None:
        log.warning("sibling link: refused a connection that did not identify itself")
        self.origin = -1
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.origin >= 0:
            self.siblings.lost(self.origin)
