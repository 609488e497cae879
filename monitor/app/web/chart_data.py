"""The data of an equipment chart: each channel's points over a time range, from the raw
readings or the per-minute roll-up, with gaps as gaps.

Raw or roll-up, by range
    Up to :data:`RAW_UP_TO` (the 1 h view, a zoom) the raw readings, each drawn as read; a
    longer range reads the roll-up (:mod:`monitor.store.sqlite_rollup`) in buckets of whole
    minutes, at most :data:`MAX_POINTS` of them (24 h: 1 min; 7 d: 10 min; 30 d: 30 min),
    each with its min, max and mean: a 30-day chart of a 1 Hz channel reads 43,200 roll-up
    rows, not 2.6 M readings.

Gaps, never interpolated
    A point is None (uPlot draws no line through it) where the value could not be drawn: a
    reading of bad quality or not a number, a bucket with no good reading or more bad readings
    than good ones. A silence longer than the channel's polling allows (three intervals, plus
    a bucket) gets a None between its two sides, so the line breaks there too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal

from monitor.core.model import Quality, Reading
from monitor.store.sqlite_rollup import RollupBucket

RangeName = Literal["1h", "24h", "7d", "30d"]
RANGES: Final[dict[str, timedelta]] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
MAX_SPAN: Final = timedelta(days=400)
RAW_UP_TO: Final = timedelta(hours=3)
MAX_RAW: Final = 20_000  # readings of one channel; more (a fast channel): the roll-up
MAX_POINTS: Final = 1500
BUCKET_MINUTES: Final = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
GAP_INTERVALS: Final = 3  # a silence of more than this many polling intervals is a gap


@dataclass
class Series:
    """One channel's points: times (s since the epoch), values (mean for a bucket) and, for
    buckets, the min and max; None where nothing can be drawn."""

    t: list[float] = field(default_factory=list)
    v: list[float | None] = field(default_factory=list)
    lo: list[float | None] = field(default_factory=list)
    hi: list[float | None] = field(default_factory=list)
    bad: int = 0
    """Readings in range that could not be drawn (bad quality, not a number)."""

    def add(self, t: float, v: float | None, lo: float | None, hi: float | None) -> None:
        self.t.append(t)
        self.v.append(v)
        self.lo.append(lo)
        self.hi.append(hi)

    def gap(self, before: float, after: float) -> None:
        self.add((before + after) / 2, None, None, None)

    def as_json(self) -> dict[str, Any]:
        return {"t": self.t, "v": self.v, "min": self.lo, "max": self.hi, "bad": self.bad}


def bucket_minutes(span: timedelta) -> int | None:
    """None: draw the raw readings; else the roll-up's bucket size for ``span``."""
    if span <= RAW_UP_TO:
        return None
    minutes = span / timedelta(minutes=1)
    return next((b for b in BUCKET_MINUTES if minutes / b <= MAX_POINTS), BUCKET_MINUTES[-1])


def _finite(value: Any) -> float | None:
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int or kind is bool:
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):  # subclasses: rare
        return float(value)
    return None


def raw_series(readings: list[Reading], interval: float) -> Series:
    """Each reading as a point; a bad one, a text value or a silence of more than
    :data:`GAP_INTERVALS` intervals as a gap. (A tight loop: the 1 h view of a 1 Hz channel
    is 3,600 of them.)"""
    series = Series()
    t_out, v_out = series.t, series.v
    gap_after = GAP_INTERVALS * interval
    previous: float | None = None
    good = Quality.GOOD
    for reading in readings:
        t = round(reading.ts.timestamp(), 3)
        value = _finite(reading.value) if reading.quality is good else None
        if value is None:
            series.bad += 1
        if previous is not None and t - previous > gap_after:
            t_out.append((previous + t) / 2)
            v_out.append(None)
        t_out.append(t)
        v_out.append(value)
        previous = t
    series.lo = series.hi = v_out  # a reading is its own min and max
    return series


def rollup_series(buckets: list[RollupBucket], minutes: int, interval: float) -> Series:
    """Each bucket as a point (mean, min, max); a bucket with no good reading, or more bad
    readings than good ones, or a silence longer than a bucket and the polling allow, as a
    gap."""
    series = Series()
    size = minutes * 60
    gap_after = size + GAP_INTERVALS * interval
    previous: float | None = None
    for bucket in buckets:
        t = bucket.start / 1_000_000 + size / 2  # drawn at the bucket's middle
        series.bad += bucket.bad
        drawable = bucket.n > 0 and bucket.bad <= bucket.n
        if previous is not None and t - previous > gap_after:
            series.gap(previous, t)
        if drawable:
            series.add(t, _finite(bucket.mean), _finite(bucket.min), _finite(bucket.max))
        else:
            series.add(t, None, None, None)
        previous = t
    return series
