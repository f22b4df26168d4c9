"""``plait.server`` over real sockets on 127.0.0.1: GraphQL over HTTP, status codes,
keep-alive, pipelining, timeouts, malformed input, graceful shutdown and ``plait start``."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import plait
import pytest
import uvloop
from aiohttp import web
from plait import example_upstream
from plait.server import Server

from .conftest import REPO

EXAMPLE = (REPO / "examples" / "jsonplaceholder.graphql").read_text()
# The example config plus a field whose upstream answers after ?ms (for in-flight tests)
# and a custom response header.
EXTRA = """
extend type Query {
  slow(ms: Int!): String @http(url: "{{.vars.api}}/x-slow/{{.args.ms}}")
}
"""
JSON_TYPE = "application/json; charset=utf-8"
GQL_TYPE = "application/graphql-response+json; charset=utf-8"
GREET = b'{"query":"{greet}"}'
TIMEOUT = 10.0


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(min(int(request.match_info["ms"]), 5000) / 1000)
    return web.json_response("done")


@pytest.fixture(scope="module")
def upstream():
    app = example_upstream.create_app()
    app.router.add_get("/x-slow/{ms:[0-9]+}", _slow)
    server = example_upstream.ThreadedServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sdl(upstream) -> str:
    text = EXAMPLE.replace("http://127.0.0.1:3000", upstream.url)
    text = text.replace("@server(port: 8000,", '@server(port: 8000, headers: {custom: '
                        '[{key: "X-Served-By", value: "plait-test"}]},')
    assert "X-Served-By" in text
    return text + EXTRA


def run(coro: Any, timeout: float = 30.0) -> Any:
    """Run a test coroutine on uvloop, bounded in time."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def serving(sdl: str, **options: Any) -> AsyncIterator[tuple[Server, int]]:
    server = Server(plait.Engine.from_string(sdl), **options)
    host, port = await server.start("127.0.0.1", 0)
    assert host == "127.0.0.1" and port > 0
    try:
        yield server, port
    finally:
        await server.close(grace=1.0)


# -- a minimal raw HTTP/1.1 client ------------------------------------------------------------
class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers}, {self.body[:300]!r})"


async def read_response(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    return Response(status, headers, body)


async def read_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> bytes:
    """What is left before the server closes the connection (a reset counts as closed)."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


def request(method: str, target: str, body: bytes = b"", *,
            headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    fields = {"Host": "127.0.0.1"}
    if body or method == "POST":
        fields["Content-Type"] = "application/json"
        fields["Content-Length"] = str(len(body))
    fields.update(headers or {})
    head = f"{method} {target} HTTP/{version}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in fields.items() if v is not None) + "\r\n"
    return head.encode("latin-1") + body


def post(query: str, variables: Any = None, *, headers: dict[str, str] | None = None,
         path: str = "/graphql") -> bytes:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    return request("POST", path, json.dumps(payload).encode(), headers=headers)


async def exchange(port: int, raw: bytes, count: int = 1,
                   timeout: float = TIMEOUT) -> list[Response]:
    """Open a connection, send ``raw``, read ``count`` responses, close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        return [await read_response(reader, timeout) for _ in range(count)]
    finally:
        writer.close()


async def one(port: int, raw: bytes) -> Response:
    return (await exchange(port, raw))[0]


def errors_of(response: Response) -> list[str]:
    return [e["message"] for e in response.json()["errors"]]


# -- GraphQL over HTTP -------------------------------------------------------------------------
def test_post_query(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            response = await one(port, post("{greet post(id: 2) {id title user {name}}}"))
            assert response.status == 200, response
            assert response.headers["content-type"] == JSON_TYPE
            assert response.headers["x-served-by"] == "plait-test"
            assert "date" in response.headers
            data = response.json()["data"]
            assert data["greet"] == "Hello World!"
            assert data["post"]["id"] == 2 and data["post"]["user"]["name"] == "Leanne Graham"
    run(main())


def test_post_variables_and_operation_name_with_aiohttp(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port), aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/graphql"
            payload = {"query": "query A { greet } query B($n: String) { greet(name: $n) }",
                       "variables": {"n": "plait"}, "operationName": "B"}
            async with session.post(url, json=payload) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == JSON_TYPE
                assert await response.json() == {"data": {"greet": "Hello plait!"}}
            mutation = {"query": 'mutation { createPost(input: {userId: 1, title: "t", '
                                 'body: "b"}) { id title } }'}
            async with session.post(url, json=mutation) as response:
                assert response.status == 200
                assert (await response.json())["data"]["createPost"]["title"] == "t"
    run(main())


def test_get_query(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            target = ("/graphql?query=" + quote("query($n: String) { greet(name: $n) }") +
                      "&variables=" + quote('{"n":"get"}') + "&operationName=")
            response = await one(port, request("GET", target))
            assert response.status == 200, response
            assert response.json() == {"data": {"greet": "Hello get!"}}
            response = await one(port, request("GET", "/graphql?query=%7Bposts%7Bid%7D%7D"))
            assert response.status == 200 and len(response.json()["data"]["posts"]) == 100
    run(main())


def test_get_may_not_run_mutations(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            mutation = 'mutation { createPost(input: {userId: 1, title: "t", body: "b"}) { id } }'
            for accept in ("application/json", "application/graphql-response+json"):
                response = await one(port, request(
                    "GET", "/graphql?query=" + quote(mutation), headers={"Accept": accept}))
                assert response.status == 405, response
                assert response.headers["allow"] == "POST"
                assert "mutation cannot be sent with GET" in errors_of(response)[0]
            # Which operation runs decides: a document with both, selecting the query, is fine.
            both = "query Q { greet } " + mutation.replace("mutation", "mutation M")
            response = await one(port, request(
                "GET", "/graphql?query=" + quote(both) + "&operationName=Q"))
            assert response.status == 200 and response.json() == {
                "data": {"greet": "Hello World!"}}
            response = await one(port, request(
                "GET", "/graphql?query=" + quote(both) + "&operationName=M"))
            assert response.status == 405
    run(main())


def test_accept_negotiation(sdl) -> None:
    bad = "{ nope }"
    cases = [  # (Accept, expected content type, status for a request error)
        (None, JSON_TYPE, 200),
        ("*/*", JSON_TYPE, 200),
        ("application/json", JSON_TYPE, 200),
        ("application/graphql-response+json", GQL_TYPE, 400),
        ("application/graphql-response+json, application/json;q=0.9", GQL_TYPE, 400),
        ("application/graphql-response+json;q=0.5, application/json", JSON_TYPE, 200),
        ("text/plain", JSON_TYPE, 200),
    ]

    async def main() -> None:
        async with serving(sdl) as (_, port):
            for accept, content_type, status in cases:
                headers = {"Accept": accept} if accept else None
                response = await one(port, post(bad, headers=headers))
                assert (response.status, response.headers["content-type"]) == \
                    (status, content_type), (accept, response)
                assert "Cannot query field" in errors_of(response)[0]
                assert "data" not in response.json()
                ok = await one(port, post("{greet}", headers=headers))
                assert ok.status == 200 and ok.headers["content-type"] == content_type
                assert ok.json() == {"data": {"greet": "Hello World!"}}
                # GET negotiates the same way.
                response = await one(port, request("GET", "/graphql?query=" + quote(bad),
                                                    headers=headers))
                assert (response.status, response.headers["content-type"]) == \
                    (status, content_type)
    run(main())


def test_batched_requests(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port), aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/graphql"
            batch = [{"query": "{greet}"},
                     {"query": "query($id: Int!) { post(id: $id) { id } }",
                      "variables": {"id": 3}},
                     {"query": "{ nope }"},
                     {"query": 42},
                     "not an object"]
            async with session.post(url, json=batch) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == JSON_TYPE
                answers = await response.json()
            assert answers[0] == {"data": {"greet": "Hello World!"}}
            assert answers[1] == {"data": {"post": {"id": 3}}}
            assert "Cannot query field" in answers[2]["errors"][0]["message"]
            assert answers[3]["errors"][0]["message"] == "The query must be a string."
            assert "JSON object" in answers[4]["errors"][0]["message"]
            async with session.post(url, json=[]) as response:
                assert response.status == 400
            async with session.post(url, json=[{"query": "{greet}"}] * 101) as response:
                assert response.status == 400
                assert "at most 100" in (await response.json())["errors"][0]["message"]
            async with session.post(url, json=[{"query": "{slow(ms: 50)}"}] * 5,
                                    headers={"Accept": "application/graphql-response+json"}
                                    ) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == GQL_TYPE
                assert await response.json() == [{"data": {"slow": "done"}}] * 5
    run(main())


def test_status_and_health(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            for path in ("/status", "/health"):
                response = await one(port, request("GET", path))
                assert response.status == 200
                assert response.json() == {"status": "ok"}
                assert response.headers["content-type"] == JSON_TYPE
                response = await one(port, request("POST", path, b"{}"))
                assert response.status == 405
    run(main())


def test_graphiql_for_browsers(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            browser = ("text/html,application/xhtml+xml,application/xml;q=0.9,"
                       "image/avif,*/*;q=0.8")
            response = await one(port, request("GET", "/graphql", headers={"Accept": browser}))
            assert response.status == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            page = response.body.decode()
            assert "graphiql" in page.lower() and 'url: "/graphql"' in page
            # Not for API clients, and not when a query is given.
            response = await one(port, request("GET", "/graphql"))
            assert response.status == 400
            assert "no query" in errors_of(response)[0]
            response = await one(port, request("GET", "/graphql?query=%7Bgreet%7D",
                                                headers={"Accept": browser}))
            assert response.status == 200 and response.json()["data"]["greet"]
    run(main())


# -- status codes for bad requests --------------------------------------------------------------
def test_bad_request_bodies(sdl) -> None:
    cases = [
        (b'{"query": "{greet}"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"query": "{greet}"} trailing', "not valid JSON"),
        (b'{"query": "\xff\xfe"}', "not valid UTF-8"),
        (b'\xff{"query": "{greet}"}', "not valid JSON"),
        (b'{"query": "{greet}", "variables": {"x": "\xc3\x28"}}', "not valid UTF-8"),
        (b'{"query": 1}', "query must be a string"),
        (b'{"variables": {}}', "has no query"),
        (b'{"query": "{greet}", "variables": [1]}', "variables must be a JSON object"),
        (b'{"query": "{greet}", "variables": "x"}', "variables must be a JSON object"),
        (b'{"query": "{greet}", "operationName": 3}', "operationName must be a string"),
        (b'"{greet}"', "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ]

    async def main() -> None:
        async with serving(sdl) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for accept in ("application/json", "application/graphql-response+json"):
                for body, message in cases:
                    writer.write(request("POST", "/graphql", body, headers={"Accept": accept}))
                    response = await read_response(reader)
                    assert response.status == 400, (body[:40], response)
                    assert message in errors_of(response)[0], (body[:40], response)
                    assert response.headers["content-type"].startswith(accept)
            # The same connection still answers good requests.
            writer.write(post("{greet}"))
            assert (await read_response(reader)).status == 200
            writer.close()
            # GET parameters.
            for target, message in [
                ("/graphql?query=%7Bgreet%7D&variables=%7Bx", "variables parameter is not"),
                ("/graphql?query=%7Bgreet%7D&variables=%5B1%5D", "variables must be"),
                ("/graphql?query=%FF", "not valid UTF-8"),
            ]:
                response = await one(port, request("GET", target))
                assert response.status == 400 and message in errors_of(response)[0], response
    run(main())


def test_wrong_content_type_is_415(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            for content_type in ("text/plain", "application/x-www-form-urlencoded",
                                 "application/graphql", "application/json; charset=latin-1",
                                 None):
                response = await one(port, request("POST", "/graphql", GREET,
                                                    headers={"Content-Type": content_type}))
                assert response.status == 415, (content_type, response)
                assert "application/json" in errors_of(response)[0]
            for content_type in ("application/json; charset=utf-8",
                                 "Application/JSON;charset=\"UTF-8\""):
                response = await one(port, request("POST", "/graphql", GREET,
                                                    headers={"Content-Type": content_type}))
                assert response.status == 200, (content_type, response)
    run(main())


def test_unknown_path_and_method(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            for target in ("/", "/graphql/", "/GraphQL", "/graphqlx", "/nope?query=%7Bgreet%7D"):
                response = await one(port, request("GET", target))
                assert response.status == 404, target
                assert response.headers["content-type"] == JSON_TYPE
            for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
                response = await one(port, request(method, "/graphql", GREET))
                assert response.status == 405, method
                assert response.headers["allow"] == "GET, POST"
    run(main())


def test_body_limit_is_413(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port), aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/graphql"
            big = json.dumps({"query": "{greet}", "variables": {"x": "y" * 1_100_000}})
            async with session.post(url, data=big,
                                    headers={"Content-Type": "application/json"}) as response:
                assert response.status == 413
                assert "too large" in (await response.json())["errors"][0]["message"]
            # Just under the limit is fine (the unused variable is ignored).
            fits = json.dumps({"query": "{greet}", "variables": {"x": "y" * 1_000_000}})
            async with session.post(url, data=fits,
                                    headers={"Content-Type": "application/json"}) as response:
                assert response.status == 200, await response.text()
        async with serving(sdl, max_body_size=100) as (_, port):
            # Declared length over the limit: answered at the headers, the body never read.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            response = await read_response(reader)
            assert response.status == 413 and response.headers["connection"] == "close"
            assert await read_eof(reader) == b""
            writer.close()
            # A chunked body that grows over the limit.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(5):
                writer.write(b"32\r\n" + b" " * 50 + b"\r\n")
            response = await read_response(reader)
            assert response.status == 413
            writer.close()
    run(main())


def test_endless_chunked_trailers_are_cut_off(sdl) -> None:
    async def main() -> None:
        async with serving(sdl, max_body_size=1000) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: ")
            await writer.drain()
            await asyncio.sleep(0.05)  # (what arrives in one read with the head is not
            # counted: the bound is approximate by up to one read)
            for _ in range(100):  # more than the bound on body bytes (4 x limit + 64 KB)
                writer.write(b"t" * 1000)
                await writer.drain()
            response = await read_response(reader)
            assert response.status == 413, response
            writer.close()
    run(main())


def test_chunked_request_body(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = (b'{"query": "query($n: String) { greet(name: $n) }", '
                    b'"variables": {"n": "chunks"}}')
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in range(0, len(body), 7):
                piece = body[start:start + 7]
                writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.001)
            writer.write(b"0\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 200, response
            assert response.json() == {"data": {"greet": "Hello chunks!"}}
            writer.write(post("{greet}"))  # and the connection goes on
            assert (await read_response(reader)).json() == {"data": {"greet": "Hello World!"}}
            writer.close()
    run(main())


def test_long_url_is_414_and_big_headers_431(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            target = "/graphql?query=" + quote("{greet}") + "&x=" + "a" * 70_000
            response = await one(port, request("GET", target))
            assert response.status == 414, response
            # Just under 64 KB is fine.
            target = "/graphql?query=" + quote("{greet}") + "&x=" + "a" * 60_000
            assert (await one(port, request("GET", target))).status == 200
            many = {f"X-Header-{i}": "v" * 100 for i in range(200)}
            response = await one(port, post("{greet}", headers=many))
            assert response.status == 431, response
            huge = {"X-Huge": "v" * 200_000}
            response = await one(port, post("{greet}", headers=huge))
            assert response.status == 431, response
            # A header section that never ends is cut off too (httptools alone buffers it).
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /graphql HTTP/1.1\r\nX-Endless: ")
            for _ in range(20):
                writer.write(b"v" * 10_000)
            await writer.drain()
            response = await read_response(reader)
            assert response.status == 431
            writer.close()
            # Up to 16 KB of headers is fine.
            fits = {f"X-Header-{i}": "v" * 100 for i in range(100)}
            assert (await one(port, post("{greet}", headers=fits))).status == 200
    run(main())


def test_malformed_http_is_400_and_closes(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                            (b"POST /graphql HTTP/1.1\r\nContent-Length: 5\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                            b"GET /graphql HTTP/1.1\r\nBad Header\r\n\r\n"):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(garbage)
                response = await read_response(reader)
                assert response.status == 400, (garbage, response)
                assert response.headers["connection"] == "close"
                assert await read_eof(reader) == b""
                writer.close()
            # The server is still fine.
            assert (await one(port, post("{greet}"))).status == 200
    run(main())


def test_absolute_form_target_and_access_log(sdl, caplog) -> None:
    caplog.set_level("INFO", logger="plait.access")

    async def main() -> None:
        async with serving(sdl) as (_, port):
            response = await one(port, request(
                "GET", f"http://127.0.0.1:{port}/graphql?query=%7Bgreet%7D"))
            assert response.status == 200, response
            assert response.json() == {"data": {"greet": "Hello World!"}}
            assert (await one(port, request("GET", "/nope"))).status == 404
    run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "plait.access"]
    assert len(lines) == 2
    assert "method=GET" in lines[0] and "status=200" in lines[0] and "ms=" in lines[0]
    assert "target=/nope status=404" in lines[1]


def test_handler_exceptions_become_500(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (server, port):
            real_start = server.engine.start

            def broken_sync(query: str, *args: Any, **options: Any) -> Any:
                if "boom" in query:
                    raise RuntimeError("boom")
                return real_start(query, *args, **options)

            async def broken_async(query: str, *args: Any, **_options: Any) -> Any:
                if "late" in query:
                    await asyncio.sleep(0.01)
                    raise RuntimeError("late boom")
                if "early" in query:
                    raise ValueError("early boom")
                # Not `real` (execute): it calls engine.start, which is this function now.
                started = real_start(query, *args)
                return started if type(started) is plait.ExecutionResult else await started

            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for broken, queries in ((broken_sync, ["{boom}"]),
                                    (broken_async, ["{late}", "{early}"])):
                server.engine.start = broken  # type: ignore[method-assign]
                for query in queries:
                    writer.write(post(query))
                    response = await read_response(reader)
                    assert response.status == 500, response
                    assert errors_of(response) == ["Internal server error."]
                    assert "connection" not in response.headers
                    writer.write(post("{greet}"))  # the same connection keeps working
                    response = await read_response(reader)
                    assert response.status == 200, response
            server.engine.start = real_start  # type: ignore[method-assign]
            server.engine.execute = broken_async  # type: ignore[method-assign]
            writer.write(request("POST", "/graphql",
                                 json.dumps([{"query": "{late}"}, {"query": "{greet}"}]).encode()))
            response = await read_response(reader)
            assert response.status == 200
            assert response.json() == [{"errors": [{"message": "Internal server error.",
                                                    "extensions": {
                                                        "code": "INTERNAL_SERVER_ERROR"}}]},
                                       {"data": {"greet": "Hello World!"}}]
            writer.close()
    run(main())


# -- connections --------------------------------------------------------------------------------
def test_keep_alive_reuses_one_connection(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (server, port):
            connector = aiohttp.TCPConnector(limit=1)
            async with aiohttp.ClientSession(connector=connector) as session:
                url = f"http://127.0.0.1:{port}/graphql"
                for i in range(20):
                    async with session.post(url, json={
                            "query": "query($n: String) { greet(name: $n) }",
                            "variables": {"n": str(i)}}) as response:
                        assert await response.json() == {"data": {"greet": f"Hello {i}!"}}
                    assert len(server.connections) == 1
            # Raw: several requests one after the other on one socket, GET and POST mixed.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(10):
                writer.write(post("{greet}") if i % 2 else
                             request("GET", "/graphql?query=%7Bgreet%7D"))
                response = await read_response(reader)
                assert response.status == 200 and "connection" not in response.headers
            writer.close()
    run(main())


def test_pipelined_requests_answer_in_order(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            # A slow request first: the fast ones behind it must wait for their turn.
            raw = post("{slow(ms: 300)}") + b"".join(
                post(f'{{greet(name: "n{i}")}}') for i in range(5)) + \
                request("GET", "/health") + post("{slow(ms: 20)}") + post("{ nope }")
            responses = await exchange(port, raw, 9)
            assert responses[0].json() == {"data": {"slow": "done"}}
            assert [r.json()["data"]["greet"] for r in responses[1:6]] == \
                [f"Hello n{i}!" for i in range(5)]
            assert responses[6].json() == {"status": "ok"}
            assert responses[7].json() == {"data": {"slow": "done"}}
            assert "Cannot query field" in errors_of(responses[8])[0]
            # Many at once, more than a connection keeps pending: reading pauses, resumes.
            count = 150
            raw = b"".join(post(f'{{slow(ms: {i % 7}) greet(name: "p{i}")}}')
                           for i in range(count))
            responses = await exchange(port, raw, count)
            assert [r.json()["data"]["greet"] for r in responses] == \
                [f"Hello p{i}!" for i in range(count)]
            # Pipelined all-synchronous answers, split at arbitrary byte boundaries.
            raw = b"".join(post(f'{{greet(name: "s{i}")}}') for i in range(50))
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for start in range(0, len(raw), 97):
                writer.write(raw[start:start + 97])
                await writer.drain()
            answers = [await read_response(reader) for _ in range(50)]
            assert [r.json()["data"]["greet"] for r in answers] == \
                [f"Hello s{i}!" for i in range(50)]
            writer.close()
    run(main())


def test_connection_close_and_http10(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            # A request after "Connection: close" is not answered.
            writer.write(post("{greet}", headers={"Connection": "close"}) + post("{greet}"))
            response = await read_response(reader)
            assert response.status == 200 and response.headers["connection"] == "close"
            assert await read_eof(reader) == b""
            writer.close()
            # HTTP/1.0: closes by default, keeps alive when asked.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request("GET", "/graphql?query=%7Bgreet%7D", version="1.0"))
            response = await read_response(reader)
            assert response.status == 200 and response.headers["connection"] == "close"
            assert await read_eof(reader) == b""
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(2):
                writer.write(request("GET", "/graphql?query=%7Bgreet%7D", version="1.0",
                                     headers={"Connection": "keep-alive"}))
                response = await read_response(reader)
                assert response.status == 200
                assert response.headers["connection"] == "keep-alive"
            writer.close()
            # A client that half-closes after its request still gets the answer.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("{slow(ms: 50)}"))
            writer.write_eof()
            response = await read_response(reader)
            assert response.json() == {"data": {"slow": "done"}}
            assert await read_eof(reader) == b""
            writer.close()
    run(main())


def test_upgrade_is_ignored(sdl) -> None:
    """curl --http2 asks for h2c with its POST body; plait answers in HTTP/1.1."""
    h2c = {"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c",
           "HTTP2-Settings": "AAMAAABkAAQCAAAAAAIAAAAA"}

    async def main() -> None:
        async with serving(sdl) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("{greet}", headers=h2c))
            response = await read_response(reader)
            assert response.status == 200, response
            assert response.json() == {"data": {"greet": "Hello World!"}}
            # The connection goes on, with pipelined and upgrade-asking requests mixed.
            writer.write(request("GET", "/graphql?query=%7Bgreet%7D", headers=h2c) +
                         post('{greet(name: "a")}') + post('{greet(name: "b")}', headers=h2c))
            answers = [await read_response(reader) for _ in range(3)]
            assert [a.json()["data"]["greet"] for a in answers] == \
                ["Hello World!", "Hello a!", "Hello b!"]
            # Too many in one read is refused rather than parsed over and over.
            writer.write(b"".join(post("{greet}", headers=h2c) for _ in range(20)))
            statuses = []
            while True:
                response = await read_response(reader)
                statuses.append(response.status)
                if response.headers.get("connection") == "close":
                    break
            assert statuses[-1] == 400 and set(statuses[:-1]) == {200}
            writer.close()
            # CONNECT is answered, then the connection ends.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 400 and response.headers["connection"] == "close"
            assert await read_eof(reader) == b""
            writer.close()
    run(main())


def test_expect_100_continue(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(GREET))
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(GREET)
            response = await read_response(reader)
            assert response.json() == {"data": {"greet": "Hello World!"}}
            writer.close()
    run(main())


def test_slow_clients_are_timed_out_while_others_are_served(sdl) -> None:
    async def main() -> None:
        async with serving(sdl, request_timeout=0.5, keepalive_timeout=0.8) as (server, port):
            # Headers that never end.
            head_reader, head_writer = await asyncio.open_connection("127.0.0.1", port)
            head_writer.write(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: app")
            # A body that never ends.
            body_reader, body_writer = await asyncio.open_connection("127.0.0.1", port)
            body_writer.write(request("POST", "/graphql", GREET,
                                      headers={"Content-Length": "100"})[:-5])
            # A connection that never sends a byte.
            mute_reader, mute_writer = await asyncio.open_connection("127.0.0.1", port)
            # A slow but steady sender is cut off too: the timeout bounds the whole request.
            drip_reader, drip_writer = await asyncio.open_connection("127.0.0.1", port)

            async def drip() -> None:
                for byte in post("{greet}"):
                    drip_writer.write(bytes([byte]))
                    await asyncio.sleep(0.05)
                    if drip_writer.is_closing():
                        return

            dripping = asyncio.ensure_future(drip())
            # Meanwhile everyone else is served.
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/graphql"
                for _ in range(20):
                    async with session.post(url, json={"query": "{greet}"}) as response:
                        assert response.status == 200
                    await asyncio.sleep(0.02)
            for reader in (head_reader, body_reader):
                response = await read_response(reader, timeout=3)
                assert response.status == 408, response
                assert response.headers["connection"] == "close"
                assert await read_eof(reader, timeout=3) == b""
            assert await read_eof(mute_reader, timeout=3) == b""
            # The dripping client keeps writing after the server answered 408 and closed;
            # TCP may then reset the connection and drop the unread answer on the client
            # side, so either outcome shows it was cut off (it is never served).
            try:
                response = await read_response(drip_reader, timeout=3)
            except ConnectionResetError:
                pass
            else:
                assert response.status == 408, response
                assert response.headers["connection"] == "close"
            dripping.cancel()
            # An idle keep-alive connection is closed after keepalive_timeout.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(post("{greet}"))
            assert (await read_response(reader)).status == 200
            idle_since = time.monotonic()
            assert await read_eof(reader, timeout=3) == b""
            assert 0.5 < time.monotonic() - idle_since < 3
            for w in (head_writer, body_writer, mute_writer, drip_writer, writer):
                w.close()
            await asyncio.sleep(0.05)
            assert not server.connections
    run(main())


def test_many_concurrent_clients(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (_, port), aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=50)) as session:
            url = f"http://127.0.0.1:{port}/graphql"

            async def client(i: int) -> None:
                for j in range(5):
                    query = "{posts{id}}" if (i + j) % 5 == 0 else \
                        f'{{greet(name: "{i}-{j}")}}'
                    async with session.post(url, json={"query": query}) as response:
                        body = await response.json()
                        assert response.status == 200, body
                        if "greet" in query:
                            assert body == {"data": {"greet": f"Hello {i}-{j}!"}}
                        else:
                            assert len(body["data"]["posts"]) == 100

            await asyncio.gather(*(client(i) for i in range(50)))
    run(main())


# -- graceful shutdown --------------------------------------------------------------------------
def test_close_lets_in_flight_requests_finish(sdl) -> None:
    async def main() -> None:
        server = Server(plait.Engine.from_string(sdl))
        _, port = await server.start("127.0.0.1", 0)
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_writer.write(post("{greet}"))
        assert (await read_response(idle_reader)).status == 200
        busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
        busy_writer.write(post("{slow(ms: 600)}"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        closing = asyncio.ensure_future(server.close(grace=5))
        await asyncio.sleep(0.05)
        with pytest.raises(OSError):  # no longer accepting
            await asyncio.open_connection("127.0.0.1", port)
        assert await read_eof(idle_reader, timeout=2) == b""  # idle: closed at once
        response = await read_response(busy_reader)  # in flight: answered
        assert response.status == 200 and response.json() == {"data": {"slow": "done"}}
        assert response.headers["connection"] == "close"
        assert await read_eof(busy_reader) == b""
        await asyncio.wait_for(closing, 5)
        assert time.monotonic() - started < 2
        for writer in (idle_writer, busy_writer):
            writer.close()
    run(main())


def test_close_gives_up_after_the_grace_period(sdl) -> None:
    async def main() -> None:
        server = Server(plait.Engine.from_string(sdl))
        _, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(post("{slow(ms: 2000)}"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await asyncio.wait_for(server.close(grace=0.3), 5)
        assert time.monotonic() - started < 1.5
        assert await read_eof(reader, timeout=2) == b""
        writer.close()
    run(main())


# -- plait start ----------------------------------------------------------------------------------
def _start(config: Path, *args: str) -> tuple[subprocess.Popen[str], int, str]:
    """Run ``plait start CONFIG --port 0 ARGS``; wait for its address line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "plait", "start", str(config), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    lines = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        if not select.select([process.stdout], [], [], 0.5)[0]:
            if process.poll() is not None:
                break
            continue
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on http://127\.0\.0\.1:(\d+)/graphql", line)
        if found:
            return process, int(found.group(1)), "".join(lines)
    process.kill()
    _, err = process.communicate(timeout=10)
    raise AssertionError(f"plait start did not come up: {lines} {err}")


def _query(port: int, query: str, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps({"query": query}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
    return process.returncode, out, err


@pytest.mark.parametrize("workers", [1, 2])
def test_plait_start_serves_and_stops_on_sigterm(sdl, tmp_path: Path, workers: int) -> None:
    config = tmp_path / "config.graphql"
    config.write_text(sdl)
    process, port, printed = _start(config, "--workers", str(workers))
    try:
        for _ in range(4):
            assert _query(port, "{greet}") == (200, {"data": {"greet": "Hello World!"}})
        assert _query(port, "{post(id: 1) {user {name}}}") == \
            (200, {"data": {"post": {"user": {"name": "Leanne Graham"}}}})
        # SIGTERM while a request is in flight: it is still answered.
        answer: dict[str, Any] = {}

        def slow() -> None:
            answer["result"] = _query(port, "{slow(ms: 700)}")

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.3)
    finally:
        code, out, err = _stop(process)
    thread.join(10)
    assert code == 0, (out, err)
    assert answer["result"] == (200, {"data": {"slow": "done"}})
    assert f"config {config}: 7 types, 34 fields" in printed
    assert f"({workers} worker" in printed
    with pytest.raises(OSError):
        _query(port, "{greet}", timeout=2)


def test_plait_start_rejects_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.graphql"
    config.write_text("schema { query: Query }\ntype Query { a: Strin }\n")
    completed = subprocess.run(
        [sys.executable, "-m", "plait", "start", str(config), "--port", "0"], check=False,
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert completed.returncode == 1
    check = subprocess.run([sys.executable, "-m", "plait", "check", str(config)],
                           check=False, capture_output=True, text=True, timeout=60, cwd=REPO)
    diagnostics = [line for line in check.stderr.splitlines() if line.startswith(str(config))]
    assert diagnostics and all(line in completed.stderr for line in diagnostics)
    assert "listening" not in completed.stdout


def test_plait_start_help() -> None:
    completed = subprocess.run([sys.executable, "-m", "plait", "start", "--help"],
                               check=False, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert completed.returncode == 0
    for option in ("--host", "--port", "--workers", "--log-level", "CONFIG"):
        assert option in completed.stdout


def test_a_graphql_client_can_query_the_server(sdl) -> None:
    """A third-party client (gql over aiohttp) talks to plait as to any GraphQL server,
    including schema fetching through introspection."""
    from gql import Client, gql
    from gql.transport.aiohttp import AIOHTTPTransport

    async def main() -> None:
        async with serving(sdl) as (_server, port):
            transport = AIOHTTPTransport(url=f"http://127.0.0.1:{port}/graphql")
            async with Client(transport=transport,
                              fetch_schema_from_transport=True) as session:
                query = gql("query($id: Int!) { post(id: $id) { id title user { name } } }")
                query.variable_values = {"id": 2}
                result = await session.execute(query)
                assert result == {"post": {"id": 2, "title": "qui est esse",
                                           "user": {"name": "Leanne Graham"}}}
                assert session.client.schema is not None
                assert session.client.schema.query_type.name == "Query"

    run(main())


def test_cors_preflight_and_simple_requests(sdl) -> None:
    cors_sdl = sdl.replace(
        "headers: {custom:",
        'headers: {cors: {allowOrigins: ["https://app.example"], '
        'allowCredentials: true, exposeHeaders: ["x-trace"], maxAge: 600}, custom:')
    assert cors_sdl != sdl

    async def main() -> None:
        async with serving(cors_sdl) as (_server, port):
            preflight = await one(port, request("OPTIONS", "/graphql", headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization"}))
            assert preflight.status == 204 and preflight.body == b""
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            assert preflight.headers["access-control-allow-credentials"] == "true"
            assert preflight.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
            assert preflight.headers["access-control-allow-headers"] == \
                "content-type, authorization"
            assert preflight.headers["access-control-max-age"] == "600"
            assert preflight.headers["vary"] == "Origin"
            simple = await one(port, post("{ greet }",
                                          headers={"Origin": "https://app.example"}))
            assert simple.status == 200 and simple.json() == {"data": {"greet": "Hello World!"}}
            assert simple.headers["access-control-allow-origin"] == "https://app.example"
            assert simple.headers["access-control-expose-headers"] == "x-trace"
            stranger = await one(port, post("{ greet }",
                                            headers={"Origin": "https://evil.example"}))
            assert stranger.status == 200
            assert "access-control-allow-origin" not in stranger.headers

    run(main())


def test_cache_control_from_the_smallest_max_age(sdl) -> None:
    cached = sdl.replace("headers: {custom:", "headers: {cacheControl: true, custom:")
    cached = cached.replace('posts: [Post] @http(url: "{{.vars.api}}/posts")',
                            'posts: [Post] @http(url: "{{.vars.api}}/posts") '
                            "@cache(maxAge: 60000)")
    cached = cached.replace("type User @addField", "type User @cache(maxAge: 5000) @addField")
    assert "maxAge: 5000" in cached and "maxAge: 60000" in cached

    async def main() -> None:
        async with serving(cached) as (_server, port):
            posts = await one(port, post("{ posts { id } }"))
            assert posts.headers["cache-control"] == "public, max-age=60"
            with_users = await one(port, post("{ posts { id user { name } } }"))
            assert with_users.headers["cache-control"] == "public, max-age=5"
            plain = await one(port, post("{ greet }"))
            assert "cache-control" not in plain.headers
            failing = await one(port, post("{ post(id: 999) { id } }"))
            assert failing.headers["cache-control"] == "no-store"
            # An answer made with a forwarded credential is for that client only.
            mine = await one(port, post("{ posts { id } }",
                                        headers={"Authorization": "Bearer alice"}))
            assert mine.headers["cache-control"] == "private, max-age=60"

    run(main())


def test_plait_start_body_limit_is_configurable(sdl, tmp_path: Path) -> None:
    config = tmp_path / "config.graphql"
    config.write_text(sdl)
    process, port, _printed = _start(config, "--workers", "1", "--max-body-size", "200")
    try:
        assert _query(port, "{greet}") == (200, {"data": {"greet": "Hello World!"}})
        with pytest.raises(urllib.error.HTTPError) as refused:
            _query(port, "{greet" + " " * 300 + "}")
        assert refused.value.code == 413
        assert json.loads(refused.value.read())["errors"][0]["message"]
    finally:
        code, out, err = _stop(process)
    assert code == 0, (out, err)


# -- upstream response headers: setCookies, experimental, cacheControl, httpCache ------------
_HEADERED = {
    "a": {"cache-control": "public, max-age=120", "set-cookie": "a=1; Path=/",
          "x-trace": "t-a"},
    "b": {"cache-control": "private, max-age=30", "set-cookie": "b=2; Path=/"},
    "c": {"cache-control": "no-store"},
    "d": {},
    "e": {"cache-control": "max-age=20"},
}


async def _raw_head(port: int, raw: bytes) -> tuple[list[tuple[str, str]], Any]:
    """Every header line of the answer (repeats kept) and its JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = [line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:]
                 if line]
        fields = [(name.strip().lower(), value.strip()) for name, _, value in lines]
        length = int(dict(fields)["content-length"])
        body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
        return fields, json.loads(body)
    finally:
        writer.close()


def test_upstream_headers_reach_the_client_and_bound_cache_control() -> None:
    """``setCookies`` passes each ``Set-Cookie`` of the exchanges the request made itself
    (never one replayed from a cache), ``experimental`` the listed headers; with
    ``cacheControl`` the upstreams' max-age (what is left of it) and ``private`` bound the
    response with ``@cache``, and ``no-store`` wins. ``httpCache`` reuses the public GET."""
    from collections import Counter

    hits: Counter[str] = Counter()

    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        hits[name] += 1
        return web.json_response({"id": hits[name]}, headers=_HEADERED[name])

    app = web.Application()
    app.router.add_get("/h/{name}", handler)
    upstream = example_upstream.ThreadedServer(app).start()
    base = upstream.url
    sdl = f"""
schema @server(headers: {{cacheControl: true, setCookies: true, experimental: ["X-Trace"]}})
  @upstream(httpCache: 10) {{ query: Query }}
type T {{ id: Int }}
type Query {{
  a: T @http(url: "{base}/h/a")
  b: T @http(url: "{base}/h/b")
  c: T @http(url: "{base}/h/c")
  d: T @http(url: "{base}/h/d")
  e: T @http(url: "{base}/h/e") @cache(maxAge: 60000)
  f: T @http(url: "{base}/h/a?f") @cache(maxAge: 10000)
}}
"""

    def named(fields: list[tuple[str, str]], name: str) -> list[str]:
        return [value for key, value in fields if key == name]

    async def main() -> None:
        async with serving(sdl) as (_server, port):
            fields, body = await _raw_head(port, post("{ a { id } b { id } }"))
            assert body == {"data": {"a": {"id": 1}, "b": {"id": 1}}}
            assert named(fields, "set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
            assert named(fields, "x-trace") == ["t-a"]
            assert named(fields, "cache-control") == ["private, max-age=30"]
            # /h/a again: from the HTTP cache, so no Set-Cookie (it was for the first
            # client), the same trace header, and what is left of the 120 s.
            fields, body = await _raw_head(port, post("{ a { id } }"))
            assert body == {"data": {"a": {"id": 1}}} and hits["a"] == 1
            assert named(fields, "set-cookie") == [] and named(fields, "x-trace") == ["t-a"]
            assert named(fields, "cache-control") in (["public, max-age=120"],
                                                      ["public, max-age=119"])
            fields, _ = await _raw_head(port, post("{ a { id } c { id } }"))
            assert named(fields, "cache-control") == ["no-store"]
            fields, _ = await _raw_head(port, post("{ c { id } }"))
            assert named(fields, "cache-control") == ["no-store"] and hits["c"] == 2
            fields, _ = await _raw_head(port, post("{ d { id } }"))
            assert named(fields, "cache-control") == []
            fields, _ = await _raw_head(port, post("{ e { id } }"))
            assert named(fields, "cache-control") == ["public, max-age=20"]
            # @cache(maxAge: 10000) under the upstream's 120 s; the answer sets a cookie,
            # so the response is for this client only.
            fields, _ = await _raw_head(port, post("{ f { id } }"))
            assert named(fields, "set-cookie") == ["a=1; Path=/"]
            assert named(fields, "cache-control") == ["private, max-age=10"]

    try:
        run(main())
    finally:
        upstream.stop()


# -- cooperative yield --------------------------------------------------------------------------
@pytest.mark.parametrize("yield_cpu", [True, False])
def test_the_cpu_is_given_up_after_busy_loop_turns_only(sdl, monkeypatch, yield_cpu) -> None:
    """With ``yield_cpu`` a worker calls sched_yield after loop turns that read requests
    (at most once a millisecond), never while idle; without it, never."""
    import plait.server as server_module

    calls: list[float] = []
    real = server_module._sched_yield
    assert real is not None

    def counting() -> None:
        calls.append(time.monotonic())
        real()

    monkeypatch.setattr(server_module, "_sched_yield", counting)

    async def main() -> None:
        async with serving(sdl, yield_cpu=yield_cpu) as (server, port):
            assert server.yield_cpu is yield_cpu
            # 20 pipelined requests, read in one loop turn: one yield, not 20
            answers = await exchange(port, post("{greet}") * 20, count=20)
            assert [a.status for a in answers] == [200] * 20
            assert len(calls) == (1 if yield_cpu else 0)
            await asyncio.sleep(0.3)
            assert len(calls) == (1 if yield_cpu else 0)  # idle: no yield, no busy loop
            for _ in range(5):  # turns 5 ms apart, over the 1 ms interval: one yield each
                await asyncio.sleep(0.005)
                assert (await one(port, post("{greet}"))).status == 200
            assert len(calls) == (6 if yield_cpu else 0)

    run(main())
