"""``plait bench``: histogram math, budgets, operations, the built-in load generator
(coordinated-omission correction with a deliberate stall) and real short runs of the
command against the bundled example over real sockets. No assertion is about speed."""
from __future__ import annotations

import asyncio
import json
import shutil
import sys
import threading
from pathlib import Path

import pytest
from plait.bench import budgets, loadgen, operations, upstream
from plait.bench.histogram import Histogram

from .conftest import REPO, run_plait

EXAMPLE = REPO / "examples" / "jsonplaceholder.graphql"
Q1 = "{posts{id userId title user{id name email}}}"


# -- histogram ---------------------------------------------------------------------------
def test_percentiles_of_exact_values() -> None:
    h = Histogram()
    for v in range(1, 101):
        h.record(v)
    assert (h.count, h.min, h.max) == (100, 1, 100)
    assert h.percentile(50) == 50
    assert h.percentile(90) == 90
    assert h.percentile(99) == 99
    assert h.percentile(99.9) == 100
    assert h.percentile(100) == 100
    assert h.percentile(0) == 1
    assert h.mean == 50.5


def test_percentiles_of_large_values_within_bucket_precision() -> None:
    h = Histogram()
    values = [1000 * i + 7 for i in range(1, 1001)]     # 1,007 .. 1,000,007
    for v in values:
        h.record(v)
    for p in (50, 90, 99, 99.9):
        exact = values[int(p / 100 * len(values)) - 1]
        assert exact <= h.percentile(p) <= exact * (1 + 1 / 1024)
    assert h.percentile(100) == 1_000_007


def test_bucket_ranges_cover_every_value_once() -> None:
    h = Histogram(bits=4)
    for v in range(5000):
        low, high = h.bucket_range(h.index(v))
        assert low <= v <= high
    assert h.index(4999) > h.index(16) > h.index(15)


def test_merge_equals_recording_everything() -> None:
    a, b, c = Histogram(), Histogram(), Histogram()
    for v in range(1, 5000, 3):
        (a if v % 2 else b).record(v)
        c.record(v)
    a.merge(b)
    assert a.counts == c.counts
    assert (a.count, a.total, a.min, a.max) == (c.count, c.total, c.min, c.max)
    assert Histogram.from_json(json.loads(json.dumps(a.to_json()))).counts == c.counts


def test_closed_loop_correction_fills_in_held_back_requests() -> None:
    h = Histogram()
    h.record_corrected(100, 10)
    assert sorted(v for v, _ in h.buckets()) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    h2 = Histogram()
    h2.record_corrected(5, 10)
    assert h2.count == 1


# -- budgets and operations ----------------------------------------------------------
def test_budget_specs() -> None:
    [limit] = budgets.parse_cli("Q1:p99=10ms")
    assert (limit.operation, limit.metric, limit.limit) == ("Q1", "p99", 10.0)
    limits = budgets.parse_cli("*:p50=500us,max=1s,p99.9=3,errors=0")
    assert [(x.metric, x.limit) for x in limits] == [
        ("p50", 0.5), ("max", 1000.0), ("p99.9", 3.0), ("errors", 0.0)]
    for bad in ("Q1", "Q1:p98=1ms", "Q1:p99=fast", ":p99=1ms", "Q1:errors=1ms"):
        with pytest.raises(budgets.BudgetError):
            budgets.parse_cli(bad)


def test_budget_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yml"
    path.write_text("Q1: {p99: 10ms, max: 0.5s}\n'*':\n  p50: 2\n")
    limits = budgets.load_file(path)
    assert [(x.operation, x.metric, x.limit) for x in limits] == [
        ("Q1", "p99", 10.0), ("Q1", "max", 500.0), ("*", "p50", 2.0)]
    results = {"Q1": {"latency_ms": {"p50": 1.0, "p99": 12.0, "max": 20.0}, "errors": 0},
               "Q2": {"latency_ms": {"p50": 3.0, "p99": 4.0, "max": 5.0}, "errors": 0}}
    verdicts = {(c["operation"], c["metric"]): c["ok"] for c in budgets.check(limits, results)}
    assert verdicts == {("Q1", "p99"): False, ("Q1", "max"): True, ("Q1", "p50"): True,
                        ("Q2", "p50"): False}
    path.write_text("Q1: [p99]\n")
    with pytest.raises(budgets.BudgetError):
        budgets.load_file(path)


def test_traffic_file_groups_requests_into_operations(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic.jsonl"
    lines = [
        {"query": "query Post($id: Int!) { post(id: $id) { title } }", "variables": {"id": 1},
         "operationName": "Post", "headers": {"Authorization": "x"}},
        {"query": "query Post($id: Int!) { post(id: $id) { title } }", "variables": {"id": 2}},
        {"query": "{greet}"},
        {"query": "{greet}", "variables": None},
    ]
    traffic.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    ops = operations.load([str(traffic)])
    assert [(op.name, len(op.requests)) for op in ops] == [("Post", 2), ("op1", 2)]
    body, headers = ops[0].bodies()[0]
    assert json.loads(body)["variables"] == {"id": 1} and headers == {"Authorization": "x"}
    traffic.write_text('{"variables": {}}\n')
    with pytest.raises(operations.OperationError, match="traffic.jsonl:1"):
        operations.load([str(traffic)])


def test_operations_from_a_directory_and_inline() -> None:
    ops = operations.load([str(REPO / "bench" / "scenarios" / "queries"), "Q4={posts{id}}"])
    assert [op.name for op in ops] == ["Q1", "Q2", "Q3", "Q4"]
    assert ops[0].query == Q1
    with pytest.raises(operations.OperationError):
        operations.load(["Q1={greet}", "Q1={greet}"])


def test_static_upstream_routes() -> None:
    data = upstream.JsonData(upstream.bundled_data())
    status, body = data.get("/users/1", "")
    assert status == 200 and json.loads(body)["id"] == 1
    status, body = data.get("/comments", "postId=1&postId=2")
    assert {c["postId"] for c in json.loads(body)} == {1, 2}
    assert data.get("/posts/1/comments", "")[0] == 200
    assert data.get("/nothing/1", "")[0] == 404


# -- the built-in load generator ---------------------------------------------------------
class _StallingServer:
    """Answers at once, except request number ``stall_at``, which waits ``stall`` s."""

    def __init__(self, stall_at: int, stall: float, close_every: int = 0) -> None:
        self.stall_at, self.stall, self.close_every = stall_at, stall, close_every
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seen = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self

        class Proto(asyncio.Protocol):
            def connection_made(self, transport):  # type: ignore[no-untyped-def]
                self.transport, self.buffer = transport, b""

            def data_received(self, data):  # type: ignore[no-untyped-def]
                self.buffer += data
                while b"\r\n\r\n" in self.buffer:
                    head, _, rest = self.buffer.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    if len(rest) < length:
                        return
                    self.buffer = rest[length:]
                    server.seen += 1
                    closing = server.close_every and server.seen % server.close_every == 0
                    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                              + (b"Connection: close\r\n" if closing else b"")
                              + b'\r\n{"data":{}}')
                    if closing:
                        self.transport.write(answer)
                        self.transport.close()
                        return
                    if server.seen == server.stall_at:
                        server.loop.call_later(server.stall, self.transport.write, answer)
                    else:
                        self.transport.write(answer)

        srv = self.loop.run_until_complete(
            self.loop.create_server(Proto, "127.0.0.1", 0))
        self.port = srv.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        srv.close()

    def __enter__(self) -> _StallingServer:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _run_worker(load: loadgen.Load) -> loadgen.Outcome:
    import uvloop

    return uvloop.run(loadgen._worker(load, load.connections, load.total, load.rate, 0,
                                      None, 0))


def test_open_loop_latency_is_corrected_for_a_stall() -> None:
    # 200 req/s on one connection; request 20 is held 400 ms, so the ~80 requests due
    # meanwhile are sent late: measured from their due time they are slow too.
    with _StallingServer(stall_at=20, stall=0.4) as server:
        load = loadgen.Load(f"http://127.0.0.1:{server.port}/graphql", [(b"{}", {})],
                            connections=1, total=200, rate=200.0, timeout=10)
        out = _run_worker(load)
    assert out.completed == 200 and out.error_count == 0
    assert out.uncorrected is not None
    slow = lambda h: sum(c for v, c in h.buckets() if v >= 200_000)
    assert slow(out.uncorrected) <= 3          # only the stalled request itself
    assert slow(out.latency) >= 20             # the requests queued behind it
    assert out.latency.max >= 400_000
    assert out.latency.percentile(90) > out.uncorrected.percentile(90)


def test_closed_loop_sends_exactly_the_requested_count() -> None:
    with _StallingServer(stall_at=0, stall=0) as server:
        load = loadgen.Load(f"http://127.0.0.1:{server.port}/graphql", [(b"{}", {})],
                            connections=3, total=100, timeout=10)
        out = _run_worker(load)
        assert (out.completed, out.latency.count, server.seen) == (100, 100, 100)
        assert out.uncorrected is None and out.statuses == {200: 100}


def test_connections_closed_by_the_server_are_reopened() -> None:
    with _StallingServer(stall_at=0, stall=0, close_every=7) as server:
        load = loadgen.Load(f"http://127.0.0.1:{server.port}/graphql", [(b"{}", {})],
                            connections=2, total=60, timeout=10)
        out = _run_worker(load)
    assert (out.completed, out.error_count) == (60, 0)


# -- the command -------------------------------------------------------------------------
def _bench(tmp_path: Path, *args: str, timeout: float = 120):
    out = tmp_path / "report"
    completed = run_plait("bench", "--upstream", "builtin", "--upstream-port", "0",
                          "--out", str(out), "--quiet", *args, timeout=timeout)
    report = None
    if (out / "report.json").exists():
        report = json.loads((out / "report.json").read_text())
    return completed, report, out


def test_bench_run_writes_reports_and_meets_generous_budgets(tmp_path: Path) -> None:
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / "Q2.graphql").write_text("{posts{title}}\n")
    (ops / "Q3.graphql").write_text("{greet}\n")
    budget_file = tmp_path / "budgets.yml"
    budget_file.write_text("Q2: {p99: 60s, max: 60s}\n'*': {p50: 60s, errors: 0}\n")
    completed, report, out = _bench(
        tmp_path, str(EXAMPLE), "-O", str(ops), "-c", "2", "-n", "200", "--warmup", "0.2",
        "--loadgen", "builtin", "--budgets", str(budget_file), "--budget", "Q3:p99=60s",
        "--compare", "again={python} -m plait start {config} --port {port} --workers 1")
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert report is not None and report["ok"] is True
    assert report["targets"] == ["plait", "again"]
    assert [(r["target"], r["operation"]) for r in report["results"]] == [
        ("plait", "Q2"), ("plait", "Q3"), ("again", "Q2"), ("again", "Q3")]
    for r in report["results"]:
        assert r["requests"] == 200 and r["errors"] == 0 and r["histogram"]["count"] == 200
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
        assert r["server"]["rss_mb"] > 0 and r["rps"] > 0
    by_op = {r["operation"]: r for r in report["results"] if r["target"] == "plait"}
    assert by_op["Q2"]["upstream_calls_per_request"] == 1.0     # one /posts per request
    assert by_op["Q3"]["upstream_calls_per_request"] == 0.0     # a constant
    assert len(report["budgets"]) == 7 and all(b["ok"] for b in report["budgets"])
    assert {x["peer"] for x in report["ratios"]} == {"again"}
    for r in report["results"]:  # CPU per request: the server's CPU over its answers
        server = r["server"]
        assert server["cpu_us_per_request"] == pytest.approx(
            1e6 * server["cpu_seconds"] / r["requests"], rel=0.05, abs=0.5)
    cpu = {(r["target"], r["operation"]): r["server"]["cpu_us_per_request"]
           for r in report["results"]}
    for x in report["ratios"]:
        ours, theirs = cpu[("plait", x["operation"])], cpu[("again", x["operation"])]
        assert x["cpu_per_request"] == (round(theirs / ours, 3) if ours and theirs else None)
    md = (out / "report.md").read_text()
    assert "| Q2 | plait |" in md and "| Q3 | again |" in md and "all budgets met" in md
    assert md in completed.stdout
    pytest.importorskip("matplotlib", reason="the PNG needs matplotlib (the test extra)")
    png = (out / "latency.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_bench_traffic_file_open_loop_and_exceeded_budget(tmp_path: Path) -> None:
    traffic = tmp_path / "traffic.jsonl"
    traffic.write_text("\n".join(json.dumps(x) for x in [
        {"query": "query P($id: Int!) { post(id: $id) { title } }", "variables": {"id": 1},
         "operationName": "P", "headers": {"Authorization": "t"}},
        {"query": "query P($id: Int!) { post(id: $id) { title } }", "variables": {"id": 2},
         "operationName": "P"},
        {"query": "{greet}"},
    ]) + "\n")
    completed, report, out = _bench(
        tmp_path, str(EXAMPLE), "-O", str(traffic), "-c", "2", "-n", "100", "--rate", "400",
        "--warmup", "0", "--budget", "*:p99=0.001ms")
    assert completed.returncode == 1, completed.stderr + completed.stdout
    assert "budget exceeded: P p99" in completed.stderr
    assert report is not None and report["ok"] is False
    assert report["load"]["rate"] == 400.0 and report["loadgen"] == "builtin"
    assert [(r["operation"], r["requests"], r["errors"]) for r in report["results"]] == [
        ("P", 100, 0), ("op1", 100, 0)]
    for r in report["results"]:
        assert r["coordinated_omission_corrected"] is True
        assert "latency_uncorrected_ms" in r
    assert [b["ok"] for b in report["budgets"]] == [False, False]
    assert "FAIL" in (out / "report.md").read_text()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_with_wrk(tmp_path: Path) -> None:
    completed, report, _ = _bench(tmp_path, str(EXAMPLE), "-O", "Q3={greet}", "-c", "2",
                                  "-d", "1s", "--warmup", "0", "--loadgen", "wrk", "-t", "1")
    assert completed.returncode == 0, completed.stderr + completed.stdout
    assert report is not None and report["loadgen"] == "wrk -t1"
    [r] = report["results"]
    assert r["requests"] > 0 and r["errors"] == 0
    assert r["histogram"]["count"] == r["requests"]


def test_bench_usage_errors(tmp_path: Path) -> None:
    for args in ([str(EXAMPLE)],                                       # no operations
                 [str(EXAMPLE), "-O", "Q={greet}", "--budget", "Q:p99"],
                 [str(EXAMPLE), "-O", str(tmp_path / "missing.graphql")],
                 [str(EXAMPLE), "-O", "Q={greet}", "--loadgen", "wrk", "--rate", "10"],
                 ["-O", "Q={greet}"]):                                 # no config
        completed = run_plait("bench", *args)
        assert completed.returncode == 2, (args, completed.stderr)
        assert completed.stderr.startswith("plait bench: ")


def test_bench_invalid_config_exits_1(write_config) -> None:
    config = write_config("type Query { x: Nope }\n")
    completed = run_plait("bench", str(config), "-O", "Q={x}", "--quiet")
    assert completed.returncode == 1 and "Nope" in completed.stderr


def test_bench_help_documents_every_option() -> None:
    completed = run_plait("bench", "--help")
    assert completed.returncode == 0
    for option in ("--scenario", "--operations", "--connections", "--duration",
                   "--requests", "--rate", "--warmup", "--threads", "--loadgen",
                   "--timeout", "--budget", "--budgets", "--upstream", "--upstream-data",
                   "--upstream-port", "--config-upstream", "--workers", "--port", "--url",
                   "--name", "--compare", "--startup-timeout", "--out", "--quiet",
                   "exit codes"):
        assert option in completed.stdout, option


def test_standard_scenario_file_is_valid() -> None:
    import argparse

    from plait.bench import runner

    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    args = parser.parse_args(["--scenario", str(REPO / "bench" / "scenarios" /
                                                "standard.yml")])
    s = runner.settings(args)
    assert [op.name for op in s.ops] == ["Q1", "Q2", "Q3"]
    assert s.connections == 100 and s.duration == 10 and s.threads == 2
    assert Path(s.configs[0]).name == "tailcall-bench.graphql"
    assert sys.executable  # the peers are whatever is installed here


def test_python_peer_answers_the_standard_queries_like_plait() -> None:
    """bench/scenarios/python_peer.py (Strawberry on aiohttp) serves the same answers as
    plait for Q1-Q3 over the built-in upstream, so the standard run compares like with
    like."""
    pytest.importorskip("strawberry", reason="the Python peer needs strawberry-graphql "
                                             "(the test extra)")
    import subprocess
    import urllib.request

    import plait
    from plait.bench.targets import free_port

    def query(port: int, text: str) -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     json.dumps({"query": text}).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.read()

    def wait_for(process: subprocess.Popen[str], port: int) -> None:
        import socket
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nothing listens on {port}")

    up_port, peer_port = free_port(), free_port()
    processes = [subprocess.Popen([sys.executable, "-m", "plait.bench.upstream", "--port",
                                   str(up_port)], stdout=subprocess.DEVNULL)]
    try:
        processes.append(subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "scenarios" / "python_peer.py"), "--port",
             str(peer_port), "--upstream", f"http://127.0.0.1:{up_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        wait_for(processes[0], up_port)
        wait_for(processes[1], peer_port)
        config = (REPO / "bench" / "scenarios" / "tailcall-bench.graphql").read_text()
        engine = plait.Engine.from_string(
            config.replace("http://127.0.0.1:3000", f"http://127.0.0.1:{up_port}"))

        async def plait_answers() -> list[bytes]:
            try:
                return [(await engine.execute(q)).body
                        for q in (Q1, "{posts{title}}", "{greet}")]
            finally:
                await engine.close()

        expected = asyncio.run(plait_answers())
        assert json.loads(expected[0])["data"]["posts"][0]["user"]["id"] == 1
        assert [query(peer_port, q) for q in (Q1, "{posts{title}}", "{greet}")] == expected
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
