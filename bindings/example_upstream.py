"""A small REST upstream serving the bundled JSONPlaceholder data (offline demos, tests).

Routes, in the style of JSONPlaceholder and json-server:
``GET /{resource}`` (filters: ``?field=value`` repeated for several values, ``_limit``),
``GET /{resource}/{id}``, ``GET /posts/{id}/comments`` and ``/users/{id}/posts`` (and the
other parent/child pairs), ``POST /{resource}`` (echoes the body with a new ``id``).
Every request is counted in ``app[HITS]`` by path and query, so tests can assert how many
upstream calls plait made.
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from importlib import resources
from typing import Any

from aiohttp import web

HITS = web.AppKey("hits", Counter)
DATA = web.AppKey("data", dict)
_CHILDREN = {("posts", "comments"): "postId", ("users", "posts"): "userId",
             ("users", "todos"): "userId", ("users", "albums"): "userId"}


def load_data() -> dict[str, list[dict[str, Any]]]:
    """The bundled dataset (MIT licence, see ``data/LICENSE-jsonplaceholder``)."""
    text = resources.files("plait").joinpath("data/jsonplaceholder.json").read_text()
    return json.loads(text)


def _dump(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(value, separators=(",", ":")).encode(),
                        status=status, content_type="application/json")


def _filtered(rows: list[dict[str, Any]], query: Any) -> list[dict[str, Any]]:
    limit = query.get("_limit")
    for key in set(query.keys()) - {"_limit"}:
        wanted = set(query.getall(key))
        rows = [row for row in rows if str(row.get(key)) in wanted]
    if limit and limit.isdigit():
        rows = rows[:int(limit)]
    return rows


async def _collection(request: web.Request) -> web.Response:
    data = request.app[DATA]
    name = request.match_info["resource"]
    if name not in data:
        return _dump({}, 404)
    if request.method == "POST":
        body = await request.json()
        if not isinstance(body, dict):
            return _dump({"error": "expected an object"}, 400)
        return _dump({**body, "id": len(data[name]) + 1}, 201)
    return _dump(_filtered(data[name], request.query))


async def _item(request: web.Request) -> web.Response:
    data = request.app[DATA]
    name, ident = request.match_info["resource"], request.match_info["id"]
    for row in data.get(name, ()):
        if str(row.get("id")) == ident:
            return _dump(row)
    return _dump({}, 404)


async def _children(request: web.Request) -> web.Response:
    data = request.app[DATA]
    name, ident = request.match_info["resource"], request.match_info["id"]
    child = request.match_info["child"]
    key = _CHILDREN.get((name, child))
    if key is None or child not in data:
        return _dump({}, 404)
    return _dump([row for row in data[child] if str(row.get(key)) == ident])


@web.middleware
async def _count(request: web.Request, handler: Any) -> web.StreamResponse:
    request.app[HITS][request.path_qs] += 1
    return await handler(request)


def create_app(data: dict[str, list[dict[str, Any]]] | None = None) -> web.Application:
    """The upstream as an aiohttp application (add fault routes before starting it)."""
    app = web.Application(middlewares=[_count])
    app[HITS] = Counter()
    app[DATA] = data if data is not None else load_data()
    app.router.add_route("*", "/{resource:[a-z]+}", _collection)
    app.router.add_get("/{resource:[a-z]+}/{id:[0-9]+}", _item)
    app.router.add_get("/{resource:[a-z]+}/{id:[0-9]+}/{child:[a-z]+}", _children)
    return app


class ThreadedServer:
    """Serve an aiohttp app on 127.0.0.1 from its own thread and event loop (tests, bench,
    demos): ``start()`` returns once it listens; ``url`` is its base URL."""

    def __init__(self, app: web.Application, port: int = 0) -> None:
        self.app = app
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def start(self) -> "ThreadedServer":
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("upstream did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def main(argv: list[str] | None = None) -> None:
    """``python -m plait.example_upstream [--port 3000]``: serve the example upstream."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m plait.example_upstream",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    import uvloop

    web.run_app(create_app(), host=args.host, port=args.port, access_log=None,
                print=lambda _text: print(f"example upstream on http://{args.host}:{args.port}",
                                          flush=True),
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
