"""A private Mosquitto broker on a free loopback port, for the demo's MQTT devices.

Never the system broker on 1883: the demo writes its own configuration (``listener PORT
127.0.0.1``, anonymous, no persistence) into its data directory and starts ``mosquitto -c``.
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


class PrivateBroker:
    def __init__(self, binary: str, folder: Path, host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.folder = folder
        self.host = host
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.folder / "mosquitto.log"

    async def start(self, timeout: float = 10.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port(self.host)
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.log_file}",
        ]
        if os.geteuid() == 0:  # as root mosquitto would become user "mosquitto", who
            lines.append(f"user {getpass.getuser()}")  # cannot write to our folder
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 -- no child-watcher thread
            [self.binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise BrokerError(f"mosquitto exited at start; see {self.log_file}")
            if await _accepts(self.host, self.port):
                return
            await asyncio.sleep(0.05)
        await self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port}")

    async def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            while proc.poll() is None:  # noqa: ASYNC110 -- a process, not an event
                await asyncio.sleep(0.02)


async def _accepts(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
