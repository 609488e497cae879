"""Malformed requests on every listener, each over real HTTP on loopback or the real unix
socket: a 4xx (or the socket's refusal) with a short reason, counted as a refusal, nothing
logged as an error or with a traceback, and the listener answers the next valid request. The
cases the fault probe found (a RecursionError, a TypeError and a UnicodeDecodeError, each a 500
with a traceback) and their kin. (The alarm API's: tests/monitor/app/web/test_alarms_api_ack.py.)"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from pydantic import ValidationError

from alarms.ack.config import TwilioInboundSettings
from alarms.ack.control_socket import ControlServer
from alarms.ack.twilio_webhook import TwilioWebhook
from alarms.model import AlarmState
from tests.support.ack import (
    ACCOUNT,
    ALICE_PHONE,
    BASE,
    TOKEN,
    Stack,
    signature,
    sms_params,
    stack_fixture,  # noqa: F401
)
from tests.support.alarm_engine import KEY
from tests.support.ports import free_port

ME = pwd.getpwuid(os.getuid()).pw_name
FORM = "application/x-www-form-urlencoded"


@dataclass
class Listeners:
    stack: Stack
    hook: TwilioWebhook
    control: ControlServer
    session: aiohttp.ClientSession


@pytest.fixture
async def listeners(stack: Stack) -> AsyncIterator[Listeners]:
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    hook = TwilioWebhook(stack.service, BASE, lambda: TOKEN, port=free_port())
    control = ControlServer(stack.service, folder / "control.sock", {ME: "alice"})
    for part in (hook, control):
        await part.start()
    session = aiohttp.ClientSession()
    try:
        yield Listeners(stack, hook, control, session)
    finally:
        await session.close()
        for part in (hook, control):
            await part.stop()
        shutil.rmtree(folder, ignore_errors=True)


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]


async def test_the_twilio_listener_answers_malformed_requests_with_4xx(
    listeners: Listeners, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = listeners.hook.port
    url = f"http://127.0.0.1:{port}/twilio/sms"
    params = sms_params(ALICE_PHONE, f"ACK {listeners.stack.code} 4711 moved")
    signed = {"X-Twilio-Signature": signature(BASE + "/twilio/sms", params)}
    multipart = aiohttp.FormData()
    multipart.add_field("From", ALICE_PHONE)
    multipart.add_field("Body", b"\x00" * 100, filename="evil.bin")
    repeated = urlencode(params) + "&From=%2B4915187654321"
    cases: list[tuple[object, dict[str, str], int]] = [
        (multipart, signed, 415),  # TypeError on main
        (b"From=%2B49151&Body=\xff\xfe", {**signed, "Content-Type": FORM}, 400),  # not UTF-8
        (b"Body=%FF%FE", {**signed, "Content-Type": FORM}, 400),  # escaped, still not UTF-8
        (repeated, {**signed, "Content-Type": FORM}, 400),
        ("&".join(f"f{n}=1" for n in range(200)), {**signed, "Content-Type": FORM}, 400),
        (urlencode(params), {**signed, "Content-Type": "application/json"}, 415),
        (urlencode(params), {**signed, "Content-Type": f"{FORM}; charset=latin-1"}, 415),
        (
            gzip.compress(urlencode(params).encode()),
            {**signed, "Content-Type": FORM, "Content-Encoding": "gzip"},
            415,
        ),
        ("Body=" + "x" * 70_000, {**signed, "Content-Type": FORM}, 413),
        (urlencode(params), {"X-Twilio-Signature": "x" * 600, "Content-Type": FORM}, 403),
    ]
    async with aiohttp.ClientSession() as session:
        for body, headers, status in cases:
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == status, repr(body)[:60]
                assert len((await response.json())["error"]) < 120
        query = f"{BASE}/twilio/sms?a=1&a=2"
        twice = {"X-Twilio-Signature": signature(query, params), "Content-Type": FORM}
        async with session.post(f"{url}?a=1&a=2", data=urlencode(params), headers=twice) as r:
            assert r.status == 400  # a repeated query parameter
    assert listeners.stack.harness.view(KEY).state is AlarmState.UNACK
    assert len(listeners.stack.refused) == len(cases) + 1
    async with (
        aiohttp.ClientSession() as session,  # and a valid one is still served
        session.post(url, data=urlencode(params), headers={**signed, "Content-Type": FORM}) as ok,
    ):
        assert ok.status == 200
    assert listeners.stack.harness.view(KEY).state is AlarmState.ACKED
    no_errors(caplog)


async def test_malformed_http_itself_is_a_refusal_not_an_error(
    listeners: Listeners, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def send(raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", listeners.hook.port), timeout=5) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    garbage = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # TLS to a plain port
        b"POST /twilio/sms HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
        b"POST /twilio/sms HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /twilio/sms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"X-Twilio-Signature: x\r\nContent-Type: " + FORM.encode() + b"\r\n\r\nzz\r\n",
    ]
    for raw in garbage:
        answer = await asyncio.to_thread(send, raw)
        assert answer[:10] in (b"HTTP/1.1 4", b"HTTP/1.0 4"), answer[:60]
    assert len(listeners.stack.refused) == len(garbage)
    assert set(listeners.stack.reasons()) == {"bad_request"}
    no_errors(caplog)


async def test_the_control_socket_answers_malformed_lines(
    listeners: Listeners, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = str(listeners.control.path)

    def talk(payload: bytes, answers: int) -> list[dict[str, object]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(payload)
            data = b""
            while data.count(b"\n") < answers and (chunk := sock.recv(65536)):
                data += chunk
        return [json.loads(line) for line in data.splitlines()]

    lines = [
        b"[" * 30_000,  # RecursionError on main: the connection died without an answer
        b'{"cmd": "list", "cmd": "get"}'[:0] + b"\xff\xfe",
        b'{"cmd": ' + b"1" * 5000 + b"}",
        b'{"cmd": [' + b'"x",' * 1000 + b'"x"]}',
    ]
    answers = await asyncio.to_thread(
        talk, b"\n".join(lines) + b'\n{"cmd": "list"}\n', len(lines) + 1
    )
    assert [a.get("reason") for a in answers[:-1]] == ["bad_request"] * len(lines)
    assert answers[-1]["ok"] is True
    (too_long,) = await asyncio.to_thread(talk, b"x" * 70_000 + b"\n", 1)
    assert too_long["reason"] == "bad_request" and too_long["error"] == "request line too long"
    assert listeners.stack.reasons() == ["bad_request"] * (len(lines) + 1)
    no_errors(caplog)


def test_the_twilio_listener_binds_beyond_loopback_only_when_allowed(stack: Stack) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        TwilioWebhook(stack.service, BASE, lambda: TOKEN, host="0.0.0.0")
    TwilioWebhook(stack.service, BASE, lambda: TOKEN, host="0.0.0.0", allow_remote=True)
    settings = {"account_sid": ACCOUNT, "auth_token": TOKEN, "public_base_url": BASE}
    with pytest.raises(ValidationError, match="not a loopback address"):
        TwilioInboundSettings(**settings, host="192.0.2.7")
    assert TwilioInboundSettings(**settings, host="192.0.2.7", allow_remote=True).allow_remote
    assert TwilioInboundSettings(**settings, mode="poll", numbers=("+15005550006",), host="::")
