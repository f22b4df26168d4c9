"""A real upstream for engine tests: the bundled example app plus fault routes, served on
127.0.0.1 from its own thread and event loop, counting every hit."""
from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from plait.example_upstream import HITS, ThreadedServer, create_app


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "5")))
    return web.json_response({"id": 1, "name": "slow"})


async def _status(request: web.Request) -> web.Response:
    return web.json_response({"error": "boom"}, status=int(request.match_info["code"]))


async def _raw(request: web.Request) -> web.Response:
    bodies = {
        "badjson": (b'{"id": 1, "name": ', "application/json"),
        "html": (b"<html><body>Bad gateway</body></html>", "text/html"),
        "empty": (b"", "application/json"),
        "object": (b'{"id": 1, "title": "one"}', "application/json"),
        "list": (b'[{"id": 1, "name": "a"}]', "application/json"),
        "numbers": (b'{"id": "7", "big": 3000000000, "ratio": "x", "flag": 1, '
                    b'"tags": [1, "b", null], "name": 42}', "application/json"),
        "nulls": (b'[{"id": 1, "title": null}, {"id": 2, "title": "ok"}]', "application/json"),
    }
    body, kind = bodies[request.match_info["name"]]
    return web.Response(body=body, content_type=kind)


async def _reset(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000",
                                           "Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'[{"id": 1,')
    assert request.transport is not None
    request.transport.close()
    return response


async def _big(request: web.Request) -> web.StreamResponse:
    """50 MB of JSON, streamed; counts how much was actually written before the client left."""
    response = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Content-Length": str(50 * 1024 * 1024)})
    await response.prepare(request)
    chunk = b'"' + b"x" * (1024 * 1024 - 2) + b'"'
    try:
        for _ in range(50):
            await response.write(chunk)
            request.app[BIG_WRITTEN]["bytes"] += len(chunk)
    except (ConnectionResetError, RuntimeError):
        pass
    return response


async def _gzip(request: web.Request) -> web.Response:
    import gzip

    body = gzip.compress(b'{"id": 7, "name": "zipped"}')
    return web.Response(body=body, headers={"Content-Encoding": "gzip",
                                            "Content-Type": "application/json"})


BIG_WRITTEN = web.AppKey("big_written", dict)


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"method": request.method, "path": request.path_qs,
                              "headers": {k.lower(): v for k, v in request.headers.items()},
                              "body": body.decode() if body else None})


class UpstreamServer(ThreadedServer):
    """The example upstream plus fault routes; ``hits`` counts requests by path+query."""

    def __init__(self) -> None:
        app = create_app()
        app.router.add_get("/slow", _slow)
        app.router.add_get("/status/{code}", _status)
        app.router.add_get("/raw/{name}", _raw)
        app.router.add_get("/reset", _reset)
        app.router.add_route("*", "/echo", _echo)
        app.router.add_route("*", "/echo/{tail:.*}", _echo)
        app.router.add_get("/big", _big)
        app.router.add_get("/gzip", _gzip)
        app[BIG_WRITTEN] = {"bytes": 0}
        super().__init__(app)

    @property
    def hits(self) -> Counter:
        return self.app[HITS]
