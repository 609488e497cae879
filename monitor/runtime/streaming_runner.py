"""The runner of a streaming device: it pushes readings; silence is recorded too.

``receive`` runs until the connection is lost, then the runner reconnects with backoff; a
silence timer writes one ``stale`` (or, while the device is offline, ``comm_error``) reading per
expected interval for each quiet channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from drivers.base import DriverError, StreamingDriver
from monitor.core.model import EventKind, Quality, Reading
from monitor.runtime.device_runner import DeviceRunner

# the runners log under the coordinator's name, as before they had modules of their own
log = logging.getLogger("monitor.runtime.coordinator")


class StreamingRunner(DeviceRunner):
    """Receives what the device pushes (it is the driver's reading sink) and watches for
    silence."""

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
