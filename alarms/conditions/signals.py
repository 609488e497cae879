"""Conditions on one channel's state: stale data, bad quality, on/off signals, status codes.

* stale: no good reading for ``after`` (on the clock, since nothing arrives to say so);
* quality: the channel reads ``sensor_fault`` / ``out_of_range`` (the quality is the subject
  here, so good readings clear it; ``comm_error`` and ``stale`` readings change nothing:
  communication has its own alarms);
* discrete: a door, lid, fill valve or power signal in its alarm state for the on-delay; the
  delay also completes on the clock, because such signals are often only reported on change;
* status: a device status code with alarm bits, alarm values, or any value but the OK ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alarms.conditions.base import Condition, Debounce, Verdict, fresh, truthy
from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import FLAG_CALIBRATION_OVERDUE, Quality, Reading, is_finite_number


class StaleCondition(Condition):
    kind = ConditionKind.STALE

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self.after = timedelta(seconds=rule.spec.after or 0.0)
        self.last_good: datetime | None = None
        self.origin: datetime | None = None

    def begin(self, now: datetime) -> None:
        self.origin = now

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        if reading.quality is not Quality.GOOD:
            return None
        if self.last_good is None or reading.ts > self.last_good:
            self.last_good = reading.ts
        if not self.active:
            return None
        self.active = False
        return Verdict(False, reading.ts, value=reading.value, detail="good readings again")

    def due(self) -> datetime | None:
        if self.active:
            return None
        start = self.last_good or self.origin
        return start + self.after if start is not None else None

    def on_time(self, now: datetime) -> Verdict | None:
        due = self.due()
        if due is None or now < due:
            return None
        self.active = True
        since = self.last_good or self.origin
        what = f"since {since.isoformat(timespec='seconds')}" if since else ""
        return Verdict(True, due, since=since, detail=f"no good reading {what}".strip())

    def prime(self, readings: list[Reading]) -> None:
        for reading in readings:
            self.on_reading(reading)


class QualityCondition(Condition):
    kind = ConditionKind.QUALITY

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        names = spec.qualities or ("sensor_fault", "out_of_range")
        self.qualities = frozenset(Quality(q) for q in names)
        self.debounce = Debounce(spec.on_delay or 0.0, spec.off_delay or 0.0)
        self.newest: tuple[str, str | None] = ("good", None)  # the newest quality, its detail

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        if reading.quality in self.qualities:
            bad = True
        elif reading.quality is Quality.GOOD:
            bad = False
        else:  # comm_error, stale: the sensor's state is unknown
            self.dirty |= self.debounce.unknown()
            return None
        self.newest = (reading.quality.value, reading.detail)
        since = self.debounce.since
        changed, timer = self.debounce.update(bad, reading.ts, arrived, fresh(reading, arrived))
        self.dirty |= timer
        if not changed:
            return None
        self.active = bad
        return self._verdict(reading.ts, since)

    def _verdict(self, at: datetime, since: datetime | None) -> Verdict:
        quality, detail = self.newest
        bad = self.active
        text = "good readings again"
        if bad:
            text = f"{quality}: {detail}" if detail else quality
        return Verdict(bad, at, value=quality, since=since, detail=text)

    def due(self) -> datetime | None:
        return self.debounce.due()

    def on_time(self, now: datetime) -> Verdict | None:
        """The delay ended with the newest reading still telling the same quality."""
        since = self.debounce.since
        at = self.debounce.expire(now)
        if at is None:
            return None
        self.active = self.debounce.active
        self.dirty = True
        return self._verdict(at, since)

    def timers(self) -> dict[str, Any]:
        return self.debounce.timers()

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, None, timers)
        self.debounce.restore(active, timers)


class _Debounced(Condition):
    """A good sample says bad or not; the delay may also complete on the clock as long as
    the newest sample was good (a bad sample since means the state is unknown). Such signals
    are often reported only on change, so the clock completes a delay whether or not the
    samples are fresh, counting from when the engine saw the first one arrive."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        self.debounce = Debounce(spec.on_delay or 0.0, spec.off_delay or 0.0, fresh_only=False)
        self.value: Any = None

    def is_bad(self, reading: Reading) -> bool:
        raise NotImplementedError

    def describe(self, bad: bool) -> str:
        raise NotImplementedError

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        if reading.quality is not Quality.GOOD:
            self.dirty |= self.debounce.unknown()
            return None
        bad = self.is_bad(reading)
        self.value = reading.value
        since = self.debounce.since
        changed, timer = self.debounce.update(bad, reading.ts, arrived)
        self.dirty |= timer
        if not changed:
            return None
        self.active = bad
        return Verdict(
            bad,
            reading.ts,
            value=reading.value,
            since=since or reading.ts,
            detail=self.describe(bad),
        )

    def due(self) -> datetime | None:
        return self.debounce.due()

    def on_time(self, now: datetime) -> Verdict | None:
        since = self.debounce.since
        at = self.debounce.expire(now)
        if at is None:
            return None
        self.active = self.debounce.active
        self.dirty = True
        return Verdict(
            self.active, at, value=self.value, since=since, detail=self.describe(self.active)
        )

    def timers(self) -> dict[str, Any]:
        return {**self.debounce.timers(), "newest_good": self.debounce.live, "value": self.value}

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, None, timers)
        self.debounce.restore(active, timers)
        self.debounce.live = bool(timers.get("newest_good"))
        self.value = timers.get("value")


class DiscreteCondition(_Debounced):
    kind = ConditionKind.DISCRETE

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self.alarm_when = True if rule.spec.alarm_when is None else rule.spec.alarm_when

    def is_bad(self, reading: Reading) -> bool:
        return truthy(reading.value) is self.alarm_when

    def describe(self, bad: bool) -> str:
        delay = self.debounce.on_delay.total_seconds()
        longer = f" for {delay / 60:g} min" if bad and delay else ""
        return f"{self.rule.name}{longer}" if bad else f"{self.rule.name}: back to normal"


class StatusCondition(_Debounced):
    kind = ConditionKind.STATUS

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        spec = rule.spec
        self.mask = 0
        for bit in spec.bits or ():
            self.mask |= 1 << bit
        self.values = _split(spec.values) if spec.values is not None else None
        self.ok = _split(spec.ok_values if spec.ok_values is not None else (0,))

    def is_bad(self, reading: Reading) -> bool:
        value = reading.value
        if self.mask:
            return is_finite_number(value) and int(value) & self.mask != 0  # type: ignore[arg-type]
        if self.values is not None:
            return _member(value, self.values)
        return not _member(value, self.ok)

    def describe(self, bad: bool) -> str:
        value = self.value
        if not bad:
            return f"status {value!r}: OK"
        if self.mask and is_finite_number(value):
            bits = [str(b) for b in range(64) if int(value) & self.mask & (1 << b)]
            return f"status {int(value)} (bit {', '.join(bits)} set)"
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        return f"status {shown}"


def _split(values: tuple[int | str, ...]) -> tuple[frozenset[float], frozenset[str]]:
    return (
        frozenset(float(v) for v in values if not isinstance(v, str)),
        frozenset(v for v in values if isinstance(v, str)),
    )


def _member(value: Any, sets: tuple[frozenset[float], frozenset[str]]) -> bool:
    numbers, words = sets
    if isinstance(value, str):
        return value.strip() in words
    return is_finite_number(value) and float(value) in numbers


class CalibrationCondition(Condition):
    """The sensor is past its calibration due date: on while good readings carry
    ``FLAG_CALIBRATION_OVERDUE`` (set by ``monitor.runtime.channel_checks`` from the
    configuration), off at the first good reading without it (a new due date was configured)."""

    kind = ConditionKind.CALIBRATION

    def on_reading(self, reading: Reading, arrived: datetime | None = None) -> Verdict | None:
        if reading.quality is not Quality.GOOD:
            return None
        overdue = bool(reading.flags & FLAG_CALIBRATION_OVERDUE)
        if overdue == self.active:
            return None
        self.active = overdue
        if overdue:
            return Verdict(
                True,
                reading.ts,
                value=reading.value,
                since=reading.ts,
                detail="the sensor is past its calibration due date",
            )
        return Verdict(False, reading.ts, value=reading.value, detail="calibration date updated")
