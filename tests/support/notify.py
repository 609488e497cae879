"""Builders and fakes shared by the notifier tests (no tests here)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from alarms.notify.base import DeliveryResult, NotifyError
from alarms.notify.message import Notification
from alarms.notify.notification_log import LogRecord
from alarms.people import Person

T0 = datetime(2026, 3, 1, 2, 12, 5, tzinfo=UTC)  # 03:12:05 CET
ACCOUNT = "AC" + "0123456789abcdef" * 2
SOP = (
    "Move all material to backup freezer ULT-07 within 30 minutes. "
    "Then call QA on +49 30 1234 and record the transfer in the deviation log."
)


def notification(**changes: Any) -> Notification:
    base: dict[str, Any] = {
        "alarm_id": "A1007",
        "kind": "raised",
        "equipment": "ULT-03 -80 freezer",
        "channel": "chamber temperature",
        "value": -61.5,
        "unit": "°C",
        "limit": -65.0,
        "condition": "high",
        "priority": "critical",
        "state": "UNACK",
        "tier": 1,
        "sop": SOP,
        "raised_at": T0,
        "event_at": T0,
        "timezone": "Europe/Berlin",
        "site": "Berlin cell lab",
    }
    base.update(changes)
    return Notification(**base)


def person(pid: str = "alice", channels: Sequence[str] = ("sms",), **changes: Any) -> Person:
    base: dict[str, Any] = {
        "id": pid,
        "name": pid.capitalize() + " Meyer",
        "phone": "+4915112345678",
        "email": f"{pid}@lab.example.org",
        "pin": "4711",
        "channels": tuple(channels),
    }
    base.update(changes)
    return Person(**base)


class FakeTwilioHttp(AsyncHttpClient):  # type: ignore[misc]
    """twilio 9's async HTTP boundary: records each request, answers from a script."""

    def __init__(self, timeout: float | None = None, script: list[Any] | None = None) -> None:
        super().__init__(logging.getLogger("tests.twilio"), True, timeout)
        self.requests: list[dict[str, Any]] = []
        self.script = list(script or [])
        self.closed = False

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {}), "auth": auth})
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        if step == "hang":
            await asyncio.sleep(3600)
        if isinstance(step, Response):
            return step
        prefix = "CA" if uri.endswith("/Calls.json") else "SM"
        sid = f"{prefix}{len(self.requests):032x}"
        return Response(201, json.dumps({"sid": sid, "status": "queued"}))


def twilio_error(status: int, code: int, message: str = "error") -> Response:
    return Response(
        status,
        json.dumps(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            }
        ),
    )


@dataclass
class ScriptedNotifier:
    """A notifier for delivery timelines: each call takes the next step of its script
    (a DeliveryResult, a NotifyError, or "hang"), and is recorded with the virtual time."""

    clock: Any
    script: list[Any] = field(default_factory=list)
    calls: list[tuple[float, Notification, str]] = field(default_factory=list)
    closed: bool = False
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        self.calls.append((self.clock.monotonic(), notification, target.id))
        self.entered.set()
        step = self.script.pop(0) if self.script else DeliveryResult(f"id-{len(self.calls)}")
        if step == "hang":
            await asyncio.Event().wait()
        if isinstance(step, NotifyError):
            raise step
        assert isinstance(step, DeliveryResult)
        return step

    async def aclose(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class Tls:
    """A private CA and a server certificate for 127.0.0.1 and localhost, made with openssl."""

    ca: str
    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_tls(directory: Path) -> Tls:
    if shutil.which("openssl") is None:
        pytest.skip("the TLS tests make their certificates with the openssl command")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=coldwatch test CA")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (directory / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
    )
    sign = ("-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "ext.cnf")
    openssl("x509", "-req", "-in", "server.csr", *sign, "-out", "server.pem", "-days", "2")
    return Tls(
        str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key")
    )


def log_record(key: str, who: str, status: str, minutes: float = 0, **more: object) -> LogRecord:
    return LogRecord(
        key=key,
        alarm_id=key.split("/")[0],
        person_id=who,
        channel=str(more.pop("channel", "sms")),
        attempt=int(more.pop("attempt", 1)),  # type: ignore[call-overload]
        status=status,  # type: ignore[arg-type]
        at=T0 + timedelta(minutes=minutes),
        **more,  # type: ignore[arg-type]
    )
