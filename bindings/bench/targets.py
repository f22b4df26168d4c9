"""Processes a benchmark starts: the upstream fixture, plait, and peers.

Each runs in its own process group (``start_new_session``) so that stopping it (SIGTERM,
then SIGKILL after a grace period) also stops whatever it started (a shell script's
children, plait's workers, nginx's workers).
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import upstream as upstream_module


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_process(root: Path, server: str, port: int, log: Path) -> Process:
    """An nginx (1 worker, no access log, JSON by default) serving one ``server`` block
    whose body is ``server``, its files under ``root`` (not started yet)."""
    conf = root / "nginx.conf"
    conf.write_text(f"""daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server {{
    {server}
  }}
}}
""")
    return Process("nginx", ["nginx", "-c", str(conf), "-e", str(root / "error.log")],
                   port, log)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Process:
    name: str
    argv: list[str]
    port: int
    log: Path
    env: dict[str, str] | None = None
    shell: bool = False
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 60.0) -> Process:
        if port_open(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} is already in use")
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv if not self.shell else self.argv[0],
                                     shell=self.shell, stdout=handle, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env={**os.environ, **(self.env or {})}, cwd=self.cwd)
        handle.close()
        deadline = time.monotonic() + wait
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode} "
                                   f"before listening on port {self.port}; its output:\n"
                                   + self.tail())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not listen on port {self.port} within "
                                   f"{wait:g} s; its output:\n{self.tail()}")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        try:   # stragglers of the group (children that outlived their parent)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# -- the upstream fixture ----------------------------------------------------------------
@dataclass
class Upstream:
    kind: str                        # builtin | nginx
    port: int
    workdir: Path
    data: str | None = None
    process: Process | None = None
    nginx_root: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        log = self.workdir / f"upstream-{self.kind}.log"
        if self.kind == "builtin":
            argv = [sys.executable, "-m", "plait.bench.upstream", "--port", str(self.port)]
            if self.data:
                argv += ["--data", str(Path(self.data).resolve())]
            self.process = Process("upstream", argv, self.port, log).start()
        elif self.kind == "nginx":
            self.process = self._nginx(log).start()
        else:
            raise ValueError(f"unknown upstream {self.kind!r}")
        return self

    def _nginx(self, log: Path) -> Process:
        # nginx workers run unprivileged and may not read $HOME: keep files under /tmp.
        root = Path(tempfile.mkdtemp(prefix=f"plait-bench-nginx-{self.port}-"))
        os.chmod(root, 0o755)
        www = root / "www"
        if self.data and Path(self.data).is_dir():
            www = Path(self.data).resolve()
        else:
            _write_static(upstream_module.load_source(self.data), www)
        self.nginx_root = root
        return nginx_process(root, f"""listen 127.0.0.1:{self.port} reuseport;
    root {www};
    location = /__nginx_status {{ stub_status; }}
    location / {{ try_files $uri/index.json $uri.json $uri =404; }}""", self.port, log)

    def hits(self) -> int | None:
        try:
            if self.kind == "builtin":
                with urllib.request.urlopen(self.url + upstream_module.HITS_PATH,
                                            timeout=5) as r:
                    return int(json.loads(r.read())["hits"])
            with urllib.request.urlopen(self.url + "/__nginx_status", timeout=5) as r:
                # "Active connections: N\nserver accepts handled requests\n a b c\n..."
                lines = r.read().decode().splitlines()
                return int(lines[2].split()[2])
        except (OSError, ValueError, IndexError, KeyError):
            return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.nginx_root is not None:
            import shutil

            shutil.rmtree(self.nginx_root, ignore_errors=True)


def _write_static(source: Any, www: Path) -> None:
    """Lay a jsonplaceholder-style dataset out as files (the layout of upstream.sh)."""
    if not isinstance(source, upstream_module.JsonData):
        raise ValueError("nginx needs a JSON data file or a directory")
    data = source.data

    def put(rel: str, value: Any) -> None:
        target = www / rel
        target.mkdir(parents=True, exist_ok=True)
        (target / "index.json").write_text(json.dumps(value, separators=(",", ":")))

    for name, rows in data.items():
        if not isinstance(rows, list):
            continue
        put(name, rows)
        for row in rows:
            if isinstance(row, dict) and "id" in row:
                put(f"{name}/{row['id']}", row)
    for (parent, child), key in upstream_module._CHILDREN.items():
        for row in data.get(parent, ()):
            if child in data:
                put(f"{parent}/{row['id']}/{child}",
                    [c for c in data[child] if c.get(key) == row["id"]])
    for path in [www, *www.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


# -- contenders --------------------------------------------------------------------------
@dataclass
class Target:
    """Something serving GraphQL that the load is run against."""
    name: str
    command: str | list[str]
    port: int
    path: str = "/graphql"
    process: Process | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self, workdir: Path, wait: float) -> None:
        log = workdir / f"{self.name}.log"
        if isinstance(self.command, str):
            self.process = Process(self.name, [self.command], self.port, log, shell=True)
        else:
            self.process = Process(self.name, self.command, self.port, log)
        self.process.start(wait)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def expand(command: str, **values: Any) -> str:
    """Replace ``{port}``, ``{config}``, ``{upstream}``... in a peer command (shell-quoted)."""
    out = command
    for key, value in values.items():
        out = out.replace("{" + key + "}", shlex.quote(str(value)))
    return out
