"""One serial line, opened once and shared by every device on it, read frame by frame.

An RS-485 bus carries one exchange at a time and a port can only be opened once, so every
device configured on the same port gets the same :class:`Port`, kept in the run's
``context.shared`` under the port's real path (two symlinks to one adapter are one port) or
its ``socket://`` URL. Query devices hold ``Port.lock`` for a whole poll; a push device needs
the port to itself, since nothing in a pushed frame says which device sent it.

pyserial-asyncio-fast opens a device path in an executor thread and runs it as an asyncio
transport; ``socket://host:port`` becomes a plain asyncio TCP connection (no blocking
connect). Received bytes are framed as they arrive and stamped with the arrival time; the
queue of frames nobody has read yet is bounded, like the framer's buffer.

Nothing here retries: a port that cannot be opened or that is lost raises
:class:`~drivers.base.DriverError`, and the coordinator reopens it with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from serial_asyncio_fast import create_serial_connection

from drivers.base import DriverContext, DriverError
from drivers.serial.config import SerialSettings
from drivers.serial.escapes import to_bytes
from drivers.serial.framing import Framer, clean
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter

#: Frames kept for a reader that has not asked for them yet; older ones are dropped.
MAX_QUEUED = 256
#: How long closing waits for the transport to let go of the port.
CLOSE_TIMEOUT = 2.0

Frame = tuple[datetime, str]
"""A frame's arrival time (wall clock) and its cleaned text."""


def line_of(settings: SerialSettings) -> tuple[Any, ...]:
    """What every device sharing one port must agree on."""
    return (
        settings.baudrate,
        settings.bytesize,
        settings.parity,
        settings.stopbits,
        settings.rtscts,
        settings.xonxoff,
        settings.receive_terminator,
        settings.frame_length,
        settings.strip,
        settings.trim,
        settings.max_frame,
    )


def port_key(settings: SerialSettings) -> str:
    if settings.is_socket:
        return f"serial:{settings.port}"
    return f"serial:{Path(settings.port).resolve()}"


class _Connection(asyncio.Protocol):
    """One opening of the port: the transport and why it ended. A new opening gets a new
    one, so a late callback from an old transport can never touch the new one's frames."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.lost: str | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.port._on_data(self, data)

    def eof_received(self) -> bool:
        return False  # a serial server closed the connection: close ours too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = f"connection lost: {exc}" if exc else "connection closed by the other end"
        if not self.closed.done():
            self.closed.set_result(None)
        self.port._on_lost(self)


class Port:
    """A serial line, who uses it, and the frames received on it."""

    def __init__(self, key: str, settings: SerialSettings, clock: Clock, log: logging.Logger):
        self.key = key
        self.clock = clock
        self.log = log
        self.lock = asyncio.Lock()
        self.users: dict[str, str] = {}
        """Device id -> mode of every device using the port."""
        self.last_io: float | None = None
        """Monotonic time the last exchange ended, for the pause between commands."""
        self.quiet_until = -math.inf
        """After an unanswered command the line is left quiet until then, so that a late
        answer is not taken for the next command's."""
        self.frames: deque[Frame] = deque()
        self.frames_received = 0
        self.frames_dropped = 0
        self._conn: _Connection | None = None
        self._closing: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._limiter = RateLimiter(60.0)
        self.configure(settings)

    def configure(self, settings: SerialSettings) -> None:
        """Take the line settings of the first device to use the port."""
        self.where = settings.port
        self.line = line_of(settings)
        self.framer = Framer(
            terminator=to_bytes(settings.receive_terminator),
            length=settings.frame_length,
            max_frame=settings.max_frame,
        )
        self._strip = to_bytes(settings.strip)
        self._trim = settings.trim

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.lost is None

    @property
    def lost_reason(self) -> str:
        if self._conn is None:
            return "port not open"
        return self._conn.lost or "open"

    async def open(self, settings: SerialSettings) -> None:
        """Open the port unless it is open. Raises DriverError if it cannot be opened."""
        if self.connected:
            return
        await self.drop()
        closing, self._closing = self._closing, None
        if closing is not None and not closing.done():  # another device is closing it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(closing), CLOSE_TIMEOUT)
        self.framer.reset()
        self.frames.clear()
        conn = _Connection(self)
        options: dict[str, Any] = {
            "baudrate": settings.baudrate,
            "bytesize": settings.bytesize,
            "parity": settings.parity,
            "stopbits": settings.stopbits,
            "rtscts": settings.rtscts,
            "xonxoff": settings.xonxoff,
        }
        if not settings.is_socket:
            options["exclusive"] = True  # a second program on the port garbles both
        try:
            transport, _ = await create_serial_connection(
                asyncio.get_running_loop(), lambda: conn, settings.port, **options
            )
        except Exception as exc:  # pyserial, OSError, ValueError: all mean "cannot open"
            raise DriverError(f"cannot open {self.where}: {exc}") from exc
        conn.transport = transport
        self._conn = conn
        self.last_io = None
        self.quiet_until = -math.inf

    async def drop(self) -> None:
        """Close the port if open, and wait until it is released. Safe at any time."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.lost is None:
            conn.lost = "port closed"
        self._wake()
        transport = conn.transport
        if transport is None or conn.closed.done():
            return
        if not transport.is_closing():
            transport.abort()
        self._closing = conn.closed
        try:
            await asyncio.wait_for(asyncio.shield(conn.closed), CLOSE_TIMEOUT)
        except TimeoutError:
            self.log.warning("%s did not close within %g s", self.where, CLOSE_TIMEOUT)

    # --- exchanges ------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        conn = self._conn
        if conn is None or conn.lost is not None or conn.transport is None:
            raise DriverError(f"{self.where}: {self.lost_reason}")
        conn.transport.write(data)

    def flush(self) -> int:
        """Forget frames received so far (late answers, unsolicited chatter)."""
        count = len(self.frames)
        self.frames.clear()
        return count

    async def next_frame(self) -> Frame:
        """The oldest unread frame, waiting for one. Raises DriverError once the port is
        lost and every frame received before the loss has been read."""
        while not self.frames:
            if not self.connected:
                raise DriverError(f"{self.where}: {self.lost_reason}")
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self.frames.popleft()

    # --- transport callbacks --------------------------------------------------------------

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        if conn is not self._conn:
            return
        framer = self.framer
        overflows = framer.overflows
        frames = framer.feed(data)
        if framer.overflows != overflows:
            self._warn(
                "overflow",
                "%s: discarded a frame longer than %d bytes (%d bytes discarded so far)",
                self.where,
                framer.max_frame,
                framer.discarded,
            )
        if not frames:
            return
        ts = self.clock.now()
        for raw in frames:
            text = clean(raw, self._strip, self._trim)
            if not text:
                continue
            self.frames_received += 1
            if len(self.frames) >= MAX_QUEUED:
                self.frames.popleft()
                self.frames_dropped += 1
            self.frames.append((ts, text))
        self._wake()

    def _on_lost(self, conn: _Connection) -> None:
        if conn is self._conn:
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _warn(self, key: str, msg: str, *args: Any) -> None:
        allowed, held = self._limiter.allow(key)
        if allowed:
            self.log.warning(msg + " (%d similar held back)", *args, held)


def join(device_id: str, settings: SerialSettings, context: DriverContext) -> Port:
    """The device's port, shared through ``context.shared``; checks that it can share."""
    key = port_key(settings)
    port = context.shared.get(key)
    if port is None:
        port = context.shared[key] = Port(key, settings, context.clock, context.log)
    if not isinstance(port, Port):
        raise TypeError(f"context.shared[{key!r}] is not a serial Port")
    others = {dev: mode for dev, mode in port.users.items() if dev != device_id}
    if not others:
        if not port.connected:
            port.configure(settings)
    elif settings.mode == "push" or "push" in others.values():
        raise DriverError(
            f"{settings.port} is used by {', '.join(sorted(others))}; a device in mode push "
            "needs its port to itself (a pushed frame does not say which device sent it)"
        )
    elif port.line != line_of(settings):
        raise DriverError(
            f"{settings.port} is already used by {', '.join(sorted(others))} with other line "
            "settings; every device on one port must use the same baudrate, bytesize, "
            "parity, stopbits, handshake and framing"
        )
    port.users[device_id] = settings.mode
    return port
