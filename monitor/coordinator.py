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
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drivers import registry
from drivers.base import (
    Driver,
    DriverContext,
    DriverError,
    Point,
    PolledDriver,
    StreamingDriver,
)
from monitor.clock import Clock
from monitor.config.loader import LoadedConfig
from monitor.config.schema import Device
from monitor.logs import RateLimiter
from monitor.metrics import Metrics
from monitor.model import Event, EventKind, Quality, Reading
from monitor.pipeline import Pipeline
from monitor.qualify import ChannelRules

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
        driver: Driver[Any, Any],
        rules: Mapping[str, ChannelRules],
        pipeline: Pipeline,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self.device = device
        self.driver = driver
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

    def mark_up(self) -> None:
        st = self.state
        st.last_success = self.clock.now()
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

    async def close_driver(self) -> None:
        self._connected = False
        try:
            await self.clock.wait_for(self.driver.close(), self.device.timeout)
        except Exception as exc:
            log.debug("closing %s failed: %s", self.device.id, exc)


class PolledRunner(_DeviceRunner):
    driver: PolledDriver[Any, Any]

    async def run(self) -> None:
        interval = self.device.interval
        start = self.clock.monotonic() + stagger_offset(self.device.id, interval)
        n = 0
        retry_at = start
        try:
            while True:
                due = start + n * interval
                await self.clock.sleep_until(due)
                late_by = self.clock.monotonic() - due
                if late_by >= interval:
                    n = self._skip_missed(n, due, late_by, interval)
                    continue
                ts = self.clock.now()
                n += 1
                self.state.polls += 1
                self.state.last_poll = ts
                if self.clock.monotonic() < retry_at:
                    self.publish_all_bad(
                        ts, Quality.COMM_ERROR, f"device down: {self.state.last_error}"
                    )
                    continue
                delay = await self.poll_once(ts)
                if delay is not None:
                    retry_at = self.clock.monotonic() + delay
        finally:
            await self.close_driver()

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

    async def poll_once(self, ts: datetime) -> float | None:
        """One connect-if-needed plus read under the device timeout.

        Returns None on success, else the backoff delay before the next attempt."""
        try:
            readings = await self.clock.wait_for(self._connect_and_read(ts), self.device.timeout)
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
            self.mark_up()
            seen = set()
            for reading in readings:
                seen.add(reading.channel)
                self.publish(reading)
            for channel in self.channels:
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


class Coordinator:
    """Builds a driver per enabled device and runs each in its own task."""

    def __init__(
        self, loaded: LoadedConfig, pipeline: Pipeline, clock: Clock, metrics: Metrics | None = None
    ) -> None:
        self.loaded = loaded
        self.pipeline = pipeline
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.context = DriverContext(clock=clock, log=logging.getLogger("drivers"))
        self.runners: dict[str, _DeviceRunner] = {}
        self._tasks: list[asyncio.Task[None]] = []
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
            driver = cls(device.id, self.loaded.driver_settings[device.id], points, self.context)
            runner: _DeviceRunner
            if isinstance(driver, StreamingDriver):
                streaming = StreamingRunner(
                    device, driver, rules, self.pipeline, self.clock, self.metrics
                )
                streaming.stale_after.update(stale_after.get(device.id, {}))
                runner = streaming
            else:
                runner = PolledRunner(
                    device, driver, rules, self.pipeline, self.clock, self.metrics
                )
            self.runners[device.id] = runner

    def states(self) -> dict[str, DeviceState]:
        return {dev: runner.state for dev, runner in self.runners.items()}

    async def start(self) -> None:
        for device_id, runner in self.runners.items():
            assert isinstance(runner, PolledRunner | StreamingRunner)
            self._tasks.append(asyncio.create_task(runner.run(), name=f"device-{device_id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, result in zip(self._tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("device task %s ended with %r", task.get_name(), result)
        self._tasks.clear()
