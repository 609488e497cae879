"""A harness for the front-end tests: simulators read by the real coldwatch drivers under a
real Coordinator (system clock), with the channel checks applied, through the coldwatch
configuration the simulation generates for itself (checked in
tests/simulators/test_coldwatch_config.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from monitor.app.config import LoadedConfig, load
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Quality, Reading
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.pipeline import Pipeline
from simulators.coldwatch_config import coldwatch_config, write_config
from simulators.config import SimConfig
from simulators.loader import parse
from simulators.simulation import Simulation


def sim_config(devices: list[dict[str, Any]], **top: Any) -> SimConfig:
    """A simulator configuration from plain data, through the real loader."""
    return parse(yaml.safe_dump({"devices": devices, **top}), "test-sim.yaml")


class Watch:
    """An inline consumer a test can wait on."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[Any] = []
        self._changed = asyncio.Event()

    def on_reading(self, reading: Reading) -> None:
        self.readings.append(reading)
        self._changed.set()

    def on_event(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, channel: str, since: int = 0) -> list[Reading]:
        return [r for r in self.readings[since:] if r.channel == channel]

    def mark(self) -> int:
        """An index: readings from now on are ``of(channel, since=mark)``."""
        return len(self.readings)

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                tail = [(r.channel, r.quality.value, r.value) for r in self.readings[-6:]]
                raise AssertionError(f"timed out waiting for {what}; last readings {tail}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def next(
        self, channel: str, pred: Callable[[Reading], bool], what: str, timeout: float = 5.0
    ) -> Reading:
        """The first reading of ``channel`` from now on that satisfies ``pred``."""
        start = self.mark()
        found: list[Reading] = []

        def check() -> bool:
            found[:] = [r for r in self.of(channel, start) if pred(r)]
            return bool(found)

        await self.until(check, f"{channel}: {what}", timeout)
        return found[0]


def good(r: Reading) -> bool:
    return r.quality is Quality.GOOD


def quality(q: Quality) -> Callable[[Reading], bool]:
    return lambda r: r.quality is q


def generated_config(sim: Simulation, tmp_path: Path, interval: float) -> LoadedConfig:
    data = coldwatch_config(sim, store_path=str(tmp_path / "cw.db"), poll_interval=interval)
    return load(write_config(data, tmp_path / "coldwatch.yaml", "test"))


@contextlib.asynccontextmanager
async def read_by_coldwatch(
    sim: Simulation, tmp_path: Path, interval: float = 0.2
) -> AsyncIterator[Watch]:
    """The simulation (already started) read by a Coordinator with the real drivers."""
    loaded = generated_config(sim, tmp_path, interval)
    metrics = Metrics()
    pipeline = Pipeline(metrics)
    watch = Watch()
    pipeline.inline.append(watch)
    coordinator = Coordinator(loaded, pipeline, SystemClock(), metrics)
    await coordinator.start()
    try:
        yield watch
    finally:
        await coordinator.stop()
