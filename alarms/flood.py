"""Chattering and flood detection: counts in a sliding time window.

Chattering (:class:`ChatterDetector`): one alarm activating ``count`` times within ``window``
(3 in a minute), until a whole window passes without an activation; the activations are the
alarm point's own, kept in its record. Flood
(:class:`FloodDetector`): more than ``start_above`` distinct alarms (rule and source: alarm
keys) announced within ``window`` (10 in 10 minutes), ending when the count of distinct alarms
announced in the window falls below ``end_below`` (5). One unit toggling across a limit is one
alarm however often it recurs: that is chattering, not a flood. The detectors say
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
        """True when ``point`` stopped chattering by ``now``: a whole window without an
        activation. (Ending when the count merely fell below ``count`` again would end and
        restart it with every activation of an alarm toggling at about the window's pace.)"""
        _drop_through(point.activations, now - self.span)
        if point.chattering and not point.activations:
            point.chattering = False
            return True
        return False

    def due(self, point: AlarmPoint) -> datetime | None:
        """When ``point``'s newest activation leaves the window, while it chatters."""
        if point.chattering and point.activations:
            return point.activations[-1] + self.span
        return None


class FloodDetector:
    """Distinct alarms announced within the window: a flood is many alarms, not one alarm
    many times."""

    def __init__(self, spec: FloodSpec) -> None:
        self.start_above = spec.start_above
        self.end_below = spec.end_below
        self.span = timedelta(seconds=spec.window)
        self.newest: dict[str, datetime] = {}  # alarm key -> its newest announcement
        self.active = False
        self.since: datetime | None = None

    def remember(self, at: datetime, key: str) -> None:
        """Count an announcement without deciding anything (restoring the window)."""
        if key not in self.newest or self.newest[key] < at:
            self.newest[key] = at

    def add(self, at: datetime, key: str) -> bool:
        """Count one announced alarm; True when this starts a flood."""
        self.remember(at, key)
        count = self.count(at)
        if not self.active and count > self.start_above:
            self.active, self.since = True, at
            return True
        return False

    def check(self, now: datetime) -> bool:
        """True when the flood ended by ``now``."""
        if self.active and self.count(now) < self.end_below:
            self.active, self.since = False, None
            return True
        return False

    def due(self) -> datetime | None:
        """When the alarm announced longest ago leaves the window, while flooding."""
        if not self.active or not self.newest:
            return None
        return min(self.newest.values()) + self.span

    def count(self, now: datetime) -> int:
        """Distinct alarms announced within the window ending at ``now``."""
        oldest = now - self.span
        for key in [key for key, at in self.newest.items() if at <= oldest]:
            del self.newest[key]
        return len(self.newest)
