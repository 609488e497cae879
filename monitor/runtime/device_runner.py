"""One device's runner, the part both kinds share: its driver, its availability and the
publishing of its readings.

A device's first failure and its recovery are logged and recorded (``device_down``,
``device_up`` events) once each, not every poll; a reading for a channel not bound to the device
is dropped, with a rate-limited warning. :mod:`monitor.runtime.polled_runner` and
:mod:`monitor.runtime.streaming_runner` build on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drivers.base import Driver
from monitor.config.sections import Device
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.channel_checks import ChannelRules
from monitor.runtime.pipeline import Pipeline

# the runners log under the coordinator's name, as before they had modules of their own
log = logging.getLogger("monitor.runtime.coordinator")


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


class DeviceRunner:
    """What both kinds of runner share: one device's driver, its availability (up, down, the
    backoff before the next attempt) and the publishing of its readings through the channel
    rules."""

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
        self.channel_list = list(rules)  # what a complete poll's readings name, in order
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
