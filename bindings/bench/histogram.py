"""An HDR-style latency histogram: log-linear buckets, percentile queries, merge.

Values are non-negative integers (the harness records microseconds). Values below
``2**bits`` are counted exactly; above, each power-of-two range is split into
``2**(bits-1)`` equal buckets, so a bucket's width is at most ``1 / 2**(bits-1)`` of the
values in it (bits=11: better than 0.1%, three significant digits, as HdrHistogram's
default). The index of ``v`` is ``shift * 2**(bits-1) + (v >> shift)`` with
``shift = max(0, v.bit_length() - bits)``.

Percentiles follow HdrHistogram: the value at percentile ``p`` is the highest value
equivalent to the bucket holding the ``ceil(p/100 * count)``-th smallest recording
(clamped to the exact maximum recorded).

Coordinated omission: an open-loop load generator records each latency from the request's
*intended* send time (see ``plait.bench.loadgen``); ``record_corrected`` is the classic
closed-loop correction (also record the requests a stall held back, at ``value - k *
interval`` for k = 1, 2, ... while that exceeds ``interval``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

DEFAULT_BITS = 11
#: Largest value tracked exactly enough; larger values are clamped into the top bucket
#: (2**36 µs is about 19 hours).
MAX_BITS = 36


class Histogram:
    __slots__ = ("bits", "count", "counts", "half", "max", "min", "total")

    def __init__(self, bits: int = DEFAULT_BITS) -> None:
        if not 2 <= bits <= 16:
            raise ValueError("bits must be 2..16")
        self.bits = bits
        self.half = 1 << (bits - 1)
        self.counts = [0] * self.index((1 << MAX_BITS) - 1) + [0]
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max = 0

    # -- buckets -------------------------------------------------------------------------
    def index(self, value: int) -> int:
        shift = value.bit_length() - self.bits
        if shift <= 0:
            return value
        return shift * self.half + (value >> shift)

    def bucket_range(self, index: int) -> tuple[int, int]:
        """The lowest and highest value that fall into bucket ``index``."""
        if index < 2 * self.half:
            return index, index
        shift = index // self.half - 1
        mantissa = index - shift * self.half
        low = mantissa << shift
        return low, low + (1 << shift) - 1

    # -- recording -----------------------------------------------------------------------
    def record(self, value: int, count: int = 1) -> None:
        if value < 0:
            raise ValueError("negative value")
        value = min(int(value), (1 << MAX_BITS) - 1)
        shift = value.bit_length() - self.bits
        self.counts[value if shift <= 0 else shift * self.half + (value >> shift)] += count
        self.count += count
        self.total += value * count
        if self.min is None or value < self.min:
            self.min = value
        self.max = max(self.max, value)

    def record_corrected(self, value: int, expected_interval: int) -> None:
        """Record ``value`` and, when it exceeds ``expected_interval``, the requests a
        closed-loop client would have sent meanwhile (HdrHistogram's correction)."""
        self.record(value)
        if expected_interval <= 0:
            return
        missing = value - expected_interval
        while missing >= expected_interval:
            self.record(missing)
            missing -= expected_interval

    def merge(self, other: Histogram) -> Histogram:
        if other.bits != self.bits:
            raise ValueError("cannot merge histograms of different precision")
        for i, c in enumerate(other.counts):
            if c:
                self.counts[i] += c
        self.count += other.count
        self.total += other.total
        if other.min is not None and (self.min is None or other.min < self.min):
            self.min = other.min
        self.max = max(self.max, other.max)
        return self

    # -- queries -------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> int:
        """The value at percentile ``p`` (0-100); 0 when empty."""
        if not self.count:
            return 0
        if p <= 0:
            return self.min or 0
        rank = max(1, math.ceil(min(p, 100.0) / 100.0 * self.count - 1e-9))  # 99.9% of 1000: 999
        seen = 0
        for i, c in enumerate(self.counts):
            if c:
                seen += c
                if seen >= rank:
                    return min(self.bucket_range(i)[1], self.max)
        return self.max

    def percentiles(self, ps: Iterable[float]) -> dict[float, int]:
        return {p: self.percentile(p) for p in ps}

    def buckets(self) -> Iterator[tuple[int, int]]:
        """(highest equivalent value, count) of every non-empty bucket, ascending."""
        for i, c in enumerate(self.counts):
            if c:
                yield min(self.bucket_range(i)[1], self.max), c

    def curve(self) -> list[tuple[float, int]]:
        """The percentile distribution: (percentile, value) after each non-empty bucket,
        for plotting against 1/(1-p)."""
        out: list[tuple[float, int]] = []
        seen = 0
        for value, c in self.buckets():
            seen += c
            out.append((100.0 * seen / self.count, value))
        return out

    # -- serialisation -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"bits": self.bits, "count": self.count, "total": self.total,
                "min": self.min, "max": self.max,
                "buckets": [[i, c] for i, c in enumerate(self.counts) if c]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        h = cls(data["bits"])
        for i, c in data["buckets"]:
            h.counts[i] = c
        h.count, h.total, h.min, h.max = data["count"], data["total"], data["min"], data["max"]
        return h

    @classmethod
    def from_percentiles(cls, points: Iterable[tuple[float, int]], count: int,
                         bits: int = DEFAULT_BITS) -> Histogram:
        """An approximation rebuilt from (percentile, value) points (wrk's summary)."""
        h = cls(bits)
        done = 0
        for p, value in sorted(points):
            upto = round(p / 100.0 * count)
            if upto > done:
                h.record(value, upto - done)
                done = upto
        if count > done:
            h.record(max((v for _, v in points), default=0), count - done)
        return h
