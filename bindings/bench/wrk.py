"""Drive wrk (the Debian package) with a generated Lua script and read its latency
distribution back as JSON.

wrk is closed loop and runs for a duration: runs with ``--rate`` or ``--requests`` use the
built-in generator instead. The script sends the operation's requests (one static
request when there is only one, so wrk's fast path is kept) and its ``done()`` callback
prints wrk's own latency histogram as percentiles, from which an approximate
``Histogram`` is rebuilt for the report and the plot.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .histogram import Histogram
from .loadgen import Outcome

MARK = "PLAIT_BENCH_JSON "
#: Percentiles printed by the script (a dense grid for the percentile curve).
GRID = ([float(p) for p in range(1, 100)] + [99 + i / 10 for i in range(1, 10)]
        + [99.9 + i / 100 for i in range(1, 10)] + [99.99 + i / 1000 for i in range(1, 10)])


def path() -> str | None:
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def script(target_url: str, bodies: list[tuple[bytes, dict[str, str]]]) -> str:
    path_qs = urlsplit(target_url).path or "/"
    lines = []
    if len(bodies) == 1:
        body, headers = bodies[0]
        lines += ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
                  f"wrk.body = {_lua_string(body.decode())}"]
        lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()]
    else:
        lines.append("local bodies, heads, reqs, n = {}, {}, {}, 0")
        for body, headers in bodies:
            heads = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}"
                              for k, v in {"Content-Type": "application/json", **headers}.items())
            lines.append(f"table.insert(bodies, {_lua_string(body.decode())})")
            lines.append(f"table.insert(heads, {{{heads}}})")
        lines += [
            "init = function(args)",
            "  for k = 1, #bodies do",
            f'    reqs[k] = wrk.format("POST", {_lua_string(path_qs)}, heads[k], bodies[k])',
            "  end",
            "end",
            "request = function() n = n % #reqs + 1; return reqs[n] end",
        ]
    grid = ", ".join(repr(p) for p in GRID)
    lines += [
        "done = function(summary, latency, requests)",
        f"  local grid = {{{grid}}}",
        "  local points = {}",
        "  for _, p in ipairs(grid) do",
        '    table.insert(points, string.format("[%g,%d]", p, latency:percentile(p)))',
        "  end",
        "  local e = summary.errors",
        f'  io.write("{MARK}")',
        '  io.write(string.format(\'{"requests":%d,"duration_us":%d,"bytes":%d,\' ..',
        '    \'"min":%d,"max":%d,"mean":%f,"errors":{"connect":%d,"read":%d,"write":%d,\' ..',
        '    \'"status":%d,"timeout":%d},"points":[%s]}\\n\', summary.requests,',
        "    summary.duration, summary.bytes, latency.min, latency.max, latency.mean,",
        "    e.connect, e.read, e.write, e.status, e.timeout, table.concat(points, \",\")))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def command(url: str, script_path: Path, connections: int, threads: int,
            duration: float, timeout: float) -> list[str]:
    wrk = path() or "wrk"
    return [wrk, f"-t{max(1, min(threads, connections))}", f"-c{connections}",
            f"-d{max(1, round(duration))}s", f"--timeout={max(1, round(timeout))}s",
            "-s", str(script_path), url]


def parse(stdout: str) -> Outcome:
    for line in stdout.splitlines():
        if line.startswith(MARK):
            data: dict[str, Any] = json.loads(line[len(MARK):])
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}")
    count = int(data["requests"])
    points = [(float(p), int(v)) for p, v in data["points"]] + [(100.0, int(data["max"]))]
    hist = Histogram.from_percentiles(points, count) if count else Histogram()
    if count:
        hist.min = int(data["min"])
        hist.max = int(data["max"])
        hist.total = int(data["mean"] * count)
    errors = Counter({k: int(v) for k, v in data["errors"].items() if int(v)})
    return Outcome(hist, None, count, errors, Counter(), data["duration_us"] / 1e6,
                   int(data["bytes"]))


class Runner:
    """One wrk run in a subprocess: ``start()``, ``poll()``, ``wait()``."""

    def __init__(self, url: str, bodies: list[tuple[bytes, dict[str, str]]], workdir: Path,
                 connections: int, threads: int, duration: float, timeout: float) -> None:
        self.script_path = workdir / "plait-bench.lua"
        self.script_path.write_text(script(url, bodies), encoding="utf-8")
        self.argv = command(url, self.script_path, connections, threads, duration, timeout)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Runner:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> Outcome:
        assert self.proc is not None
        out, _ = self.proc.communicate()
        if self.proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({self.proc.returncode}): {out[-2000:]}")
        return parse(out)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
