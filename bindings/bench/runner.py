"""``plait bench``: run operations against plait (and peers) under load, report per
operation, check latency budgets. See ``plait bench --help`` and the README.

Exit codes: 0 every budget met, 1 a budget exceeded (or the config is invalid),
2 usage error, 3 the run failed (a target did not start, the load generator failed).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import budgets as budgets_module
from . import loadgen, operations, procstats, report, targets, wrk

# add_arguments is re-exported for callers that build their own parser
from .options import DEFAULT_UPSTREAM, add_arguments, parse_seconds  # noqa: F401

EXIT_OK, EXIT_BUDGET, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
DEFAULTS: dict[str, Any] = {
    "configs": [], "operations": [], "connections": 10, "duration": 10.0, "requests": None,
    "rate": None, "warmup": 2.0, "threads": None, "loadgen": "auto", "budgets": [],
    "budget_files": [], "upstream": "none", "upstream_data": None, "upstream_port": 3000,
    "config_upstream": DEFAULT_UPSTREAM, "workers": 1, "port": 0, "url": None,
    "compare": [], "out": "bench-report", "timeout": 10.0, "startup_timeout": 60.0,
    "quiet": False, "name": "plait",
}


class UsageError(Exception):
    pass


# -- settings ----------------------------------------------------------------------------
def _scenario(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"--scenario {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"--scenario {path}: expected a mapping")
    here = file.resolve().parent
    out: dict[str, Any] = {"scenario_dir": str(here)}
    rel = lambda v: str((here / os.path.expandvars(str(v))).resolve())
    for key, value in data.items():
        key = key.replace("-", "_")
        if key == "config":
            out["configs"] = [rel(v) for v in (value if isinstance(value, list) else [value])]
        elif key == "operations":
            out["operations"] = [rel(v) if (here / str(v)).exists() else str(v)
                                 for v in (value if isinstance(value, list) else [value])]
        elif key == "budgets":
            if isinstance(value, dict):
                out["budget_map"] = value
            else:
                out["budget_files"] = [rel(v) for v in (value if isinstance(value, list)
                                                        else [value])]
        elif key in ("out", "upstream_data"):
            out[key] = rel(value)
        elif key == "compare":
            out["compare"] = value
        elif key in ("duration", "warmup", "timeout", "startup_timeout"):
            out[key] = parse_seconds(value)
        elif key in DEFAULTS:
            out[key] = value
        else:
            raise UsageError(f"--scenario {path}: unknown setting {key!r}")
    return out


@dataclass
class Settings:
    values: dict[str, Any]
    ops: list[operations.Operation] = field(default_factory=list)
    limits: list[budgets_module.Limit] = field(default_factory=list)
    peers: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None


def _peers(entries: Any, scenario_dir: str | None, notes: list[str]) -> list[tuple[str, str]]:
    out = []
    for entry in entries or []:
        if isinstance(entry, str):
            name, eq, command = entry.partition("=")
            if not eq or not name.strip() or not command.strip():
                raise UsageError(f"--compare {entry!r}: expected NAME=COMMAND")
            out.append((name.strip(), command.strip()))
            continue
        if not isinstance(entry, dict) or "name" not in entry or "command" not in entry:
            raise UsageError("scenario compare entries need 'name' and 'command'")
        requires = entry.get("requires")
        if requires:
            path = Path(scenario_dir or ".") / str(requires)
            if not path.exists():
                notes.append(f"peer {entry['name']} skipped: {requires} not found")
                continue
        module = entry.get("requires_module")
        if module:
            import importlib.util

            if importlib.util.find_spec(str(module)) is None:
                notes.append(f"peer {entry['name']} skipped: Python module {module} is not "
                             "installed (pip install 'plait[bench]')")
                continue
        command = str(entry["command"]).replace("{here}", shlex.quote(scenario_dir or "."))
        out.append((str(entry["name"]), command))
    return out


def settings(args: argparse.Namespace) -> Settings:
    given = {k: v for k, v in vars(args).items() if k not in ("run", "command", "scenario")}
    values = dict(DEFAULTS)
    scenario = _scenario(args.scenario) if args.scenario else {}
    values.update(scenario)
    values.update(given)
    s = Settings(values)
    if not values["configs"] and not values["url"]:
        raise UsageError("give a CONFIG (or --url, or a --scenario naming one)")
    if not values["operations"]:
        raise UsageError("give the operations to run (--operations DIR|FILE|NAME=QUERY)")
    for key in ("connections", "workers"):
        if int(values[key]) < 1:
            raise UsageError(f"--{key} must be at least 1")
    if values["requests"] is not None and values["requests"] < 1:
        raise UsageError("--requests must be at least 1")
    if values["rate"] is not None and values["rate"] <= 0:
        raise UsageError("--rate must be positive")
    if values["duration"] <= 0:
        raise UsageError("--duration must be positive")
    if values["threads"] is not None and values["threads"] < 1:
        raise UsageError("--threads must be at least 1")
    needs_builtin = values["rate"] is not None or values["requests"] is not None
    kind = values["loadgen"]
    if kind == "wrk":
        if needs_builtin:
            raise UsageError("wrk cannot do --rate or --requests runs: use --loadgen builtin")
        if wrk.path() is None:
            raise UsageError("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    elif kind == "auto":
        kind = "wrk" if wrk.path() and not needs_builtin else "builtin"
    values["loadgen"] = kind
    if values["threads"] is None:
        values["threads"] = 2 if kind == "wrk" else 1
    try:
        s.ops = operations.load([str(x) for x in values["operations"]])
        for spec in values["budgets"] or []:
            s.limits += budgets_module.parse_cli(spec)
        for file in values["budget_files"] or []:
            s.limits += budgets_module.load_file(file)
        if values.get("budget_map"):
            s.limits += budgets_module.parse_mapping(values["budget_map"], "scenario budgets")
    except (operations.OperationError, budgets_module.BudgetError, OSError,
            ValueError) as exc:
        raise UsageError(str(exc)) from exc
    s.peers = _peers(values["compare"], values.get("scenario_dir"), s.notes)
    return s


# -- the run -----------------------------------------------------------------------------
class Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def show(self, text: str, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
            sys.stderr.flush()
        elif final or now - self.last >= 1.0:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self.last = now

    def say(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(("\r\033[K" if self.tty else "") + text + "\n")
            sys.stderr.flush()


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json",
                                                 **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _preflight(url: str, op: operations.Operation, timeout: float) -> str | None:
    """None when the operation answers 200 without errors; else what went wrong."""
    body, headers = op.bodies()[0]
    try:
        status, answer = _post(url, body, headers, timeout)
    except OSError as exc:
        return f"no answer: {exc}"
    if status != 200:
        return f"HTTP {status}: {answer[:200].decode(errors='replace')}"
    try:
        data = json.loads(answer)
    except ValueError:
        return f"not JSON: {answer[:200].decode(errors='replace')}"
    if isinstance(data, dict) and data.get("errors"):
        return "GraphQL errors: " + json.dumps(data["errors"])[:300]
    return None


def _one_load(s: Settings, url: str, op: operations.Operation, *, duration: float | None,
              total: int | None, rate: float | None, workdir: Path, progress: Progress,
              label: str, sampler: procstats.Sampler | None) -> loadgen.Outcome:
    bodies = op.bodies()
    started = time.monotonic()
    planned = f"{total:,} req" if total else f"{duration:g} s"
    if s.loadgen == "wrk" and total is None and rate is None:
        runner = wrk.Runner(url, bodies, workdir, s.connections, s.threads,
                            duration or 1.0, s.timeout).start()
        try:
            while runner.running():
                time.sleep(0.25)
                if sampler:
                    sampler.sample()
                progress.show(f"{label}: {time.monotonic() - started:4.1f}/{planned} (wrk)")
            return runner.wait()
        finally:
            runner.kill()
    load = loadgen.Load(url, bodies, connections=s.connections, duration=duration,
                        total=total, rate=rate, workers=s.threads, timeout=s.timeout)
    gen = loadgen.Generator(load).start()
    try:
        while gen.running():
            time.sleep(0.25)
            if sampler:
                sampler.sample()
            done, errors = gen.progress()
            elapsed = time.monotonic() - started
            progress.show(f"{label}: {elapsed:4.1f} s, {done:,}/{planned}, "
                          f"{done / max(elapsed, 1e-9):,.0f} req/s, {errors} errors")
        return gen.wait()
    finally:
        gen.kill()


def _settle(pid: int | None, limit: float = 15.0) -> None:
    """Wait until the server's process tree is idle (below 10% of a core over 0.2 s), so
    work left over from the previous run (requests whose clients are gone) is not
    measured with the next one."""
    if pid is None:
        return
    deadline = time.monotonic() + limit
    last = procstats.tree_usage(pid)[1]
    while time.monotonic() < deadline:
        time.sleep(0.2)
        cpu = procstats.tree_usage(pid)[1]
        if cpu - last < 0.02:
            return
        last = cpu


def _measure(s: Settings, target: _Fixed, op: operations.Operation,
             upstream: targets.Upstream | None, workdir: Path,
             progress: Progress) -> dict[str, Any]:
    label = f"{target.name} {op.name}"
    pid = target.process.pid if target.process else None
    if s.warmup > 0:
        _settle(pid)
        _one_load(s, target.url, op, duration=s.warmup, total=None, rate=None,
                  workdir=workdir, progress=progress, label=label + " warm-up", sampler=None)
    _settle(pid)
    sampler = procstats.Sampler(target.process.pid if target.process else None)
    hits_before = upstream.hits() if upstream else None
    sampler.start()
    outcome = _one_load(s, target.url, op, duration=None if s.requests else s.duration,
                        total=s.requests, rate=s.rate, workdir=workdir, progress=progress,
                        label=label, sampler=sampler)
    sampler.stop()
    hits_after = upstream.hits() if upstream else None
    calls = None
    if hits_before is not None and hits_after is not None and outcome.completed:
        extra = 1 if upstream and upstream.kind == "nginx" else 0   # the status request
        calls = round((hits_after - hits_before - extra) / outcome.completed, 3)
    seconds = outcome.seconds or s.duration
    result = {
        "target": target.name, "operation": op.name, "query": op.query,
        "requests": outcome.completed, "seconds": round(seconds, 3),
        "rps": round(outcome.completed / seconds, 1) if seconds else 0.0,
        "latency_ms": report.latency_ms(outcome.latency),
        "errors": outcome.error_count, "error_kinds": dict(outcome.errors),
        "statuses": {str(k): v for k, v in outcome.statuses.items()},
        "upstream_calls_per_request": calls,
        "server": None, "histogram": outcome.latency.to_json(),
        "coordinated_omission_corrected": s.rate is not None,
    }
    if outcome.uncorrected is not None:
        result["latency_uncorrected_ms"] = report.latency_ms(outcome.uncorrected)
    if sampler.pid is not None:
        result["server"] = {"rss_mb": round(sampler.peak_rss / 2**20, 1),
                            "cpu_seconds": round(sampler.cpu_seconds, 3),
                            "cpu_percent": round(100 * sampler.cpu_seconds / seconds, 1)
                            if seconds else None,
                            # CPU per answer: steadier than req/s on a shared machine
                            "cpu_us_per_request":
                                round(1e6 * sampler.cpu_seconds / outcome.completed, 1)
                                if outcome.completed else None}
    lat = result["latency_ms"]
    progress.show(f"{label}: {result['rps']:,.0f} req/s, p50 {lat['p50']:.2f} ms, "
                  f"p99 {lat['p99']:.2f} ms, max {lat['max']:.2f} ms, "
                  f"{result['errors']} errors", final=True)
    return result


def _rewrite_configs(configs: list[str], old: str, new: str, workdir: Path) -> list[str]:
    out = []
    for index, config in enumerate(configs):
        path = Path(config)
        text = path.read_text(encoding="utf-8")
        if old == new or old not in text:
            out.append(str(path.resolve()))
            continue
        copy = workdir / f"config{index}" / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text.replace(old.rstrip("/"), new), encoding="utf-8")
        out.append(str(copy))
    return out


def execute(s: Settings) -> int:
    progress = Progress(s.quiet)
    configs = [str(c) for c in s.configs]
    if configs and not s.url:
        from ..planner import check_config

        checked = check_config(configs)
        if not checked.ok:
            for diagnostic in checked.diagnostics:
                print(diagnostic.format(), file=sys.stderr)
            return EXIT_BUDGET
    workdir = Path(tempfile.mkdtemp(prefix="plait-bench-"))
    upstream: targets.Upstream | None = None
    results: list[dict[str, Any]] = []
    notes = list(s.notes)
    failed = False
    names: list[str] = []
    try:
        if s.upstream == "auto":
            s.values["upstream"] = "nginx" if shutil.which("nginx") else "builtin"
        if s.upstream != "none":
            port = s.upstream_port or targets.free_port()
            upstream = targets.Upstream(s.upstream, port, workdir, s.upstream_data)
            if s.upstream == "nginx":
                if shutil.which("nginx") is None:
                    print("plait bench: --upstream nginx: nginx is not installed",
                          file=sys.stderr)
                    return EXIT_USAGE
            try:
                upstream.start()
            except (RuntimeError, OSError, ValueError) as exc:
                print(f"plait bench: {exc}", file=sys.stderr)
                failed = True
                return EXIT_FAILED
            progress.say(f"upstream ({s.upstream}) on {upstream.url}")
            configs = _rewrite_configs(configs, s.config_upstream, upstream.url, workdir)
        plan: list[targets.Target] = []
        if s.url:
            plan.append(targets.Target(s.name, [], 0))
        else:
            port = s.port or targets.free_port()
            argv = [sys.executable, "-m", "plait", "start", *configs, "--port", str(port),
                    "--workers", str(s.workers), "--host", "127.0.0.1"]
            plan.append(targets.Target(s.name, argv, port))
        for name, command in s.peers:
            if name in [t.name for t in plan]:
                raise UsageError(f"--compare {name}: the name is taken")
            port = targets.free_port() if "{port}" in command else _config_port(configs)
            cmd = targets.expand(command, port=port, config=configs[0] if configs else "",
                                 upstream=upstream.url if upstream else s.config_upstream,
                                 python=sys.executable)
            plan.append(targets.Target(name, cmd, port))
        names = [t.name for t in plan]
        for target in plan:
            url = s.url if (s.url and target is plan[0]) else target.url
            if not (s.url and target is plan[0]):
                try:
                    progress.say(f"starting {target.name} on port {target.port}")
                    target.start(workdir, s.startup_timeout)
                except RuntimeError as exc:
                    print(f"plait bench: {exc}", file=sys.stderr)
                    notes.append(f"{target.name} did not start")
                    failed = True
                    continue
            try:
                for op in s.ops:
                    problem = _preflight(url, op, s.timeout)
                    if problem:
                        notes.append(f"{target.name} {op.name}: {problem}")
                        progress.say(f"warning: {target.name} {op.name}: {problem}")
                    result = _measure(s, _Fixed(target, url), op, upstream, workdir,
                                      progress)
                    result["preflight_problem"] = problem
                    results.append(result)
            except RuntimeError as exc:
                print(f"plait bench: {target.name}: {exc}", file=sys.stderr)
                notes.append(f"{target.name}: {exc}")
                failed = True
            finally:
                target.stop()
    except UsageError as exc:
        print(f"plait bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if upstream is not None:
            upstream.stop()
        if failed:
            print(f"plait bench: logs of the processes it ran are in {workdir}",
                  file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        print("plait bench: nothing was measured", file=sys.stderr)
        return EXIT_FAILED
    mine = {r["operation"]: r for r in results if r["target"] == names[0]}
    checks = budgets_module.check(s.limits, mine)
    # Errors fail the run unless an `errors` budget says how many are acceptable (wrk does
    # not read answers: a GraphQL error there shows in the request sent before the run).
    allowed = {x.operation for x in s.limits if x.metric == "errors"}
    for name, r in mine.items():
        if (r["errors"] or r["preflight_problem"]) and not allowed & {name, "*"}:
            check = {"operation": name, "metric": "errors", "limit": 0.0,
                     "value": float(r["errors"]), "ok": False, "implicit": True}
            if not r["errors"]:
                check["reason"] = "the request sent before the run was answered with an error"
            checks.append(check)
    data = {
        "plait_version": _version(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "config": ", ".join(str(c) for c in s.configs) or None,
        "url": s.url,
        "loadgen": s.loadgen if s.loadgen == "builtin" else f"wrk -t{s.threads}",
        "load": {"connections": s.connections, "duration": s.duration,
                 "requests": s.requests, "rate": s.rate, "warmup": s.warmup,
                 "threads": s.threads},
        "upstream": s.upstream if s.upstream != "none" else f"external ({s.config_upstream})",
        "targets": names,
        "operations": [op.name for op in s.ops],
        "results": results,
        "ratios": report.ratios(results, names[0]),
        "budgets": checks,
        "ok": all(c["ok"] for c in checks),
        "notes": notes,
    }
    paths = report.write(data, Path(s.out))
    sys.stdout.write(report.markdown(data))
    print(f"\nreport: {', '.join(str(p) for p in paths.values())}")
    if "png" not in paths:
        print("plait bench: no latency.png: matplotlib is not installed "
              "(pip install 'plait[bench]')", file=sys.stderr)
    if not data["ok"]:
        for c in checks:
            if not c["ok"]:
                unit = "" if c["metric"] == "errors" else " ms"
                measured = "not measured" if c["value"] is None else f"{c['value']:g}{unit}"
                if c.get("reason"):
                    measured = c["reason"]
                print(f"budget exceeded: {c['operation']} {c['metric']} = {measured} "
                      f"(limit {c['limit']:g}{unit})", file=sys.stderr)
        return EXIT_BUDGET
    return EXIT_FAILED if failed else EXIT_OK


class _Fixed:
    """A target seen through a fixed URL (for --url or a started process)."""

    def __init__(self, target: targets.Target, url: str) -> None:
        self.name = target.name
        self.process = target.process
        self.url = url


def _config_port(configs: list[str]) -> int:
    if not configs:
        return 8000
    from ..planner import load_config

    try:
        return int(load_config(*configs).server.port or 8000)
    except Exception:  # noqa: BLE001 - an invalid config was already reported
        return 8000


def _version() -> str:
    from .. import __version__

    return __version__


def run(args: argparse.Namespace) -> int:
    try:
        s = settings(args)
    except UsageError as exc:
        print(f"plait bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return execute(s)
