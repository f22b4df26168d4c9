"""``plait demo``: the README's main job, end to end over real sockets."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from .conftest import REPO, run_plait


def test_demo_once_answers_the_sample_query() -> None:
    completed = run_plait("demo", "--once", "--port", "0", timeout=120)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert re.search(r"GraphQL on http://127\.0\.0\.1:\d+/graphql", out)
    answer = json.loads(out[out.index("\n{") + 1:])
    post = answer["data"]["post"]
    assert post["id"] == 1 and post["user"] == {
        "name": "Leanne Graham", "email": "Sincere@april.biz", "city": "Gwenborough"}
    assert len(post["comments"]) == 5


def test_demo_keeps_serving_until_interrupted() -> None:
    process = subprocess.Popen([sys.executable, "-m", "plait", "demo", "--port", "0"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ.copy())
    try:
        url = None
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            match = re.search(r"GraphQL on (http://\S+/graphql)", line)
            if match:
                url = match.group(1)
            if line.startswith("Serving"):
                break
        assert url is not None
        request = urllib.request.Request(url, json.dumps({"query": "{ greet }"}).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"data": {"greet": "Hello World!"}}
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_example_config_is_the_packaged_one() -> None:
    from plait.demo import example_config

    assert example_config() == (REPO / "examples" / "jsonplaceholder.graphql").read_text()
