"""Polling Twilio for SMS replies (sites with no inbound traffic), against a fake of Twilio's
cloud at the twilio library's HTTP client boundary: the real request the library builds, each
reply processed once across polls and restarts, outbound and old messages ignored, answers sent
by SMS, failures survived, all on the FakeClock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from alarms.ack.config import TwilioInboundSettings
from alarms.ack.twilio_poller import TwilioPoller
from alarms.model import AlarmState
from tests.support.ack import (
    ACCOUNT,
    ALICE_PHONE,
    BOB_PHONE,
    OUR_NUMBER,
    TOKEN,
    FakeTwilioCloud,
    InboundSms,
    Stack,
    stack_fixture,  # noqa: F401  (the stack fixture)
)
from tests.support.alarm_engine import KEY

Make = Callable[[], TwilioPoller]


def settings() -> TwilioInboundSettings:
    return TwilioInboundSettings(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        mode="poll",
        numbers=(OUR_NUMBER,),
        poll_interval=30,
        poll_lookback=600,
    )


@pytest.fixture
def cloud() -> FakeTwilioCloud:
    return FakeTwilioCloud()


@pytest.fixture
async def make(
    stack: Stack,
    cloud: FakeTwilioCloud,
    tmp_path: Path,
) -> AsyncIterator[Make]:
    made: list[TwilioPoller] = []

    def new() -> TwilioPoller:
        poller = TwilioPoller(
            stack.service,
            settings(),
            stack.clock,
            tmp_path / "twilio-poll.json",
            http_client=lambda timeout: cloud,
        )
        made.append(poller)
        return poller

    yield new
    for poller in made:
        await poller.stop()


def sms(stack: Stack, n: int, sender: str, body: str, ago: float, **kw: str) -> InboundSms:
    return InboundSms(f"SM{n:032x}", sender, body, stack.clock.now() - timedelta(seconds=ago), **kw)


async def test_each_reply_is_processed_once_and_answered(
    stack: Stack,
    cloud: FakeTwilioCloud,
    make: Make,
    tmp_path: Path,
) -> None:
    code = stack.code
    cloud.inbox = [
        sms(stack, 1, ALICE_PHONE, f"ACK {code} 4711 moved to BF-02", ago=30),
        sms(stack, 2, ALICE_PHONE, f"ACK {code} 4711 ours", ago=20, direction="outbound-api"),
        sms(stack, 3, BOB_PHONE, f"ACK {code} 2468 from yesterday", ago=20 * 60),
    ]
    poller = make()
    await poller.start()
    await stack.clock.settle()
    assert stack.harness.view(KEY).state is AlarmState.ACKED
    assert stack.acks() == [("alice", "sms", "moved to BF-02")]
    listing = cloud.requests[0]
    assert listing["method"] == "GET"
    assert listing["params"]["To"] == OUR_NUMBER
    assert listing["params"]["DateSent>"] == "2026-03-01T11:45:00Z"  # lookback + overlap
    assert cloud.sent == [
        {
            "To": ALICE_PHONE,
            "From": OUR_NUMBER,
            "Body": f"{code} acknowledged by Alice Meyer: moved to BF-02",
        }
    ]
    state = json.loads((tmp_path / "twilio-poll.json").read_text())
    assert state["cursor"] == "2026-03-01T11:59:30+00:00"
    assert list(state["seen"]) == [f"SM{1:032x}"]
    await stack.clock.advance(30)  # the next poll lists the same message again
    assert sum(1 for r in cloud.requests if r["method"] == "GET") == 2
    assert len(cloud.sent) == 1 and len(stack.acks()) == 1
    assert stack.refused == []


async def test_a_restart_neither_loses_nor_repeats(
    stack: Stack,
    cloud: FakeTwilioCloud,
    make: Make,
) -> None:
    code = stack.code
    cloud.inbox = [sms(stack, 1, ALICE_PHONE, f"ACK {code} 1234 wrong pin", ago=5)]
    first = make()
    await first.start()
    await stack.clock.settle()
    await first.stop()
    assert stack.reasons() == ["wrong_pin"]
    await stack.clock.advance(120)  # coldwatch is down; a reply arrives meanwhile
    cloud.inbox.append(sms(stack, 2, BOB_PHONE, f"ACK {code} 2468 done", ago=60))
    second = make()
    await second.start()
    await stack.clock.settle()
    assert stack.reasons() == ["wrong_pin"]  # the first message was not processed again
    assert stack.acks() == [("bob", "sms", "done")]
    assert [m["To"] for m in cloud.sent] == [ALICE_PHONE, BOB_PHONE]
    assert cloud.sent[0]["Body"] == "Not acknowledged: wrong PIN (4 tries left)"


async def test_replies_wait_for_the_next_poll_and_failures_are_survived(
    stack: Stack,
    cloud: FakeTwilioCloud,
    make: Make,
) -> None:
    code = stack.code
    poller = make()
    cloud.fail_next = aiohttp.ServerDisconnectedError()
    await poller.start()
    await stack.clock.settle()  # t = 0: the first poll fails
    await stack.clock.advance(10)
    cloud.inbox = [sms(stack, 7, ALICE_PHONE, f"ACK {code} 4711 on it", ago=0)]
    await stack.clock.advance(19)  # t = 29 s: not polled yet
    assert stack.acks() == []
    await stack.clock.advance(1)  # t = 30 s
    assert stack.acks() == [("alice", "sms", "on it")]


async def test_an_unreadable_state_file_starts_from_the_lookback(
    stack: Stack,
    cloud: FakeTwilioCloud,
    make: Make,
    tmp_path: Path,
) -> None:
    (tmp_path / "twilio-poll.json").write_text("{not json")
    poller = make()
    assert poller.state().cursor == stack.clock.now() - timedelta(seconds=600)
    assert await poller.poll_once() == 0
