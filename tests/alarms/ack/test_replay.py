"""Signed Twilio requests are taken once: a replayed SMS (same ``MessageSid``), key press or
PIN (same ``CallSid``, gather step and try) or status callback is refused with 409 and changes
nothing; in particular a captured wrong PIN cannot be replayed to lock its person out, before
or after a restart (the journal beside the store), and the journal stays bounded."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alarms.ack.replay import ReplayGuard
from alarms.ack.twilio_webhook import StatusReport, TwilioWebhook
from alarms.model import AlarmState
from tests.support.ack import (
    ALICE_PHONE,
    BASE,
    TOKEN,
    Stack,
    signed_post,
    sms_params,
    stack_fixture,  # noqa: F401
)
from tests.support.alarm_engine import KEY
from tests.support.ports import free_port

CALL = "CA" + "7" * 32
Post = Callable[[str, Mapping[str, str]], Any]


@pytest.fixture
async def post(stack: Stack, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await post(path_qs, params, restart=False) -> (status, text)`` against a webhook
    whose replay journal is ``tmp_path/twilio-replay.log``; ``restart`` starts a new one."""
    hooks: list[TwilioWebhook] = []
    statuses: list[StatusReport] = []
    session = aiohttp.ClientSession()

    async def start() -> TwilioWebhook:
        if hooks:
            await hooks[-1].stop()
            hooks[-1].replays.close()
        guard = ReplayGuard(tmp_path / "twilio-replay.log")
        guard.open()
        hook = TwilioWebhook(
            stack.service,
            BASE,
            lambda: TOKEN,
            port=free_port(),
            replays=guard,
            on_status=statuses.append,
        )
        await hook.start()
        hooks.append(hook)
        return hook

    async def send(
        path_qs: str, params: Mapping[str, str], restart: bool = False
    ) -> tuple[int, str]:
        hook = await start() if restart or not hooks else hooks[-1]
        async with await signed_post(session, hook.port, path_qs, params) as response:
            return response.status, await response.text()

    send.statuses = statuses  # type: ignore[attr-defined]
    yield send
    await session.close()
    if hooks:
        await hooks[-1].stop()
        hooks[-1].replays.close()


async def test_a_replayed_wrong_pin_sms_cannot_lock_its_person_out(
    stack: Stack, post: Callable[..., Any]
) -> None:
    wrong = sms_params(ALICE_PHONE, f"ACK {stack.code} 0000 moved")
    status, text = await post("/twilio/sms", wrong)
    assert status == 200 and "wrong PIN (4 tries left)" in text
    for n in range(10):
        status, text = await post("/twilio/sms", wrong, restart=n == 5)
        assert status == 409 and "replayed" in text
    assert stack.service.lockout.tries_left(ALICE_PHONE) == 4
    assert stack.reasons() == ["wrong_pin"] + ["replayed"] * 10
    right = sms_params(ALICE_PHONE, f"ACK {stack.code} 4711 moved")
    status, text = await post("/twilio/sms", right)
    assert status == 200 and "acknowledged by Alice Meyer" in text
    assert (await post("/twilio/sms", right, restart=True))[0] == 409
    assert stack.acks() == [("alice", "sms", "moved")]


async def test_a_replayed_key_press_or_pin_on_a_call_is_refused(
    stack: Stack, post: Callable[..., Any]
) -> None:
    code = stack.code
    gather = f"/twilio/voice/gather?alarm={code}&person=alice&key=ev-1&step="

    def call(digits: str) -> dict[str, str]:
        return {"CallSid": CALL, "To": ALICE_PHONE, "Digits": digits}

    status, text = await post(gather + "key", call("1"))
    assert status == 200 and "Enter your PIN" in text
    assert (await post(gather + "key", call("1")))[0] == 409
    status, text = await post(gather + "pin&try=1", call("0000#"))
    assert status == 200 and ET.fromstring(text).findtext("Say") == "Wrong PIN."
    for restart in (False, True):  # the same wrong PIN again: refused, not counted
        assert (await post(gather + "pin&try=1", call("0000#"), restart=restart))[0] == 409
    assert stack.service.lockout.tries_left(ALICE_PHONE) == 4
    status, text = await post(gather + "pin&try=2", call("4711#"))  # the next try is new
    assert status == 200 and "is acknowledged" in text
    assert stack.harness.view(KEY).state is AlarmState.ACKED
    assert stack.reasons() == ["replayed", "wrong_pin", "replayed", "replayed"]


async def test_a_replayed_status_callback_is_refused(
    stack: Stack, post: Callable[..., Any]
) -> None:
    status_path = "/twilio/sms/status?alarm=A1007&person=alice&key=ev-1"
    delivered = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    assert (await post(status_path, delivered))[0] == 204
    assert (await post(status_path, delivered))[0] == 409
    failed = {**delivered, "MessageStatus": "failed"}  # the same SID, a new status: taken
    assert (await post(status_path, failed))[0] == 204
    assert [r.status for r in post.statuses] == ["delivered", "failed"]  # type: ignore[attr-defined]
    assert stack.reasons() == ["replayed"]


def test_the_journal_is_bounded_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "twilio-replay.log"
    guard = ReplayGuard(path, capacity=10)
    guard.open()
    assert all(guard.first_time(f"sms:SM{n}") for n in range(25))
    assert not guard.first_time("sms:SM24") and not guard.first_time("sms:SM20")
    assert len(guard) <= 10
    guard.close()
    lines = path.read_text().splitlines() + guard.older.read_text().splitlines()  # type: ignore[union-attr]
    assert len(lines) <= 10 and all(len(line) == 32 for line in lines)
    assert not any("SM" in line for line in lines)
    with path.open("a") as torn:
        torn.write("3f2a")  # a line cut short by a crash
    again = ReplayGuard(path, capacity=10)
    again.open()
    assert not again.first_time("sms:SM24")  # remembered across the restart
    assert again.first_time("sms:SM0")  # the oldest are forgotten: the bound
    again.close()


def test_an_unwritable_journal_still_guards_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    guard = ReplayGuard(tmp_path / "gone" / "twilio-replay.log")
    assert guard.first_time("sms:SM1")
    assert not guard.first_time("sms:SM1")
    assert "the Twilio replay journal" in caplog.text and "remembered in memory" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.ERROR]  # once, not per request
    assert guard.first_time("sms:SM2")
    assert len(caplog.records) == 1
