"""RSS and CPU time of a process and its descendants, read from /proc (Linux; no psutil).

``tree_usage(pid)`` returns (rss_bytes, cpu_seconds) summed over the process tree rooted
at ``pid``. A ``Sampler`` tracks a tree during a run: CPU used between ``start()`` and
``stop()`` and the peak RSS seen by ``sample()``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime+stime seconds) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 2:].split()   # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [pid]
    for name in names:
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def tree_usage(pid: int) -> tuple[int, float]:
    rss, cpu = 0, 0.0
    for p in descendants(pid):
        stat = _stat(p)
        if stat is not None:
            cpu += stat[1]
            rss += _rss(p)
    return rss, cpu


@dataclass
class Sampler:
    pid: int | None
    cpu_start: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss: int = 0
    rss: int = 0

    def start(self) -> None:
        if self.pid is not None:
            self.rss, self.cpu_start = tree_usage(self.pid)
            self.peak_rss = self.rss

    def sample(self) -> None:
        if self.pid is not None:
            self.rss, cpu = tree_usage(self.pid)
            self.peak_rss = max(self.peak_rss, self.rss)
            self.cpu_seconds = cpu - self.cpu_start

    def stop(self) -> None:
        self.sample()
