"""Per-source rate limits on every listener, on the FakeClock: a source whose requests keep
failing is answered 429 (the control socket: ``rate_limited``) until its budget refills, while
an authenticated request from the same source (a valid token, a valid Twilio signature) is
never throttled. Real listeners on loopback and a real unix socket."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from alarms.ack.control_socket import ControlServer
from alarms.ack.throttle import BURST, FailureThrottle
from alarms.ack.twilio_webhook import TwilioWebhook
from monitor.core.clock import FakeClock
from tests.support.ack import (
    ALICE_PHONE,
    BASE,
    TOKEN,
    Stack,
    signed_post,
    sms_params,
    stack_fixture,  # noqa: F401
)
from tests.support.ports import free_port

ME = pwd.getpwuid(os.getuid()).pw_name


async def test_the_budget_refills_and_the_map_of_sources_is_bounded(clock: FakeClock) -> None:
    throttle = FailureThrottle(clock, burst=3, per_minute=20, max_sources=2)
    for _ in range(3):
        assert throttle.retry_after("a") == 0
        throttle.failed("a")
    assert throttle.retry_after("a") == 3  # one failure every 3 s
    await clock.advance(3)
    assert throttle.retry_after("a") == 0
    throttle.failed("a")
    assert throttle.retry_after("a") == 3
    throttle.failed("b")
    throttle.failed("c")  # a third source: the least recently seen ("a") is forgotten
    assert throttle.retry_after("a") == 0 and len(throttle._buckets) == 2


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_the_twilio_listener_throttles_unsigned_requests_never_signed_ones(
    stack: Stack, session: aiohttp.ClientSession
) -> None:
    hook = TwilioWebhook(stack.service, BASE, lambda: TOKEN, port=free_port())
    await hook.start()
    try:
        url = f"http://127.0.0.1:{hook.port}/twilio/sms"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        statuses = []
        for _ in range(BURST + 5):
            body = urlencode(sms_params(ALICE_PHONE, "ACK x"))
            async with session.post(url, data=body, headers=form) as response:
                statuses.append(response.status)
        assert statuses == [403] * BURST + [429] * 5
        wrong_pin = sms_params(ALICE_PHONE, f"ACK {stack.code} 1111 moved")
        async with await signed_post(session, hook.port, "/twilio/sms", wrong_pin) as response:
            assert response.status == 200  # signed: answered, its wrong PIN counted
        right = sms_params(ALICE_PHONE, f"ACK {stack.code} 4711 moved")
        async with await signed_post(session, hook.port, "/twilio/sms", right) as response:
            assert response.status == 200
    finally:
        await hook.stop()
    assert stack.acks() == [("alice", "sms", "moved")]
    assert stack.reasons().count("wrong_pin") == 1


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_the_control_socket_throttles_a_uid_that_keeps_failing(
    stack: Stack, short_dir: Path
) -> None:
    server = ControlServer(stack.service, short_dir / "control.sock", {"someone-else": "alice"})
    await server.start()

    def talk(lines: int) -> list[dict[str, object]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(server.path))
            sock.sendall((json.dumps({"cmd": "list"}) + "\n").encode() * lines)
            data = b""
            while data.count(b"\n") < lines:
                data += sock.recv(65536)
        return [json.loads(line) for line in data.splitlines()]

    try:
        answers = await asyncio.to_thread(talk, BURST + 3)
        reasons = [a["reason"] for a in answers]
        assert reasons == ["unknown_user"] * BURST + ["rate_limited"] * 3
        await stack.clock.advance(60)
        (later,) = await asyncio.to_thread(talk, 1)
        assert later["reason"] == "unknown_user"
    finally:
        await server.stop()
