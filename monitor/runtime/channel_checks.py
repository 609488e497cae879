"""Channel-level checks every reading passes, whatever driver produced it.

NaN and infinities become ``sensor_fault``; a value a device documents as its broken-probe
sentinel becomes ``sensor_fault``; a value outside the channel's physical range becomes
``out_of_range``; a good value from a sensor past its calibration due date keeps its value
but carries ``FLAG_CALIBRATION_OVERDUE`` so that the record shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from monitor.config.sections import Channel
from monitor.core.model import (
    FLAG_CALIBRATION_OVERDUE,
    PHYSICAL_RANGE,
    Quality,
    Quantity,
    Reading,
)


@dataclass(frozen=True, slots=True)
class ChannelRules:
    channel: str
    low: float
    high: float
    sentinels: frozenset[float]
    calibration_overdue_from: datetime | None
    textual: bool
    plain: bool = False
    """Nothing but the range to check (no sentinels, no calibration date, a number): a good
    float inside the range passes untouched without the rest of :meth:`apply`."""

    @staticmethod
    def from_config(channel_id: str, channel: Channel) -> ChannelRules:
        low, high = PHYSICAL_RANGE.get(channel.unit, (-math.inf, math.inf))
        if channel.range is not None:
            low, high = channel.range.min, channel.range.max
        due = channel.sensor.calibration_due
        overdue_from = (
            datetime.combine(due + timedelta(days=1), time(0), tzinfo=UTC) if due else None
        )
        return ChannelRules(
            channel=channel_id,
            low=low,
            high=high,
            sentinels=frozenset(channel.sentinels),
            calibration_overdue_from=overdue_from,
            textual=channel.quantity is Quantity.TEXT,
            plain=not channel.sentinels
            and overdue_from is None
            and channel.quantity is not Quantity.TEXT,
        )

    def apply(self, reading: Reading) -> Reading:
        """Return the reading as it must be stored: bad quality when the value is not real."""
        value = reading.value
        if (
            self.plain
            and value.__class__ is float
            and self.low <= value <= self.high
            and value - value == 0.0  # finite
            and reading.quality is Quality.GOOD
        ):
            return reading
        if reading.quality is not Quality.GOOD:
            if reading.value is None:
                return reading
            return Reading(
                reading.channel, reading.ts, None, reading.quality, reading.flags, reading.detail
            )
        value = reading.value
        flags = reading.flags
        if (
            self.calibration_overdue_from is not None
            and reading.ts >= self.calibration_overdue_from
        ):
            flags |= FLAG_CALIBRATION_OVERDUE
        if self.textual:
            if not isinstance(value, str):
                return self._bad(reading, Quality.SENSOR_FAULT, f"expected text, got {value!r}")
            return (
                reading
                if flags == reading.flags
                else Reading(reading.channel, reading.ts, value, Quality.GOOD, flags)
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self._bad(reading, Quality.SENSOR_FAULT, f"not a number: {value!r}")
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return self._bad(reading, Quality.SENSOR_FAULT, f"device reported {number}")
        if self.sentinels and any(
            math.isclose(number, sentinel, rel_tol=1e-6, abs_tol=1e-9)
            for sentinel in self.sentinels
        ):
            # close, not equal: -999.9 arrives as -999.9000244 from a FLOAT32 register
            return self._bad(reading, Quality.SENSOR_FAULT, f"broken-probe value {number:g}")
        if not self.low <= number <= self.high:
            return self._bad(
                reading,
                Quality.OUT_OF_RANGE,
                f"{number:g} outside the physical range {self.low:g}..{self.high:g}",
            )
        if flags == reading.flags and type(value) is float:
            return reading
        return Reading(reading.channel, reading.ts, number, Quality.GOOD, flags)

    @staticmethod
    def _bad(reading: Reading, quality: Quality, detail: str) -> Reading:
        return Reading(reading.channel, reading.ts, None, quality, reading.flags, detail)
