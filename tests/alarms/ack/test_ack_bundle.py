"""Acknowledging a flood bundle with one reply: timelines on the real engine and store, the real
escalator in a flood (one page for several alarms), and the real acknowledgement paths (the
signed Twilio webhook for SMS and key presses, the poller). Every alarm named gets its own
history row (person, path, comment); a mistyped code, an alarm acknowledged meanwhile or a
wrong PIN is refused, recorded and changes nothing else. And the bundle's SMS text says exactly
what to send (GSM-7, two segments), its call announces exactly what a key press acknowledges."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.config import TwilioInboundSettings
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Refusal, RefusalLog
from alarms.ack.sms_commands import parse_sms
from alarms.ack.twilio_poller import TwilioPoller
from alarms.ack.twilio_webhook import TwilioWebhook
from alarms.ack.voice import VoiceFlow
from alarms.codes import make_code, parse_code
from alarms.escalation.messages import bundle
from alarms.model import AlarmState
from alarms.notify.message import Notification
from alarms.notify.sms import (
    ALLOWED,
    compose_sms,
    flood_codes,
    segments,
    septets,
)
from alarms.notify.twilio_voice import TwilioVoiceNotifier, TwilioVoiceSettings
from alarms.notify.twiml import MAX_TWIML, call_twiml, spelled
from alarms.people import Directory, Person
from monitor.core.clock import FakeClock
from tests.support.ack import (
    ACCOUNT,
    BASE,
    OUR_NUMBER,
    TOKEN,
    FakeTwilioCloud,
    InboundSms,
    signed_post,
    sms_params,
)
from tests.support.alarm_engine import Factory, Harness
from tests.support.escalation import SOP, Rig
from tests.support.notify import notification

S = AlarmState
ALICE = "+4915100000001"  # the escalation tests' people: alice on call, bob, sam tier 2
BOB = "+4915100000002"
FREEZERS = 6


def flood_cfg(n: int = FREEZERS) -> dict[str, Any]:
    """``n`` freezers, one warm rule each; a flood from the second alarm on."""
    rule = {"condition": "limit", "channel": "t", "high": -60, "priority": "critical"}
    return {
        "alarms": {
            "flood": {"start_above": 1, "end_below": 1},
            "equipment": {
                f"f{i}": {"rules": {"warm": {**rule, "contingency": SOP}}} for i in range(n)
            },
        },
        "equipment": [
            {
                "id": f"f{i}",
                "kind": "other",
                "name": f"TSX -80 C freezer {i:02d}",
                "channels": [
                    {"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
                ],
            }
            for i in range(n)
        ],
    }


def people() -> list[Person]:
    return [
        Person(id="alice", name="Alice Meyer", phone=ALICE, pin="4711", channels=("sms",)),
        Person(id="bob", name="Bob Okafor", phone=BOB, pin="2468", channels=("sms",)),
        Person(id="sam", name="Sam Weber", phone="+4915100000003", pin="1357", channels=("sms",)),
    ]


@dataclass
class Flood:
    """Six freezers warm at once: the first alarm is paged alone (``single``), the other five
    reach Alice as one bundle (``page``, ``codes``)."""

    h: Harness
    rig: Rig
    service: Acknowledger
    page: Notification
    codes: tuple[str, ...]
    single: str
    refused: list[Refusal] = field(default_factory=list)

    def acks(self, code: str) -> list[tuple[str | None, str | None, str | None]]:
        """(person, via, comment) of each acknowledgement in the alarm's own history."""
        key = self.h.engine.get(code).key
        return [
            (r.person, r.via, r.comment)
            for r in self.h.store.alarm_records(key=key)
            if r.action == "acknowledged"
        ]

    def state(self, code: str) -> AlarmState:
        return self.h.engine.get(code).state

    def refusals(self) -> list[tuple[str, str | None, tuple[str, ...]]]:
        return [(r.reason.value, r.target, r.targets) for r in self.refused]


@pytest.fixture
async def flood(engine_factory: Factory, clock: FakeClock) -> AsyncIterator[Flood]:
    h = await engine_factory(**flood_cfg())
    rig = await Rig(clock, h.engine).start()
    for i in range(FREEZERS):
        await h.push(f"f{i}.t", -55.0)
    await rig.at(1)  # the flood window (30 s) has passed: the bundle is out
    alice = [p for p in rig.pages() if p.person == "alice"]
    assert len(alice) == 2, alice
    single, bundled = alice
    codes = flood_codes(bundled.notification)
    assert len(codes) == FREEZERS - 1 and single.code not in codes
    assert all(parse_code(c) == c for c in codes)  # the engine's codes, check digit and all
    refused: list[Refusal] = []
    service = Acknowledger(
        h.engine,
        Directory(people()),
        clock,
        PinLockout(clock, attempts=5, window=900, duration=900),
        RefusalLog(refused.append),
    )
    yield Flood(h, rig, service, bundled.notification, codes, single.code, refused)
    await rig.stop()


@dataclass
class Listener:
    server: TwilioWebhook
    session: aiohttp.ClientSession

    async def reply(self, sender: str, body: str) -> str:
        params = sms_params(sender, body)
        async with await signed_post(
            self.session, self.server.port, "/twilio/sms", params
        ) as response:
            assert response.status == 200
            message = ET.fromstring(await response.text()).find("Message")
        assert message is not None and message.text is not None
        return message.text

    async def gather(self, url: str, digits: str) -> ET.Element:
        """Post the key presses to an action URL (absolute, under BASE) as Twilio does."""
        assert url.startswith(BASE + "/")
        params = {"CallSid": "CA" + "2" * 32, "To": ALICE, "Digits": digits}
        path_qs = url.removeprefix(BASE)
        async with await signed_post(self.session, self.server.port, path_qs, params) as response:
            assert response.status == 200
            return ET.fromstring(await response.text())


@pytest.fixture
async def listener(flood: Flood) -> AsyncIterator[Listener]:
    server = TwilioWebhook(
        flood.service, BASE, lambda: TOKEN, voice=VoiceFlow(flood.service, BASE), port=0
    )
    await server.start()
    session = aiohttp.ClientSession()
    try:
        yield Listener(server, session)
    finally:
        await session.close()
        await server.stop()


def reply_line(sms: str) -> str:
    """What the page tells the reader to send, before the PIN."""
    found = re.search(r"Reply (ACK [A0-9 ]+) <PIN> <comment>$", sms)
    assert found is not None, sms
    return found.group(1)


def mistyped(code: str) -> str:
    """``code`` with two neighbouring different digits swapped (a typo the check digit
    catches)."""
    digits = code[1:]
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            assert parse_code(swapped) is None
            return "A" + swapped
    raise AssertionError(f"no typo to make in {code}")


# --- SMS ---------------------------------------------------------------------------------------


async def test_one_sms_reply_acknowledges_every_alarm_of_the_bundle(
    flood: Flood, listener: Listener
) -> None:
    sms = compose_sms(flood.page)
    assert sms.startswith("ALARM FLOOD, 5 alarms: ")
    assert segments(sms) <= 2 and all(ch in ALLOWED for ch in sms)
    line = reply_line(sms)
    assert line == "ACK " + " ".join(flood.codes)  # exactly what to send: every code
    reply = await listener.reply(ALICE, f"{line} 4711 moved product to BF-02")
    assert reply == f"{', '.join(flood.codes)} acknowledged by Alice Meyer: moved product to BF-02"
    for code in flood.codes:  # one row each, in each alarm's own history
        assert flood.acks(code) == [("alice", "sms", "moved product to BF-02")]
        assert flood.state(code) is S.ACKED
    assert flood.acks(flood.single) == [] and flood.state(flood.single) is S.UNACK
    assert flood.refused == []
    # the escalation stops for each: at 15 min only the alarm not in the bundle reaches Sam
    await flood.rig.at(16)
    escalated = flood.rig.pages(("escalated",))
    assert [(p.person, p.code) for p in escalated] == [("sam", flood.single)]


async def test_a_mistyped_code_among_several_is_refused_alone(
    flood: Flood, listener: Listener
) -> None:
    first, taken, typo, *rest = flood.codes
    flood.h.engine.acknowledge(taken, "bob", "on it", via="cli")  # a colleague was quicker
    bad = mistyped(typo)
    body = f"ACK {first} {taken} {bad} {' '.join(rest)} 4711 moved product"
    reply = await listener.reply(ALICE, body)
    acked = [first, *rest]
    assert reply == (
        f"NOT acknowledged: {bad} is not a valid alarm code (check digit); alarm {taken} is "
        f"ACKED: nothing to acknowledge. {', '.join(acked)} acknowledged by Alice Meyer: "
        "moved product"
    )
    for code in acked:
        assert flood.acks(code) == [("alice", "sms", "moved product")]
    assert flood.acks(taken) == [("bob", "cli", "on it")]  # unchanged
    assert flood.acks(typo) == [] and flood.state(typo) is S.UNACK  # the typo hit nothing
    assert flood.acks(flood.single) == [] and flood.state(flood.single) is S.UNACK
    assert flood.refusals() == [("unknown_alarm", bad, ()), ("not_acknowledgeable", taken, ())]
    assert all(
        (r.person, r.via, r.who, r.comment) == ("alice", "sms", ALICE, "moved product")
        for r in flood.refused
    )
    # the refused one is acknowledged with a second reply, as the first one said
    again = await listener.reply(ALICE, f"ACK {typo} 4711 moved product")
    assert again == f"{typo} acknowledged by Alice Meyer: moved product"


async def test_a_wrong_pin_refuses_the_whole_reply_as_one_attempt(
    flood: Flood, listener: Listener
) -> None:
    body = f"ACK {' '.join(flood.codes)} 9898 moved product"
    assert await listener.reply(ALICE, body) == "Not acknowledged: wrong PIN (4 tries left)"
    assert flood.refusals() == [("wrong_pin", flood.codes[0], flood.codes)]
    event = flood.refused[0].to_event()
    assert event.kind == "ack_refused" and event.data["targets"] == list(flood.codes)
    assert "9898" not in str(event.data) + event.message  # never the PIN
    for code in flood.codes:
        assert flood.acks(code) == [] and flood.state(code) is S.UNACK
    # nor does a reply without a comment or with only mistyped codes change anything
    no_comment = await listener.reply(ALICE, f"ACK {' '.join(flood.codes)} 4711")
    assert no_comment == (
        f"Not acknowledged: A comment is required. Reply ACK {' '.join(flood.codes)} <PIN> "
        "<what you did>"
    )
    typos = [mistyped(c) for c in flood.codes[:2]]
    only_typos = await listener.reply(ALICE, f"ACK {' '.join(typos)} 4711 moved")
    assert only_typos.startswith(
        f"Not acknowledged: {', '.join(typos)} are not valid alarm codes (check digit)."
    )
    assert [r[0] for r in flood.refusals()] == ["wrong_pin", "no_comment", "unknown_alarm"]
    assert flood.refused[1].targets == flood.codes
    for code in flood.codes:
        assert flood.acks(code) == [] and flood.state(code) is S.UNACK


async def test_the_poller_acknowledges_a_bundle_reply_the_same_way(
    flood: Flood, tmp_path: Any
) -> None:
    cloud = FakeTwilioCloud()
    line = reply_line(compose_sms(flood.page))
    now = flood.h.clock.now()
    cloud.inbox = [InboundSms("SM" + "5" * 32, ALICE, f"{line} 4711 moved product", now)]
    poller = TwilioPoller(
        flood.service,
        TwilioInboundSettings(
            account_sid=ACCOUNT, auth_token=TOKEN, mode="poll", numbers=(OUR_NUMBER,)
        ),
        flood.h.clock,
        tmp_path / "twilio-poll.json",
        http_client=lambda timeout: cloud,
    )
    await poller.start()
    await flood.h.clock.settle()
    await poller.stop()
    for code in flood.codes:
        assert flood.acks(code) == [("alice", "sms", "moved product")]
    assert cloud.sent == [
        {
            "To": ALICE,
            "From": OUR_NUMBER,
            "Body": f"{', '.join(flood.codes)} acknowledged by Alice Meyer: moved product",
        }
    ]


# --- voice -------------------------------------------------------------------------------------


def call_of(page: Notification) -> ET.Element:
    """The TwiML the voice notifier would send for ``page`` to Alice."""
    settings = TwilioVoiceSettings(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=OUR_NUMBER, public_base_url=BASE
    )
    alice = people()[0]
    _, gather_url = TwilioVoiceNotifier("phone", settings).urls(page, alice)
    twiml = call_twiml(page, gather_url)
    assert len(twiml) <= MAX_TWIML
    return ET.fromstring(twiml)


def gather_action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None
    return gather.get("action", "")


async def test_a_key_press_and_pin_acknowledge_every_alarm_the_call_announced(
    flood: Flood, listener: Listener
) -> None:
    call = call_of(flood.page)
    gather = call.find("Gather")
    assert gather is not None
    spoken = " ".join(say.text or "" for say in gather.iter("Say"))
    assert spoken.startswith("This is coldwatch. Alarm flood: 5 alarms.")
    assert all(f"Alarm {spelled(code)}: critical TSX" in spoken for code in flood.codes)
    assert spoken.endswith("To acknowledge these 5 alarms, press 1.")
    action = gather_action(call)
    assert parse_qs(urlsplit(action).query)["alarms"] == [".".join(flood.codes)]
    prompt = await listener.gather(action, "1")
    assert all(flood.acks(code) == [] for code in flood.codes)  # a key alone changes nothing
    done = await listener.gather(gather_action(prompt), "4711#")
    say = done.find("Say")
    assert say is not None and say.text == "All 5 alarms are acknowledged. Thank you. Goodbye."
    for code in flood.codes:
        assert flood.acks(code) == [("alice", "voice", "acknowledged by phone")]
    assert flood.acks(flood.single) == [] and flood.refused == []


async def test_on_the_call_a_wrong_pin_changes_nothing_and_a_taken_alarm_is_named(
    flood: Flood, listener: Listener
) -> None:
    taken = flood.codes[1]
    prompt = await listener.gather(gather_action(call_of(flood.page)), "1")
    again = await listener.gather(gather_action(prompt), "0000#")
    first = again.find("Say")
    assert first is not None and first.text == "Wrong PIN."
    assert all(flood.state(code) is S.UNACK for code in flood.codes)
    flood.h.engine.acknowledge(taken, "bob", "on it", via="sms")  # meanwhile
    done = await listener.gather(gather_action(again), "4711#")
    say = done.find("Say")
    assert say is not None and say.text == (
        f"4 of 5 alarms are acknowledged. Not acknowledged: alarm {spelled(taken)}: alarm "
        f"{taken} is ACKED: nothing to acknowledge. Goodbye."
    )
    for code in flood.codes:
        expected = (
            ("bob", "sms", "on it")
            if code == taken
            else ("alice", "voice", "acknowledged by phone")
        )
        assert flood.acks(code) == [expected]
    assert flood.refusals() == [
        ("wrong_pin", flood.codes[0], flood.codes),
        ("not_acknowledgeable", taken, ()),
    ]


# --- the texts ---------------------------------------------------------------------------------


def test_a_rule_sop_that_looks_like_a_bundle_is_not_one() -> None:
    sop = "ALARM FLOOD, 2 alarms: A1010, A1029; A1010 x; A1029 y"
    page = notification(alarm_id="A1007", sop=sop)
    assert flood_codes(page) == ()
    assert compose_sms(page).endswith("Reply ACK A1007 <PIN> <comment>")
    call = ET.fromstring(call_twiml(page, f"{BASE}/twilio/voice/gather?alarm=A1007"))
    assert "alarms" not in parse_qs(urlsplit(gather_action(call)).query)


def test_the_bundle_call_reads_out_what_fits_and_acknowledges_only_that() -> None:
    pages = [
        notification(alarm_id=make_code(100 + i), equipment=f"Freezer {i} in room 2")
        for i in range(120)
    ]
    merged = bundle(pages, "esc/bundle/alice/x", pages[0].event_at)
    url = f"{BASE}/twilio/voice/gather?alarm={merged.alarm_id}&person=alice&step=key"
    twiml = call_twiml(merged, url)
    assert len(twiml) <= MAX_TWIML
    root = ET.fromstring(twiml)
    listed = parse_qs(urlsplit(gather_action(root)).query)["alarms"][0].split(".")
    codes = flood_codes(merged)
    assert 1 < len(listed) < 120 and listed == list(codes[: len(listed)])
    spoken = " ".join(say.text or "" for say in root.iter("Say"))
    assert all(spelled(code) in spoken for code in listed)
    assert spelled(codes[len(listed)]) not in spoken
    assert f"{120 - len(listed)} more alarms are not read out" in spoken
    assert f"To acknowledge these {len(listed)} alarms, press 1." in spoken


_chars = st.characters(blacklist_categories=("Cs",)) | st.sampled_from(["°", "€", "[", "\u2026"])


@st.composite
def bundles(draw: st.DrawFn) -> Notification:
    count = draw(st.integers(2, 50))
    numbers = draw(st.lists(st.integers(100, 10**9), min_size=count, max_size=count, unique=True))
    equipment = draw(st.lists(st.text(_chars, min_size=1, max_size=200), min_size=1, max_size=3))
    condition = draw(st.text(_chars, max_size=60))
    pages = [
        notification(
            alarm_id=make_code(n),
            equipment=equipment[i % len(equipment)],
            condition=condition,
            priority=("critical", "high", "low")[n % 3],
            kind=draw(st.sampled_from(["raised", "escalated", "re-alarm"])),
            late=draw(st.booleans()),
        )
        for i, n in enumerate(numbers)
    ]
    return bundle(pages, "esc/bundle/alice/x", pages[0].event_at)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundles())
def test_any_bundle_sms_is_gsm7_in_two_segments_and_says_what_to_send(page: Notification) -> None:
    codes = flood_codes(page)
    assert codes and codes[0] == page.alarm_id
    for max_segments in (2, 1):
        text = compose_sms(page, max_segments)
        assert all(ch in ALLOWED for ch in text)
        assert segments(text) <= max_segments and septets(text) <= 306
        listed = re.search(r"Reply ACK ((?:A\d+ )+)<PIN> <comment>", text)
        assert listed is not None, text
        named = tuple(listed.group(1).split())
        assert named == codes[: len(named)]  # the head first, none made up, none repeated
        if len(named) == len(codes):
            assert text.endswith("<PIN> <comment>")
        else:
            more = len(codes) - len(named)
            assert text.endswith(f"(+{more} more alarms not listed: see the console)")
        if max_segments == 2 and len(codes) <= 30 and all(len(c) <= 7 for c in codes):
            assert len(named) == len(codes)  # a flood's usual bundle fits whole
        # what it says to send is read back as exactly those codes
        sent = parse_sms(f"ACK {' '.join(named)} 4711 moved")
        assert sent.codes == named and sent.invalid == ()
