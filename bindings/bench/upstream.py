"""The built-in static upstream for benchmarks: fast, offline, reproducible.

    python -m plait.bench.upstream [--data FILE_OR_DIR] [--host 127.0.0.1] [--port 3000]

Serves either

- a JSON file in the style of ``jsonplaceholder.json`` (``{"posts": [{"id": 1, ...}], ...}``,
  the bundled data by default): ``GET /{resource}`` (filters ``?field=value``, repeatable,
  and ``_limit``), ``GET /{resource}/{id}``, ``GET /posts/{id}/comments``,
  ``/users/{id}/posts`` (and the other parent/child pairs), ``POST /{resource}`` (echoes the
  body with a new ``id``); or
- a directory of static files: ``GET /a/b`` answers the first of ``a/b``, ``a/b.json``,
  ``a/b/index.json`` (the layout ``../shared/bench/upstream.sh`` writes for nginx); the
  query string is ignored, as nginx does.

Answers are computed once per path and query and then served from memory. Every request
is counted except ``GET /__plait_bench/hits``, which answers ``{"hits": N}``. HTTP/1.1
keep-alive on one uvloop loop, parsed by httptools, like nginx's static serving in spirit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools

HITS_PATH = "/__plait_bench/hits"
_CHILDREN = {("posts", "comments"): "postId", ("users", "posts"): "userId",
             ("users", "todos"): "userId", ("users", "albums"): "userId",
             ("albums", "photos"): "albumId"}
_REASONS = {200: b"OK", 201: b"Created", 400: b"Bad Request", 404: b"Not Found",
            405: b"Method Not Allowed"}


def bundled_data() -> dict[str, Any]:
    return json.loads(resources.files("plait").joinpath("data/jsonplaceholder.json").read_text())


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class JsonData:
    """Routes over a jsonplaceholder-style dict of resources."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.by_id = {name: {str(row.get("id")): row for row in rows if isinstance(row, dict)}
                      for name, rows in data.items() if isinstance(rows, list)}

    def get(self, path: str, query: str) -> tuple[int, bytes]:
        parts = [p for p in path.split("/") if p]
        if len(parts) == 1 and parts[0] in self.by_id:
            rows = self.data[parts[0]]
            params = parse_qs(query, keep_blank_values=True)
            limit = params.pop("_limit", [None])[0]
            for key, wanted in params.items():
                rows = [r for r in rows if str(r.get(key)) in set(wanted)]
            if limit and limit.isdigit():
                rows = rows[:int(limit)]
            return 200, _dump(rows)
        if len(parts) == 2 and parts[0] in self.by_id:
            row = self.by_id[parts[0]].get(parts[1])
            return (200, _dump(row)) if row is not None else (404, b"{}")
        if len(parts) == 3:
            key = _CHILDREN.get((parts[0], parts[2]))
            if key and parts[2] in self.data:
                return 200, _dump([r for r in self.data[parts[2]] if str(r.get(key)) == parts[1]])
        return 404, b"{}"

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        parts = [p for p in path.split("/") if p]
        if len(parts) != 1 or parts[0] not in self.by_id:
            return 404, b"{}"
        try:
            value = json.loads(body or b"null")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            return 400, b'{"error":"expected an object"}'
        return 201, _dump({**value, "id": len(self.data[parts[0]]) + 1})


class StaticDir:
    """Routes over a directory of files (query strings ignored)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def get(self, path: str, query: str) -> tuple[int, bytes]:
        rel = path.strip("/")
        for candidate in (rel, rel + ".json", os.path.join(rel, "index.json")):
            target = (self.root / candidate).resolve()
            if target.is_file() and (target == self.root or self.root in target.parents):
                return 200, target.read_bytes()
        return 404, b"{}"

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return 405, b"{}"


def load_source(data: str | None) -> JsonData | StaticDir:
    if data is None:
        return JsonData(bundled_data())
    path = Path(data)
    if path.is_dir():
        return StaticDir(path)
    return JsonData(json.loads(path.read_text(encoding="utf-8")))


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    head = (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            % (status, _REASONS.get(status, b"OK"), len(body)))
    if not keep_alive:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


class Upstream:
    def __init__(self, source: JsonData | StaticDir) -> None:
        self.source = source
        self.hits = 0
        self.cache: dict[bytes, bytes] = {}

    def answer(self, method: bytes, url: bytes, body: bytes, keep_alive: bool) -> bytes:
        if method == b"GET" and url == HITS_PATH.encode():
            return _response(200, _dump({"hits": self.hits}), keep_alive)
        self.hits += 1
        if method == b"GET" or method == b"HEAD":
            key = url if keep_alive else b"!" + url
            cached = self.cache.get(key)
            if cached is None:
                parts = urlsplit(url.decode("latin-1"))
                cached = _response(*self.source.get(parts.path, parts.query), keep_alive)
                if len(self.cache) < 100_000:
                    self.cache[key] = cached
            return cached
        if method == b"POST":
            return _response(*self.source.post(urlsplit(url.decode("latin-1")).path, body),
                             keep_alive)
        return _response(405, b"{}", keep_alive)


class _Protocol(asyncio.Protocol):
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_response(400, b"{}", False))
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        out = self.upstream.answer(self.parser.get_method(), self.url, b"".join(self.body), keep)
        if self.transport is not None:
            self.transport.write(out)
            if not keep:
                self.transport.close()


async def serve(source: JsonData | StaticDir, host: str, port: int,
                ready: Any = None) -> None:
    upstream = Upstream(source)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Protocol(upstream), host, port,
                                      reuse_address=True, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plait.bench.upstream",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None,
                        help="a jsonplaceholder-style JSON file or a directory of static "
                             "files (default: the bundled jsonplaceholder data)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="0: any free port")
    args = parser.parse_args(argv)
    import signal

    import uvloop

    source = load_source(args.data)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def ready(port: int) -> None:
        print(f"upstream on http://{args.host}:{port}", flush=True)

    try:
        uvloop.run(serve(source, args.host, args.port, ready))
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
