"""Latency budgets per operation: ``--budget 'Q1:p99=10ms,p50=2ms'`` or a YAML file.

A budget names an operation (``*`` for every operation) and limits on ``p50``, ``p90``,
``p99``, ``p99.9`` and ``max`` latency; values take a unit (``ms``, ``us``/``µs``, ``s``),
milliseconds when bare. The YAML file maps operations to limits::

    Q1: {p99: 10ms, max: 50ms}
    "*": {p50: 5}

An ``errors`` limit (a count) may also be given; without one, any error (socket error,
non-2xx status, GraphQL ``errors`` in the answer) fails the run (``plait bench`` adds a
failing ``errors <= 0`` check).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

METRICS = ("p50", "p90", "p99", "p99.9", "max", "errors")
_VALUE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(ms|us|µs|s)?\s*$", re.IGNORECASE)
_SCALE = {"ms": 1.0, "us": 0.001, "µs": 0.001, "s": 1000.0, None: 1.0}


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class Limit:
    operation: str
    metric: str
    limit: float           # milliseconds (or a count for ``errors``)

    def describe(self) -> str:
        unit = "" if self.metric == "errors" else " ms"
        return f"{self.operation}:{self.metric}<={_fmt(self.limit)}{unit}"


def _fmt(x: float) -> str:
    return f"{x:g}"


def parse_value(text: Any, metric: str) -> float:
    if isinstance(text, bool):
        raise BudgetError(f"{metric}: expected a number, not {text!r}")
    if isinstance(text, (int, float)):
        return float(text)
    match = _VALUE.match(str(text))
    if not match:
        raise BudgetError(f"{metric}: cannot read {text!r} (expected e.g. 10ms, 500us, 1s)")
    unit = match.group(2)
    if metric == "errors" and unit:
        raise BudgetError("errors: expected a count, not a duration")
    return float(match.group(1)) * _SCALE[unit.lower() if unit else None]


def _metric(name: str) -> str:
    key = str(name).strip().lower()
    key = {"p999": "p99.9", "median": "p50"}.get(key, key)
    if key not in METRICS:
        raise BudgetError(f"unknown budget metric {name!r} (use {', '.join(METRICS)})")
    return key


def parse_cli(spec: str) -> list[Limit]:
    """``OP:metric=value[,metric=value...]``."""
    op, sep, rest = spec.rpartition(":") if "=" in spec.rpartition(":")[2] else ("", "", "")
    if not sep or not op.strip() or not rest.strip():
        raise BudgetError(f"--budget {spec!r}: expected OPERATION:METRIC=VALUE[,...], "
                          "e.g. 'Q1:p99=10ms'")
    limits = []
    for item in rest.split(","):
        name, eq, value = item.partition("=")
        if not eq:
            raise BudgetError(f"--budget {spec!r}: {item!r} is not METRIC=VALUE")
        metric = _metric(name)
        limits.append(Limit(op.strip(), metric, parse_value(value, metric)))
    return limits


def parse_mapping(data: Any, where: str) -> list[Limit]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise BudgetError(f"{where}: expected a mapping of operation -> limits")
    limits = []
    for op, spec in data.items():
        if not isinstance(spec, dict):
            raise BudgetError(f"{where}: {op}: expected a mapping such as {{p99: 10ms}}")
        for name, value in spec.items():
            metric = _metric(name)
            limits.append(Limit(str(op), metric, parse_value(value, metric)))
    return limits


def load_file(path: str | Path) -> list[Limit]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BudgetError(f"{path}: {exc}") from exc
    return parse_mapping(data, str(path))


def value_of(stats: dict[str, Any], metric: str) -> float:
    if metric == "errors":
        return float(stats["errors"])
    return float(stats["latency_ms"][metric])


def check(limits: list[Limit], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (limit, operation) pair with its measured value and whether it passed."""
    out = []
    for limit in limits:
        names = list(results) if limit.operation == "*" else [limit.operation]
        for name in names:
            if name not in results:
                out.append({"operation": name, "metric": limit.metric, "limit": limit.limit,
                            "value": None, "ok": False, "reason": "no such operation"})
                continue
            value = value_of(results[name], limit.metric)
            out.append({"operation": name, "metric": limit.metric, "limit": limit.limit,
                        "value": value, "ok": value <= limit.limit})
    return out
