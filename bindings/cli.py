"""The ``plait`` command line.

    plait check CONFIG... [--n-plus-one-queries] [--format text|json]
    plait bench [CONFIG...] --operations SOURCE [--budget OP:p99=10ms] [--compare NAME=CMD]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import traceback
from collections.abc import Sequence

from . import __version__
from .planner import CheckResult, check_config, find_n_plus_one
from .planner.model import UPSTREAM_RESOLVERS, Blueprint

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plait",
        description="plait: a fast API-composition engine driven by a GraphQL SDL config "
                    "(Tailcall-compatible directives).",
    )
    parser.add_argument("--version", action="version", version=f"plait {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check", help="validate configs and report every error",
        description="Load config files (.graphql/.gql schemas, .yml/.yaml/.json runtime "
                    "settings; merged in order, following @link(type: Config)) and report "
                    "every error as file:line:col: message. Exit 0 when valid, 1 when not.")
    check.add_argument("configs", nargs="+", metavar="CONFIG", help="config files")
    check.add_argument("-n", "--n-plus-one-queries", action="store_true",
                       help="list query paths where each list item triggers its own "
                            "un-batched upstream call")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="output format (default: text)")
    check.set_defaults(run=run_check)

    explain = commands.add_parser(
        "explain", help="show how a query is planned: upstream calls, batches, waves",
        description="Validate QUERY against the config and print its plan: each upstream "
                    "call (with URL template, batching and dedupe), which call depends on "
                    "which, the waves that run concurrently and the critical path.")
    explain.add_argument("config", metavar="CONFIG", help="config file (.graphql)")
    explain.add_argument("query", metavar="QUERY",
                         help="a GraphQL document, or the path of a .graphql file holding one")
    explain.add_argument("--operation-name", "-o", default=None,
                         help="which operation of the document to plan")
    explain.add_argument("--variables", "-v", default=None,
                         help="variables as a JSON object (they decide @skip/@include)")
    explain.set_defaults(run=run_explain)

    start = commands.add_parser(
        "start", help="serve the composed GraphQL API over HTTP",
        description="Check the config (exit 1 with every error, as `plait check` prints "
                    "them), then serve GraphQL over HTTP on uvloop until SIGTERM/SIGINT, "
                    "which finish in-flight requests before exiting. Defaults come from "
                    "@server(hostname, port, workers).")
    start.add_argument("configs", nargs="+", metavar="CONFIG", help="config files")
    start.add_argument("--host", default=None,
                       help="address to listen on (default: @server(hostname), else 0.0.0.0)")
    start.add_argument("--port", "-p", type=int, default=None,
                       help="port (default: @server(port), else 8000; 0: any free port)")
    start.add_argument("--workers", "-w", type=int, default=None,
                       help="worker processes sharing the port (default: @server(workers), "
                            "else the CPU count)")
    start.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       default="warning",
                       help="info logs one line per request (default: warning)")
    start.add_argument("--grace", type=float, default=10.0,
                       help="seconds in-flight requests get to finish on shutdown "
                            "(default: 10)")
    start.add_argument("--max-body-size", type=int, default=1024 * 1024, metavar="BYTES",
                       help="largest request body accepted; larger ones get 413 "
                            "(default: 1048576)")
    start.add_argument("--no-worker-sharing", dest="worker_sharing", action="store_false",
                       help="with several workers, do not let a request join an identical "
                            "dedupe'd execution (one with more than one round of upstream "
                            "calls) that another worker is running (shared by default, "
                            "Linux only)")
    start.add_argument("--no-yield", dest="yield_cpu", action="store_false",
                       help="do not give up the CPU after event-loop turns that read "
                            "requests (by default a worker does, at most once a "
                            "millisecond, so a proxy or client on the same host waiting "
                            "for the CPU runs sooner)")
    start.set_defaults(run=run_start)

    demo = commands.add_parser(
        "demo", help="serve the bundled example over the bundled example upstream",
        description="Start the bundled JSONPlaceholder upstream and serve the bundled "
                    "example config over it (no network needed), answer one query over "
                    "HTTP and print it, then keep serving until Ctrl-C.")
    demo.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    demo.add_argument("--port", "-p", type=int, default=8000,
                      help="port (default: 8000; 0: any free port)")
    demo.add_argument("--once", action="store_true",
                      help="stop after answering the sample query")
    demo.set_defaults(run=run_demo)

    from .bench.options import add_arguments as add_bench_arguments

    bench = commands.add_parser(
        "bench", help="measure operations under load against latency budgets and peers",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Start the upstream fixture (when asked) and plait, warm up, run the load per "
            "operation and report req/s, p50/p90/p99/p99.9/max latency, errors, upstream "
            "calls per request, server RSS and CPU; with --compare, the same for peers and "
            "the ratios. Writes report.json, report.md and latency.png.", 88),
        epilog="exit codes: 0 every budget met; 1 a budget exceeded (or the config is "
               "invalid);\n  2 usage error; 3 the run failed (a target did not start)\n\n"
               "examples:\n"
               "  plait bench examples/jsonplaceholder.graphql --upstream builtin \\\n"
               "      -O 'Q2={posts{title}}' -c 10 -d 5s --budget 'Q2:p99=20ms'\n"
               "  plait bench --scenario bench/scenarios/standard.yml")
    add_bench_arguments(bench)
    bench.set_defaults(run=run_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # undecodable file names must not crash output
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug must not look like bad input
        if os.environ.get("PLAIT_DEBUG"):
            traceback.print_exc()
        print(f"plait: internal error: {exc!r} (set PLAIT_DEBUG=1 for a traceback; "
              "please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _summary(blueprint: Blueprint) -> dict[str, int]:
    types = blueprint.user_types()
    fields = sum(len(t.fields) for t in types)
    resolvers = [f.resolver for t in types for f in t.fields.values() if f.resolver]
    return {"types": len(types), "fields": fields, "resolvers": len(resolvers),
            "upstream_resolvers": sum(isinstance(r, UPSTREAM_RESOLVERS) for r in resolvers)}


def run_check(args: argparse.Namespace) -> int:
    result: CheckResult = check_config(args.configs)
    hazards = find_n_plus_one(result.blueprint) if (result.blueprint and
                                                    args.n_plus_one_queries) else []
    if args.format == "json":
        report = {
            "ok": result.ok,
            "files": result.files,
            "milliseconds": round(result.seconds * 1000, 3),
            "diagnostics": [d.to_json() for d in result.diagnostics],
            "diagnostics_not_shown": result.dropped,
            "summary": _summary(result.blueprint) if result.blueprint else None,
        }
        if args.n_plus_one_queries:
            report["n_plus_one"] = [{"field": h.field, "path": h.chain(), "query": h.query()}
                                    for h in hazards]
        # ensure_ascii: file names that are not valid UTF-8 still print as valid JSON.
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK if result.ok else EXIT_INVALID

    for diagnostic in result.diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    if result.dropped:
        print(f"... and {result.dropped} more not shown", file=sys.stderr)
    errors, warnings = result.error_count, result.warning_count
    if result.blueprint is None:
        print(f"plait check: {_count(errors, 'error')}, {_count(warnings, 'warning')}",
              file=sys.stderr)
        return EXIT_INVALID
    stats = _summary(result.blueprint)
    print(f"ok: {', '.join(result.files)}: {_count(stats['types'], 'type')}, "
          f"{_count(stats['fields'], 'field')}, {_count(stats['resolvers'], 'resolver')} "
          f"({stats['upstream_resolvers']} upstream), {_count(warnings, 'warning')}; "
          f"checked in {result.seconds * 1000:.1f} ms")
    if args.n_plus_one_queries:
        if not hazards:
            print("N+1 queries: none")
        else:
            print(f"N+1 queries: {len(hazards)}")
            width = max(len(h.query()) for h in hazards)
            for hazard in hazards:
                print(f"  {hazard.query():<{width}}  {hazard.chain()}")
    return EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    from .engine_api import Engine
    from .planner.query_errors import RequestInvalid

    result = check_config([args.config])
    if result.blueprint is None:
        for diagnostic in result.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return EXIT_INVALID
    query = args.query
    if query.endswith((".graphql", ".gql")) and os.path.isfile(query):
        with open(query, encoding="utf-8") as handle:
            query = handle.read()
    try:
        variables = json.loads(args.variables) if args.variables else None
    except json.JSONDecodeError as exc:
        print(f"plait explain: --variables is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = Engine(result.blueprint, vm="py")
    try:
        print(engine.explain(query, args.operation_name, variables))
    except RequestInvalid as exc:
        for error in exc.to_list():
            where = "".join(f" (line {loc['line']}, column {loc['column']})"
                            for loc in error.get("locations", [])[:1])
            print(f"error{where}: {error['message']}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def run_start(args: argparse.Namespace) -> int:
    """``plait start``: serve until SIGTERM/SIGINT (see ``plait.server.run``)."""
    if args.port is not None and not 0 <= args.port <= 65535:
        print(f"plait start: --port must be 0-65535, not {args.port}", file=sys.stderr)
        return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        print(f"plait start: --workers must be at least 1, not {args.workers}",
              file=sys.stderr)
        return EXIT_USAGE
    from .server import run

    if args.max_body_size < 1:
        print("plait start: --max-body-size must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    return run(args.configs, host=args.host, port=args.port, workers=args.workers,
               log_level=args.log_level, grace=args.grace, max_body_size=args.max_body_size,
               share_across_workers=args.worker_sharing, yield_cpu=args.yield_cpu)


def run_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(args.host, args.port, args.once)


def run_bench(args: argparse.Namespace) -> int:
    from .bench.runner import run

    return run(args)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
