"""Benchmark reports: JSON (machine-readable), Markdown (summary) and a PNG latency plot
(the percentile curve of each target, one panel per operation; matplotlib, Agg backend)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .histogram import Histogram

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}


def latency_ms(hist: Histogram) -> dict[str, float]:
    out = {name: hist.percentile(p) / 1000 for name, p in PERCENTILES.items()}
    out["max"] = hist.max / 1000
    out["min"] = (hist.min or 0) / 1000
    out["mean"] = round(hist.mean / 1000, 3)
    return out


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def ratios(results: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """Per operation and peer: base req/s ÷ peer req/s, peer p99 ÷ base p99 and peer CPU
    per request ÷ base CPU per request (each > 1 when the base target is better; the CPU
    ratio is None when either server's CPU was not sampled)."""
    out = []
    by = {(r["target"], r["operation"]): r for r in results}
    for r in results:
        if r["target"] == base:
            continue
        mine = by.get((base, r["operation"]))
        if mine is None or not mine["requests"] or not r["requests"]:
            continue
        out.append({
            "operation": r["operation"], "peer": r["target"],
            "throughput": round(mine["rps"] / r["rps"], 3) if r["rps"] else None,
            "p99": round(r["latency_ms"]["p99"] / mine["latency_ms"]["p99"], 3)
            if mine["latency_ms"]["p99"] else None,
            "cpu_per_request": _cpu_ratio(mine, r),
        })
    return out


def _cpu_ratio(mine: dict[str, Any], peer: dict[str, Any]) -> float | None:
    ours = (mine.get("server") or {}).get("cpu_us_per_request")
    theirs = (peer.get("server") or {}).get("cpu_us_per_request")
    return round(theirs / ours, 3) if ours and theirs else None


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    mode = (f"open loop at {load['rate']:g} req/s" if load.get("rate") else "closed loop")
    amount = (f"{load['requests']} requests" if load.get("requests")
              else f"{load['duration']:g} s")
    lines = [
        f"# plait bench — {report['date']}", "",
        (f"Config `{report['config']}`" if report.get("config") else
         f"Server `{report.get('url')}`") + f"; load: {report['loadgen']}, "
        f"{load['connections']} connections, {amount} per operation after a {load['warmup']:g} s warm-up, {mode}; "
        f"upstream: {report['upstream']}; machine: {report['machine']['cpus']} CPUs, "
        f"Python {report['machine']['python']}.", "",
        ("| operation | target | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
         "errors | upstream calls/req | RSS MB | CPU % | CPU µs/req |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lat = r["latency_ms"]
        server = r.get("server") or {}
        lines.append(
            f"| {r['operation']} | {r['target']} | {r['rps']:,.0f} | {_num(lat['p50'])} | "
            f"{_num(lat['p90'])} | {_num(lat['p99'])} | {_num(lat['p99.9'])} | "
            f"{_num(lat['max'])} | {r['errors']} | {_num(r['upstream_calls_per_request'])} | "
            f"{_num(server.get('rss_mb'), 1)} | {_num(server.get('cpu_percent'), 0)} | "
            f"{_num(server.get('cpu_us_per_request'), 1)} |")
    if report.get("ratios"):
        base = report["targets"][0]
        lines += ["", (f"Ratios ({base} ÷ peer req/s; peer ÷ {base} p99 and CPU per request: "
                       f"above 1 means {base} is ahead):"), "",
                  "| operation | peer | req/s ratio | p99 ratio | CPU/req ratio |",
                  "|---|---|---:|---:|---:|"]
        for x in report["ratios"]:
            cpu = x.get("cpu_per_request")
            lines.append(f"| {x['operation']} | {x['peer']} | {_num(x['throughput'])}× | "
                         f"{_num(x['p99'])}× | {'—' if cpu is None else _num(cpu) + '×'} |")
    if report.get("budgets"):
        lines += ["", "| budget | measured | verdict |", "|---|---:|---|"]
        for b in report["budgets"]:
            unit = "" if b["metric"] == "errors" else " ms"
            lines.append(f"| {b['operation']} {b['metric']} ≤ {b['limit']:g}{unit} | "
                         + (b["reason"] if b.get("reason") else
                            f"{_num(b['value'], 0 if b['metric'] == 'errors' else 3)}"
                            f"{unit if b['value'] is not None else ''}") + " | "
                         f"{'pass' if b['ok'] else '**FAIL**'} |")
    for note in report.get("notes", []):
        lines += ["", f"Note: {note}"]
    verdict = "all budgets met" if report["ok"] else "BUDGET EXCEEDED"
    lines += ["", f"Result: {verdict}." if report.get("budgets") else ""]
    return "\n".join(lines).rstrip() + "\n"


def plot(report: dict[str, Any], path: Path) -> bool:
    """Write the percentile curves; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ops = list(dict.fromkeys(r["operation"] for r in report["results"]))
    fig, axes = plt.subplots(len(ops), 1, figsize=(8, 3.2 * len(ops)), squeeze=False)
    ticks = [50, 90, 99, 99.9, 99.99, 99.999]
    for ax, op in zip(axes[:, 0], ops):
        top = 1.0
        for r in report["results"]:
            if r["operation"] != op or not r["histogram"]["count"]:
                continue
            hist = Histogram.from_json(r["histogram"])
            xs, ys = [], []
            for p, v in hist.curve():
                p = min(p, 99.9999)
                xs.append(1 / (1 - p / 100))
                ys.append(v / 1000)
            ax.plot(xs, ys, drawstyle="steps-post", label=f"{r['target']} "
                    f"({r['rps']:,.0f} req/s)")
            top = max(top, xs[-1] if xs else 1)
        ax.set_xscale("log")
        if spread(report, op) > 20:
            ax.set_yscale("log")
        shown = [t for t in ticks if 1 / (1 - t / 100) <= top * 1.01] or ticks[:2]
        ax.set_xticks([1 / (1 - t / 100) for t in shown])
        ax.set_xticklabels([f"{t:g}%" for t in shown])
        ax.minorticks_off()
        ax.set_xlim(1, max(2.0, top))
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{op}: latency by percentile", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[-1, 0].set_xlabel("percentile")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def spread(report: dict[str, Any], op: str) -> float:
    """Largest max latency over smallest p50 among the targets of ``op``."""
    rows = [r["latency_ms"] for r in report["results"]
            if r["operation"] == op and r["requests"]]
    if not rows:
        return 1.0
    low = min(max(x["p50"], 0.001) for x in rows)
    return max(x["max"] for x in rows) / low


def write(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    paths["json"].write_text(json.dumps(report, indent=1, default=_default) + "\n")
    paths["markdown"].write_text(markdown(report))
    png = out / "latency.png"
    if plot(report, png):
        paths["png"] = png
    return paths


def _default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
