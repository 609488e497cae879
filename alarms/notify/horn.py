"""A local horn or beacon: one Modbus coil, on while any alarm wants attention.

The coil goes on when an alarm is raised, escalated or re-alarms, and off when the last alarm
holding it is acknowledged, returns to normal or is silenced (shelved, suppressed by design, out
of service; ``off_on``): two freezers in alarm keep the horn sounding until both are dealt
with. An optional pulse pattern toggles the coil for beacons without a flash mode of their own.

The set of alarms holding the horn lives in memory: after a restart the engine's re-sent
notifications rebuild it, and an acknowledgement of an alarm the notifier does not know
still switches the coil off when nothing else holds it. Closing leaves a sounding horn on
(steady): a stopped daemon must not silence an unacknowledged alarm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from alarms.notify.base import DeliveryResult, NotifierSettings, NotifyError
from alarms.notify.message import Kind, Notification
from alarms.people import Person
from monitor.core.clock import Clock, SystemClock
from monitor.core.durations import Duration
from monitor.core.logs import RateLimiter

log = logging.getLogger(__name__)

#: Modbus exception codes that a retry cannot fix: wrong function, address or value.
_PERMANENT_EXCEPTIONS = frozenset({1, 2, 3})


class Pulse(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on: Duration = Field(gt=0)
    off: Duration = Field(gt=0)


class HornSettings(NotifierSettings):
    type: Literal["horn"] = "horn"
    host: str | None = None
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = None
    """Modbus RTU on a serial line (or ``socket://host:port`` through a gateway)."""
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    unit: int = Field(default=1, ge=0, le=247)
    coil: int = Field(ge=0, le=65535)
    pulse: Pulse | None = None
    off_on: tuple[Kind, ...] = ("acknowledged", "returned-to-normal", "silenced")
    """Which updates of an alarm release the horn: by default acknowledged, back to normal and
    silenced (shelved, suppressed by design or out of service)."""
    timeout: Duration = Field(default=3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_line(self) -> HornSettings:
        if (self.host is None) == (self.serial_port is None):
            raise ValueError("set exactly one of host (Modbus TCP) and serial_port (RTU)")
        if any(k in ("raised", "escalated", "re-alarm") for k in self.off_on):
            raise ValueError("off_on may only name acknowledged, returned-to-normal and silenced")
        return self

    @property
    def where(self) -> str:
        line = f"{self.host}:{self.port}" if self.host else self.serial_port
        return f"{line} unit {self.unit} coil {self.coil}"


class HornNotifier:
    def __init__(self, name: str, settings: HornSettings, *, clock: Clock | None = None) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock or SystemClock()
        self.holding: set[str] = set()
        """Alarm ids that keep the horn on."""
        self._asked_at: dict[str, datetime] = {}
        """Per alarm id, the event time of the newest page that asked for attention: an older
        update (a retried "shelved" sent before the alarm was raised again) changes nothing."""
        self._lock = asyncio.Lock()
        self._io = asyncio.Lock()
        self._client: Any = None
        self._pulse: asyncio.Task[None] | None = None
        self._limiter = RateLimiter(60.0)

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        async with self._lock:
            alarm, at = notification.alarm_id, notification.event_at
            asked = self._asked_at.get(alarm)
            if notification.active:
                self.holding.add(alarm)
                self._asked_at[alarm] = max(at, asked) if asked is not None else at
            elif notification.kind in self.settings.off_on and (asked is None or at >= asked):
                self.holding.discard(alarm)
                self._asked_at.pop(alarm, None)
            else:
                return DeliveryResult(f"horn:{self.name}:unchanged")
            on = bool(self.holding)
            await self._stop_pulse()
            await self._write(on)
            if on and self.settings.pulse is not None:
                self._pulse = asyncio.create_task(self._pulse_loop(), name=f"horn-{self.name}")
        return DeliveryResult(f"horn:{self.name}:{'on' if on else 'off'}")

    async def aclose(self) -> None:
        async with self._lock:
            had_pulse = self._pulse is not None
            await self._stop_pulse()
            if had_pulse and self.holding:
                with contextlib.suppress(NotifyError):
                    await self._write(True)  # leave it sounding, steady
            self._drop()

    async def _write(self, on: bool) -> None:
        s = self.settings
        async with self._io:
            try:
                if self._client is None or not self._client.connected:
                    self._drop()
                    self._client = _make_client(s)
                    if not await self._client.connect():
                        raise NotifyError(f"cannot connect to horn at {s.where}", retryable=True)
                response = await self._client.write_coil(s.coil, on, device_id=s.unit)
            except ModbusException as exc:
                self._drop()
                raise NotifyError(f"horn at {s.where}: {exc}", retryable=True) from None
            except OSError as exc:
                self._drop()
                raise NotifyError(f"horn at {s.where}: {exc.strerror}", retryable=True) from None
            except (NotifyError, asyncio.CancelledError):
                self._drop()  # a cancelled exchange leaves the client mid-transaction
                raise
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise NotifyError(
                f"horn at {s.where} refused the write (Modbus exception {code})",
                retryable=code not in _PERMANENT_EXCEPTIONS,
            )

    async def _pulse_loop(self) -> None:
        pulse = self.settings.pulse
        assert pulse is not None
        state = True
        while True:
            await self.clock.sleep_until(
                self.clock.monotonic() + (pulse.on if state else pulse.off)
            )
            state = not state
            try:
                await self._write(state)
            except NotifyError as exc:
                allowed, suppressed = self._limiter.allow("pulse")
                if allowed:
                    log.warning("horn %s pulse: %s (%d not logged)", self.name, exc, suppressed)

    async def _stop_pulse(self) -> None:
        task, self._pulse = self._pulse, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _make_client(s: HornSettings) -> Any:
    common: dict[str, Any] = {
        "timeout": s.timeout,
        "retries": 0,
        "reconnect_delay": 0,
        "reconnect_delay_max": 0,
    }
    if s.host is not None:
        return AsyncModbusTcpClient(s.host, port=s.port, framer=FramerType.SOCKET, **common)
    return AsyncModbusSerialClient(
        s.serial_port or "",
        framer=FramerType.RTU,
        baudrate=s.baudrate,
        parity=s.parity,
        stopbits=s.stopbits,
        **common,
    )
