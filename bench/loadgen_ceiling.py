"""How fast is `plait bench`'s built-in load generator? Its ceiling against a trivial server.

    python bench/loadgen_ceiling.py [--duration 3] [--connections 100]

Starts nginx answering every POST with a constant 33-byte JSON body (one worker; the
built-in static upstream when nginx is missing), then drives it for DURATION seconds with
the built-in generator (1 and 2 processes) and with wrk (-t1 and -t2, when installed), and
prints req/s for each. The server shares the machine's cores with the generator, as in a
real run, so these are lower bounds of the generator's own ceiling.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from plait.bench import loadgen, targets, wrk

BODY = b'{"operationName":null,"variables":{},"query":"{greet}"}'


def constant_server(workdir: Path) -> targets.Process:
    port = targets.free_port()
    if shutil.which("nginx"):
        server = targets.nginx_process(workdir, f"""listen 127.0.0.1:{port};
    location / {{ return 200 '{{"data":{{"greet":"Hello World!"}}}}'; }}""",
                                       port, workdir / "server.log")
        name = "nginx (constant answer, 1 worker)"
    else:
        argv = [sys.executable, "-m", "plait.bench.upstream", "--port", str(port)]
        server = targets.Process("server", argv, port, workdir / "server.log")
        name = "built-in static upstream"
    print(f"server: {name}")
    return server.start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=100)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="plait-ceiling-"))
    server = constant_server(workdir)
    url = f"http://127.0.0.1:{server.port}/graphql"
    try:
        for workers in (1, 2):
            load = loadgen.Load(url, [(BODY, {})], connections=args.connections,
                                duration=args.duration, workers=workers)
            out = loadgen.run(load)
            print(f"built-in, {workers} process(es), -c{args.connections}: "
                  f"{out.completed / out.seconds:,.0f} req/s "
                  f"(p50 {out.latency.percentile(50) / 1000:.2f} ms, errors {out.error_count}; "
                  f"generator CPU {1e6 * out.cpu_seconds / max(out.completed, 1):.1f} µs "
                  f"per request: {out.completed / max(out.cpu_seconds, 1e-9):,.0f} req/s "
                  "per core busy)")
        if wrk.path():
            for threads in (1, 2):
                runner = wrk.Runner(url, [(BODY, {})], workdir, args.connections, threads,
                                    args.duration, 10).start()
                out = runner.wait()
                print(f"wrk -t{threads} -c{args.connections}: "
                      f"{out.completed / out.seconds:,.0f} req/s "
                      f"(p50 {out.latency.percentile(50) / 1000:.2f} ms)")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
