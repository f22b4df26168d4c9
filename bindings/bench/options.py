"""The options of ``plait bench`` (kept apart from the harness so that building the
``plait`` command's parser imports nothing heavy)."""
from __future__ import annotations

import argparse
import re

DEFAULT_UPSTREAM = "http://127.0.0.1:3000"


def parse_seconds(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*", str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10, 10s, 500ms)")
    return float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    S = argparse.SUPPRESS
    p.add_argument("configs", nargs="*", metavar="CONFIG", default=S,
                   help="plait config files (as for `plait start`)")
    p.add_argument("--scenario", metavar="FILE.yml", default=None,
                   help="a scenario file holding any of these settings (config, "
                        "operations, connections, duration, warmup, threads, upstream, "
                        "budgets, compare, out, ...); paths in it are relative to it; "
                        "options given on the command line win")
    g = p.add_argument_group("operations")
    g.add_argument("--operations", "--ops", "-O", action="append", metavar="SOURCE", default=S,
                   help="a directory of .graphql files (one operation each, named after "
                        "the file; NAME.variables.json beside it for variables), one "
                        ".graphql file, a recorded traffic file (JSON lines of {query, "
                        "variables, operationName, headers}; grouped into operations by "
                        "operationName), or NAME=QUERY; repeatable")
    g = p.add_argument_group("load")
    g.add_argument("--connections", "-c", type=int, default=S, metavar="N",
                   help="concurrent keep-alive connections (default: 10)")
    g.add_argument("--duration", "-d", type=parse_seconds, default=S, metavar="SECONDS",
                   help="measured run per operation, e.g. 10s or 500ms (default: 10s)")
    g.add_argument("--requests", "-n", type=int, default=S, metavar="N",
                   help="send exactly N requests per operation instead of a duration "
                        "(built-in load generator)")
    g.add_argument("--rate", "-R", type=float, default=S, metavar="REQ_PER_S",
                   help="open loop: send at this total rate; latencies are measured from "
                        "each request's scheduled time (coordinated-omission corrected); "
                        "built-in load generator")
    g.add_argument("--warmup", "-w", type=parse_seconds, default=S, metavar="SECONDS",
                   help="unmeasured closed-loop run before each operation (default: 2s; "
                        "0: none)")
    g.add_argument("--threads", "-t", type=int, default=S, metavar="N",
                   help="wrk threads, or built-in generator processes (default: 2 for "
                        "wrk, 1 for the built-in one)")
    g.add_argument("--loadgen", choices=("auto", "wrk", "builtin"), default=S,
                   help="auto (default): wrk when installed and the run is closed loop by "
                        "duration, else the built-in uvloop generator")
    g.add_argument("--timeout", type=parse_seconds, default=S, metavar="SECONDS",
                   help="a request taking longer counts as an error (default: 10s)")
    g = p.add_argument_group("budgets")
    g.add_argument("--budget", "-b", action="append", dest="budgets", default=S,
                   metavar="OP:METRIC=VALUE[,...]",
                   help="latency budget of an operation (* for all): metrics p50, p90, "
                        "p99, p99.9, max (ms, us or s; bare numbers are ms) and errors "
                        "(a count; without one, any error fails the run), e.g. "
                        "'Q1:p99=10ms,max=50ms'; repeatable; exit code 1 when any is "
                        "exceeded")
    g.add_argument("--budgets", dest="budget_files", action="append", default=S,
                   metavar="FILE.yml", help="budgets as YAML: {Q1: {p99: 10ms}, '*': "
                                            "{max: 1s}}; repeatable")
    g = p.add_argument_group("what runs")
    g.add_argument("--upstream", choices=("none", "builtin", "nginx", "auto"), default=S,
                   help="start an upstream fixture: builtin (a static uvloop server "
                        "counting its hits), nginx (static files, hits from stub_status) "
                        "or auto (nginx when installed, else builtin); none (default): "
                        "the config's upstream is already running")
    g.add_argument("--upstream-data", default=S, metavar="FILE|DIR",
                   help="what the fixture serves: a jsonplaceholder-style JSON file or a "
                        "directory of files (default: the bundled jsonplaceholder data)")
    g.add_argument("--upstream-port", type=int, default=S, metavar="PORT",
                   help="fixture port (default: 3000; 0: any free port)")
    g.add_argument("--config-upstream", default=S, metavar="URL",
                   help="the upstream address written in the config (default: "
                        f"{DEFAULT_UPSTREAM}); when the fixture listens elsewhere, a copy "
                        "of the config with it replaced is served")
    g.add_argument("--workers", type=int, default=S, metavar="N",
                   help="plait worker processes (default: 1)")
    g.add_argument("--port", "-p", type=int, default=S, metavar="PORT",
                   help="plait's port (default: 0, any free port)")
    g.add_argument("--url", default=S, metavar="URL",
                   help="measure a server already running at this GraphQL URL instead "
                        "of starting plait (no RSS/CPU figures)")
    g.add_argument("--name", default=S, help="name of the measured target (default: plait)")
    g.add_argument("--compare", action="append", default=S, metavar="NAME=CMD",
                   help="also run a peer serving the same schema, with the same load, and "
                        "print ratios: CMD is a shell command; {port} (a free port, else "
                        "the config's @server port), {config}, {upstream} and {python} are "
                        "substituted; the harness waits for the port and stops the "
                        "command's process group afterwards; repeatable")
    g.add_argument("--startup-timeout", type=parse_seconds, default=S, metavar="SECONDS",
                   help="how long a target may take to listen (default: 60s)")
    g = p.add_argument_group("output")
    g.add_argument("--out", "-o", default=S, metavar="DIR",
                   help="where report.json, report.md and latency.png go "
                        "(default: ./bench-report)")
    g.add_argument("--quiet", "-q", action="store_true", default=S,
                   help="no live progress (the summary is still printed)")


