"""``plait demo``: the bundled example served end to end, offline.

Starts the bundled JSONPlaceholder upstream (``plait.example_upstream``) on 127.0.0.1,
serves the bundled example config (``data/jsonplaceholder.graphql``, the same file as
``examples/jsonplaceholder.graphql``) with ``plait.server``, sends one real query over HTTP
and prints it as a curl command with its answer; then keeps serving until Ctrl-C
(or stops at once with ``--once``).
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import urllib.request
from importlib import resources

import uvloop

from .engine_api import Engine
from .example_upstream import ThreadedServer, create_app
from .planner import load_config_string
from .server import Server

#: The upstream address written in the bundled config (replaced by the demo's own).
CONFIG_UPSTREAM = "http://127.0.0.1:3000"
SAMPLE_QUERY = "{ post(id: 1) { id title user { name email city } comments { email } } }"


def example_config() -> str:
    return resources.files("plait").joinpath("data/jsonplaceholder.graphql").read_text()


def _post(url: str, query: str) -> str:
    body = json.dumps({"query": query}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


async def _serve(host: str, port: int, once: bool) -> int:
    upstream = ThreadedServer(create_app()).start()
    try:
        sdl = example_config().replace(CONFIG_UPSTREAM, upstream.url)
        engine = Engine(load_config_string(sdl, "jsonplaceholder.graphql"))
        server = Server(engine)
        try:
            bound_host, bound_port = await server.start(host, port)
        except OSError as exc:
            print(f"plait demo: cannot listen on {host}:{port}: {exc.strerror or exc}",
                  file=sys.stderr)
            await engine.close()
            return 1
        url = f"http://{bound_host}:{bound_port}{engine.blueprint.server.graphql_path}"
        print(f"plait demo: example upstream on {upstream.url}")
        print(f"plait demo: GraphQL on {url} (GraphiQL: open it in a browser)")
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, _post, url, SAMPLE_QUERY)
        payload = json.dumps({"query": SAMPLE_QUERY})
        print(f"\n$ curl -s {url} -H 'Content-Type: application/json' -d '{payload}'")
        print(json.dumps(json.loads(answer), indent=2))
        if not once:
            print("\nServing; press Ctrl-C to stop.", flush=True)
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        await server.close(grace=5.0)
        return 0
    finally:
        upstream.stop()


def run(host: str = "127.0.0.1", port: int = 8000, once: bool = False) -> int:
    return uvloop.run(_serve(host, port, once))
