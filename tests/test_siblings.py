"""Whole-operation sharing across the workers of ``plait start`` (``plait.siblings``): a
request may join an identical dedupe'd execution that another worker is running, when that
execution makes more than one round of upstream calls. Real ``plait start --workers 2``
processes, a real counting upstream, real sockets. The kernel spreads connections over the
workers (``SO_REUSEPORT``); 16 connections all landing on one worker has odds of 2**-15, and
each test checks the same load without sharing reaches the upstream once per worker."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from plait import example_upstream

from .test_server import Response, exchange, post, run
from .test_server import _start as start_plait

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="workers share over abstract Unix sockets (Linux)")

SDL = """
schema @server(port: 8000, hostname: "127.0.0.1") @upstream(timeout: 20) { query: Query }
type Query {
  posts(ms: Int!, size: Int): [Post] @http(url: "UPSTREAM/posts/{{.args.ms}}",
                                           query: [{key: "size", value: "{{.args.size}}"}],
                                           dedupe: true)
}
type Post { id: Int! userId: Int! title: String! user: User
  @http(url: "UPSTREAM/users/{{.value.userId}}", dedupe: true) }
type User { id: Int! name: String! }
"""
TWO_ROUNDS = "{ posts(ms: 700) { id title user { name } } }"
ONE_ROUND = "{ posts(ms: 700) { id title } }"
#: Connections that join the first request's execution.
JOINERS = 16


@pytest.fixture(scope="module")
def counting_upstream():
    """/posts/{ms} answers 3 posts after ms (titles of ``size`` bytes); /users/{id}. Counts
    the requests per path."""
    hits: dict[str, int] = {}

    async def posts(request: web.Request) -> web.Response:
        hits["posts"] = hits.get("posts", 0) + 1
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        title = "t" * int(request.query.get("size") or 5)
        return web.json_response([{"id": i, "userId": i % 2 + 1, "title": title}
                                  for i in range(1, 4)])

    async def users(request: web.Request) -> web.Response:
        hits["users"] = hits.get("users", 0) + 1
        ident = int(request.match_info["id"])
        return web.json_response({"id": ident, "name": f"user {ident}"})

    app = web.Application()
    app.router.add_get("/posts/{ms:[0-9]+}", posts)
    app.router.add_get("/users/{id:[0-9]+}", users)
    server = example_upstream.ThreadedServer(app).start()
    yield server, hits
    server.stop()


@pytest.fixture
def hits(counting_upstream) -> dict[str, int]:
    counting_upstream[1].clear()
    return counting_upstream[1]


def serve(tmp_path: Path, counting_upstream: Any, *options: str) -> tuple[subprocess.Popen[str],
                                                                          int]:
    config = tmp_path / "config.graphql"
    config.write_text(SDL.replace("UPSTREAM", counting_upstream[0].url))
    process, port, _ = start_plait(config, "--workers", "2", *options)
    time.sleep(1.5)  # both workers up and linked (a link retries every 0.5 s)
    return process, port


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def first_then_joiners(port: int, query: str) -> list[Response | BaseException]:
    """One request, then (while its execution runs) JOINERS more on their own connections;
    every answer, or the error its connection ended with."""
    raw = post(query)
    first = asyncio.ensure_future(exchange(port, raw, timeout=15))
    await asyncio.sleep(0.25)
    rest = [asyncio.ensure_future(exchange(port, raw, timeout=15)) for _ in range(JOINERS)]
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    return [a[0] if isinstance(a, list) else a for a in answers]


def answered(tmp_path: Path, counting_upstream: Any, query: str,
             *options: str) -> list[Response]:
    """Serve with two workers, send ``first_then_joiners``, stop; every answer a 200."""
    process, port = serve(tmp_path, counting_upstream, *options)
    try:
        answers = run(first_then_joiners(port, query))
    finally:
        stop(process)
    assert all(isinstance(a, Response) and a.status == 200 for a in answers), answers
    return answers  # type: ignore[return-value]


def expected_posts(with_users: bool, size: int = 5) -> list[dict[str, Any]]:
    posts: list[dict[str, Any]] = []
    for i in range(1, 4):
        post_: dict[str, Any] = {"id": i, "title": "t" * size}
        if with_users:
            post_["user"] = {"name": f"user {i % 2 + 1}"}
        posts.append(post_)
    return posts


@pytest.mark.parametrize("sharing", [True, False], ids=["shared", "no-worker-sharing"])
def test_two_round_execution_is_shared_by_both_workers(tmp_path, counting_upstream, hits,
                                                       sharing: bool) -> None:
    answers = answered(tmp_path, counting_upstream, TWO_ROUNDS,
                       *([] if sharing else ["--no-worker-sharing"]))
    assert {a.body for a in answers} == {answers[0].body}
    assert answers[0].json() == {"data": {"posts": expected_posts(True)}}
    # one execution for all 17 requests; without sharing, one per worker
    assert hits["posts"] == (1 if sharing else 2)
    assert hits["users"] == (2 if sharing else 4)


def test_one_round_executions_stay_in_each_worker(tmp_path, counting_upstream, hits) -> None:
    """Passing a one-round answer between workers costs about what running it does."""
    answers = answered(tmp_path, counting_upstream, ONE_ROUND)
    assert answers[0].json() == {"data": {"posts": expected_posts(False)}}
    assert hits["posts"] == 2


def test_an_answer_too_large_to_pass_is_computed_again(tmp_path, counting_upstream,
                                                       hits) -> None:
    """Over MAX_SHARED_BODY the running worker says FAIL: the other worker's requests run
    the operation themselves, and every answer is whole."""
    from plait.siblings import MAX_SHARED_BODY

    size = MAX_SHARED_BODY // 2
    query = TWO_ROUNDS.replace("ms: 700", f"ms: 700, size: {size}")
    answers = answered(tmp_path, counting_upstream, query)
    assert answers[0].json() == {"data": {"posts": expected_posts(True, size)}}
    assert {a.body for a in answers} == {answers[0].body}
    assert hits["posts"] == 2  # the first execution, then the other worker's own


def _worker_talking_to(process: subprocess.Popen[str], upstream_port: int) -> int:
    """The worker process with a connection open to the upstream."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == upstream_port:
                    inodes.add(fields[9])
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                              text=True, check=False).stdout.split()
    for child in children:
        for fd in os.listdir(f"/proc/{child}/fd"):
            try:
                target = os.readlink(f"/proc/{child}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return int(child)
    raise AssertionError("no worker is talking to the upstream")


def test_a_worker_dying_mid_execution_leaves_no_request_waiting(tmp_path, counting_upstream,
                                                                hits) -> None:
    """The requests waiting on a killed worker's execution run it in their own worker;
    the killed worker's own connections end; nothing hangs."""
    upstream_port = int(counting_upstream[0].url.rsplit(":", 1)[1])
    process, port = serve(tmp_path, counting_upstream)

    async def main() -> list[Response | BaseException]:
        task = asyncio.ensure_future(first_then_joiners(port, TWO_ROUNDS))
        await asyncio.sleep(0.45)  # the joiners wait; the first execution waits on /posts
        os.kill(_worker_talking_to(process, upstream_port), signal.SIGKILL)
        return await task

    try:
        started = time.monotonic()
        answers = run(main())
        elapsed = time.monotonic() - started
    finally:
        stop(process)
    answered = [a for a in answers if isinstance(a, Response)]
    ended = [a for a in answers if not isinstance(a, Response)]
    assert answered and ended, answers  # both workers had connections
    assert all(isinstance(e, (ConnectionError, asyncio.IncompleteReadError)) for e in ended)
    assert {a.status for a in answered} == {200}
    assert {a.body for a in answered} == {answered[0].body}
    assert answered[0].json() == {"data": {"posts": expected_posts(True)}}
    assert hits["posts"] == 2  # the killed worker's, then the survivor's own
    assert elapsed < 10  # bounded by the fallback, not by a timeout


def test_a_process_that_is_not_a_sibling_is_refused(tmp_path, counting_upstream) -> None:
    """Another local process reaching a worker's link address (it is listed in
    /proc/net/unix) is cut off before it can send anything, and serving goes on."""
    import socket

    process, port = serve(tmp_path, counting_upstream)
    try:
        with open("/proc/net/unix") as table:
            addresses = {line.split()[-1] for line in table
                         if line.split()[-1].startswith("@plait-")}
        assert len(addresses) == 2  # one per worker
        for name in addresses:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as intruder:
                intruder.settimeout(5)
                intruder.connect("\0" + name[1:])
                try:  # the worker ends the link without waiting for a word
                    closed = intruder.recv(1) == b""
                except ConnectionResetError:
                    closed = True
                assert closed
        answers = run(first_then_joiners(port, TWO_ROUNDS))
    finally:
        stop(process)
    assert all(isinstance(a, Response) and a.status == 200 for a in answers), answers


def test_a_taken_link_address_is_an_error_that_leaks_nothing() -> None:
    """A worker whose link address is taken gets OSError from Siblings.start (plait start
    then serves without sharing) and keeps no socket open."""
    import socket

    from plait.siblings import Siblings, address

    token = os.urandom(16)

    async def main() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as taken:
            taken.bind(address(token, 0))
            before = len(os.listdir("/proc/self/fd"))
            siblings = Siblings(token, 0, 2)
            with pytest.raises(OSError) as info:
                await siblings.start()
            siblings.close()
            # closed by start itself, not by the collector (the traceback keeps its frame)
            assert info.traceback and len(os.listdir("/proc/self/fd")) == before

    run(main())
