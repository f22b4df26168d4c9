"""Tests for plait.engine.upstream: the pooled HTTP/1.1 client, over real loopback sockets.

Every scenario runs on uvloop and on the default asyncio loop (ids ``uvloop``/``asyncio``),
each with the compiled response-head reader and with httptools alone (ids ``c``/``py``).
Well-behaved servers are aiohttp applications; misbehaving ones are raw
``asyncio.start_server`` handlers. Everything binds 127.0.0.1 port 0 and is torn down by the
scenario; each scenario is bounded by a 30 s overall timeout.
"""
from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import shutil
import socket
import ssl
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web
from plait.bench.targets import free_port
from plait.engine import extensions_disabled
from plait.engine.upstream import (
    HttpClient,
    UpstreamError,
    UpstreamRequest,
    UpstreamResponse,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Runner = Callable[[Callable[[], Awaitable[Any]]], Any]

MB = 1024 * 1024
SCENARIO_TIMEOUT = 30.0


@pytest.fixture(autouse=True, params=["c", "py"])
def head_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Clients made in the test read simple response heads in C (``c``: plait's default)
    or parse every response with httptools (``py``: ``PLAIT_NO_EXTENSIONS=1``)."""
    if request.param == "c":
        if extensions_disabled():
            pytest.skip("PLAIT_NO_EXTENSIONS=1 turns the compiled head reader off")
    else:
        monkeypatch.setenv("PLAIT_NO_EXTENSIONS", "1")
    return request.param


@pytest.fixture(params=["uvloop", "asyncio"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run an async scenario to completion on the loop named by the parameter."""

    def runner(main: Callable[[], Awaitable[Any]]) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(main(), SCENARIO_TIMEOUT)

        if request.param == "uvloop":
            return uvloop.run(bounded())
        return asyncio.run(bounded())

    return runner


@contextlib.asynccontextmanager
async def serve_app(app: web.Application,
                    ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve an aiohttp app on 127.0.0.1:0 and yield its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serve_raw(handler: Handler) -> AsyncIterator[str]:
    """Serve a raw stream handler on 127.0.0.1:0; cancel leftover handlers on exit."""
    tasks: set[asyncio.Task[Any]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks), timeout=2)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """Read one request; return its request line and body. EOF raises IncompleteReadError."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return lines[0], body


def ok_response(body: bytes = b"ok", extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def rst_close(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def expect_error(client: HttpClient, url: str, kind: str,
                       method: str = "GET") -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        await client.request(UpstreamRequest(method, url))
    assert info.value.kind == kind, info.value
    return info.value


async def get(client: HttpClient, url: str, **kwargs: Any) -> UpstreamResponse:
    return await client.request(UpstreamRequest("GET", url, **kwargs))


def pool_open(client: HttpClient) -> int:
    """Slots in use over every pool (white-box check that nothing leaked)."""
    return sum(pool.open for pool in client._pools.values())


# -- well-behaved servers -------------------------------------------------------------------


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    payload = {"method": request.method, "path_qs": request.path_qs,
               "headers": [[k, v] for k, v in request.headers.items()],
               "body": body.decode()}
    response = web.json_response(payload, status=int(request.query.get("status", 200)))
    response.headers.add("Set-Cookie", "a=1")
    response.headers.add("Set-Cookie", "b=2")
    return response


def test_get_and_post_round_trip(run: Runner) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/echo", echo)
        async with serve_app(app) as base, HttpClient(user_agent="tester/1") as client:
            response = await get(client, f"{base}/echo?x=1&y=%20z#frag",
                                 headers=[("X-Trace", "abc"), ("Host", "evil.example")])
            assert response.status == 200
            data = json.loads(response.body)
            assert data["method"] == "GET"
            assert data["path_qs"] == "/echo?x=1&y=%20z"
            sent = {k.lower(): v for k, v in data["headers"]}
            assert sent["x-trace"] == "abc"
            assert sent["host"] == base.removeprefix("http://")
            assert sent["user-agent"] == "tester/1"
            assert sent["accept-encoding"] == "gzip, deflate"
            assert ("content-type", "application/json; charset=utf-8") in response.headers
            assert [v for k, v in response.headers if k == "set-cookie"] == ["a=1", "b=2"]
            assert all(k == k.lower() for k, _ in response.headers)

            body = json.dumps({"q": "é"}).encode()
            response = await client.request(UpstreamRequest(
                "POST", f"{base}/echo", [("Content-Type", "application/json"),
                                         ("User-Agent", "override")], body))
            data = json.loads(response.body)
            sent = {k.lower(): v for k, v in data["headers"]}
            assert data["method"] == "POST" and data["body"].encode() == body
            assert sent["content-length"] == str(len(body))
            assert sent["user-agent"] == "override"

            response = await client.request(UpstreamRequest("post", f"{base}/echo"))
            data = json.loads(response.body)
            assert data["method"] == "POST" and data["body"] == ""

            response = await get(client, f"{base}/echo?q=é")
            assert json.loads(response.body)["path_qs"] == "/echo?q=%C3%A9"
            assert client.stats["connections_opened"] == 1

    run(main)


def test_keep_alive_reuses_one_connection(run: Runner) -> None:
    async def main() -> None:
        peers: set[Any] = set()

        async def handler(request: web.Request) -> web.Response:
            assert request.transport is not None
            peers.add(request.transport.get_extra_info("peername"))
            return web.json_response({"n": 1})

        app = web.Application()
        app.router.add_get("/", handler)
        async with serve_app(app) as base, HttpClient() as client:
            for _ in range(20):
                response = await get(client, base + "/")
                assert response.body == b'{"n": 1}'
            assert client.stats == {"connections_opened": 1, "requests_sent": 20,
                                    "reused": 19, "retries": 0}
            assert len(peers) == 1

    run(main)


def test_pool_limit_caps_concurrency(run: Runner) -> None:
    async def main() -> None:
        active = 0
        peak = 0

        async def slow(request: web.Request) -> web.Response:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.03)
            active -= 1
            return web.Response(text=request.query["i"])

        app = web.Application()
        app.router.add_get("/slow", slow)
        async with serve_app(app) as base, HttpClient(pool_size=2) as client:
            responses = await asyncio.gather(
                *(get(client, f"{base}/slow?i={i}") for i in range(10)))
            assert [r.body for r in responses] == [str(i).encode() for i in range(10)]
            assert peak == 2
            assert client.stats["connections_opened"] == 2
            assert client.stats["reused"] == 8
            assert pool_open(client) == 2

    run(main)


def test_waiters_are_served_in_order(run: Runner) -> None:
    async def main() -> None:
        order: list[str] = []

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(10):
                line, _ = await read_request(reader)
                order.append(line.split()[1])
                await asyncio.sleep(0.01)
                writer.write(ok_response())

        async with serve_raw(handler) as base, HttpClient(pool_size=1) as client:
            tasks = []
            for i in range(5):
                tasks.append(asyncio.ensure_future(get(client, f"{base}/{i}")))
                await asyncio.sleep(0.001)
            await asyncio.gather(*tasks)
            assert order == [f"/{i}" for i in range(5)]

    run(main)


def test_chunked_response(run: Runner) -> None:
    async def main() -> None:
        async def chunked(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for i in range(50):
                await response.write(b"part%d," % i)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_get("/", chunked)
        async with serve_app(app) as base, HttpClient() as client:
            for _ in range(2):
                response = await get(client, base + "/")
                assert ("transfer-encoding", "chunked") in response.headers
                assert response.body == b"".join(b"part%d," % i for i in range(50))
            assert client.stats["connections_opened"] == 1

    run(main)


def test_gzip_and_deflate_are_decoded(run: Runner) -> None:
    async def main() -> None:
        text = b'{"hello": "world"}' * 500

        async def compressed(request: web.Request) -> web.Response:
            response = web.Response(body=text)
            response.enable_compression(web.ContentCoding.gzip)
            return response

        def fixed(body: bytes, encoding: str) -> Callable[[web.Request], Awaitable[web.Response]]:
            async def handler(request: web.Request) -> web.Response:
                return web.Response(body=body, headers={"Content-Encoding": encoding})
            return handler

        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        app = web.Application()
        app.router.add_get("/aiohttp-gzip", compressed)
        app.router.add_get("/gzip", fixed(gzip.compress(text), "gzip"))
        app.router.add_get("/deflate", fixed(zlib.compress(text), "deflate"))
        app.router.add_get("/raw-deflate", fixed(raw.compress(text) + raw.flush(), "deflate"))
        app.router.add_get("/identity", fixed(text, "identity"))
        async with serve_app(app) as base, HttpClient() as client:
            for path in ("aiohttp-gzip", "gzip", "deflate", "raw-deflate", "identity"):
                response = await get(client, f"{base}/{path}")
                assert response.status == 200
                assert response.body == text, path
            assert client.stats["connections_opened"] == 1

    run(main)


def test_connection_close_from_server_is_honoured(run: Runner) -> None:
    async def main() -> None:
        async def closing(request: web.Request) -> web.Response:
            response = web.Response(text="bye")
            response.force_close()
            return response

        app = web.Application()
        app.router.add_get("/", closing)
        async with serve_app(app) as base, HttpClient() as client:
            for _ in range(3):
                response = await get(client, base + "/")
                assert response.body == b"bye"
                assert ("connection", "close") in response.headers
            assert client.stats["connections_opened"] == 3
            assert client.stats["reused"] == 0
            assert pool_open(client) == 0

    run(main)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_read_until_close_body(run: Runner, version: str) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(f"{version} 200 OK\r\nContent-Type: text/plain\r\n\r\n".encode())
            for i in range(20):
                writer.write(b"line %d\n" % i)
                await writer.drain()
            writer.close()

        async with serve_raw(handler) as base, HttpClient() as client:
            for _ in range(2):
                response = await get(client, base + "/")
                assert response.status == 200
                assert response.body == b"".join(b"line %d\n" % i for i in range(20))
            assert client.stats["connections_opened"] == 2  # never reused
            assert pool_open(client) == 0

    run(main)


def test_http10_keep_alive_with_content_length(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            await writer.drain()
            await reader.read()  # HTTP/1.0 without keep-alive: the client must close

        async with serve_raw(handler) as base, HttpClient() as client:
            for _ in range(2):
                assert (await get(client, base + "/")).body == b"hi"
            assert client.stats["connections_opened"] == 2

    run(main)


def test_error_statuses_are_responses(run: Runner) -> None:
    async def main() -> None:
        async def boom(request: web.Request) -> web.Response:
            return web.Response(status=500, text="boom")

        app = web.Application()
        app.router.add_get("/boom", boom)
        async with serve_app(app) as base, HttpClient() as client:
            missing = await get(client, base + "/missing")
            assert missing.status == 404
            failed = await get(client, base + "/boom")
            assert failed.status == 500 and failed.body == b"boom"
            assert client.stats["connections_opened"] == 1

    run(main)


def test_head_204_304_have_no_body(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(10):
                line, _ = await read_request(reader)
                path = line.split()[1]
                if path == "/head":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")
                elif path == "/204":
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                elif path == "/304":
                    writer.write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
                else:
                    writer.write(ok_response(b"after"))

        async with serve_raw(handler) as base, HttpClient() as client:
            head = await client.request(UpstreamRequest("HEAD", base + "/head"))
            assert head.status == 200 and head.body == b""
            assert (await get(client, base + "/ok")).body == b"after"
            assert (await get(client, base + "/204")).body == b""
            assert (await get(client, base + "/304")).status == 304
            assert (await get(client, base + "/ok")).body == b"after"
            assert client.stats["connections_opened"] == 1

    run(main)


def test_informational_responses_are_skipped(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(2):
                await read_request(reader)
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
                writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok_response(b"x"))

        async with serve_raw(handler) as base, HttpClient() as client:
            for _ in range(2):
                response = await get(client, base + "/")
                assert response.status == 200 and response.body == b"x"
                assert ("link", "</a>") not in response.headers
            assert client.stats["connections_opened"] == 1

    run(main)


# -- response heads: read in C (id c) and by httptools (id py) alike ------------------------


async def scripted(responses: list[list[bytes]]) -> Handler:
    """A raw server answering its n-th request on a connection with ``responses[n]``,
    written piece by piece (a short pause between pieces, so they arrive apart)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for pieces in responses:
            await read_request(reader)
            for position, piece in enumerate(pieces):
                if position:
                    await asyncio.sleep(0.02)
                writer.write(piece)
                await writer.drain()
        await reader.read()

    return handler


NGINX_HEAD = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: 11\r\nConnection: keep-alive\r\nX-Spaced:  v \t\r\n"
              b"X-Empty:\r\nX-Latin: caf\xe9\r\n\r\n")
NGINX_HEADERS = [("server", "nginx/1.22.1"), ("content-type", "application/json"),
                 ("content-length", "11"), ("connection", "keep-alive"),
                 ("x-spaced", "v \t"), ("x-empty", ""), ("x-latin", "caf\xe9")]


@pytest.mark.parametrize("pieces", [
    [NGINX_HEAD + b'{"id": 1}\r\n'],
    [NGINX_HEAD, b'{"id": ', b'1}\r\n'],  # the body arrives after the head
    [NGINX_HEAD[:40], NGINX_HEAD[40:] + b'{"id": 1}\r\n'],  # the head arrives in two
], ids=["whole", "body-apart", "head-apart"])
def test_simple_heads_read_alike(run: Runner, pieces: list[bytes], head_reader: str) -> None:
    """Header fields in order, lower-cased names, values with their trailing whitespace
    (as httptools keeps it), latin-1 text; the body counted to Content-Length; the
    connection reused."""
    async def main() -> None:
        async with serve_raw(await scripted([pieces, pieces])) as base, \
                HttpClient() as client:
            assert (client._read_head is not None) == (head_reader == "c")
            for _ in range(2):
                response = await get(client, base + "/")
                assert (response.status, response.headers, response.body) == \
                    (200, NGINX_HEADERS, b'{"id": 1}\r\n')
            assert client.stats["connections_opened"] == 1
            assert client.stats["reused"] == 1

    run(main)


def test_simple_head_variants(run: Runner) -> None:
    """A status line without a reason, an empty body, ``Connection: close`` (the next
    request opens a new connection) and an error status are read alike."""
    async def main() -> None:
        responses = [[b"HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n"],
                     [b"HTTP/1.1 503 Busy\r\nconnection: Close\r\ncontent-length: 4\r\n\r\nbusy"]]
        async with serve_raw(await scripted(responses)) as base, HttpClient() as client:
            first = await get(client, base + "/")
            assert (first.status, first.headers, first.body) == \
                (201, [("content-length", "0")], b"")
            second = await get(client, base + "/")
            assert (second.status, second.body) == (503, b"busy")
            assert second.headers == [("connection", "Close"), ("content-length", "4")]
            assert client.stats["reused"] == 1
            third = await get(client, base + "/")  # the server closed: a new connection
            assert third.status == 201
            assert client.stats["connections_opened"] == 2

    run(main)


def test_bytes_past_the_body_end_the_connection(run: Runner) -> None:
    """Bytes after a Content-Length body were not asked for: the answer stands, the
    connection is not reused."""
    async def main() -> None:
        pieces = [ok_response(b"first") + b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad"]
        async with serve_raw(await scripted([pieces, pieces])) as base, \
                HttpClient() as client:
            for _ in range(2):
                response = await get(client, base + "/")
                assert response.body == b"first"
            assert client.stats["reused"] == 0
            assert client.stats["connections_opened"] == 2

    run(main)


@pytest.mark.parametrize("head, kind", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "protocol"),
    (b"HTTP/1.1 200 OK\r\nX A: 1\r\nContent-Length: 2\r\n\r\nok", "protocol"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok", "protocol"),
    (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "protocol"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nok", "too_large"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "reset"),
], ids=["two-lengths", "bad-name", "bad-value", "bare-lf", "over-limit", "truncated"])
def test_bad_heads_fail_alike(run: Runner, head: bytes, kind: str) -> None:
    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(head)
            await writer.drain()
            if kind == "reset":
                writer.close()
            await reader.read()

        async with serve_raw(answer) as base, HttpClient(max_response_bytes=MB) as client:
            await expect_error(client, base + "/", kind)
            assert pool_open(client) == 0

    run(main)


# -- failures ---------------------------------------------------------------------------------


def test_connection_refused(run: Runner) -> None:
    async def main() -> None:
        port = free_port()
        async with HttpClient(pool_size=1) as client:
            for _ in range(2):
                error = await expect_error(client, f"http://127.0.0.1:{port}/", "connect")
                assert error.message == f"connection refused by http://127.0.0.1:{port}"
            assert pool_open(client) == 0

    run(main)


def test_request_timeout_closes_the_connection(run: Runner) -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            await reader.read()  # returns at EOF: the client gave up and closed
            closed.set()

        async with serve_raw(silent) as base, HttpClient(request_timeout=0.2) as client:
            error = await expect_error(client, base + "/", "timeout")
            assert "timed out after 0.2s" in error.message
            await asyncio.wait_for(closed.wait(), 5)
            assert pool_open(client) == 0

    run(main)


def test_timeout_counts_from_each_request_on_a_reused_connection(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                line, _ = await read_request(reader)
                if "/hang" in line:
                    await reader.read()
                    return
                writer.write(ok_response())

        loop = asyncio.get_running_loop()
        async with serve_raw(handler) as base, HttpClient(request_timeout=0.4) as client:
            # The connection's timer was armed by the first request; it must move on to the
            # deadline of the request in flight instead of firing at the first one's.
            for _ in range(3):
                await get(client, base + "/ok")
                await asyncio.sleep(0.1)
            started = loop.time()
            await expect_error(client, base + "/hang", "timeout")
            assert loop.time() - started >= 0.39
            assert client.stats["connections_opened"] == 1

    run(main)


def test_connect_timeout_budget_is_checked(run: Runner) -> None:
    async def main() -> None:
        # A real connect timeout needs an unroutable address; loopback always answers at
        # once. With no budget left the connect phase must report a timeout, not hang.
        with socket.socket() as listener:  # a listener that never accepts
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            async with HttpClient(connect_timeout=1e-9) as client:
                error = await expect_error(client, f"http://127.0.0.1:{port}/", "timeout")
                assert "connecting to" in error.message
                assert pool_open(client) == 0

    run(main)


def test_reset_mid_body(run: Runner) -> None:
    async def main() -> None:
        async def resetting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
            await writer.drain()
            await asyncio.sleep(0.05)
            rst_close(writer)

        async with serve_raw(resetting) as base, HttpClient() as client:
            await expect_error(client, base + "/", "reset")
            assert pool_open(client) == 0

    run(main)


def test_truncated_content_length_body(run: Runner) -> None:
    async def main() -> None:
        async def truncating(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
            await writer.drain()
            writer.close()

        async with serve_raw(truncating) as base, HttpClient() as client:
            error = await expect_error(client, base + "/", "reset")
            assert "mid-response" in error.message
            assert pool_open(client) == 0

    run(main)


def test_truncated_chunked_body(run: Runner) -> None:
    async def main() -> None:
        async def truncating(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            writer.close()

        async with serve_raw(truncating) as base, HttpClient() as client:
            await expect_error(client, base + "/", "reset")

    run(main)


def test_garbage_is_a_protocol_error(run: Runner) -> None:
    async def main() -> None:
        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            await writer.drain()
            await reader.read()

        async with serve_raw(garbage) as base, HttpClient() as client:
            error = await expect_error(client, base + "/", "protocol")
            assert "malformed HTTP response" in error.message
            assert pool_open(client) == 0

    run(main)


@pytest.mark.parametrize("framing", ["chunked", "until-close"])
def test_too_large_body_stops_reading(run: Runner, framing: str) -> None:
    async def main() -> None:
        total = 50 * MB
        block = b"x" * (64 * 1024)
        state: dict[str, Any] = {"sent": 0, "finished": False, "error": None}
        done = asyncio.Event()

        async def streaming(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            try:
                if framing == "chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    frame = b"%x\r\n%s\r\n" % (len(block), block)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                    frame = block
                while state["sent"] < total:
                    writer.write(frame)
                    await writer.drain()
                    state["sent"] += len(block)
                state["finished"] = True
            except ConnectionError as exc:
                state["error"] = exc
            finally:
                done.set()

        async with serve_raw(streaming) as base:
            async with HttpClient(max_response_bytes=MB) as client:
                error = await expect_error(client, base + "/", "too_large")
                assert f"exceeds {MB} bytes" in error.message
                assert pool_open(client) == 0
                await asyncio.wait_for(done.wait(), 20)
            # The client closed the connection long before the server could write 50 MB.
            assert not state["finished"]
            assert isinstance(state["error"], ConnectionError)
            assert state["sent"] < total

    run(main)


def test_too_large_declared_length_fails_at_headers(run: Runner) -> None:
    async def main() -> None:
        async def declaring(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
            await writer.drain()
            await reader.read()

        async with serve_raw(declaring) as base, HttpClient(max_response_bytes=MB) as client:
            error = await expect_error(client, base + "/", "too_large")
            assert "declares 52428800 bytes" in error.message

    run(main)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compression_bomb_over_limit(run: Runner, encoding: str) -> None:
    async def main() -> None:
        wbits = 31 if encoding == "gzip" else 15
        compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
        zeros = bytes(MB)
        bomb = b"".join(compressor.compress(zeros) for _ in range(50)) + compressor.flush()
        assert len(bomb) < MB  # the raw body is under the limit; only the decoded size is not

        async def bomb_handler(request: web.Request) -> web.Response:
            return web.Response(body=bomb, headers={"Content-Encoding": encoding})

        app = web.Application()
        app.router.add_get("/bomb", bomb_handler)
        async with serve_app(app) as base, HttpClient(max_response_bytes=MB) as client:
            error = await expect_error(client, base + "/bomb", "too_large")
            assert "decoded response" in error.message
            assert pool_open(client) == 0

    run(main)


def test_decoded_body_at_the_limit_is_accepted(run: Runner) -> None:
    async def main() -> None:
        body = bytes(MB)

        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=gzip.compress(body), headers={"Content-Encoding": "gzip"})

        app = web.Application()
        app.router.add_get("/", handler)
        async with serve_app(app) as base, HttpClient(max_response_bytes=MB) as client:
            assert (await get(client, base + "/")).body == body

    run(main)


def test_corrupt_gzip_is_a_protocol_error(run: Runner) -> None:
    async def main() -> None:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=b"\x1f\x8bnot really gzip",
                                headers={"Content-Encoding": "gzip"})

        app = web.Application()
        app.router.add_get("/", handler)
        async with serve_app(app) as base, HttpClient() as client:
            await expect_error(client, base + "/", "protocol")

    run(main)


# -- keep-alive race, retries -----------------------------------------------------------------


def test_keep_alive_race_is_retried_once(run: Runner) -> None:
    async def main() -> None:
        connections = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            first = connections == 1
            await read_request(reader)
            writer.write(ok_response(b"one"))
            await writer.drain()
            if first:
                # The next request arrives, but the server has decided to close this idle
                # connection: it goes away without a response byte.
                await read_request(reader)
                return
            for _ in range(5):
                await read_request(reader)
                writer.write(ok_response(b"two"))

        async with serve_raw(handler) as base, HttpClient() as client:
            assert (await get(client, base + "/")).body == b"one"
            response = await get(client, base + "/")
            assert response.body == b"one"  # answered on the fresh connection
            assert client.stats["retries"] == 1
            assert client.stats["connections_opened"] == 2
            assert (await get(client, base + "/")).body == b"two"
            assert pool_open(client) == 1

    run(main)


def test_idle_connection_closed_by_server_is_replaced(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(ok_response())
            await writer.drain()  # then close: the keep-alive connection dies while idle

        async with serve_raw(handler) as base, HttpClient(pool_size=1) as client:
            for _ in range(3):
                assert (await get(client, base + "/")).body == b"ok"
                await asyncio.sleep(0.05)
            assert client.stats["connections_opened"] == 3
            assert pool_open(client) <= 1

    run(main)


def test_fresh_connection_closed_early_is_not_retried(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)  # then close without answering

        async with serve_raw(handler) as base, HttpClient() as client:
            error = await expect_error(client, base + "/", "reset")
            assert "before responding" in error.message
            assert client.stats["retries"] == 0
            assert client.stats["connections_opened"] == 1

    run(main)


def test_keep_alive_race_does_not_retry_post(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(ok_response(b"one"))
            await writer.drain()
            await read_request(reader)  # the POST arrives; the server dies without answering

        async with serve_raw(handler) as base, HttpClient(pool_size=1) as client:
            assert (await get(client, base + "/")).body == b"one"
            with pytest.raises(UpstreamError) as caught:
                await client.request(UpstreamRequest("POST", base + "/", [], b"{}"))
            assert caught.value.kind == "reset"
            assert "not retried" in caught.value.message
            assert client.stats["retries"] == 0
            assert (await get(client, base + "/")).body == b"one"  # the slot was freed

    run(main)


def test_retry_happens_only_once(run: Runner) -> None:
    async def main() -> None:
        connections = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal connections
            connections += 1
            await read_request(reader)
            if connections == 1:
                writer.write(ok_response())
                await writer.drain()
                await read_request(reader)
            # every later connection closes without answering

        async with serve_raw(handler) as base, HttpClient() as client:
            await get(client, base + "/")
            await expect_error(client, base + "/", "reset")
            assert client.stats["retries"] == 1
            assert client.stats["connections_opened"] == 2
            assert pool_open(client) == 0

    run(main)


# -- lifecycle --------------------------------------------------------------------------------


def test_close_then_request_fails(run: Runner) -> None:
    async def main() -> None:
        app = web.Application()
        app.router.add_route("*", "/echo", echo)
        async with serve_app(app) as base:
            client = HttpClient()
            await get(client, base + "/echo")
            await client.close()
            await expect_error(client, base + "/echo", "closed")
            await client.close()  # idempotent

    run(main)


def test_close_fails_requests_in_flight_and_waiting(run: Runner) -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            await reader.read()

        async with serve_raw(silent) as base:
            client = HttpClient(pool_size=1)
            in_flight = asyncio.ensure_future(get(client, base + "/a"))
            waiting = asyncio.ensure_future(get(client, base + "/b"))
            await asyncio.sleep(0.1)
            await client.close()
            for task in (in_flight, waiting):
                with pytest.raises(UpstreamError) as info:
                    await task
                assert info.value.kind == "closed"

    run(main)


def test_idle_timeout_closes_connections(run: Runner) -> None:
    async def main() -> None:
        eofs = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal eofs
            try:
                while True:
                    await read_request(reader)
                    writer.write(ok_response())
            except asyncio.IncompleteReadError:
                eofs += 1

        async with serve_raw(handler) as base, HttpClient(idle_timeout=0.1) as client:
            await get(client, base + "/")
            await get(client, base + "/")
            assert client.stats["connections_opened"] == 1
            for _ in range(50):
                if eofs:
                    break
                await asyncio.sleep(0.02)
            assert eofs == 1
            assert pool_open(client) == 0
            await get(client, base + "/")
            assert client.stats["connections_opened"] == 2

    run(main)


def test_cancelled_request_releases_its_connection(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                line, _ = await read_request(reader)
                if "/slow" in line:
                    await reader.read()
                    return
                writer.write(ok_response())

        async with serve_raw(handler) as base, HttpClient(pool_size=1) as client:
            slow = asyncio.ensure_future(get(client, base + "/slow"))
            queued = asyncio.ensure_future(get(client, base + "/queued"))
            await asyncio.sleep(0.05)
            queued.cancel()  # cancelled while waiting for the pool
            slow.cancel()  # cancelled mid-exchange
            for task in (slow, queued):
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert (await get(client, base + "/ok")).body == b"ok"
            assert pool_open(client) == 1

    run(main)


def test_pool_wait_times_out(run: Runner) -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            await release.wait()
            writer.write(ok_response())

        async with serve_raw(handler) as base, HttpClient(pool_size=1) as client:
            busy = asyncio.ensure_future(get(client, base + "/"))
            await asyncio.sleep(0.05)
            client._request_timeout = 0.1  # only for requests started from now on
            error = await expect_error(client, base + "/", "timeout")
            assert "no free connection" in error.message
            release.set()
            assert (await busy).body == b"ok"
            assert pool_open(client) == 1

    run(main)


def test_no_connection_leak_after_errors(run: Runner) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                line, _ = await read_request(reader)
                path = line.split()[1]
                if path == "/ok":
                    writer.write(ok_response())
                elif path == "/404":
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                elif path == "/never":
                    await reader.read()
                    return
                elif path == "/reset":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
                    await writer.drain()
                    rst_close(writer)
                    return
                elif path == "/truncated":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc")
                    return
                elif path == "/garbage":
                    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                elif path == "/big":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + bytes(4096))
                elif path == "/silent-close":
                    return

        failures = [("/never", "timeout"), ("/reset", "reset"), ("/truncated", "reset"),
                    ("/garbage", "protocol"), ("/big", "too_large"), ("/silent-close", "reset")]
        client = HttpClient(pool_size=1, request_timeout=0.3, max_response_bytes=1024)
        async with serve_raw(handler) as base, client:
            for path, kind in failures:
                await expect_error(client, base + path, kind)
                assert pool_open(client) == 0, path
                assert (await get(client, base + "/ok")).body == b"ok"
                assert (await get(client, base + "/404")).status == 404
                assert pool_open(client) == 1
            port = free_port()
            await expect_error(client, f"http://127.0.0.1:{port}/", "connect")
            assert (await get(client, base + "/ok")).body == b"ok"

    run(main)


def test_invalid_requests_are_rejected_before_sending(run: Runner) -> None:
    async def main() -> None:
        async with HttpClient() as client:
            bad = [
                UpstreamRequest("GET", "ftp://example.com/"),
                UpstreamRequest("GET", "http://127.0.0.1:1/a b"),
                UpstreamRequest("GET", "http://127.0.0.1:1/\r\nX: y"),
                UpstreamRequest("GET", "http://127.0.0.1:99999/"),
                UpstreamRequest("GET", "http://user:pw@127.0.0.1:1/"),
                UpstreamRequest("GET", "http://127.0.0.1:1/", [("X-A", "b\r\nEvil: 1")]),
                UpstreamRequest("GET", "http://127.0.0.1:1/", [("Bad Name", "v")]),
                UpstreamRequest("GE T", "http://127.0.0.1:1/"),
            ]
            for request in bad:
                with pytest.raises(UpstreamError) as info:
                    await client.request(request)
                assert info.value.kind == "protocol", request
            assert client.stats["requests_sent"] == 0
            assert client.stats["connections_opened"] == 0

    run(main)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60)
    return cert, key


def test_https(run: Runner, self_signed: tuple[Path, Path]) -> None:
    async def main() -> None:
        cert, key = self_signed
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_route("*", "/echo", echo)
        async with serve_app(app, context) as base:
            async with HttpClient(verify_ssl=False) as client:
                for _ in range(3):
                    response = await client.request(
                        UpstreamRequest("POST", base + "/echo?tls=1", body=b"secret"))
                    assert json.loads(response.body)["body"] == "secret"
                assert client.stats["connections_opened"] == 1
            async with HttpClient(verify_ssl=True, pool_size=1) as client:
                error = await expect_error(client, base + "/echo", "connect")
                assert "TLS handshake" in error.message
                assert pool_open(client) == 0

    run(main)
