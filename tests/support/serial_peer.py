"""Fake line devices on real serial endpoints, for driver tests and simulators.

A :class:`LineDevice` is the device's behaviour: it answers commands from a table (a
TEC-3000-like ``CALVL?`` -> ``+123.4``), ignores the commands it does not know, can answer
late, and records what it was asked. A peer puts it on the far end of a real line:

* :class:`PtyPeer`: the master end of a pseudo-terminal pair, driven by the event loop
  (``add_reader`` on the master fd). The driver opens :attr:`PtyPeer.path`, which is a
  symlink when ``link`` is given, like ``/dev/serial/by-id/...``: :meth:`PtyPeer.vanish`
  closes the pair (a USB adapter pulled out) and :meth:`PtyPeer.start` plugs a new one in
  under the same name.
* :class:`TcpPeer`: an asyncio TCP server on 127.0.0.1, as a serial-to-Ethernet server in
  raw TCP mode; the driver opens :attr:`TcpPeer.url` (``socket://127.0.0.1:<port>``).

Both have ``write(bytes)`` to push raw bytes (frames, garbage) and are async context
managers that close everything they opened, so the leak checker stays quiet. Everything
runs on the test's event loop; no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any


class LineDevice:
    """Answers each command (a line ending in CR or LF) from ``answers``.

    A command missing from ``answers``, or mapped to None, is ignored: the device stays
    silent, as real controllers do with commands they do not know. ``collisions`` counts
    commands that arrived while an answer was still pending (two masters on one bus).
    """

    def __init__(
        self,
        answers: Mapping[str, str | None] | None = None,
        *,
        answer_end: bytes = b"\r\n",
        delay: float = 0.0,
        late: Mapping[str, float] | None = None,
        echo: bool = False,
    ) -> None:
        self.answers: dict[str, str | None] = dict(answers or {})
        self.answer_end = answer_end
        self.delay = delay
        self.late: dict[str, float] = dict(late or {})
        """Command -> extra seconds before answering it."""
        self.echo = echo
        self.received: list[str] = []
        self.received_at: list[float] = []
        """Loop time each command arrived at."""
        self.collisions = 0
        self._pending = 0
        self._buf = bytearray()

    def commands(self, data: bytes) -> list[str]:
        """The complete commands in ``data`` (partial ones wait for the rest)."""
        self._buf += data
        out: list[str] = []
        while True:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if not ends:
                return out
            end = min(ends)
            line = bytes(self._buf[:end]).decode("latin-1")
            del self._buf[: end + 1]
            if line:
                out.append(line)

    def handle(self, data: bytes, write: Any) -> None:
        """Answer the commands in ``data`` through ``write(bytes)``, after ``delay``."""
        loop = asyncio.get_running_loop()
        for command in self.commands(data):
            self.received.append(command)
            self.received_at.append(loop.time())
            if self._pending:
                self.collisions += 1
            reply = b""
            if self.echo:
                reply += command.encode("latin-1") + self.answer_end
            answer = self.answers.get(command)
            if answer is not None:
                reply += answer.encode("latin-1") + self.answer_end
            if not reply:
                continue
            delay = self.delay + self.late.get(command, 0.0)
            if delay <= 0:
                write(reply)
                continue
            self._pending += 1
            loop.call_later(delay, self._answer_late, write, reply)

    def _answer_late(self, write: Any, reply: bytes) -> None:
        self._pending -= 1
        write(reply)


class _Peer:
    device: LineDevice

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class PtyPeer(_Peer):
    """A device on the master end of a pseudo-terminal pair."""

    def __init__(self, device: LineDevice | None = None, link: Path | None = None) -> None:
        self.device = device or LineDevice()
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None
        self.tty_name = ""
        self._out = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> str:
        return str(self.link) if self.link else self.tty_name

    async def start(self) -> None:
        """Create the pair (again, after :meth:`vanish`), under ``link`` if given."""
        await self.stop()
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
        os.set_blocking(master, False)
        self.master, self.slave = master, slave  # the slave stays open: no EIO on master
        self.tty_name = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.tty_name)
            tmp.replace(self.link)
        self._loop.add_reader(master, self._readable)

    async def vanish(self) -> None:
        """Close both ends and remove the link, as udev does when a USB adapter is pulled
        out: to the driver, the port is gone. (A dangling link would be worse than unreal:
        the kernel reuses pty numbers, so it could lead to another test's device.)"""
        await self.stop()

    async def stop(self) -> None:
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        if self.master is not None and self._loop is not None:
            self._loop.remove_reader(self.master)
            self._loop.remove_writer(self.master)
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self._out.clear()

    def write(self, data: bytes) -> None:
        if self.master is None or self._loop is None:
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        assert self.master is not None and self._loop is not None
        try:
            sent = os.write(self.master, self._out) if self._out else 0
        except BlockingIOError:
            sent = 0
        except OSError:  # nobody on the other end
            self._out.clear()
            sent = 0
        del self._out[:sent]
        if self._out:
            self._loop.add_writer(self.master, self._flush)
        else:
            self._loop.remove_writer(self.master)

    def _readable(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if data:
            self.device.handle(data, self.write)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, peer: TcpPeer) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer.connections.append(self)

    def data_received(self, data: bytes) -> None:
        if self.transport is not None:
            self.peer.device.handle(data, self.write)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        with contextlib.suppress(ValueError):
            self.peer.connections.remove(self)


class TcpPeer(_Peer):
    """A device behind a serial-to-Ethernet server (raw TCP) on 127.0.0.1:``port``."""

    def __init__(self, device: LineDevice | None = None, port: int = 0) -> None:
        self.device = device or LineDevice()
        self.port = port
        self.connections: list[_TcpConnection] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again, on the same port after :meth:`stop`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _TcpConnection(self), "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection: the server is gone."""
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

    def write(self, data: bytes) -> None:
        for conn in list(self.connections):
            conn.write(data)


def forma_frame(temperature: int | None, message: str = "") -> bytes:
    """A Thermo Forma 900 push frame: ``NUL - XXX SP C SP <msg> SP LF CR EOT SP``, with
    ``T_ERR`` in place of the number when the probe has failed."""
    value = "T_ERR" if temperature is None else f"{temperature}"
    return b"\x00- " + f"{value} C {message} ".encode("latin-1") + b"\n\r\x04 "


def taylor_wharton_line(event: str, when: str) -> bytes:
    """A Taylor-Wharton Kryos event line, e.g. ``Fill Started on 9/28/98 @ 8:07``."""
    return f"{event} on {when}\r\n".encode("latin-1")
