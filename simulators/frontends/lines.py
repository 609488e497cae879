"""Byte-stream endpoints a serial-style front end sits on: a pseudo-terminal or a TCP port.

* :class:`PtyLine`: the device end (master) of a pseudo-terminal pair, read with the event
  loop's ``add_reader``; coldwatch opens the slave's path (or a stable symlink to it, like
  ``/dev/serial/by-id/...``). The slave stays open here too, so that the master never sees
  EIO while coldwatch has the port closed.
* :class:`SocketLine`: a TCP server on loopback, as a serial-to-Ethernet server in raw TCP
  mode (coldwatch opens ``socket://127.0.0.1:<port>``); also carries Modbus TCP.

Each connection gets its own :class:`Session` (the protocol's framing state); the session
turns received bytes into the reply bytes. A session that answers later (a slow device) also
has ``bind(write)``: the line calls it with its connection's writer before the first bytes
arrive. ``broadcast`` is for devices that push. A line is an async context manager, and can be
started again after :meth:`Line.stop` (a pty: a new pair under the same link, as a USB adapter
plugged in again; a socket: the same port). No threads: everything runs on the event loop.

The tests' fake serial devices (tests/support/serial_peer.py) sit on these same lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

log = logging.getLogger(__name__)

#: Bytes kept for a pty reader that is not reading; beyond this output is dropped, as a
#: real line would lose it.
MAX_PENDING = 64 * 1024


class Session(Protocol):
    def feed(self, data: bytes) -> bytes:
        """Take received bytes; return what the device sends back (may be empty)."""


SessionFactory = Callable[[], Session]
Writer = Callable[[bytes], None]


def _bind(session: Session, write: Writer) -> None:
    """Give a session that answers later its connection's writer (see the module's doc)."""
    bind = getattr(session, "bind", None)
    if bind is not None:
        bind(write)


class Line(ABC):
    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def broadcast(self, data: bytes) -> None:
        """Send bytes unasked (a push device), to whoever is listening."""

    @property
    @abstractmethod
    def port_name(self) -> str:
        """What coldwatch opens: a device path or ``socket://host:port``."""


class _Connection(asyncio.Protocol):
    def __init__(self, line: SocketLine) -> None:
        self.line = line
        self.session = line.factory()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.line.connections.add(self)
        _bind(self.session, self.write)

    def data_received(self, data: bytes) -> None:
        reply = self.session.feed(data)
        if reply:
            self.write(reply)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.line.connections.discard(self)


class SocketLine(Line):
    """A TCP listener on ``host:port`` (0: a free port, known after :meth:`start`)."""

    def __init__(self, factory: SessionFactory, host: str, port: int = 0) -> None:
        super().__init__(factory)
        self.host = host
        self.port = port
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if server is not None:
            await server.wait_closed()
        for _ in range(3):  # let connection_lost callbacks run
            await asyncio.sleep(0)

    def broadcast(self, data: bytes) -> None:
        for conn in list(self.connections):
            conn.write(data)

    @property
    def port_name(self) -> str:
        return f"socket://{self.host}:{self.port}"


class PtyLine(Line):
    """The device end of a pseudo-terminal; coldwatch opens :attr:`port_name`."""

    def __init__(
        self,
        factory: SessionFactory,
        link: Path | None = None,
        *,
        max_pending: int | None = MAX_PENDING,
    ) -> None:
        super().__init__(factory)
        self.link = link
        self.max_pending = max_pending
        """Bytes kept for a reader that is not reading (None: all of them)."""
        self.tty_name = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._session: Session | None = None
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Open a new pair (again after :meth:`stop`), under ``link`` if given."""
        await self.stop()
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.tty_name = os.ttyname(slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.tty_name)
            tmp.replace(self.link)
        self._session = self.factory()
        _bind(self._session, self._write)
        self._loop.add_reader(master, self._readable)

    async def stop(self) -> None:
        """Close both ends and remove the link, as udev does when a USB adapter is pulled out:
        to coldwatch, the port is gone. (A dangling link would be worse than unreal: the
        kernel reuses pty numbers, so it could lead to another program's device.)"""
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        if self._master is not None and self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop.remove_writer(self._master)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._out.clear()

    @property
    def port_name(self) -> str:
        return str(self.link) if self.link is not None else self.tty_name

    def broadcast(self, data: bytes) -> None:
        self._write(data)

    def _write(self, data: bytes) -> None:
        if self._master is None:
            return
        if self.max_pending is None:
            self._out += data
        else:
            self._out += data[: max(0, self.max_pending - len(self._out))]
        self._flush()

    def _flush(self) -> None:
        if self._master is None or self._loop is None:
            return
        try:
            sent = os.write(self._master, self._out) if self._out else 0
        except BlockingIOError:
            sent = 0
        except OSError as exc:  # nobody on the other end
            log.debug("pty %s: write failed: %s", self.tty_name, exc)
            self._out.clear()
            sent = 0
        del self._out[:sent]
        if self._out:
            self._loop.add_writer(self._master, self._flush)
        else:
            self._loop.remove_writer(self._master)

    def _readable(self) -> None:
        if self._master is None or self._session is None:
            return
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if data:
            reply = self._session.feed(data)
            if reply:
                self._write(reply)
