"""The domain model's hot-path types: readings, their quality, and the vocabulary of channels.

A reading is a light slotted dataclass, built once per sample and never validated again:
validation belongs to configuration load time, not to the poll loop.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class Quality(enum.StrEnum):
    """How far a reading can be trusted. Anything but GOOD carries no value."""

    GOOD = "good"
    STALE = "stale"
    COMM_ERROR = "comm_error"
    SENSOR_FAULT = "sensor_fault"
    OUT_OF_RANGE = "out_of_range"


#: Reading flags: facts about a good value that an auditor must still see.
FLAG_CALIBRATION_OVERDUE = 1
FLAG_LATE = 2  # a reading accepted with a device timestamp older than its arrival window

Value = float | str


@dataclass(slots=True, frozen=True)
class Reading:
    """One sample of one channel. ``ts`` is timezone-aware UTC; ``value`` is None unless GOOD."""

    channel: str
    ts: datetime
    value: Value | None
    quality: Quality
    flags: int = 0
    detail: str | None = field(default=None, compare=False)

    @staticmethod
    def good(channel: str, ts: datetime, value: Value, flags: int = 0) -> Reading:
        return Reading(channel, ts, value, Quality.GOOD, flags)

    @staticmethod
    def bad(channel: str, ts: datetime, quality: Quality, detail: str | None = None) -> Reading:
        """A failed sample: no value, never 0 and never the previous one."""
        if quality is Quality.GOOD:
            raise ValueError("a bad reading needs a bad quality")
        return Reading(channel, ts, None, quality, 0, detail)


def _set_reading_fields() -> None:
    """Give :class:`Reading` an ``__init__`` that sets its slots through their descriptors:
    the same signature and result as the dataclass' own, at about 60 % of its cost (the frozen
    dataclass' goes through ``object.__setattr__`` per field), for the poll loop, which makes
    a reading per channel per poll."""
    set_channel, set_ts, set_value, set_quality, set_flags, set_detail = (
        Reading.__dict__[name].__set__
        for name in ("channel", "ts", "value", "quality", "flags", "detail")
    )

    def __init__(
        self: Reading,
        channel: str,
        ts: datetime,
        value: Value | None,
        quality: Quality,
        flags: int = 0,
        detail: str | None = None,
    ) -> None:
        set_channel(self, channel)
        set_ts(self, ts)
        set_value(self, value)
        set_quality(self, quality)
        set_flags(self, flags)
        set_detail(self, detail)

    __init__.__qualname__ = "Reading.__init__"
    Reading.__init__ = __init__  # type: ignore[method-assign]


_set_reading_fields()


class EquipmentKind(enum.StrEnum):
    ULT_FREEZER = "ult_freezer"
    LN2_DEWAR = "ln2_dewar"
    CO2_INCUBATOR = "co2_incubator"
    CONTROLLED_RATE_FREEZER = "controlled_rate_freezer"
    OTHER = "other"


class Quantity(enum.StrEnum):
    """What a channel measures; each quantity admits a fixed set of units."""

    TEMPERATURE = "temperature"
    CO2 = "co2"
    O2 = "o2"
    RELATIVE_HUMIDITY = "relative_humidity"
    LN2_LEVEL = "ln2_level"
    PRESSURE = "pressure"
    DOOR_OPEN = "door_open"
    LID_OPEN = "lid_open"
    POWER_OK = "power_ok"
    POWER_FAILURE = "power_failure"
    FILL_VALVE_OPEN = "fill_valve_open"
    STATUS_CODE = "status_code"
    TEXT = "text"
    OTHER = "other"


DISCRETE_QUANTITIES = frozenset(
    {
        Quantity.DOOR_OPEN,
        Quantity.LID_OPEN,
        Quantity.POWER_OK,
        Quantity.POWER_FAILURE,
        Quantity.FILL_VALVE_OPEN,
    }
)

UNITS: dict[Quantity, tuple[str, ...]] = {
    Quantity.TEMPERATURE: ("C",),
    Quantity.CO2: ("%", "ppm"),
    Quantity.O2: ("%",),
    Quantity.RELATIVE_HUMIDITY: ("%RH",),
    Quantity.LN2_LEVEL: ("mm", "in", "%"),
    Quantity.PRESSURE: ("kPa", "bar", "mbar", "psi"),
    Quantity.DOOR_OPEN: ("bool",),
    Quantity.LID_OPEN: ("bool",),
    Quantity.POWER_OK: ("bool",),
    Quantity.POWER_FAILURE: ("bool",),
    Quantity.FILL_VALVE_OPEN: ("bool",),
    Quantity.STATUS_CODE: ("code",),
    Quantity.TEXT: ("text",),
    Quantity.OTHER: ("",),
}

#: Physical limits per unit: a value outside them cannot be a real measurement.
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "C": (-273.15, 250.0),
    "%": (0.0, 100.0),
    "%RH": (0.0, 100.0),
    "ppm": (0.0, 1_000_000.0),
    "mm": (0.0, 10_000.0),
    "in": (0.0, 400.0),
    "kPa": (-101.325, 100_000.0),
    "bar": (-1.01325, 1000.0),
    "mbar": (-1013.25, 1_000_000.0),
    "psi": (-14.7, 15_000.0),
    "bool": (0.0, 1.0),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(slots=True, frozen=True)
class Event:
    """Something that happened, for the record: a device going down, a gap, a config load.

    ``source`` names what it is about (a device id, a channel id, ``store``, ``daemon``);
    ``person`` is set when a human caused it (attributable records).
    """

    ts: datetime
    kind: str
    source: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    person: str | None = None


class EventKind(enum.StrEnum):
    DAEMON_STARTED = "daemon_started"
    DAEMON_STOPPED = "daemon_stopped"
    STOP_REQUESTED = "stop_requested"  # coldwatch stop|restart --reason, with the person
    CONFIG_LOADED = "config_loaded"
    CONFIG_UNATTRIBUTED = "config_unattributed"  # changed without a recorded reason
    DEVICE_UP = "device_up"
    DEVICE_DOWN = "device_down"
    GAP = "gap"
    STORE_OVERFLOW = "store_overflow"
    RETENTION_PURGE = "retention_purge"
    DEVICE_EVENT = "device_event"
    # the monitor watching itself
    UNCLEAN_RESTART = "unclean_restart"
    DOWNTIME = "downtime"
    DISK_LOW = "disk_low"
    DISK_OK = "disk_ok"
    CLOCK_STEP = "clock_step"
    CLOCK_UNSYNCHRONISED = "clock_unsynchronised"
    CLOCK_SYNCHRONISED = "clock_synchronised"
    STORE_WRITE_FAILED = "store_write_failed"
    STORE_WRITE_RECOVERED = "store_write_recovered"
    NOTIFIER_FAILING = "notifier_failing"
    NOTIFIER_RECOVERED = "notifier_recovered"
    NOTIFIERS_ALL_FAILING = "notifiers_all_failing"
    NOTIFIERS_RECOVERED = "notifiers_recovered"
    ACCOUNT_LOCKED = "account_locked"  # failed sign-ins in a row locked a user id
