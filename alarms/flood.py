"""Chattering and flood detection: counts in a sliding time window.

Chattering (:class:`ChatterDetector`): one alarm activating ``count`` times within ``window``
(3 in a minute); the activations are the alarm point's own, kept in its record. Flood
(:class:`FloodDetector`): more than ``start_above`` alarms announced within ``window`` (10 in 10
minutes), ending when the count in the window falls below ``end_below`` (5). The detectors say
when either starts or ends; :mod:`alarms.lifecycle` records it and the alarm views show it, and
the flood state is what the notification layer uses to bundle pages.
"""

from __future__ import annotations

import collections
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alarms.config import ChatterSpec, FloodSpec

if TYPE_CHECKING:
    from alarms.point import AlarmPoint


def _drop_through(times: collections.deque[datetime], oldest: datetime) -> None:
    """Drop the times at or before ``oldest`` (``times`` in order)."""
    while times and times[0] <= oldest:
        times.popleft()


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
        _drop_through(self.times, now - self.span)
        return len(self.times)

    def next_drop(self) -> datetime | None:
        """When the oldest time leaves the window."""
        return self.times[0] + self.span if self.times else None


class ChatterDetector:
    """Whether an alarm point chatters, from its activations within the last ``window``."""

    def __init__(self, spec: ChatterSpec) -> None:
        self.span = timedelta(seconds=spec.window)
        self.count = spec.count

    def activated(self, point: AlarmPoint, at: datetime) -> bool:
        """Count one activation of ``point``; True when this starts it chattering."""
        activations = point.activations
        activations.append(at)
        _drop_through(activations, at - self.span)
        if not point.chattering and len(activations) >= self.count:
            point.chattering = True
            return True
        return False

    def check(self, point: AlarmPoint, now: datetime) -> bool:
        """True when ``point`` stopped chattering by ``now``."""
        _drop_through(point.activations, now - self.span)
        if point.chattering and len(point.activations) < self.count:
            point.chattering = False
            return True
        return False

    def due(self, point: AlarmPoint) -> datetime | None:
        """When ``point``'s oldest activation leaves the window, while it chatters."""
        if point.chattering and point.activations:
            return point.activations[0] + self.span
        return None


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
