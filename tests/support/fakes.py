"""In-memory drivers for coordinator timelines (protocol drivers are tested against real peers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import yaml

from drivers import registry
from drivers.base import (
    DriverError,
    DriverSettings,
    PointSettings,
    PolledDriver,
    ReadingSink,
    StreamingDriver,
)
from monitor.app.config import LoadedConfig, load
from monitor.core.model import Quality, Reading


class FakeSettings(DriverSettings):
    read_time: float = 0.0


class FakePoint(PointSettings):
    value: float | str | None = 0.0


class FakePolled(PolledDriver[FakeSettings, FakePoint]):
    """Reads return each point's configured value; tests steer it through attributes."""

    name = "fake"
    settings_model = FakeSettings
    point_model = FakePoint
    instances: ClassVar[dict[str, FakePolled]] = {}

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.values: dict[str, float | str | None] = {
            p.channel: p.settings.value for p in self.points
        }
        self.read_times: list[float] = []
        self.connects = 0
        self.closes = 0
        self.mode = "ok"  # ok | hang | deaf | fail | partial
        self.release = asyncio.Event()  # ends a "deaf" read
        FakePolled.instances[self.device_id] = self

    async def connect(self) -> None:
        self.connects += 1
        if self.mode == "fail":
            raise DriverError("connection refused")

    async def close(self) -> None:
        self.closes += 1

    async def read(self, ts: datetime) -> list[Reading]:
        clock = self.context.clock
        self.read_times.append(clock.monotonic())
        if self.mode == "hang":
            await asyncio.get_running_loop().create_future()
        if self.mode == "deaf":  # swallows its cancellation, like a buggy library
            while not self.release.is_set():
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    continue
            raise DriverError("released")
        if self.mode == "fail":
            raise DriverError("no answer")
        if self.settings.read_time:
            await clock.sleep_until(clock.monotonic() + self.settings.read_time)
        out = []
        for channel, value in self.values.items():
            if self.mode == "partial" and channel == next(iter(self.values)):
                continue
            if value is None:
                out.append(Reading.bad(channel, ts, Quality.COMM_ERROR, "exception 2"))
            else:
                out.append(Reading.good(channel, ts, value))
        return out


class FakeStreaming(StreamingDriver[FakeSettings, FakePoint]):
    """A pushing device: tests call ``push`` / ``drop`` on the instance."""

    name = "fake_stream"
    settings_model = FakeSettings
    point_model = FakePoint
    instances: ClassVar[dict[str, FakeStreaming]] = {}

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connects = 0
        self.refuse = False
        self._sink: ReadingSink | None = None
        self._lost: asyncio.Future[None] | None = None
        FakeStreaming.instances[self.device_id] = self

    async def connect(self) -> None:
        self.connects += 1
        if self.refuse:
            raise DriverError("broker unreachable")

    async def close(self) -> None:
        self._sink = None

    async def receive(self, sink: ReadingSink) -> None:
        self._sink = sink
        self._lost = asyncio.get_running_loop().create_future()
        await self._lost

    def push(self, channel: str, value: float) -> None:
        assert self._sink is not None, "not connected"
        self._sink.reading(Reading.good(channel, self.context.clock.now(), value))

    def drop(self) -> None:
        assert self._lost is not None
        self._lost.set_exception(DriverError("connection lost"))

    @property
    def connected(self) -> bool:
        return self._sink is not None


registry.register(FakePolled)
registry.register(FakeStreaming)


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fake_config(
    tmp_path: Path, devices: list[dict[str, Any]], channels: list[dict[str, Any]], **extra: Any
) -> LoadedConfig:
    data = {
        "site": {"id": "test", "name": "Test site"},
        "store": {"path": str(tmp_path / "cw.db")},
        "devices": devices,
        "locations": [
            {"id": "room", "equipment": [{"id": "fr", "kind": "ult_freezer", "channels": channels}]}
        ],
        **extra,
    }
    return load(write_config(tmp_path, data))


class Collector:
    """An inline consumer that remembers everything, for assertions."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[Any] = []

    def on_reading(self, reading: Reading) -> None:
        self.readings.append(reading)

    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def of(self, channel: str) -> list[Reading]:
        return [r for r in self.readings if r.channel == channel]

    def where(self, pred: Callable[[Reading], bool]) -> list[Reading]:
        return [r for r in self.readings if pred(r)]
