"""A real Mosquitto broker on a free loopback port, for MQTT driver tests and benchmarks.

``Mosquitto(tmp_path)`` writes a configuration into ``tmp_path`` (``listener PORT 127.0.0.1``,
anonymous access, optional persistence, TLS and extra lines), starts ``mosquitto -c FILE`` and
waits until the port accepts connections. ``stop`` ends it with SIGTERM (a clean stop writes
the persistence file) and ``restart`` brings it back on the same port, which is how the tests
take the broker away from a running coordinator. The broker's log goes to ``tmp_path`` and is
quoted in the error when it fails to start.

Tests skip with a clear message when the ``mosquitto`` binary is missing (``apt-get install
mosquitto``); nothing here ever talks to a system broker on 1883.

Processes are watched by polling ``Popen.poll`` rather than through asyncio's child watcher,
which would start a thread per broker that the leak check would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulators.broker import free_port as _free_port
from simulators.broker import mosquitto_binary

HOST = "127.0.0.1"


def require_mosquitto() -> str:
    """The broker binary, or skip the test saying how to get it."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip(
            "mosquitto is not installed: the MQTT driver is tested against a real broker "
            "(apt-get install mosquitto)"
        )
    return binary


def free_port() -> int:
    return _free_port(HOST)


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate for 127.0.0.1, as made by :func:`make_tls_files`."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=30)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=coldwatch test CA", "-keyout", str(ca_key), "-out", str(ca_crt))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    return TlsFiles(ca_crt, crt, key)


class Mosquitto:
    """One broker process; ``start``/``stop``/``restart`` keep its port and its files."""

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        persistence: bool = False,
        tls: TlsFiles | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.binary = require_mosquitto()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = HOST
        self.persistence = persistence
        self.tls = tls
        self.extra = list(extra)
        self.config_file = folder / "mosquitto.conf"
        self.log_file = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        if os.geteuid() == 0:
            # as root, mosquitto drops to user "mosquitto", who cannot write to tmp_path
            lines.append(f"user {getpass.getuser()}")
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

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def wait_for_log(self, text: str, timeout: float = 5.0) -> None:
        """Wait until the broker's log mentions ``text`` (e.g. a client id connecting)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_tail(10_000):
            if time.monotonic() > deadline:
                raise AssertionError(f"broker log never said {text!r}:\n{self.log_tail()}")
            await asyncio.sleep(0.02)

    async def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self.config_file.write_text(self.config_text())
        self.proc = subprocess.Popen(  # noqa: ASYNC220 -- no child-watcher thread
            [self.binary, "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError(
                    f"mosquitto exited at start:\n{err}\n{self.log_tail()}\n"
                    f"config:\n{self.config_file.read_text()}"
                )
            if await _accepts(self.port):
                return
            await asyncio.sleep(0.02)
        await self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log_tail()}")

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
        await self.stop()
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()

    async def publish(
        self,
        topic: str,
        payload: str | bytes,
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> None:
        """Publish one message with a short-lived client (aiomqtt), waiting for the ack."""
        import aiomqtt

        async with aiomqtt.Client(self.host, self.port, timeout=5) as client:
            await client.publish(topic, payload, qos=qos, retain=retain)

    async def publish_many(
        self,
        messages: Sequence[tuple[str, str | bytes]],
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """Publish in order on one connection (QoS 1 waits for every PUBACK, at most
        ``timeout``: aiomqtt does not end that wait when the broker goes away)."""
        import aiomqtt

        async with aiomqtt.Client(self.host, self.port, timeout=timeout) as client:
            for topic, payload in messages:
                await client.publish(topic, payload, qos=qos, retain=retain)

    async def flood(self, topic: str, lines: Sequence[str], *, qos: int = 1) -> None:
        """Publish one message per line from a separate process (``mosquitto_pub -l``), so
        that the publisher does not share the event loop with the client under test."""
        pub = shutil.which("mosquitto_pub")
        if pub is None:
            pytest.skip("mosquitto_pub is not installed (apt-get install mosquitto-clients)")
        args = [pub, "-h", HOST, "-p", str(self.port), "-t", topic, "-q", str(qos), "-l"]
        args += ["-M", "1000"]
        proc = subprocess.Popen(  # noqa: ASYNC220 -- no child-watcher thread
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(("\n".join(lines) + "\n").encode())
            proc.stdin.close()
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                err = proc.stderr.read().decode(errors="replace")
                proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"mosquitto_pub failed ({proc.returncode}): {err}")


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def running_broker(
    folder: Path,
    *,
    persistence: bool = False,
    tls: TlsFiles | None = None,
    extra: Sequence[str] = (),
) -> AsyncIterator[Mosquitto]:
    """``async with running_broker(tmp_path) as broker:`` -- started, and stopped at the end."""
    broker = Mosquitto(folder, persistence=persistence, tls=tls, extra=extra)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture
async def mosquitto(tmp_path: Path) -> AsyncIterator[Mosquitto]:
    """A plain broker for one test (import this fixture into the test module)."""
    async with running_broker(tmp_path / "broker") as broker:
        yield broker
