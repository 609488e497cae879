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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from drivers import registry
from drivers.base import (
    Driver,
    DriverContext,
    DriverError,
    DriverSettings,
    Point,
    PointSettings,
    PolledDriver,
    StreamingDriver,
)
from monitor.config.sections import Device, SiteConfig
from monitor.core.clock import CANCEL_GRACE, Clock
from monitor.core.logs import RateLimiter
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.channel_checks import ChannelRules
from monitor.runtime.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass
class DeviceState:
    """Availability as the coordinator sees it; ``online`` is None before the first attempt."""

    device: str
    driver: str
    online: bool | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    polls: int = 0
    failures: int = 0
    skipped_polls: int = 0


def stagger_offset(device_id: str, interval: float) -> float:
    """A stable offset in [0, interval) so that devices' polls spread over the interval."""
    return (zlib.crc32(device_id.encode()) / 2**32) * interval


class _DeviceRunner:
    def __init__(
        self,
        device: Device,
        make_driver: Callable[[], Driver[Any, Any]],
        rules: Mapping[str, ChannelRules],
        pipeline: Pipeline,
        clock: Clock,
        metrics: Metrics,
        first: Driver[Any, Any] | None = None,
    ) -> None:
        self.device = device
        self.make_driver = make_driver
        self.driver = first or make_driver()
        self.rules = rules
        self.channels = tuple(rules)
        self.pipeline = pipeline
        self.clock = clock
        self.metrics = metrics
        self.state = DeviceState(device.id, device.driver)
        self._backoff = device.backoff.initial
        self._connected = False
        self._limiter = RateLimiter(60.0)

    # --- availability ------------------------------------------------------------------

    def _event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.pipeline.publish_event(
            Event(self.clock.now(), kind, self.device.id, message, dict(data or {}))
        )

    def mark_up(self, ts: datetime | None = None) -> None:
        st = self.state
        st.last_success = ts or self.clock.now()
        if st.online is not True:
            if st.online is False:
                log.warning(
                    "device %s recovered after %d failed attempts",
                    st.device,
                    st.consecutive_failures,
                    extra={"device": st.device},
                )
            else:
                log.info("device %s online", st.device, extra={"device": st.device})
            self._event(
                EventKind.DEVICE_UP,
                f"device {st.device} communicating",
                {"after_failures": st.consecutive_failures},
            )
        st.online = True
        st.consecutive_failures = 0
        st.last_error = None
        self._backoff = self.device.backoff.initial

    def mark_down(self, reason: str) -> float:
        """Record a failure; return the backoff delay before the next attempt."""
        st = self.state
        st.failures += 1
        st.consecutive_failures += 1
        st.last_error = reason
        if st.online is not False:
            log.error(
                "device %s not communicating: %s", st.device, reason, extra={"device": st.device}
            )
            self._event(
                EventKind.DEVICE_DOWN,
                f"device {st.device} not communicating: {reason}",
                {"reason": reason},
            )
        st.online = False
        delay = self._backoff
        self._backoff = min(self._backoff * self.device.backoff.factor, self.device.backoff.max)
        return delay

    # --- readings ------------------------------------------------------------------------

    def publish(self, reading: Reading) -> None:
        rules = self.rules.get(reading.channel)
        if rules is None:
            self.metrics.inc("readings_unknown_channel")
            allowed, held = self._limiter.allow(f"unknown:{reading.channel}")
            if allowed:
                log.warning(
                    "device %s gave a reading for channel %s, which is not bound to it; "
                    "dropped (%d similar held back)",
                    self.device.id,
                    reading.channel,
                    held,
                )
            return
        self.pipeline.publish(rules.apply(reading))

    def publish_all_bad(self, ts: datetime, quality: Quality, detail: str) -> None:
        for channel in self.channels:
            self.pipeline.publish(Reading(channel, ts, None, quality, 0, detail))

    def replace_driver(self) -> None:
        """Forget a driver that is stuck (it may hold a lock forever) and build a new one."""
        self._connected = False
        self.driver = self.make_driver()

    async def close_driver(self) -> None:
        self._connected = False
        try:
            await self.clock.wait_for(self.driver.close(), self.device.timeout)
        except Exception as exc:
            log.debug("closing %s failed: %s", self.device.id, exc)


class PolledRunner(_DeviceRunner):
    """Polls on a fixed grid. The schedule lives on the runner, not in the task, so that the
    coordinator's watchdog can give a runner whose driver is wedged a fresh task and driver
    that carry on with the same grid."""

    driver: PolledDriver[Any, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.poll_started: float | None = None
        self.poll_ts: datetime | None = None
        self._start: float | None = None
        self._n = 0
        self._retry_at = 0.0

    async def run(self) -> None:
        self.generation += 1
        gen = self.generation
        interval = self.device.interval
        if self._start is None:
            self._start = self.clock.monotonic() + stagger_offset(self.device.id, interval)
            self._retry_at = self._start
        try:
            while self.generation == gen:
                due = self._start + self._n * interval
                await self.clock.sleep_until(due)
                late_by = self.clock.monotonic() - due
                if late_by >= interval:
                    self._n = self._skip_missed(self._n, due, late_by, interval)
                    continue
                ts = self.clock.now()
                self._n += 1
                self.state.polls += 1
                self.state.last_poll = ts
                if self.clock.monotonic() < self._retry_at:
                    self.publish_all_bad(
                        ts, Quality.COMM_ERROR, f"device down: {self.state.last_error}"
                    )
                    continue
                delay = await self.poll_once(ts, gen)
                if delay is not None:
                    self._retry_at = self.clock.monotonic() + delay
        finally:
            if self.generation == gen:
                await self.close_driver()

    def revive(self) -> None:
        """The watchdog's verdict: the current poll ignored its timeout. Record it, forget
        the task and the driver (it may hold a lock forever); the caller starts a new task."""
        reason = f"no answer within {self.device.timeout:g} s (driver wedged; replaced)"
        log.critical(
            "driver %s on %s ignored its timeout; starting a fresh instance",
            self.device.driver,
            self.device.id,
        )
        self.metrics.inc("drivers_replaced")
        self.publish_all_bad(self.poll_ts or self.clock.now(), Quality.COMM_ERROR, reason)
        self._retry_at = self.clock.monotonic() + self.mark_down(reason)
        self.generation += 1  # the old task exits without touching anything if it ever wakes
        self.poll_started = None
        self.replace_driver()

    def _skip_missed(self, n: int, due: float, late_by: float, interval: float) -> int:
        """The loop was held up for whole intervals: record each missed poll as stale."""
        missed = int(late_by // interval)
        now_wall = self.clock.now()
        for k in range(missed):
            slot_ts = now_wall - timedelta(seconds=late_by - k * interval)
            self.publish_all_bad(slot_ts, Quality.STALE, "poll missed: coordinator was held up")
        self.state.skipped_polls += missed
        self.metrics.inc("polls_missed", missed)
        allowed, held = self._limiter.allow("missed")
        if allowed:
            log.warning(
                "device %s: %d polls missed (%.1f s late; %d similar held back)",
                self.device.id,
                missed,
                late_by,
                held,
            )
        return n + missed

    async def poll_once(self, ts: datetime, gen: int | None = None) -> float | None:
        """One connect-if-needed plus read under the device timeout.

        Returns None on success, else the backoff delay before the next attempt."""
        gen = self.generation if gen is None else gen
        self.poll_started, self.poll_ts = self.clock.monotonic(), ts
        try:
            async with self.clock.timeout(self.device.timeout):
                readings = await self._connect_and_read(ts)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            reason = f"no answer within {self.device.timeout:g} s"
        except DriverError as exc:
            reason = str(exc) or type(exc).__name__
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a driver bug must not kill the device's task
            reason = f"driver error {type(exc).__name__}: {exc}"
            allowed, _ = self._limiter.allow("bug")
            if allowed:
                log.exception(
                    "driver %s failed unexpectedly on %s", self.device.driver, self.device.id
                )
        else:
            if self.generation != gen:
                return None  # the watchdog gave up on this poll and replaced the driver
            self.poll_started = None
            self.mark_up(ts)
            for reading in readings:
                self.publish(reading)
            seen = {reading.channel for reading in readings}
            for channel in self.channels if len(seen) < len(self.channels) else ():
                if channel not in seen:
                    self.pipeline.publish(
                        Reading(
                            channel,
                            ts,
                            None,
                            Quality.COMM_ERROR,
                            0,
                            "driver returned no value for this channel",
                        )
                    )
            return None
        if self.generation != gen:
            return None
        self.poll_started = None
        self.publish_all_bad(ts, Quality.COMM_ERROR, reason)
        delay = self.mark_down(reason)
        await self.close_driver()
        return delay

    async def _connect_and_read(self, ts: datetime) -> list[Reading]:
        if not self._connected:
            await self.driver.connect()
            self._connected = True
        return await self.driver.read(ts)


class StreamingRunner(_DeviceRunner):
    driver: StreamingDriver[Any, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_seen: dict[str, float] = {}
        self.stale_after: dict[str, float] = {}

    # ReadingSink
    def reading(self, reading: Reading) -> None:
        self.last_seen[reading.channel] = self.clock.monotonic()
        self.publish(reading)

    def event(self, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self._event(EventKind.DEVICE_EVENT, message, {"device_event": kind, **(data or {})})

    def availability(self, online: bool, reason: str) -> None:
        if online:
            self.mark_up()
        else:
            self.mark_down(reason)

    async def run(self) -> None:
        start = self.clock.monotonic()
        for channel in self.channels:
            self.last_seen[channel] = start
        silence = asyncio.create_task(self._silence_timer(start), name=f"silence-{self.device.id}")
        try:
            while True:
                reason = await self._session()
                delay = self.mark_down(reason)
                await self.close_driver()
                await self.clock.sleep_until(self.clock.monotonic() + delay)
        finally:
            silence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await silence
            await self.close_driver()

    async def _session(self) -> str:
        try:
            await self.clock.wait_for(self.driver.connect(), self.device.timeout)
            self._connected = True
            self.mark_up()
            await self.driver.receive(self)
            return "connection closed"
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            return f"no connection within {self.device.timeout:g} s"
        except (DriverError, OSError) as exc:
            return str(exc) or type(exc).__name__
        except Exception as exc:
            log.exception("driver %s failed unexpectedly on %s", self.device.driver, self.device.id)
            return f"driver error {type(exc).__name__}: {exc}"

    async def _silence_timer(self, start: float) -> None:
        """One bad reading per expected interval for every channel that stays quiet."""
        interval = self.device.interval
        n = 1
        while True:
            await self.clock.sleep_until(start + n * interval)
            n += 1
            now = self.clock.monotonic()
            ts = self.clock.now()
            for channel in self.channels:
                limit = self.stale_after.get(channel, interval)
                if now - self.last_seen[channel] > limit + 1e-9:
                    if self.state.online is False:
                        quality, detail = (
                            Quality.COMM_ERROR,
                            f"device down: {self.state.last_error}",
                        )
                    else:
                        quality, detail = Quality.STALE, f"no data for {limit:g} s"
                    self.pipeline.publish(Reading(channel, ts, None, quality, 0, detail))


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
        self.context = DriverContext(clock=clock, log=logging.getLogger("drivers"))
        self.runners: dict[str, _DeviceRunner] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._abandoned: list[asyncio.Task[None]] = []  # wedged tasks the watchdog replaced
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
            runner: _DeviceRunner
            first = make()  # a class may pick its kind from its settings (serial: query or push)
            if isinstance(first, StreamingDriver):
                streaming = StreamingRunner(
                    device, make, rules, self.pipeline, self.clock, self.metrics, first
                )
                streaming.stale_after.update(stale_after.get(device.id, {}))
                runner = streaming
            else:
                runner = PolledRunner(
                    device, make, rules, self.pipeline, self.clock, self.metrics, first
                )
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
