"""A real Mosquitto broker on a free loopback port, for the MQTT tests: the simulators' own.

:class:`Mosquitto` is :class:`simulators.broker.PrivateBroker` (configuration and log in its
folder, ``listener PORT 127.0.0.1``, anonymous, optional persistence, TLS and extra lines;
``stop``/``start``/``restart`` on the same port) with what only tests need: a skip when the
binary is missing, waiting for a line in the broker's log, and publishers (an aiomqtt client,
or ``mosquitto_pub`` in a separate process for floods).

Tests skip with a clear message when the ``mosquitto`` binary is missing (``apt-get install
mosquitto``); nothing here ever talks to a system broker on 1883.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from simulators.broker import PrivateBroker, TlsFiles, mosquitto_binary

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


class Mosquitto(PrivateBroker):
    """The simulators' broker, skipping the test when Mosquitto is not installed."""

    def __init__(
        self,
        folder: Path,
        *,
        port: int | None = None,
        persistence: bool = False,
        tls: TlsFiles | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        super().__init__(
            require_mosquitto(),
            folder,
            HOST,
            port=port or 0,
            persistence=persistence,
            tls=tls,
            extra=extra,
        )

    async def wait_for_log(self, text: str, timeout: float = 5.0) -> None:
        """Wait until the broker's log mentions ``text`` (e.g. a client id connecting)."""
        deadline = time.monotonic() + timeout
        while text not in self.log_tail(10_000):
            if time.monotonic() > deadline:
                raise AssertionError(f"broker log never said {text!r}:\n{self.log_tail()}")
            await asyncio.sleep(0.02)

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
