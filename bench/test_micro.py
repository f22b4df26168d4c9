"""Micro benchmarks (pytest-benchmark): planning, VM execution, response writing.

    python -m pytest bench/test_micro.py --benchmark-only --benchmark-columns=min,median,ops

Execution runs against the bundled example upstream served in-process on 127.0.0.1, with
whole-operation sharing off (config B: every execution fetches and composes its own
answer). Speed is measured here, never asserted in tests.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import uvloop

import plait
from plait.engine import refvm
from plait.engine.runtime import RequestContext
from plait.planner.emit import emit
from plait.planner.operation import parse_and_validate, select_operation
from plait.planner.plan import Planner

HERE = Path(__file__).resolve().parent
CONFIG_B = (HERE / "scenarios" / "tailcall-bench-b.graphql").read_text()
Q1 = "{posts{id userId title user{id name email}}}"
Q2 = "{posts{title}}"
VMS = ["py", "c"]


class _Process:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def upstream():
    """The example upstream in its own process, so its work does not share our GIL; or
    the upstream at ``PLAIT_BENCH_UPSTREAM`` (e.g. nginx from ``../shared/bench``)."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    external = os.environ.get("PLAIT_BENCH_UPSTREAM")
    if external:
        yield _Process(int(external.rsplit(":", 1)[1]))
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "plait.example_upstream", "--port",
                                str(port)], stdout=subprocess.DEVNULL)
    server = _Process(port)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(server.url + "/users/1", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield server
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def engine_config(upstream) -> str:
    return CONFIG_B.replace("http://127.0.0.1:3000", upstream.url)


def test_plan_cold(benchmark, engine_config) -> None:
    engine = plait.Engine.from_string(engine_config, vm="py")

    def plan() -> object:
        document = parse_and_validate(Q1, engine.view)
        operation = select_operation(document, None)
        return emit(Planner(engine.view, document, {}).plan(operation), document.source)

    benchmark(plan)


def test_plan_cached(benchmark, engine_config) -> None:
    engine = plait.Engine.from_string(engine_config, vm="py")
    document = engine.document(Q1)
    operation = select_operation(document, None)

    def cached() -> object:
        return engine.program(engine.document(Q1), operation, Q1, {})

    benchmark(cached)


@pytest.mark.parametrize("vm", VMS)
@pytest.mark.parametrize("query", [Q1, Q2], ids=["Q1", "Q2"])
def test_execute(benchmark, engine_config, vm: str, query: str) -> None:
    loop = uvloop.new_event_loop()
    engine = plait.Engine.from_string(engine_config, vm=vm)

    def once() -> bytes:
        return loop.run_until_complete(engine.execute(query)).body

    once()
    benchmark(once)
    loop.run_until_complete(engine.close())
    loop.close()


@pytest.mark.parametrize("vm", VMS)
@pytest.mark.parametrize("query", [Q1, Q2], ids=["Q1", "Q2"])
def test_execute_vm_only(benchmark, engine_config, vm: str, query: str) -> None:
    """The whole VM run (fetch steps, gathers, batching of parents, merge and write) with
    the upstream answers already in hand: ``@cache`` on both fields keeps them, so no
    socket is touched after the first run. This isolates the VM from the HTTP client."""
    cached = engine_config.replace('/posts")', '/posts") @cache(maxAge: 3600000)').replace(
        "dedupe: true)", "dedupe: true) @cache(maxAge: 3600000)")
    assert cached.count("@cache") == 2
    loop = uvloop.new_event_loop()
    engine = plait.Engine.from_string(cached, vm=vm)

    def once() -> bytes:
        return loop.run_until_complete(engine.execute(query)).body

    assert once() == once()
    benchmark(once)
    loop.run_until_complete(engine.close())
    loop.close()


@pytest.mark.parametrize("vm", VMS)
def test_write_100_item_list(benchmark, engine_config, vm: str) -> None:
    """The merge/write step alone: 100 posts with their users, from decoded upstream data
    (no I/O), the same work the WRITE instruction does per request."""
    loop = uvloop.new_event_loop()
    engine = plait.Engine.from_string(engine_config, vm="py")
    document = engine.document(Q1)
    operation = select_operation(document, None)
    program = engine.program(document, operation, Q1, {})
    ctx = RequestContext(engine._shared, {}, {})
    # Run the fetch part once to get decoded values in the slots, then time only WRITE.
    slots: list[dict] = [{} for _ in range(program.n_slots)]
    captured: dict = {}

    class Capture(refvm.Writer):
        def write_root(self, shape, root):  # type: ignore[override]
            captured["slots"] = self.slots
            return super().write_root(shape, root)

    original = refvm.Writer
    refvm.Writer = Capture  # type: ignore[misc]
    try:
        loop.run_until_complete(refvm.run(program, ctx))
    finally:
        refvm.Writer = original  # type: ignore[misc]
    slots = captured["slots"]
    if vm == "c":
        from plait.engine import _cvm

        def write() -> bytes:
            return _cvm.Writer(ctx, slots, program.source).write_root(program.shape,
                                                                       ctx.root)
    else:
        def write() -> bytes:
            return refvm.Writer(ctx, slots, program.source).write_root(program.shape,
                                                                        ctx.root)

    assert write().startswith(b'{"posts":[{"id":1,')
    benchmark(write)
    loop.run_until_complete(engine.close())
    loop.close()


def test_parse_and_validate_100k_aliases(benchmark, engine_config) -> None:
    engine = plait.Engine.from_string(engine_config, vm="py")
    query = "{" + " ".join(f"a{i}: posts {{ title }}" for i in range(100_000)) + "}"
    benchmark.pedantic(parse_and_validate, args=(query, engine.view), rounds=1, iterations=1)
