"""Rate of change: the least-squares slope over a time window of good samples.

The slope is only computed when the window holds at least ``min_points`` good samples spanning
at least half the window, so that noise on a flat trend cannot fake a rate (the standard error
of the slope of n samples spread over a window T falls like 1/(T sqrt(n)): 60 samples of
+/-0.3 C over 10 minutes give about 0.008 C/min). Sums are kept incrementally (O(1) a sample)
and recomputed exactly every thousand samples so rounding never accumulates.
"""

from __future__ import annotations

import collections
from datetime import datetime
from typing import Any

from alarms.conditions.base import Condition, Debounce, Verdict, fresh, number
from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import Reading

_RECOMPUTE_EVERY = 1000


class RateCondition(Condition):
    kind = ConditionKind.RATE

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        self.rise = spec.rise
        self.fall = spec.fall
        self.window = spec.window or 600.0
        self.min_points = spec.min_points or 10
        self.min_span = self.window / 2
        self.debounce = Debounce(spec.on_delay or 0.0, spec.off_delay or 0.0)
        self._points: collections.deque[tuple[float, float]] = collections.deque()
        self._base = 0.0
        self._n = 0
        self._st = self._sv = self._stt = self._stv = 0.0
        self._updates = 0
        self.newest_slope = 0.0  # the slope at the newest good sample

    def _add(self, epoch: float, value: float) -> None:
        points = self._points
        if not points:
            self._base = epoch
        t = epoch - self._base
        points.append((t, value))
        n, st, sv = self._n + 1, self._st + t, self._sv + value
        stt, stv = self._stt + t * t, self._stv + t * value
        oldest = t - self.window
        while points[0][0] < oldest:
            t0, v0 = points.popleft()
            n, st, sv, stt, stv = n - 1, st - t0, sv - v0, stt - t0 * t0, stv - t0 * v0
        self._n, self._st, self._sv, self._stt, self._stv = n, st, sv, stt, stv
        self._updates += 1
        if self._updates >= _RECOMPUTE_EVERY:
            self._recompute()

    def _recompute(self) -> None:
        shift = self._points[0][0]
        self._base += shift
        self._points = collections.deque((t - shift, v) for t, v in self._points)
        self._n = len(self._points)
        self._st = sum(t for t, _ in self._points)
        self._sv = sum(v for _, v in self._points)
        self._stt = sum(t * t for t, _ in self._points)
        self._stv = sum(t * v for t, v in self._points)
        self._updates = 0

    def slope(self) -> float | None:
        """Units per minute, or None without enough samples over enough time."""
        n = self._n
        if n < self.min_points or self._points[-1][0] - self._points[0][0] < self.min_span:
            return None
        den = n * self._stt - self._st * self._st
        if den <= 0:
            return None
        return (n * self._stv - self._st * self._sv) / den * 60.0

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        value = number(reading)
        if value is None:
            self.dirty |= self.debounce.unknown()
            return None
        self._add(reading.ts.timestamp(), value)
        slope = self.slope()
        if slope is None:
            self.dirty |= self.debounce.unknown()
            return None
        self.newest_slope = slope
        bad = (self.rise is not None and slope > self.rise) or (
            self.fall is not None and slope < -self.fall
        )
        since = self.debounce.since
        changed, timer = self.debounce.update(bad, reading.ts, arrived, fresh(reading, arrived))
        self.dirty |= timer
        if not changed:
            return None
        self.active = self.debounce.active
        return self._verdict(reading.ts, since or reading.ts)

    def due(self) -> datetime | None:
        return self.debounce.due()

    def on_time(self, now: datetime) -> Verdict | None:
        """The delay ended with the newest slope still on the same side of its limit."""
        since = self.debounce.since
        at = self.debounce.expire(now)
        if at is None:
            return None
        self.active = self.debounce.active
        self.dirty = True
        return self._verdict(at, since or at)

    def _verdict(self, at: datetime, since: datetime) -> Verdict:
        # three significant digits, as the value and in the message alike: the console, the
        # CLI and the page show the same number (5.63, and 0.008 for a slow drift)
        slope = float(f"{self.newest_slope:.3g}")
        unit = self.rule.unit
        limit = self.rise if slope > 0 else self.fall
        if self.active:
            detail = (
                f"{'rising' if slope > 0 else 'falling'} at {abs(slope):g} {unit}/min "
                f"(limit {limit:g} {unit}/min over {self.window / 60:g} min)"
            )
        else:
            detail = f"rate back to {slope:+g} {unit}/min"
        return Verdict(self.active, at, None, slope, limit, since, detail)

    def timers(self) -> dict[str, Any]:
        return self.debounce.timers()

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, None, timers)
        self.debounce.restore(active, timers)

    def prime(self, readings: list[Reading]) -> None:
        for reading in readings:
            value = number(reading)
            if value is not None and (
                not self._points or reading.ts.timestamp() - self._base >= self._points[-1][0]
            ):
                self._add(reading.ts.timestamp(), value)
