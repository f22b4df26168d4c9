"""The server's compiled fast path (``plait._fastpath``) over real sockets: it answers
exactly as the general path does, and hands every request it does not fully understand
to the general parser untouched."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import plait
import pytest
from plait.server import Server

from .test_server import TIMEOUT, exchange, one, post, read_response, request, run, serving
from .test_server import sdl as sdl  # noqa: F401 - the module's config fixture
from .test_server import upstream as upstream  # noqa: F401 - its upstream

pytestmark = pytest.mark.skipif(
    __import__("plait.engine", fromlist=["x"]).extensions_disabled(),
    reason="PLAIT_NO_EXTENSIONS=1: the server runs without its compiled fast path")

GREET = post("{greet}")


def _comparable(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k != "date"}
    return response.status, headers, response.body


async def _both(sdl: str, raw: bytes, count: int = 1) -> tuple[list[Any], list[Any], Server]:
    """The answers of a server with the fast path and of one without, to the same bytes."""
    async with serving(sdl) as (fast, fast_port), \
            serving(sdl, fast_path=False) as (general, general_port):
        assert fast.fast is not None and general.fast is None
        fast_answers = await exchange(fast_port, raw, count)
        general_answers = await exchange(general_port, raw, count)
        return ([_comparable(a) for a in fast_answers],
                [_comparable(a) for a in general_answers], fast)


def test_fast_and_general_paths_answer_alike(sdl) -> None:
    requests = [
        GREET, GREET,  # the second from the constant memo
        post("{greet}", headers={"Accept": "application/graphql-response+json"}),
        post('query($n: String) { greet(name: $n) }', {"n": "vars"}),
        post("{ nope }"),  # a validation error
        post("{ slow(ms: 1) }"),  # an upstream call
        post("{greet}", headers={"Content-Type": "Application/JSON; charset=UTF-8",
                                 "connection": "keep-alive", "X-Extra": "  spaced  "}),
        request("POST", "/graphql", b'{"query":"{greet}","extensions":{"a":1}}'),
        request("POST", "/graphql", b'{"query": 1}'),  # wrong shape: the general path
        request("POST", "/graphql", b'[{"query":"{greet}"}]'),  # a batch
        request("POST", "/graphql", b'{"query":"{greet}"'),  # bad JSON
    ]

    async def main() -> None:
        for raw in requests:
            fast, general, _ = await _both(sdl, raw + raw, 2)
            assert fast == general, raw
            assert fast[0][0] in (200, 400)

    run(main())


def test_simple_requests_are_read_by_the_fast_path(sdl) -> None:
    async def main() -> None:
        async with serving(sdl) as (server, port):
            answers = await exchange(port, GREET * 3 + post("{ slow(ms: 1) }"), 4)
            assert [a.json()["data"] for a in answers] == \
                [{"greet": "Hello World!"}] * 3 + [{"slow": "done"}]
            assert server.fast.handled == 4
            assert len(server.fast.constants) == 1  # {greet}; the upstream call is not
            accept = post("{greet}", headers={"Accept": "application/graphql-response+json"})
            await exchange(port, accept * 2, 2)
            assert server.fast.handled == 6
            assert len(server.fast.constants) == 2  # one per Accept value

    run(main())


@pytest.mark.parametrize("raw", [
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n13\r\n{\"query\":\"{greet}\"}\r\n0\r\n\r\n",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 19\r\nContent-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 19\r\nX-Folded: a\r\n b\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\nHost: x\nContent-Type: application/json\n"
    b"Content-Length: 19\n\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.0\r\nContent-Type: application/json\r\n"
    b"Content-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
    b"application/json\r\nContent-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 19\r\n\r\n{\"query\":\"{greet}\"}",
    b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: +19\r\n\r\n{\"query\":\"{greet}\"}",
], ids=["chunked", "repeated-length", "obs-fold", "bare-lf", "http10", "connection-close",
        "query-string", "text-plain", "bad-field-name", "signed-length"])
def test_unusual_requests_take_the_general_path(sdl, raw: bytes) -> None:
    async def main() -> None:
        async with serving(sdl) as (fast, fast_port), \
                serving(sdl, fast_path=False) as (_, general_port):
            answers = []
            for port in (fast_port, general_port):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(raw)
                answers.append(_comparable(await read_response(reader, TIMEOUT)))
                writer.close()
            assert answers[0] == answers[1]
            assert fast.fast.handled == 0

    run(main())


def test_pipelined_mix_keeps_order_and_split_requests_wait(sdl) -> None:
    body = b'{"query":"{greet(name: \\"c\\")}"}'
    chunked = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(body), body))
    raw = GREET + post("{ slow(ms: 50) }") + GREET + chunked + post('{greet(name: "z")}')

    async def main() -> None:
        async with serving(sdl) as (_, port):
            answers = await exchange(port, raw, 5)
            assert [a.json()["data"] for a in answers] == [
                {"greet": "Hello World!"}, {"slow": "done"}, {"greet": "Hello World!"},
                {"greet": "Hello c!"}, {"greet": "Hello z!"}]
            # A request arriving in pieces: nothing is answered before it is complete.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for piece in (GREET[:10], GREET[10:60], GREET[60:-3], GREET[-3:]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)
            assert (await read_response(reader)).json() == {"data": {"greet": "Hello World!"}}
            writer.close()

    run(main())


def test_access_logging_and_no_extensions_use_the_general_path(sdl, monkeypatch) -> None:
    async def main() -> None:
        engine = plait.Engine.from_string(sdl)
        assert Server(engine).fast is not None
        assert Server(engine, fast_path=False).fast is None
        access = logging.getLogger("plait.access")
        level = access.level
        access.setLevel(logging.INFO)  # --log-level info: every exchange is timed
        try:
            assert Server(engine).fast is None
        finally:
            access.setLevel(level)
        monkeypatch.setenv("PLAIT_NO_EXTENSIONS", "1")
        assert Server(engine).fast is None
        await engine.close()

    run(main())


def test_cors_origins_take_the_general_path(sdl) -> None:
    cors = sdl.replace("headers: {custom:",
                       'headers: {cors: {allowOrigins: ["https://a.example"]}, custom:')
    assert cors != sdl

    async def main() -> None:
        async with serving(cors) as (server, port):
            answer = (await exchange(port, post("{greet}",
                                                headers={"Origin": "https://a.example"})))[0]
            assert answer.headers["access-control-allow-origin"] == "https://a.example"
            assert server.fast.handled == 0
            await exchange(port, GREET)
            assert server.fast.handled == 1
        assert json.loads(answer.body) == {"data": {"greet": "Hello World!"}}

    run(main())



# -- identical requests joining a running shared execution (server._Gathering) ------------
SHARED_SDL = """
schema @server(port: 8000) @upstream(timeout: 10) { query: Query }
type Query {
  shared(ms: Int!): String @http(url: "UPSTREAM/wait/{{.args.ms}}", dedupe: true)
  failing(ms: Int!): String @http(url: "UPSTREAM/fail/{{.args.ms}}", dedupe: true)
}
"""
TENANT_SDL = """
schema @server(port: 8000) @upstream(timeout: 10) { query: Query }
type Query {
  tenant: String @http(url: "UPSTREAM/wait/200?t={{.headers.x-tenant}}", dedupe: true)
}
"""


@pytest.fixture(scope="module")
def counting_upstream():
    """Answers after ?ms; counts the requests per path (and tenant)."""
    from aiohttp import web
    from plait import example_upstream

    hits: dict[str, int] = {}

    async def wait(request: web.Request) -> web.Response:
        key = request.path_qs
        hits[key] = hits.get(key, 0) + 1
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.json_response(f"waited {request.query.get('t', '')}".strip())

    async def fail(request: web.Request) -> web.Response:
        hits[request.path] = hits.get(request.path, 0) + 1
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.Response(status=502, text="bad gateway")

    app = web.Application()
    app.router.add_get("/wait/{ms:[0-9]+}", wait)
    app.router.add_get("/fail/{ms:[0-9]+}", fail)
    server = example_upstream.ThreadedServer(app).start()
    yield server, hits
    server.stop()


@pytest.fixture
def shared_sdl(counting_upstream) -> str:
    """SHARED_SDL pointed at the counting upstream."""
    return SHARED_SDL.replace("UPSTREAM", counting_upstream[0].url)


@pytest.fixture
def hits(counting_upstream) -> dict[str, int]:
    """The counting upstream's requests per path (shared by the module's tests)."""
    return counting_upstream[1]


async def _together(port: int, raw: bytes, joiners: int, after: float = 0.05,
                    count: int = 1) -> list[list[Any]]:
    """One connection sends ``raw``; ``after`` seconds later ``joiners`` more send it too
    (while the first is still running); every answer, per connection."""
    first = asyncio.ensure_future(exchange(port, raw, count))
    await asyncio.sleep(after)
    rest = await asyncio.gather(*(exchange(port, raw, count) for _ in range(joiners)))
    return [await first, *rest]


def test_identical_requests_join_one_running_execution(shared_sdl, hits) -> None:
    raw = post("{ shared(ms: 400) }")

    async def main() -> None:
        async with serving(shared_sdl) as (server, port), \
                serving(shared_sdl, fast_path=False) as (_, general_port):
            assert server.gather
            before = hits.get("/wait/400", 0)
            task = asyncio.ensure_future(_together(port, raw, 12))
            await asyncio.sleep(0.25)
            assert len(server.fast.gatherings) == 1  # the 12 wait with the first
            answers = [_comparable(a) for conn in await task for a in conn]
            assert hits["/wait/400"] == before + 1  # one execution for all 13
            assert server.fast.gatherings == {}
            assert server.fast.handled == 13
            general = _comparable(await one(general_port, raw))
            assert answers == [general] * 13
            assert general[0] == 200 and json.loads(general[2]) == \
                {"data": {"shared": "waited"}}

    run(main())


def test_a_joined_request_keeps_its_place_before_pipelined_ones(shared_sdl) -> None:
    shared = post("{ shared(ms: 300) }")

    async def main() -> None:
        async with serving(shared_sdl) as (server, port):
            first = asyncio.ensure_future(exchange(port, shared))
            await asyncio.sleep(0.05)
            # The same request, then a different one pipelined behind it on one connection.
            answers = await exchange(port, shared + post("{ shared(ms: 1) }") + shared, 3)
            assert [a.json() for a in answers] == [{"data": {"shared": "waited"}}] * 3
            assert (await first)[0].json() == {"data": {"shared": "waited"}}
            assert server.fast.gatherings == {}

    run(main())


def test_a_failed_shared_execution_answers_every_joiner(shared_sdl, hits) -> None:
    raw = post("{ failing(ms: 300) }")

    async def main() -> None:
        async with serving(shared_sdl) as (_, port):
            before = hits.get("/fail/300", 0)
            answers = [a for conn in await _together(port, raw, 5) for a in conn]
            assert hits["/fail/300"] == before + 1
            bodies = {a.body for a in answers}
            assert len(bodies) == 1 and all(a.status == 200 for a in answers)
            document = answers[0].json()
            assert document["data"] == {"failing": None}
            assert document["errors"][0]["path"] == ["failing"]
            assert document["errors"][0]["extensions"]["code"] == "UPSTREAM_HTTP_ERROR"

    run(main())


def test_no_joining_by_bytes_when_headers_change_answers(counting_upstream) -> None:
    """A template reads x-tenant: equal request bytes with different tenants are different
    requests, so nobody joins by bytes (whole-operation sharing still keys on the header)."""
    upstream, hits = counting_upstream
    sdl = TENANT_SDL.replace("UPSTREAM", upstream.url)

    async def main() -> None:
        async with serving(sdl) as (server, port):
            assert not server.gather
            body = b'{"query":"{ tenant }"}'
            raws = [request("POST", "/graphql", body, headers={"X-Tenant": name})
                    for name in ("a", "b", "a")]
            first = asyncio.ensure_future(exchange(port, raws[0]))
            await asyncio.sleep(0.05)
            others = asyncio.gather(*(exchange(port, raw) for raw in raws[1:]))
            await asyncio.sleep(0.05)
            assert server.fast.gatherings == {}
            answers = [(await first)[0], *(conn[0] for conn in await others)]
            assert [a.json() for a in answers] == [
                {"data": {"tenant": "waited a"}}, {"data": {"tenant": "waited b"}},
                {"data": {"tenant": "waited a"}}]
            assert hits["/wait/200?t=a"] == 1 and hits["/wait/200?t=b"] == 1

    run(main())


def test_graceful_close_answers_the_joined_requests(shared_sdl) -> None:
    """Shutting down with a grace period: requests waiting on a running execution, the
    joined ones included, are answered before the connections close."""
    raw = post("{ shared(ms: 300) }")

    async def main() -> None:
        async with serving(shared_sdl) as (server, port):
            clients = asyncio.ensure_future(_together(port, raw, 3))
            await asyncio.sleep(0.15)
            assert len(server.fast.gatherings) == 1
            await server.close(grace=5.0)
            answers = [conn[0] for conn in await clients]
            assert [(a.status, a.json()) for a in answers] == \
                [(200, {"data": {"shared": "waited"}})] * 4

    run(main())
