"""A private Mosquitto broker on a free loopback port, for the demo's MQTT devices and the tests.

Never the system broker on 1883: :class:`PrivateBroker` writes its own configuration
(``listener PORT 127.0.0.1``, anonymous, no persistence unless asked, optional TLS and extra
lines) into its folder and starts ``mosquitto -c``. The port is picked free when the broker is
made (or given); :meth:`PrivateBroker.stop` and :meth:`PrivateBroker.start` again keep it, which
is how the tests take the broker away from a running client. The broker's log goes to its
folder and is quoted when it fails to start.

The process is watched by polling, not by asyncio's child watcher (which would start a
thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((c for c in _CANDIDATES if Path(c).is_file()), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BrokerError(RuntimeError):
    pass


class _PortTaken(BrokerError):
    pass


@dataclass(frozen=True)
class TlsFiles:
    """A CA and the broker's certificate and key, for a TLS listener."""

    ca_file: Path
    cert_file: Path
    key_file: Path


class PrivateBroker:
    """One broker process; ``start``/``stop``/``restart`` keep its port and its files."""

    def __init__(
        self,
        binary: str,
        folder: Path,
        host: str = "127.0.0.1",
        *,
        port: int = 0,
        persistence: bool = False,
        tls: TlsFiles | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.folder = folder
        self.host = host
        self.port = port or free_port(host)
        self._port_is_ours = not port
        """The port was picked here (so may be picked again while never listened on)."""
        self.persistence = persistence
        self.tls = tls
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_file(self) -> Path:
        return self.folder / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        return self.folder / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:  # as root mosquitto would become user "mosquitto", who
            lines.append(f"user {getpass.getuser()}")  # cannot write to our folder
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
            ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.folder}/",
                "persistence_file mosquitto.db",
            ]
        else:
            lines.append("persistence false")
        return "\n".join([*lines, *self.extra]) + "\n"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections. A port picked here may
        have been taken by another program between the pick and the broker's bind: then a
        new one is picked (before the first start only; a restart keeps its port)."""
        for _ in range(3):
            try:
                await self._start(timeout)
            except _PortTaken:
                self.port = free_port(self.host)
                continue
            self._port_is_ours = False  # listened on: a restart must come back on it
            return
        await self._start(timeout)

    async def _start(self, timeout: float) -> None:
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config_text())
        logged = self.log_file.stat().st_size if self.log_file.exists() else 0
        self.proc = subprocess.Popen(  # noqa: ASYNC220 -- no child-watcher thread
            [self.binary, "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                proc, self.proc = self.proc, None
                err = ""
                if proc.stderr is not None:
                    err = proc.stderr.read().decode(errors="replace")
                    proc.stderr.close()
                if self._port_is_ours and "Address already in use" in self._log_since(logged):
                    raise _PortTaken(self.port)
                raise BrokerError(
                    f"mosquitto exited at start:\n{err}\n{self.log_tail()}\n"
                    f"config:\n{self.config_file.read_text()}"
                )
            # "running" is logged once every listener is open: before that, a connection
            # could reach another program on a port that was taken after it was picked
            if " running" in self._log_since(logged) and await _accepts(self.host, self.port):
                return
            await asyncio.sleep(0.02)
        await self.stop()
        raise BrokerError(
            f"mosquitto did not listen on {self.host}:{self.port}:\n{self.log_tail()}"
        )

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    async def stop(self, timeout: float = 5.0, *, kill: bool = False) -> None:
        """SIGTERM (a clean stop, persistence saved) or SIGKILL (a crash); wait for the end."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if proc.poll() is None:
                proc.kill()
                while proc.poll() is None:  # noqa: ASYNC110 -- a process, not an event
                    await asyncio.sleep(0.01)
        if proc.stderr is not None:
            proc.stderr.close()

    async def restart(self, down_for: float = 0.0) -> None:
        """Stop, and start again on the same port."""
        await self.stop()
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
