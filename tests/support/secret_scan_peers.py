"""The real peers of the secret scan (no tests here): webhook receivers (aiohttp), an SMTP
server with AUTH (aiosmtpd), Twilio's cloud faked at the twilio library's HTTP client, and a
Mosquitto broker that checks the MQTT password. Each records what it received, so the scan can
prove that every configured secret was really used before it proves it was never kept."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.mosquitto import Mosquitto
from tests.support.notify import FakeTwilioHttp
from tests.support.ports import free_port

#: The loggers of the peers themselves (they may log what they receive; they are not coldwatch).
PEER_LOGGERS = ("mail.log", "tests.")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpPeer:
    """Webhook receivers on one loopback port: ``/ok/...`` accepts, ``/echo/...`` refuses
    with 400 and echoes the path and headers back (as some services do), which coldwatch
    records as the error text."""

    port: int
    received: list[Received] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to(self, prefix: str) -> list[Received]:
        return [r for r in self.received if r.path.startswith(prefix)]

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path, dict(request.headers), await request.read())
        self.received.append(got)
        if request.path.startswith("/echo/"):
            return web.Response(status=400, text=f"refused {got.path} {json.dumps(got.headers)}")
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def http_peer() -> AsyncIterator[HttpPeer]:
    peer = HttpPeer(free_port())
    app = web.Application()
    app.router.add_post("/{tail:.*}", peer._handle)
    runner = web.AppRunner(app, access_log=None)  # its log would hold the secret URL paths
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    try:
        yield peer
    finally:
        await runner.cleanup()


@dataclass
class SmtpPeer:
    """Accepts mail from login ``coldwatch`` with ``password`` only (AUTH without TLS on
    loopback, as coldwatch allows for a local relay)."""

    port: int
    password: str
    logins: list[str] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 Message accepted"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == b"coldwatch" and auth_data.password == self.password.encode()
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)


@contextlib.contextmanager
def smtp_peer(port: int, password: str) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(port, password)
    controller = Controller(
        peer,
        hostname="127.0.0.1",
        port=peer.port,
        authenticator=peer.authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield peer
    finally:
        controller.stop()


class TwilioCloud(FakeTwilioHttp):
    """Replaces ``AsyncTwilioHttpClient`` where coldwatch makes it: every client made, and so
    every request with its basic auth, is kept in ``made``."""

    made: ClassVar[list[TwilioCloud]] = []

    def __init__(self, timeout: float | None = None, logger: Any = None) -> None:
        super().__init__(timeout)
        TwilioCloud.made.append(self)

    @classmethod
    def requests(cls) -> list[dict[str, Any]]:
        return [r for client in cls.made for r in client.requests]

    async def close(self) -> None:
        self.closed = True


def password_file(folder: Path, user: str, password: str) -> list[str]:
    """The broker's configuration lines that make it refuse ``user`` with any other password
    (none without ``mosquitto_passwd``: then the password is only sent)."""
    tool = shutil.which("mosquitto_passwd")
    folder.mkdir(parents=True, exist_ok=True)
    if tool is None:
        return []
    passwords = folder / "passwords"
    subprocess.run([tool, "-c", "-b", str(passwords), user, password], check=True)
    passwords.chmod(0o644)  # the broker may drop to another user
    return [f"password_file {passwords}"]


@contextlib.asynccontextmanager
async def broker_on(folder: Path, port: int, extra: list[str]) -> AsyncIterator[Mosquitto]:
    broker = Mosquitto(folder, port=port, extra=extra)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
