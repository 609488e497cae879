"""The daemon's wiring in one piece: from an ``acknowledgement:`` section to running listeners
(Twilio webhook, control socket, HTTP API) that share one acknowledger and lockout, and that
are all gone after stop; poll mode builds the poller instead."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from alarms.ack import control_client as cc
from alarms.ack.config import AckConfig
from alarms.ack.refusals import Refusal
from alarms.ack.services import AckServices
from alarms.model import AlarmState
from alarms.people import Directory, Person
from tests.support.ack import (
    ACCOUNT,
    ALICE_PHONE,
    OUR_NUMBER,
    TOKEN,
    FakeTwilioCloud,
    Stack,
    signed_post,
    sms_params,
    stack_fixture,  # noqa: F401
)
from tests.support.alarm_engine import KEY

ME = pwd.getpwuid(os.getuid()).pw_name


class WithOsUsers(Person):
    os_users: tuple[str, ...] = ()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_all_paths_from_configuration(stack: Stack, short_dir: Path) -> None:
    config = AckConfig.model_validate(
        {
            "twilio": {
                "account_sid": ACCOUNT,
                "auth_token": TOKEN,
                "public_base_url": "https://coldwatch.example.org",
                "port": 0,
            },
            "lockout": {"attempts": 2},
        }
    )
    alice = WithOsUsers(
        id="alice", name="Alice", phone=ALICE_PHONE, pin="4711", channels=("sms",), os_users=(ME,)
    )
    refused: list[str] = []
    store = stack.harness.store

    def record(refusal: Refusal) -> None:  # what the daemon does through its store writer
        refused.append(f"{refusal.via}:{refusal.reason}")
        store.append([], [refusal.to_event()])

    services = AckServices(
        config,
        stack.harness.engine,
        Directory([alice]),
        stack.clock,
        short_dir / "cw.db",
        on_refused=record,
    )
    assert services.poller is None
    await services.start()
    try:
        assert services.control is not None and services.webhook
        assert services.control.path == short_dir / "control.sock"
        (listed,) = await asyncio.to_thread(cc.list_alarms, services.control.path)
        assert listed.code == stack.code
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # the second wrong PIN locks (attempts: 2)
                wrong = sms_params(ALICE_PHONE, f"ACK {stack.code} 0000 x")
                async with await signed_post(session, services.webhook.port, "/twilio/sms", wrong):
                    pass
        with pytest.raises(cc.ControlError):
            await asyncio.to_thread(cc.ack, services.control.path, "A1008", "x")
    finally:
        await services.stop()
    assert refused == ["sms:wrong_pin", "sms:wrong_pin", "cli:unknown_alarm"]
    events = store.events(kinds=["ack_refused"])
    assert [(e.source, e.person, e.data["reason"]) for e in events] == [
        ("ack.sms", "alice", "wrong_pin"),
        ("ack.sms", "alice", "wrong_pin"),
        ("ack.cli", "alice", "unknown_alarm"),
    ]
    assert all("0000" not in str(e.data) + e.message for e in events)
    assert services.service.lockout.remaining(ALICE_PHONE) > 0
    assert not (short_dir / "control.sock").exists()
    assert stack.harness.view(KEY).state is AlarmState.UNACK


async def test_poll_mode_polls(stack: Stack, short_dir: Path) -> None:
    config = AckConfig.model_validate(
        {
            "twilio": {
                "account_sid": ACCOUNT,
                "auth_token": TOKEN,
                "mode": "poll",
                "numbers": [OUR_NUMBER],
            },
            "control_socket": {"enabled": False},
        }
    )
    cloud = FakeTwilioCloud()
    services = AckServices(
        config,
        stack.harness.engine,
        Directory([]),
        stack.clock,
        short_dir / "cw.db",
        twilio_http=lambda timeout: cloud,
    )
    assert services.webhook is None and services.control is None
    await services.start()
    await stack.clock.settle()
    await services.stop()
    assert [r["method"] for r in cloud.requests] == ["GET"]
    assert (short_dir / "twilio-poll.json").exists() is False  # nothing processed yet
