"""Chattering and flood detection: counts in a sliding time window.

Chattering: one alarm activating ``count`` times within ``window`` (3 in a minute). Flood: more
than ``start_above`` alarms announced within ``window`` (10 in 10 minutes), ending when the
count in the window falls below ``end_below`` (5). Both are recorded and shown; the flood state
is what the notification layer uses to bundle pages.
"""

from __future__ import annotations

import collections
from datetime import datetime, timedelta

from alarms.config import FloodSpec


class SlidingWindow:
    """Times within the last ``span``; the window moves with the ``now`` it is asked at."""

    __slots__ = ("span", "times")

    def __init__(self, seconds: float, times: list[datetime] | None = None) -> None:
        self.span = timedelta(seconds=seconds)
        self.times: collections.deque[datetime] = collections.deque(sorted(times or ()))

    def add(self, at: datetime) -> int:
        self.times.append(at)
        return self.count(at)

    def count(self, now: datetime) -> int:
        times = self.times
        oldest = now - self.span
        while times and times[0] <= oldest:
            times.popleft()
        return len(times)

    def next_drop(self) -> datetime | None:
        """When the oldest time leaves the window."""
        return self.times[0] + self.span if self.times else None


class FloodDetector:
    def __init__(self, spec: FloodSpec) -> None:
        self.start_above = spec.start_above
        self.end_below = spec.end_below
        self.window = SlidingWindow(spec.window)
        self.active = False
        self.since: datetime | None = None

    def add(self, at: datetime) -> bool:
        """Count one announced alarm; True when this starts a flood."""
        count = self.window.add(at)
        if not self.active and count > self.start_above:
            self.active, self.since = True, at
            return True
        return False

    def check(self, now: datetime) -> bool:
        """True when the flood ended by ``now``."""
        if self.active and self.window.count(now) < self.end_below:
            self.active, self.since = False, None
            return True
        return False

    def due(self) -> datetime | None:
        return self.window.next_drop() if self.active else None

    def count(self, now: datetime) -> int:
        return self.window.count(now)
