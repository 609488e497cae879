"""The driver interface: a typed config model plus connect / read-or-receive / close.

Drivers contain no retry loops, backoff, schedules or timeouts: the coordinator owns those
(Telegraf's plugin / RunningInput split). A driver is built with its device's validated
settings and the channels bound to it, and either

* *polled*: implements :meth:`PolledDriver.read`, one batched read of all its points, or
* *streaming*: implements :meth:`StreamingDriver.receive`, which runs until the connection
  is lost and hands each decoded reading to the sink the coordinator gives it.

``connect`` is safe to call again; ``close`` is safe after a failed connect.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from monitor.core.clock import Clock
from monitor.core.metrics import Metrics
from monitor.core.model import Reading


class DriverSettings(BaseModel):
    """Base of a driver's per-device settings model (unknown keys refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PointSettings(BaseModel):
    """Base of a driver's per-channel ``source`` model; ``device`` is consumed before it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


S = TypeVar("S", bound=DriverSettings)
P = TypeVar("P", bound=PointSettings)


@dataclass(frozen=True, slots=True)
class Point(Generic[P]):
    """One channel bound to a device: its stable id and its validated source settings."""

    channel: str
    settings: P


@dataclass(slots=True)
class DriverContext:
    """What the coordinator lends a driver: a clock, a logger, the daemon's counters, and
    resources shared per run (e.g. one lock per serial port for every device on the same
    RS-485 bus)."""

    clock: Clock
    log: logging.Logger
    shared: dict[str, Any] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)


class DriverError(Exception):
    """A failure of the whole device (connection lost, no answer). Every channel goes bad."""


class Driver(ABC, Generic[S, P]):
    name: ClassVar[str]
    settings_model: ClassVar[type[DriverSettings]]
    point_model: ClassVar[type[PointSettings]]

    def __init__(
        self, device_id: str, settings: S, points: Sequence[Point[P]], context: DriverContext
    ) -> None:
        self.device_id = device_id
        self.settings = settings
        self.points = tuple(points)
        self.context = context

    @classmethod
    def check(cls, settings: S, points: Sequence[Point[P]]) -> list[str]:
        """Cross-checks between device settings and points; messages name the channel."""
        return []

    @classmethod
    def check_timing(cls, settings: S, timeout: float, interval: float) -> list[str]:
        """Cross-checks between the driver's own timeouts and the device's poll ``timeout``
        and ``interval`` (which the coordinator owns); messages say which key to change."""
        return []

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...


class PolledDriver(Driver[S, P]):
    @abstractmethod
    async def read(self, ts: datetime) -> list[Reading]:
        """Read every point once; stamp readings with ``ts``.

        A point that fails alone (a Modbus exception, a NaN, a garbled field) comes back as
        a bad-quality reading; a failure of the whole device raises :class:`DriverError`.
        """


class ReadingSink(Protocol):
    """What a streaming driver hands its data to."""

    def reading(self, reading: Reading) -> None: ...

    def event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None: ...

    def availability(self, online: bool, reason: str) -> None: ...


class StreamingDriver(Driver[S, P]):
    @abstractmethod
    async def receive(self, sink: ReadingSink) -> None:
        """Deliver readings until the connection is lost (raise) or the task is cancelled."""
