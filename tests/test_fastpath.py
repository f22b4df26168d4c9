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

from .test_server import TIMEOUT, exchange, post, read_response, request, run, serving
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

