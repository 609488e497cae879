"""Counters the daemon keeps about itself (dropped readings, bad payloads, store failures)."""

from __future__ import annotations

from collections import Counter


class Metrics:
    """Named monotonically increasing counters; cheap enough for the hot path."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, amount: int = 1) -> None:
        self._counts[name] += amount

    def get(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        return dict(self._counts)
