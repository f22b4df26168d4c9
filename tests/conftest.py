"""Shared test helpers: config fixtures and running the real ``plait`` command."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CONFIGS = TESTS / "configs"
REPO = TESTS.parent
#: The graphql-benchmarks config A (Tailcall dialect), kept once, in bench/scenarios.
BENCH_CONFIG = REPO / "bench" / "scenarios" / "tailcall-bench.graphql"


def run_plait(*args: str, cwd: Path | None = None, timeout: float = 60,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m plait ARGS`` as users do and capture its output."""
    return subprocess.run([sys.executable, "-m", "plait", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config file into a temporary directory and return its path."""

    def write(text: str | bytes, name: str = "config.graphql") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def upstream():
    """The example upstream plus fault routes on 127.0.0.1 (one per test session)."""
    from .upstream_server import UpstreamServer

    server = UpstreamServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["py", "c"])
def vm(request) -> str:
    """Every engine test runs on both VMs (ids ``py`` and ``c``)."""
    if request.param == "c":
        from plait.engine import extensions_disabled

        if extensions_disabled():
            pytest.skip("PLAIT_NO_EXTENSIONS=1 selects the reference VM only")
    return request.param
