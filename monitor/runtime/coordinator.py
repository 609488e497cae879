"""The running wrapper around every driver: schedules, timeouts, backoff and availability.

Drivers only read. For each device the coordinator runs one task:

* polled devices: the n-th poll is due at ``start + n * interval`` (no drift: a late poll does
  not shift the next one), with a stable per-device offset so that a thousand devices do not
  all fire at the same instant. Every due poll gives one reading per channel, also while the
  device is down and backing off (``comm_error``): a gap is a row, never a hole.
* streaming devices: ``receive`` runs until the connection is lost, then the coordinator
  reconnects with backoff; a silence timer writes one ``stale`` (or, while the device is
  offline, ``comm_error``) reading per expected interval for each quiet channel.

A device's first failure and its recovery are logged and recorded once each, not every poll.

The runners are :mod:`monitor.runtime.polled_runner` and :mod:`monitor.runtime.streaming_runner`
(what they share: :mod:`monitor.runtime.device_runner`). The coordinator builds one per enabled
device, runs and stops their tasks, and its watchdog gives a polled device whose driver ignored
its timeout a fresh task and driver.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Protocol

from drivers import registry
from drivers.base import (
    DriverContext,
    DriverSettings,
    Point,
    PointSettings,
    StreamingDriver,
)
from monitor.config.sections import SiteConfig
from monitor.core.clock import CANCEL_GRACE, Clock
from monitor.core.metrics import Metrics
from monitor.runtime.channel_checks import ChannelRules
from monitor.runtime.deadlines import Deadlines
from monitor.runtime.device_runner import DeviceRunner, DeviceState
from monitor.runtime.pipeline import Pipeline
from monitor.runtime.polled_runner import PolledRunner, stagger_offset
from monitor.runtime.streaming_runner import StreamingRunner

__all__ = [  # the coordinator, and the names other code imports from here
    "Coordinator",
    "DeviceState",
    "RunConfig",
    "stagger_offset",
]

log = logging.getLogger(__name__)


class RunConfig(Protocol):
    """What the coordinator builds drivers from: the site's sections and every device's and
    channel's settings as their drivers validated them (the app's loaded configuration)."""

    @property
    def config(self) -> SiteConfig: ...

    @property
    def driver_settings(self) -> Mapping[str, DriverSettings]: ...

    @property
    def point_settings(self) -> Mapping[str, PointSettings]: ...


class Coordinator:
    """Builds a driver per enabled device and runs each in its own task."""

    def __init__(
        self, loaded: RunConfig, pipeline: Pipeline, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.loaded = loaded
        self.pipeline = pipeline
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.context = DriverContext(
            clock=clock, log=logging.getLogger("drivers"), metrics=self.metrics
        )
        self.runners: dict[str, DeviceRunner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._abandoned: list[asyncio.Task[None]] = []  # wedged tasks the watchdog replaced
        self._deadlines: dict[float, Deadlines] = {}  # polled devices' timeouts, one per value
        self._build()

    def _build(self) -> None:
        cfg = self.loaded.config
        bound: dict[str, dict[str, ChannelRules]] = {}
        stale_after: dict[str, dict[str, float]] = {}
        for channel_id, (_, channel) in cfg.channels().items():
            bound.setdefault(channel.source.device, {})[channel_id] = ChannelRules.from_config(
                channel_id, channel
            )
            if channel.stale_after is not None:
                stale_after.setdefault(channel.source.device, {})[channel_id] = channel.stale_after
        for device in cfg.devices:
            if not device.enabled:
                continue
            cls = registry.get(device.driver)
            assert cls is not None, "the loader checked every driver name"
            rules = bound.get(device.id, {})
            points = [Point(cid, self.loaded.point_settings[cid]) for cid in rules]
            make = functools.partial(
                cls, device.id, self.loaded.driver_settings[device.id], points, self.context
            )
            runner: DeviceRunner
            first = make()  # a class may pick its kind from its settings (serial: query or push)
            if isinstance(first, StreamingDriver):
                streaming = StreamingRunner(
                    device, make, rules, self.pipeline, self.clock, self.metrics, first
                )
                streaming.stale_after.update(stale_after.get(device.id, {}))
                runner = streaming
            else:
                polled = PolledRunner(
                    device, make, rules, self.pipeline, self.clock, self.metrics, first
                )
                timeout = device.timeout
                if timeout not in self._deadlines:
                    self._deadlines[timeout] = Deadlines(self.clock, timeout)
                polled.deadlines = self._deadlines[timeout]
                runner = polled
            self.runners[device.id] = runner

    def states(self) -> dict[str, DeviceState]:
        return {dev: runner.state for dev, runner in self.runners.items()}

    async def start(self) -> None:
        for device_id, runner in self.runners.items():
            assert isinstance(runner, PolledRunner | StreamingRunner)
            self._tasks[device_id] = asyncio.create_task(runner.run(), name=f"device-{device_id}")
        self._tasks["watchdog"] = asyncio.create_task(self._watchdog(), name="coordinator-watchdog")

    async def _watchdog(self, tick: float = 1.0) -> None:
        """Gives a new task and driver to a polled device whose poll outlived its timeout by
        more than a grace period: its driver swallowed the cancellation and would otherwise
        stop that device's polls, silently, for good."""
        polled = [r for r in self.runners.values() if isinstance(r, PolledRunner)]
        while True:
            await self.clock.sleep_until(self.clock.monotonic() + tick)
            now = self.clock.monotonic()
            for runner in polled:
                started = runner.poll_started
                if started is not None and now - started > runner.device.timeout + CANCEL_GRACE:
                    runner.revive()
                    device_id = runner.device.id
                    self._abandoned.append(self._tasks[device_id])
                    self._tasks[device_id] = asyncio.create_task(
                        runner.run(), name=f"device-{device_id}"
                    )

    async def stop(self, grace: float = 5.0) -> None:
        """Stop every device task; a task that does not end within ``grace`` is left behind
        (and logged) rather than holding up the shutdown that flushes the store."""
        tasks = [*self._tasks.values(), *(t for t in self._abandoned if not t.done())]
        done: set[asyncio.Task[None]] = set()
        pending: set[asyncio.Task[None]] = set(tasks)
        deadline = asyncio.get_running_loop().time() + grace
        # Cancel again until they end: on Python 3.11 a cancellation that arrives in the same
        # loop turn as an answer inside a nested asyncio.wait_for (pymodbus) is swallowed.
        while pending:
            for task in pending:
                task.cancel()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            finished, pending = await asyncio.wait(pending, timeout=min(0.2, left))
            done |= finished
        if tasks:
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("device task %s ended with %r", task.get_name(), task.exception())
            for task in pending:
                log.error("device task %s did not stop within %g s", task.get_name(), grace)
        self._tasks.clear()
        self._abandoned.clear()
        for deadlines in self._deadlines.values():
            await deadlines.close()
