"""Compare plait with Tailcall 1.6.14 on the same config, upstream and queries (opt-in).

    python bench/parity.py [--config bench/scenarios/tailcall-bench.graphql]

Starts the static nginx upstream (``../shared/bench/upstream.sh``) on port 3000 and
Tailcall (``../shared/peers/tailcall.sh``) on the config's port, runs each query through
Tailcall over HTTP and through ``plait.Engine``, and prints whether the JSON is identical.
Needs ``../shared`` (peer scripts) and nginx; not part of the test suite.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import plait

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
QUERIES = {
    "Q1": "{posts{id userId title user{id name email}}}",
    "Q2": "{posts{title}}",
    "Q3": "{greet}",
}


def _post(url: str, query: str) -> dict:
    body = json.dumps({"operationName": None, "variables": {}, "query": query}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _post(url, "{__typename}")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _plait(config: Path) -> dict[str, dict]:
    async with plait.Engine.from_file(config) as engine:
        return {name: (await engine.execute(query)).json() for name, query in QUERIES.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "scenarios" / "tailcall-bench.graphql"))
    args = parser.parse_args()
    config = Path(args.config)
    # nginx workers run as an unprivileged user: keep the static files outside $HOME.
    os.environ.setdefault("UPSTREAM_DIR", "/tmp/plait-upstream-3000")
    subprocess.run(["bash", str(SHARED / "bench" / "upstream.sh"), "start", "3000"], check=True,
                   stdout=subprocess.DEVNULL)
    peer = subprocess.Popen(["bash", str(SHARED / "peers" / "tailcall.sh"), "start", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        blueprint = plait.load_config(config)
        url = f"http://127.0.0.1:{blueprint.server.port}/graphql"
        _wait(url)
        theirs = {name: _post(url, query) for name, query in QUERIES.items()}
        ours = asyncio.run(_plait(config))
        same = 0
        for name in QUERIES:
            equal = theirs[name] == ours[name]
            same += equal
            size = len(json.dumps(ours[name]))
            print(f"{name}: {'identical' if equal else 'DIFFERENT'} ({size} bytes of JSON)")
            if not equal:
                print("  tailcall:", json.dumps(theirs[name])[:300])
                print("  plait:   ", json.dumps(ours[name])[:300])
        print(f"{same}/{len(QUERIES)} identical")
        return 0 if same == len(QUERIES) else 1
    finally:
        peer.terminate()
        peer.wait(10)
        subprocess.run(["bash", str(SHARED / "bench" / "upstream.sh"), "stop", "3000"],
                       stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main())
