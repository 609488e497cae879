"""Device timestamps: deciding whether to believe one (parsing is in ``payload``).

A device clock can be wrong (no NTP, a reset RTC, local time sent as UTC), and a buffered
device can send hours of old readings after an outage. A reading whose timestamp falls
inside ``[arrival - max_backfill, arrival + max_future_skew]`` keeps its own timestamp (and is
flagged late when it is older than ``late_after``); outside that window the timestamp cannot
be trusted and the driver records a bad reading at the arrival time instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Verdict:
    """``age`` is arrival minus device time in seconds (negative: from the future)."""

    accepted: bool
    late: bool
    age: float

    def describe(self, window: Window) -> str:
        if self.age >= 0:
            return (
                f"device timestamp is {self.age:.0f} s old, more than max_backfill "
                f"{window.max_backfill:g} s"
            )
        return (
            f"device timestamp is {-self.age:.0f} s in the future, more than "
            f"max_future_skew {window.max_future_skew:g} s"
        )


@dataclass(frozen=True, slots=True)
class Window:
    max_backfill: float
    max_future_skew: float
    late_after: float

    def judge(self, device_ts: datetime, arrival: datetime) -> Verdict:
        age = (arrival - device_ts).total_seconds()
        accepted = -self.max_future_skew <= age <= self.max_backfill
        return Verdict(accepted, accepted and age > self.late_after, age)
