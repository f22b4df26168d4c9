"""Run the behaviour spec (``tests/spec/*.md``) against Tailcall 1.6.14 and list differences.

    python bench/parity_spec.py [CASE...] [--report bench/PARITY.md] [--timeout 30]

Opt-in, not part of the test suite: needs ``../shared/peers/tailcall.sh``. For each ``@test``
case it starts the mock upstreams, writes the config with origins rewritten and
``@server(port:)`` set to a free port, starts Tailcall, sends the case's requests and
compares the answers and upstream hit counts with ``@expect``/``expectedHits``; plait (the
compiled VM, in process, as ``tests/test_spec.py`` runs it) is run on the same case for the
record. For ``@check`` cases only whether ``tailcall check`` also refuses the config counts.

Each case is classified as ``identical`` (Tailcall matches the expectation), ``deliberate``
(a mismatch, and the case has a ``**Differs from Tailcall:**`` line), ``differs`` (a mismatch
without one: fix plait or document the difference) or ``error`` (Tailcall did not start;
a config Tailcall refuses counts as ``deliberate`` when the case documents it). An
``identical`` case that still has a ``Differs`` line is flagged: the line is stale.
``fixed`` counts cases that were ``differs`` in the previous report and are not any more.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from plait.bench.targets import Process, free_port
from tests.spec_runner import (
    Case,
    CaseError,
    case_env,
    case_paths,
    check_problems,
    exchange,
    mock_upstream,
    parse_case,
    run_against_plait,
    write_case,
)

TAILCALL = REPO.parent / "shared" / "peers" / "tailcall.sh"
STATUSES = ("identical", "deliberate", "differs", "error")
DIFF_LINES = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ConfigRefused(RuntimeError):
    """Tailcall exited at startup (it refuses the config)."""


@dataclass
class Outcome:
    """The parity result of one case."""

    case: str
    status: str
    tailcall: list[str] = field(default_factory=list)
    plait: list[str] = field(default_factory=list)
    note: str = ""


# -- config rewriting ---------------------------------------------------------------------------
def _closing_paren(text: str, start: int) -> int:
    """Index of the ``)`` closing the ``(`` just before ``start`` (strings skipped)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith('"""', i):
            i = text.index('"""', i + 3) + 3
            continue
        char = text[i]
        if char == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced @server(")


def with_port(config: str, port: int) -> str:
    """``config`` with ``@server(port: PORT)``, adding the argument or directive if needed."""
    match = re.search(r"@server\s*\(", config)
    if match:
        end = _closing_paren(config, match.end())
        args = config[match.end():end]
        if re.search(r"\bport\s*:\s*\d+", args):
            args = re.sub(r"\bport\s*:\s*\d+", f"port: {port}", args, count=1)
        else:
            args = f"port: {port}, {args}"
        return config[:match.end()] + args + config[end:]
    match = re.search(r"@server\b", config)
    if match:
        return config[:match.end()] + f"(port: {port})" + config[match.end():]
    match = re.search(r"^\s*schema\b", config, re.MULTILINE)
    if match:
        return config[:match.end()] + f" @server(port: {port})" + config[match.end():]
    roots = "query: Query" + (" mutation: Mutation" if re.search(r"\btype\s+Mutation\b",
                                                                   config) else "")
    return f"schema @server(port: {port}) {{ {roots} }}\n" + config


# -- Tailcall -----------------------------------------------------------------------------------
def _log_tail(path: Path, lines: int = 15) -> list[str]:
    text = _ANSI.sub("", path.read_text(errors="replace")) if path.exists() else ""
    return text.strip().splitlines()[-lines:]


async def _wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tailcall exited with {process.returncode}")
            try:
                async with session.post(base + "/graphql", json={"query": "{__typename}"},
                                        timeout=aiohttp.ClientTimeout(total=2)) as answer:
                    await answer.read()
                    return
            except (TimeoutError, aiohttp.ClientError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tailcall did not answer within {timeout:.0f} s")
                await asyncio.sleep(0.2)


async def run_tailcall(case: Case, directory: Path, timeout: float) -> list[str]:
    """The case's problems when Tailcall serves it; ``RuntimeError`` if it does not start."""
    async with mock_upstream(case) as upstream:
        config = write_case(case, directory, upstream)
        port = free_port()
        config.write_text(with_port(config.read_text(), port))
        log = directory / "tailcall.log"
        # `tailcall start CONFIG` in its own process group (stopped with it), output to log.
        tailcall = Process("tailcall", ["bash", str(TAILCALL), "start", str(config.resolve())],
                           port, log, env=case_env(case, upstream), cwd=config.parent)
        try:
            try:
                await asyncio.to_thread(tailcall.start, timeout)  # until its port is open
                assert tailcall.proc is not None
                await _wait_ready(f"http://127.0.0.1:{port}", tailcall.proc, timeout)
            except RuntimeError as error:
                detail = "\n".join([str(error).splitlines()[0], *_log_tail(log)])
                if tailcall.proc is not None and tailcall.proc.poll() is not None:
                    raise ConfigRefused(detail) from None
                raise RuntimeError(detail) from None
            problems, _ = await asyncio.wait_for(
                exchange(case, f"http://127.0.0.1:{port}", upstream), timeout)
            return problems
        finally:
            tailcall.stop()


def tailcall_refuses(case: Case, directory: Path, timeout: float) -> tuple[bool, list[str]]:
    """Whether ``tailcall check`` refuses the case's config, and its output."""
    config = write_case(case, directory, None)
    done = subprocess.run(["bash", str(TAILCALL), "check", str(config.resolve())],
                          cwd=directory, capture_output=True, timeout=timeout, check=False,
                          env={**os.environ, **case.env})
    output = _ANSI.sub("", (done.stdout + done.stderr).decode(errors="replace"))
    return done.returncode != 0, output.strip().splitlines()[-DIFF_LINES:]


# -- one case -----------------------------------------------------------------------------------
def _classify(case: Case, mismatch: bool) -> str:
    if not mismatch:
        return "identical"
    return "deliberate" if case.differs else "differs"


def run_case(path: Path, timeout: float) -> Outcome:
    """Run one case on Tailcall and plait and classify it."""
    try:
        case = parse_case(path)
    except CaseError as error:
        return Outcome(path.stem, "error", [str(error)])
    with tempfile.TemporaryDirectory(prefix=f"parity-{case.name}-") as tmp:
        tail_dir, plait_dir = Path(tmp) / "tailcall", Path(tmp) / "plait"
        tail_dir.mkdir()
        plait_dir.mkdir()
        if case.check is not None:
            ours = check_problems(case, plait_dir)
            try:
                refused, output = tailcall_refuses(case, tail_dir, timeout)
            except subprocess.TimeoutExpired:
                return Outcome(case.name, "error", ["tailcall check timed out"], ours)
            theirs = [] if refused else ["tailcall check accepts this config", *output]
            return Outcome(case.name, _classify(case, not refused), theirs, ours,
                           case.differs or "")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            try:
                ours, _ = runner.run(asyncio.wait_for(
                    run_against_plait(case, plait_dir, "c"), timeout))
            except Exception as error:  # noqa: BLE001 - recorded, the run goes on
                ours = [f"plait failed: {type(error).__name__}: {error}"]
            try:
                theirs = runner.run(run_tailcall(case, tail_dir, timeout))
            except ConfigRefused as error:
                # A refusal is a difference like any other when the case documents it.
                return Outcome(case.name, "deliberate" if case.differs else "error",
                               [str(error)], ours, case.differs or "")
            except (TimeoutError, RuntimeError, OSError) as error:
                return Outcome(case.name, "error", [f"{type(error).__name__}: {error}"],
                               ours, case.differs or "")
    return Outcome(case.name, _classify(case, bool(theirs)), theirs, ours, case.differs or "")


# -- the report ---------------------------------------------------------------------------------
def previous_statuses(report: Path) -> dict[str, str]:
    """Case → status from the per-case table of an earlier report."""
    if not report.exists():
        return {}
    rows = re.findall(r"^\| `([^`]+)` \| (\w+) \|", report.read_text(), re.MULTILINE)
    return dict(rows)


def _cell(problems: list[str]) -> str:
    if not problems:
        return "as expected"
    return problems[0].splitlines()[0].replace("|", "\\|")[:90]


def _tailcall_cell(outcome: Outcome) -> str:
    if outcome.status == "identical" and outcome.note:
        return "as expected (stale Differs line)"
    return _cell(outcome.tailcall)


def summary(outcomes: list[Outcome], before: dict[str, str]) -> dict[str, int]:
    counts = {status: sum(o.status == status for o in outcomes) for status in STATUSES}
    counts["fixed"] = sum(before.get(o.case) == "differs" and o.status in
                          ("identical", "deliberate") for o in outcomes)
    return {"run": len(outcomes), **counts}


def markdown(outcomes: list[Outcome], counts: dict[str, int], version: str) -> str:
    """The Markdown report: counts, one row per case, then the differences."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Behaviour spec: parity with Tailcall", "",
        (f"`python bench/parity_spec.py` on {stamp}, Tailcall {version}, plait VM `c`. "
         "Statuses: `identical` (Tailcall does what the case expects), `deliberate` (it does "
         "not, and the case says why plait differs), `differs` (it does not and the case does "
         "not say why: fix plait or add a `**Differs from Tailcall:**` line), `error` "
         "(Tailcall did not run the case). `fixed`: `differs` in the previous report, not now. "
         "\"stale Differs line\": Tailcall does what the case expects, yet the case says it "
         "does not."),
        "",
        "| cases run | identical | deliberately different | differs | error | fixed |",
        "|---|---|---|---|---|---|",
        "| {run} | {identical} | {deliberate} | {differs} | {error} | {fixed} |".format(**counts),
        "", "| case | status | Tailcall vs expected | plait vs expected |", "|---|---|---|---|"]
    lines += [f"| `{o.case}` | {o.status} | {_tailcall_cell(o)} | {_cell(o.plait)} |"
              for o in outcomes]
    lines += ["", "## Differences", ""]
    for o in outcomes:
        if not (o.tailcall or o.plait):
            continue
        lines += [f"### `{o.case}` ({o.status})", ""]
        if o.note:
            lines += [f"Differs from Tailcall: {o.note}", ""]
        for who, problems in (("Tailcall", o.tailcall), ("plait", o.plait)):
            if problems:
                text = "\n".join(problems).splitlines()
                more = len(text) - DIFF_LINES
                lines += [f"{who}:", "", "```diff", *text[:DIFF_LINES],
                          *([f"... {more} more lines"] if more > 0 else []), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def _version() -> str:
    try:
        prefix = subprocess.run(["bash", str(TAILCALL), "path"], capture_output=True,
                                text=True, timeout=600, check=True).stdout.split()
        done = subprocess.run([*prefix, "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
        return done.stdout.strip().removeprefix("tailcall").strip().lstrip("v") or "1.6.14"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="case names or files (default: every case)")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds for Tailcall to start, and for each case's requests")
    args = parser.parse_args()
    if not TAILCALL.exists():
        print(f"{TAILCALL} not found", file=sys.stderr)
        return 2
    paths = case_paths()
    if args.cases:
        wanted = {Path(c).stem for c in args.cases}
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"unknown case(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    version = _version()
    outcomes = []
    for path in paths:
        outcome = run_case(path, args.timeout)
        outcomes.append(outcome)
        print(f"{outcome.status:11} {outcome.case}  "
              f"(Tailcall: {_tailcall_cell(outcome)}; plait: {_cell(outcome.plait)})",
              flush=True)
    counts = summary(outcomes, previous_statuses(args.report) if args.report else {})
    print("  ".join(f"{name}: {value}" for name, value in counts.items()))
    if args.report:
        args.report.write_text(markdown(outcomes, counts, version))
        print(f"report: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
