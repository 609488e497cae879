"""The Twilio listener, end to end: a real aiohttp server on loopback, a real client, real
Twilio signatures (RequestValidator.compute_signature) and the real engine and store. Proves
that only correctly signed requests from known numbers with the right PIN and a comment change
anything, that everything else is refused, recorded and changes nothing, and the lockout
timeline on the FakeClock."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest

from alarms.ack.twilio_webhook import StatusReport, TwilioWebhook
from alarms.ack.voice import VoiceFlow
from alarms.codes import make_code
from alarms.model import AlarmState
from alarms.notify.sms import is_gsm7
from monitor.store.base import AuditQuery
from tests.support.ack import (
    ALICE_PHONE,
    BASE,
    BOB_PHONE,
    STRANGER,
    Stack,
    signature,
    signed_post,
    sms_params,
    stack_fixture,  # noqa: F401  (the stack fixture)
)
from tests.support.alarm_engine import KEY


@dataclass
class Listener:
    stack: Stack
    server: TwilioWebhook
    session: aiohttp.ClientSession
    statuses: list[StatusReport]

    @property
    def port(self) -> int:
        return self.server.port

    async def sms(self, sender: str, body: str) -> tuple[int, str]:
        async with await signed_post(
            self.session, self.port, "/twilio/sms", sms_params(sender, body)
        ) as response:
            return response.status, await response.text()

    async def reply(self, sender: str, body: str) -> str:
        status, text = await self.sms(sender, body)
        assert status == 200
        message = ET.fromstring(text).find("Message")
        assert message is not None and message.text is not None
        return message.text

    async def gather(self, path_qs: str, digits: str) -> ET.Element:
        params = {"CallSid": "CA" + "2" * 32, "To": ALICE_PHONE, "Digits": digits}
        async with await signed_post(self.session, self.port, path_qs, params) as response:
            assert response.status == 200
            assert response.content_type == "text/xml"
            return ET.fromstring(await response.text())


@pytest.fixture
async def listener(stack: Stack) -> AsyncIterator[Listener]:
    statuses: list[StatusReport] = []
    server = TwilioWebhook(
        stack.service,
        BASE,
        lambda: "test-auth-token-0123456789",
        voice=VoiceFlow(stack.service, BASE),
        on_status=statuses.append,
        port=0,  # the OS picks; server.port says which
    )
    await server.start()
    session = aiohttp.ClientSession()
    try:
        yield Listener(stack, server, session, statuses)
    finally:
        await session.close()
        await server.stop()


def state(listener: Listener) -> AlarmState:
    return listener.stack.harness.view(KEY).state


async def test_a_signed_sms_reply_acknowledges_leniently_written(listener: Listener) -> None:
    code = listener.stack.code
    text = await listener.reply(ALICE_PHONE, f"  ack   #{code.lower()}   4711#  - moved to BF-02 ")
    assert text == f"{code} acknowledged by Alice Meyer: moved to BF-02"
    assert state(listener) is AlarmState.ACKED
    assert listener.stack.acks() == [("alice", "sms", "moved to BF-02")]
    assert listener.stack.refused == []
    assert listener.stack.audited() == [
        ("alarm.acknowledged", "alice", "sms", code, "moved to BF-02")
    ]
    [entry] = listener.stack.harness.store.audit_entries(AuditQuery())
    assert entry.detail is not None and entry.detail["origin"] == ALICE_PHONE  # the sender


async def test_a_tampered_body_is_refused_and_changes_nothing(listener: Listener) -> None:
    code = listener.stack.code
    signed = sms_params(STRANGER, f"ACK {code} 4711 fine")
    forged = {**signed, "From": ALICE_PHONE}  # the signature was made for another sender
    async with await signed_post(
        listener.session, listener.port, "/twilio/sms", signed, sent=forged
    ) as response:
        assert response.status == 403
    assert state(listener) is AlarmState.UNACK
    assert listener.stack.acks() == []
    assert listener.stack.audited() == []  # nothing done, nothing audited as done
    (refusal,) = listener.stack.refused
    assert refusal.reason.value == "bad_signature" and refusal.via == "sms"
    assert refusal.who == "127.0.0.1"  # the source as the socket says, never what it claimed
    assert ALICE_PHONE in refusal.detail  # what it claimed, for the record
    assert "4711" not in json.dumps(refusal.to_json())


@pytest.mark.parametrize(
    "how",
    ["wrong token", "no signature", "signed for the local URL", "signed for another path"],
)
async def test_requests_not_signed_for_the_public_url_with_our_token_are_refused(
    listener: Listener, how: str
) -> None:
    params = sms_params(ALICE_PHONE, f"ACK {listener.stack.code} 4711 fine")
    url = f"http://127.0.0.1:{listener.port}/twilio/sms"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if how == "wrong token":
        headers["X-Twilio-Signature"] = signature(BASE + "/twilio/sms", params, "other-token")
    elif how == "signed for the local URL":
        headers["X-Twilio-Signature"] = signature(url, params)
    elif how == "signed for another path":
        headers["X-Twilio-Signature"] = signature(BASE + "/twilio/voice/gather", params)
    async with listener.session.post(url, data=urlencode(params), headers=headers) as response:
        assert response.status == 403
    assert state(listener) is AlarmState.UNACK
    assert listener.stack.reasons() == ["bad_signature"]


async def test_refusals_are_clear_recorded_and_change_nothing(listener: Listener) -> None:
    code = listener.stack.code
    never = make_code(999)
    replies = [
        await listener.reply(STRANGER, f"ACK {code} 4711 moved"),
        await listener.reply(ALICE_PHONE, f"ACK {code} 4712 moved"),
        await listener.reply(ALICE_PHONE, f"ACK {code} 4711"),
        await listener.reply(ALICE_PHONE, f"ACK {never} 4711 moved"),
        await listener.reply(ALICE_PHONE, "ACK A1008 4711 moved"),  # check digit wrong
        await listener.reply(ALICE_PHONE, "hello?"),
        await listener.reply(ALICE_PHONE, f"ACK {code} moved it"),
        await listener.reply("+4915100000001", f"ACK {code} 1234 moved"),
    ]
    assert replies == [
        "Not acknowledged: this number is not registered with coldwatch",
        "Not acknowledged: wrong PIN (4 tries left)",
        f"Not acknowledged: A comment is required. Reply ACK {code} <PIN> <what you did>",
        f"Not acknowledged: no alarm '{never}'",
        "Not acknowledged: A1008 is not a valid alarm code (check digit). Reply ACK <code> "
        "<PIN> <comment>, e.g. ACK A1007 1234 moved to BF-02",
        "Not acknowledged: Not understood. Reply ACK <code> <PIN> <comment>, e.g. ACK A1007 "
        "1234 moved to BF-02",
        f"Not acknowledged: The PIN is missing. Reply ACK {code} <PIN> <comment>",
        "Not acknowledged: no PIN is configured for you",
    ]
    assert listener.stack.reasons() == [
        "unknown_number",
        "wrong_pin",
        "no_comment",
        "unknown_alarm",
        "unknown_alarm",
        "malformed",
        "malformed",
        "no_pin",
    ]
    wrong_pin = listener.stack.refused[1]
    assert (wrong_pin.person, wrong_pin.who, wrong_pin.target) == ("alice", ALICE_PHONE, code)
    event = wrong_pin.to_event()
    assert event.kind == "ack_refused" and event.source == "ack.sms" and event.person == "alice"
    assert all("4712" not in json.dumps(r.to_json()) for r in listener.stack.refused)
    assert state(listener) is AlarmState.UNACK
    assert listener.stack.acks() == []
    # acknowledged once; a second acknowledgement is refused, not repeated
    await listener.reply(BOB_PHONE, f"ACK {code} 2468 on it")
    again = await listener.reply(ALICE_PHONE, f"ACK {code} 4711 on it too")
    assert again == f"Not acknowledged: alarm {code} is ACKED: nothing to acknowledge"
    assert listener.stack.reasons()[-1] == "not_acknowledgeable"
    assert listener.stack.acks() == [("bob", "sms", "on it")]


async def test_lockout_timeline_on_the_fake_clock(listener: Listener) -> None:
    code, clock = listener.stack.code, listener.stack.clock
    replies = []
    for _ in range(5):  # five wrong PINs, one a minute
        replies.append(await listener.reply(ALICE_PHONE, f"ACK {code} 1111 moved"))
        await clock.advance(60)
    assert replies[0] == "Not acknowledged: wrong PIN (4 tries left)"
    assert replies[3] == "Not acknowledged: wrong PIN (1 tries left)"
    assert replies[4] == "Not acknowledged: wrong PIN; this phone is now locked for 15 min"
    # t = 5 min: locked since t = 4 min; even the right PIN is refused
    locked = await listener.reply(ALICE_PHONE, f"ACK {code} 4711 moved")
    assert locked.startswith("Not acknowledged: too many wrong PINs from this phone; try again")
    assert "14 min" in locked
    assert state(listener) is AlarmState.UNACK
    # another phone is not locked
    assert (await listener.reply(BOB_PHONE, f"ACK {code} 9999 x")).endswith("(4 tries left)")
    await clock.advance(14 * 60 - 1)  # 1 s before the lock ends
    assert "too many wrong PINs" in await listener.reply(ALICE_PHONE, f"ACK {code} 4711 moved")
    await clock.advance(1)
    ok = await listener.reply(ALICE_PHONE, f"ACK {code} 4711 moved to BF-02")
    assert ok == f"{code} acknowledged by Alice Meyer: moved to BF-02"
    assert listener.stack.reasons() == ["wrong_pin"] * 5 + ["locked_out", "wrong_pin", "locked_out"]


async def test_a_reply_is_gsm7(listener: Listener) -> None:
    code = listener.stack.code
    text = await listener.reply(
        ALICE_PHONE, f"ACK {code} 4711 Probe bei \u221278 °C, Jörg „sagt“ ok"
    )
    assert is_gsm7(text)
    assert listener.stack.acks() == [("alice", "sms", "Probe bei \u221278 °C, Jörg „sagt“ ok")]


async def test_voice_key_press_then_pin_acknowledges(listener: Listener) -> None:
    code = listener.stack.code
    first = f"/twilio/voice/gather?alarm={code}&person=alice&key=ev-1&step=key"
    prompt = await listener.gather(first, "1")
    gather = prompt.find("Gather")
    assert gather is not None and gather.get("finishOnKey") == "#"
    assert gather.get("numDigits") is None  # the PIN's length is not given away
    action = urlsplit(gather.get("action", ""))
    assert f"{action.scheme}://{action.netloc}" == BASE
    assert state(listener) is AlarmState.UNACK  # a key press alone changes nothing
    done = await listener.gather(f"{action.path}?{action.query}", "4711#")
    say = done.find("Say")
    assert (
        say is not None
        and say.text == f"Alarm {' '.join(code)} is acknowledged. Thank you. Goodbye."
    )
    assert done.find("Hangup") is not None
    assert listener.stack.acks() == [("alice", "voice", "acknowledged by phone")]
    assert listener.stack.audited() == [
        ("alarm.acknowledged", "alice", "voice", code, "acknowledged by phone")
    ]


async def test_voice_wrong_pins_reprompt_count_towards_the_phone_lockout(
    listener: Listener,
) -> None:
    code = listener.stack.code
    path = f"/twilio/voice/gather?alarm={code}&person=alice&key=ev-1&step=pin&try=1"
    for expected_try in (2, 3):
        again = await listener.gather(path, "0000#")
        first_say = again.find("Say")
        assert first_say is not None and first_say.text == "Wrong PIN."
        gather = again.find("Gather")
        assert gather is not None
        action = urlsplit(gather.get("action", ""))
        assert f"try={expected_try}" in action.query
        path = f"{action.path}?{action.query}"
    last = await listener.gather(path, "0000#")
    say = last.find("Say")
    assert say is not None and say.text is not None
    assert say.text.startswith("Not acknowledged: wrong PIN (2 tries left)")
    assert last.find("Gather") is None and last.find("Hangup") is not None
    # the same phone's SMS attempts share the count
    await listener.reply(ALICE_PHONE, f"ACK {code} 1111 x")
    assert "locked" in await listener.reply(ALICE_PHONE, f"ACK {code} 1111 x")
    refused = await listener.gather(
        f"/twilio/voice/gather?alarm={code}&person=alice&key=ev-2&step=key", "1"
    )
    say = refused.find("Say")
    assert say is not None and say.text is not None and "too many wrong PINs" in say.text
    assert listener.stack.reasons() == ["wrong_pin"] * 5 + ["locked_out"]
    assert state(listener) is AlarmState.UNACK


async def test_voice_other_key_declines_without_change(listener: Listener) -> None:
    code = listener.stack.code
    done = await listener.gather(
        f"/twilio/voice/gather?alarm={code}&person=alice&key=ev-1&step=key", "2"
    )
    say = done.find("Say")
    assert say is not None and say.text == "Not acknowledged. Goodbye."
    assert state(listener) is AlarmState.UNACK and listener.stack.refused == []


async def test_status_callbacks_are_verified_and_handed_on(listener: Listener) -> None:
    path = "/twilio/sms/status?alarm=A1007&person=alice&key=ev-1"
    params = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered", "AccountSid": "x"}
    async with await signed_post(listener.session, listener.port, path, params) as response:
        assert response.status == 204
    async with await signed_post(
        listener.session, listener.port, path, params, token="wrong"
    ) as response:
        assert response.status == 403
    assert listener.statuses == [
        StatusReport("sms", "SM" + "3" * 32, "delivered", "A1007", "alice", "ev-1", None)
    ]


async def test_only_the_twilio_routes_are_served(listener: Listener) -> None:
    base = f"http://127.0.0.1:{listener.port}"
    async with listener.session.get(f"{base}/api/v1/alarms") as response:
        assert response.status == 404
    async with listener.session.get(f"{base}/twilio/sms") as response:
        assert response.status == 405
    big = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    async with listener.session.post(
        f"{base}/twilio/sms", data=b"Body=" + b"x" * 100_000, headers=big
    ) as response:
        assert response.status == 413
    assert state(listener) is AlarmState.UNACK


async def test_without_a_readable_token_nothing_is_accepted(stack: Stack) -> None:
    def gone() -> str:
        raise ValueError("auth_token_file '/run/credentials/x' cannot be read")

    server = TwilioWebhook(stack.service, BASE, gone, port=0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            params = sms_params(ALICE_PHONE, f"ACK {stack.code} 4711 x")
            async with await signed_post(session, server.port, "/twilio/sms", params) as response:
                assert response.status == 503
    finally:
        await server.stop()
    assert stack.reasons() == ["unavailable"]
    assert stack.harness.view(KEY).state is AlarmState.UNACK
