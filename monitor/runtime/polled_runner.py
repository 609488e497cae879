"""The runner of a polled device: a poll on a fixed grid, never a hole.

The n-th poll is due at ``start + n * interval`` (no drift: a late poll does not shift the next
one), with a stable per-device offset so that a thousand devices do not all fire at the same
instant. Every due poll gives one reading per channel, also while the device is down and
backing off (``comm_error``); polls the loop was held up past are recorded as ``stale``.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import zlib
from datetime import datetime, timedelta
from typing import Any

from drivers.base import DriverError, PolledDriver
from monitor.core.model import Quality, Reading
from monitor.runtime.channel_checks import ChannelRules
from monitor.runtime.deadlines import Deadlines
from monitor.runtime.device_runner import DeviceRunner

# the runners log under the coordinator's name, as before they had modules of their own
log = logging.getLogger("monitor.runtime.coordinator")

_CHANNEL = operator.attrgetter("channel")
_APPLY = ChannelRules.apply


def stagger_offset(device_id: str, interval: float) -> float:
    """A stable offset in [0, interval) so that devices' polls spread over the interval."""
    return (zlib.crc32(device_id.encode()) / 2**32) * interval


class PolledRunner(DeviceRunner):
    """Polls on a fixed grid. The schedule lives on the runner, not in the task, so that the
    coordinator's watchdog can give a runner whose driver is wedged a fresh task and driver
    that carry on with the same grid."""

    driver: PolledDriver[Any, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.poll_started: float | None = None
        self.poll_ts: datetime | None = None
        # the coordinator gives devices with the same timeout one Deadlines between them
        self.deadlines = Deadlines(self.clock, self.device.timeout)
        self._rule_list = [self.rules[channel] for channel in self.channel_list]
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
        clock, state = self.clock, self.state
        sleep_until, monotonic, now = clock.sleep_until, clock.monotonic, clock.now
        try:
            while self.generation == gen:
                due = self._start + self._n * interval
                await sleep_until(due)
                woke = monotonic()
                late_by = woke - due
                if late_by >= interval:
                    self._n = self._skip_missed(self._n, due, late_by, interval)
                    continue
                ts = now()
                self._n += 1
                state.polls += 1
                state.last_poll = ts
                if woke < self._retry_at:
                    self.publish_all_bad(ts, Quality.COMM_ERROR, f"device down: {state.last_error}")
                    continue
                delay = await self.poll_once(ts, gen, woke)
                if delay is not None:
                    self._retry_at = monotonic() + delay
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

    async def poll_once(
        self, ts: datetime, gen: int | None = None, started: float | None = None
    ) -> float | None:
        """One connect-if-needed plus read under the device timeout; ``started`` is the
        monotonic time the poll began, if the caller has just read it.

        Returns None on success, else the backoff delay before the next attempt."""
        gen = self.generation if gen is None else gen
        self.poll_started = self.clock.monotonic() if started is None else started
        self.poll_ts = ts
        deadlines = self.deadlines
        watch = deadlines.watch()
        try:
            try:
                if not self._connected:
                    await self.driver.connect()
                    self._connected = True
                readings = await self.driver.read(ts)
            finally:
                expired = deadlines.end(watch)
        except asyncio.CancelledError:
            if not expired:
                raise  # cancelled from outside (stop, the watchdog): not a timeout
            reason = f"no answer within {self.device.timeout:g} s"
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
            if self.state.online is True:
                self.state.last_success = ts
            else:
                self.mark_up(ts)
            if list(map(_CHANNEL, readings)) == self.channel_list:
                # the usual poll, one reading per channel in order: each through its rules
                # by C's map, no lookup and no loop in Python
                self.pipeline.publish_many(list(map(_APPLY, self._rule_list, readings)))
            else:
                self._publish_unusual(readings, ts)
            return None
        if self.generation != gen:
            return None
        self.poll_started = None
        self.publish_all_bad(ts, Quality.COMM_ERROR, reason)
        delay = self.mark_down(reason)
        await self.close_driver()
        return delay

    def _publish_unusual(self, readings: list[Reading], ts: datetime) -> None:
        """A poll whose readings are not one per channel in order: each reading of a bound
        channel through its rules, the others dropped (and logged), then a bad row for each
        channel the driver gave no reading for."""
        rules = self.rules
        checked = []
        for reading in readings:
            rule = rules.get(reading.channel)
            if rule is None:
                self.publish(reading)  # not this device's channel: dropped, logged
            else:
                checked.append(rule.apply(reading))
        self.pipeline.publish_many(checked)
        self._publish_missing(readings, ts)

    def _publish_missing(self, readings: list[Reading], ts: datetime) -> None:
        """A bad row for each channel the driver gave no reading for."""
        seen = {reading.channel for reading in readings}
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
