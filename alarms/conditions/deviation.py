"""Controlled-rate freezer: a chamber or sample temperature off its programmed profile.

The set point is either the controller's own program-temperature channel (the newest good
reading, if not older than ``max_reference_age`` at the sample's time) or a profile in the
configuration, timed from the moment a run-state channel reads non-zero. Without a set point
(no program reading, no run) nothing changes: the alarm holds its state. The run ending clears
an active deviation, since there is no profile left to deviate from.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

from alarms.conditions.base import (
    Condition,
    Debounce,
    Verdict,
    fresh,
    iso,
    number,
    parse_ts,
    truthy,
)
from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import Quality, Reading


class DeviationCondition(Condition):
    kind = ConditionKind.DEVIATION

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        self.tolerance = spec.tolerance or 0.0
        self.max_age = timedelta(seconds=spec.max_reference_age or 120.0)
        self.debounce = Debounce(spec.on_delay or 0.0, spec.off_delay or 0.0)
        points = spec.profile.points if spec.profile is not None else ()
        self.times = [t for t, _ in points]
        self.temps = [v for _, v in points]
        self.reference: tuple[datetime, float] | None = None
        self.newest: tuple[float, float] = (0.0, 0.0)  # the newest sample and its set point
        self.run_start: datetime | None = None

    def setpoint(self, ts: datetime) -> float | None:
        if self.rule.reference is not None:
            ref = self.reference
            if ref is None or abs(ts - ref[0]) > self.max_age:
                return None
            return ref[1]
        if self.run_start is None:
            return None
        elapsed = (ts - self.run_start).total_seconds()
        i = bisect_right(self.times, elapsed)
        if i == 0:
            return self.temps[0]
        if i == len(self.times):
            return self.temps[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.temps[i - 1], self.temps[i]
        return v0 + (v1 - v0) * (elapsed - t0) / (t1 - t0)

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        channel = reading.channel
        if channel == self.rule.reference:
            value = number(reading)
            if value is not None:
                self.reference = (reading.ts, value)
            return None
        if channel == self.rule.profile_start:
            return self._run_state(reading)
        value = number(reading)
        setpoint = self.setpoint(reading.ts) if value is not None else None
        if value is None or setpoint is None:  # bad, or nothing to compare with
            self.dirty |= self.debounce.unknown()
            return None
        self.newest = (value, setpoint)
        bad = abs(value - setpoint) > self.tolerance
        since = self.debounce.since
        changed, timer = self.debounce.update(bad, reading.ts, arrived, fresh(reading, arrived))
        self.dirty |= timer
        if not changed:
            return None
        self.active = bad
        return self._verdict(reading.ts, since)

    def due(self) -> datetime | None:
        return self.debounce.due()

    def on_time(self, now: datetime) -> Verdict | None:
        """The delay ended with the newest sample still on the same side of the tolerance."""
        since = self.debounce.since
        at = self.debounce.expire(now)
        if at is None:
            return None
        self.active = self.debounce.active
        self.dirty = True
        return self._verdict(at, since)

    def _verdict(self, at: datetime, since: datetime | None) -> Verdict:
        value, setpoint = self.newest
        off = value - setpoint
        bad = self.active
        unit = self.rule.unit
        detail = (
            f"{value:g} {unit} is {off:+.1f} {unit} off the program ({setpoint:.1f} {unit}; "
            f"tolerance {self.tolerance:g} {unit})"
            if bad
            else f"{value:g} {unit} back on the program ({setpoint:.1f} {unit})"
        )
        return Verdict(bad, at, None, value, round(setpoint, 3), since, detail)

    def _run_state(self, reading: Reading) -> Verdict | None:
        if reading.quality is not Quality.GOOD:
            return None
        running = truthy(reading.value)
        if running and self.run_start is None:
            self.run_start = reading.ts
            self.dirty = True
        elif not running and self.run_start is not None:
            self.run_start = None
            self.debounce.since = self.debounce.clock_from = None
            self.dirty = True
            if self.active:
                self.active = self.debounce.active = False
                return Verdict(False, reading.ts, detail="run ended")
        return None

    def timers(self) -> dict[str, Any]:
        return {**self.debounce.timers(), "run_start": iso(self.run_start)}

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, None, timers)
        self.debounce.restore(active, timers)
        self.run_start = parse_ts(timers.get("run_start"))

    def prime(self, readings: list[Reading]) -> None:
        for reading in readings:
            if reading.channel == self.rule.reference:
                self.on_reading(reading)
