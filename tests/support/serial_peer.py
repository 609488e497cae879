"""Fake line devices for the serial driver tests, on the simulators' real lines.

A :class:`LineDevice` is the device's behaviour: it answers commands from a table (a
TEC-3000-like ``CALVL?`` -> ``+123.4``), ignores the commands it does not know, can answer
late, and records what it was asked. The lines are the simulators' own
(:mod:`simulators.frontends.lines`), with thin names for the tests:

* :class:`PtyPeer`: a :class:`~simulators.frontends.lines.PtyLine`. The driver opens
  :attr:`PtyPeer.path`, which is a symlink when ``link`` is given, like
  ``/dev/serial/by-id/...``: :meth:`PtyPeer.vanish` closes the pair (a USB adapter pulled out)
  and :meth:`PtyPeer.start` plugs a new one in under the same name. Unlike the simulators'
  default, nothing written is ever dropped for a slow reader (tests count every byte).
* :class:`TcpPeer`: a :class:`~simulators.frontends.lines.SocketLine` on 127.0.0.1, as a
  serial-to-Ethernet server in raw TCP mode; the driver opens :attr:`TcpPeer.url`
  (``socket://127.0.0.1:<port>``).

Both have ``write(bytes)`` to push raw bytes (frames, garbage) and are async context managers
that close everything they opened, so the leak checker stays quiet. Everything runs on the
test's event loop; no threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulators.frontends.lines import PtyLine, SocketLine, Writer


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


class _DeviceSession:
    """One connection's view of a :class:`LineDevice`: what the line feeds it goes to the
    device, whose answers (now or late) go back through the connection's writer."""

    def __init__(self, device: LineDevice) -> None:
        self.device = device
        self._write: Writer | None = None

    def bind(self, write: Writer) -> None:
        self._write = write

    def feed(self, data: bytes) -> bytes:
        assert self._write is not None, "the line binds its writer before feeding"
        self.device.handle(data, self._write)
        return b""


class PtyPeer(PtyLine):
    """A device on the master end of a pseudo-terminal pair (see :class:`PtyLine`)."""

    def __init__(self, device: LineDevice | None = None, link: Path | None = None) -> None:
        self.device = device or LineDevice()
        super().__init__(lambda: _DeviceSession(self.device), link, max_pending=None)

    @property
    def path(self) -> str:
        """What the driver opens: the link if given, else the slave's device path."""
        return self.port_name

    async def vanish(self) -> None:
        """The USB adapter is pulled out: both ends closed and the link removed."""
        await self.stop()

    def write(self, data: bytes) -> None:
        self.broadcast(data)


class TcpPeer(SocketLine):
    """A device behind a serial-to-Ethernet server (raw TCP) on 127.0.0.1:``port`` (0: a free
    port, known after :meth:`start`; a later start listens on the same one)."""

    def __init__(self, device: LineDevice | None = None, port: int = 0) -> None:
        self.device = device or LineDevice()
        super().__init__(lambda: _DeviceSession(self.device), "127.0.0.1", port)

    @property
    def url(self) -> str:
        return self.port_name

    def write(self, data: bytes) -> None:
        self.broadcast(data)


def forma_frame(temperature: int | None, message: str = "") -> bytes:
    """A Thermo Forma 900 push frame: ``NUL - XXX SP C SP <msg> SP LF CR EOT SP``, with
    ``T_ERR`` in place of the number when the probe has failed."""
    value = "T_ERR" if temperature is None else f"{temperature}"
    return b"\x00- " + f"{value} C {message} ".encode("latin-1") + b"\n\r\x04 "


def taylor_wharton_line(event: str, when: str) -> bytes:
    """A Taylor-Wharton Kryos event line, e.g. ``Fill Started on 9/28/98 @ 8:07``."""
    return f"{event} on {when}\r\n".encode("latin-1")
