"""pymodbus clients, and the one client plus lock that every unit on a serial line shares.

An RS-485 bus carries one exchange at a time. Every device configured on the same
``serial_port`` therefore gets the same :class:`Link`, kept in the run's ``context.shared``:
one pymodbus client (a port can only be opened once) and one :class:`asyncio.Lock` held for a
whole device poll. A Modbus TCP device gets a private link.

pymodbus is set up to do nothing on its own: no retries and no reconnect task (the coordinator
owns both); its per-request timeout is the device's ``request_timeout``.

Bytes pymodbus cannot take apart as a Modbus frame (a device answering garbage) make its
protocol raise out of ``data_received``: asyncio then logs "Fatal error: protocol.data_received()
call failed" with a traceback at error level, on every answer, and drops the connection with the
request left to time out. :func:`guard_garbage` turns them into a failed request instead
(:class:`GarbledAnswer`), which the driver logs once per device and counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from drivers.base import DriverError
from drivers.modbus.config import ModbusSettings

log = logging.getLogger(__name__)

_FRAMERS = {"tcp": FramerType.SOCKET, "rtu": FramerType.RTU, "ascii": FramerType.ASCII}


class GarbledAnswer(Exception):
    """An answer pymodbus could not decode as a Modbus frame; the bytes are discarded."""


#: How much of a garbled answer a message shows.
_SHOWN = 16


def guard_garbage(client: Any) -> None:
    """Make ``client``'s protocol fail the pending request with :class:`GarbledAnswer` when
    the bytes it received cannot be decoded, rather than raise into the event loop."""
    protocol = client.ctx  # pymodbus' TransactionManager: the client's one asyncio protocol
    decode = protocol.callback_data

    def callback_data(data: bytes, addr: tuple[str, int] | None = None) -> int:
        try:
            return int(decode(data, addr))
        except Exception as exc:
            future = getattr(protocol, "response_future", None)
            shown = data[:_SHOWN].hex(" ") + (" ..." if len(data) > _SHOWN else "")
            if future is not None and not future.done():
                future.set_exception(GarbledAnswer(f"{exc} ({len(data)} bytes: {shown})"))
            else:  # nobody is waiting for an answer: nothing to fail, the bytes go
                log.debug("discarded %d undecodable bytes: %s", len(data), shown)
            return len(data)  # everything received so far is unusable

    protocol.callback_data = callback_data


@dataclass(eq=False)
class Link:
    """One line to one or more devices: its client, its lock and who is using it."""

    key: str
    line: tuple[Any, ...]
    """What must agree between devices sharing the line (framing and serial parameters)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    client: Any = None
    users: set[str] = field(default_factory=set)
    last_io: float | None = None
    """Monotonic time the last exchange ended, for the pause between requests."""

    @property
    def connected(self) -> bool:
        return self.client is not None and bool(self.client.connected)

    async def open(self, settings: ModbusSettings) -> None:
        """Connect if not connected. Call with the lock held."""
        if self.connected:
            return
        self.drop()
        if settings.serial_port and settings.serial_port.startswith("socket://"):
            await _probe(settings.serial_port, settings.request_timeout)
        try:
            self.client = make_client(settings)
            ok = await self.client.connect()
        except Exception as exc:  # pyserial and asyncio raise a zoo of types here
            self.drop()
            raise DriverError(f"cannot open {settings.where}: {exc}") from exc
        if not ok or not self.client.connected:
            self.drop()
            raise DriverError(f"cannot connect to {settings.where}")
        self.last_io = None

    def set_timeout(self, seconds: float) -> None:
        """Per-request timeout of the next exchanges (units on one bus may differ)."""
        if self.client is not None:
            self.client.ctx.comm_params.timeout_connect = seconds

    def drop(self) -> None:
        """Close the client, if any. Safe to call at any time."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing must never fail the caller
                log.debug("closing modbus client failed: %s", exc)


async def _probe(url: str, timeout: float) -> None:
    """Check that a serial-to-Ethernet gateway accepts connections, without blocking.

    pyserial opens ``socket://`` with a *blocking* connect (5 s timeout) inside pymodbus'
    async connect: an unreachable gateway would freeze the event loop, and every other
    device with it. A short asyncio connection first turns that into a quick DriverError.
    """
    host, _, port = url.removeprefix("socket://").rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except (OSError, TimeoutError) as exc:
        raise DriverError(f"cannot connect to {url}: {exc or 'timed out'}") from exc
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def line_of(settings: ModbusSettings) -> tuple[Any, ...]:
    if settings.serial:
        return (
            settings.transport,
            settings.baudrate,
            settings.bytesize,
            settings.parity,
            settings.stopbits,
        )
    return (settings.transport,)


def link_for(device_id: str, settings: ModbusSettings, shared: dict[str, Any]) -> Link:
    """The device's link: the shared one of its serial port, or a private TCP one."""
    if not settings.serial:
        return Link(f"modbus:tcp:{device_id}", line_of(settings))
    key = f"modbus:serial:{settings.serial_port}"
    link = shared.get(key)
    if link is None:
        link = shared[key] = Link(key, line_of(settings))
    if not isinstance(link, Link):
        raise TypeError(f"context.shared[{key!r}] is not a modbus Link")
    return link


def make_client(settings: ModbusSettings) -> Any:
    framer = _FRAMERS[settings.transport]
    common: dict[str, Any] = {
        "framer": framer,
        "timeout": settings.request_timeout,
        "retries": 0,
        "reconnect_delay": 0,
        "reconnect_delay_max": 0,
    }
    client: Any
    if settings.transport == "tcp":
        client = AsyncModbusTcpClient(settings.host or "", port=settings.port, **common)
    else:
        client = AsyncModbusSerialClient(
            settings.serial_port or "",
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            **common,
        )
    guard_garbage(client)
    return client
