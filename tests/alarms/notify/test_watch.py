"""The monitor watching its own paging: a notifier failing repeatedly, every remote notifier
failing at once (the local horns sound), and sensors past their calibration due date.

Timelines on a FakeClock with the real alarm engine and store, the real escalator and
delivery, and scripted notifiers (the notifiers themselves have their own tests against real
peers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alarms.engine import AlarmEngine
from alarms.escalation.config import PagingConfig
from alarms.model import AlarmState, ConditionKind, Priority
from alarms.notify.base import NotifyError
from alarms.notify.registry import remote_notifiers
from alarms.notify.watch import NotifierWatch
from alarms.rules import compile_rules
from monitor.app.config import ConfigError, load
from monitor.core.clock import FakeClock
from monitor.core.model import FLAG_CALIBRATION_OVERDUE, Event, EventKind, Quality, Reading
from monitor.store.sqlite import SQLiteStore
from tests.support.alarm_engine import ULT_CHANNELS, config_data
from tests.support.escalation import SOP, TWILIO, Rig
from tests.support.fakes import write_config
from tests.support.notify import ScriptedNotifier

S = AlarmState
WARM = "fr.temp/warm"
ALL_FAILING = "coldwatch/notifiers_all_failing"
SMS_FAILING = "coldwatch/notifier_failing/sms"
HORN_PLACE = "coldwatch.horn.horn"


def paging_sections() -> dict[str, Any]:
    policy = {
        "tiers": [
            {"notify": ["person:alice"], "wait": "15m"},
            {"notify": ["person:sam"], "wait": "15m"},
        ],
        "repeat": 1,
    }
    return {
        "notifiers": {
            "sms": {"type": "twilio_sms", **TWILIO},
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": 2525,
                "from_address": "coldwatch@example.org",
                "security": "none",
            },
            "horn": {"type": "horn", "host": "127.0.0.1", "coil": 0},
        },
        "people": [
            {"id": "alice", "name": "Alice", "phone": "+4915100000001", "channels": ["sms"]},
            {"id": "sam", "name": "Sam", "phone": "+4915100000003", "channels": ["sms"]},
        ],
        "escalation": {"policies": {"cold": policy}, "default_policy": "cold"},
    }


def system_config(tmp_path: Path, alarms: dict[str, Any] | None = None, **extra: Any) -> Path:
    rule = {"condition": "limit", "channel": "temp", "high": -60, "priority": "critical"}
    data = config_data(
        alarms=alarms or {"equipment": {"fr": {"rules": {"warm": {**rule, "contingency": SOP}}}}},
        equipment=[
            {
                "id": "fr",
                "kind": "other",
                "name": "TSX -80 C freezer 07",
                "channels": [
                    {
                        **ULT_CHANNELS[0],
                        "sensor": {"serial": "PT100-1", "calibration_due": "2026-02-15"},
                    },
                    ULT_CHANNELS[1],
                ],
            }
        ],
    )
    data.update(paging_sections())
    data.update(extra)
    return write_config(tmp_path, data, name="system.yaml")


# --- the watch ---------------------------------------------------------------------------------


def test_watch_counts_failures_in_a_row_and_reports_changes_only(clock: FakeClock) -> None:
    events: list[Event] = []
    watch = NotifierWatch({"sms", "mail"}, events.append, clock, failing_after=3)
    watch.attempt("sms", False, "HTTP 500")
    watch.attempt("sms", False, "HTTP 500")
    watch.attempt("sms", True)  # a success in between: the count starts again
    watch.attempt("sms", False, "HTTP 500")
    watch.attempt("sms", False, "HTTP 500")
    assert events == []
    watch.attempt("sms", False, "HTTP 503")
    # sms is the only remote notifier tried so far, and it fails: nobody can be paged
    assert [(e.kind, e.source) for e in events] == [
        (EventKind.NOTIFIER_FAILING, "notifier/sms"),
        (EventKind.NOTIFIERS_ALL_FAILING, "coldwatch"),
    ]
    assert events[0].data == {"notifier": "sms", "failures": 3, "error": "HTTP 503"}
    assert events[1].data["notifiers"] == ["sms"]
    watch.attempt("sms", False, "HTTP 503")
    watch.attempt("horn", False, "refused")  # local: failing or not, it never pages off site
    assert len(events) == 2
    watch.attempt("mail", True)  # another way off site works: paging is possible again
    assert [e.kind for e in events[2:]] == [EventKind.NOTIFIERS_RECOVERED]
    assert events[2].data == {"notifiers": ["mail"]}
    watch.attempt("sms", True)
    assert [(e.kind, e.source) for e in events[3:]] == [
        (EventKind.NOTIFIER_RECOVERED, "notifier/sms")
    ]
    assert watch.failing() == []


def test_watch_never_breaks_a_delivery(clock: FakeClock) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("store gone")

    watch = NotifierWatch({"sms"}, broken, clock, failing_after=1)
    watch.attempt("sms", False, "HTTP 500")  # logged, not raised
    assert watch.failing() == ["sms"] and watch.all_failing
    with pytest.raises(ValueError):
        NotifierWatch({"sms"}, broken, clock, failing_after=0)


def test_remote_notifiers_are_those_that_leave_the_site() -> None:
    assert remote_notifiers(paging_sections()["notifiers"]) == {"sms", "mail"}


# --- rules --------------------------------------------------------------------------------------


def test_rules_for_every_notifier_and_every_calibrated_sensor(tmp_path: Path) -> None:
    rules = compile_rules(load(system_config(tmp_path)).config).by_key()
    for name in ("sms", "mail", "horn"):
        rule = rules[f"coldwatch/notifier_failing/{name}"]
        assert (rule.kind, rule.source, rule.priority) == (
            ConditionKind.SYSTEM,
            f"notifier/{name}",
            Priority.HIGH,
        )
    assert rules[ALL_FAILING].priority is Priority.CRITICAL
    calibration = rules["fr.temp/calibration_due"]
    assert calibration.kind is ConditionKind.CALIBRATION
    assert calibration.priority is Priority.LOW
    assert calibration.name == "calibration due 2026-02-15"
    assert "fr.door/calibration_due" not in rules  # no due date configured for the door


def test_system_section_tunes_and_disables_the_new_alarms(tmp_path: Path) -> None:
    rule = {"condition": "limit", "channel": "temp", "high": -60}
    alarms = {
        "equipment": {"fr": {"rules": {"warm": rule}}},
        "system": {
            "notifier_failing": {"enabled": False},
            "calibration_due": {"priority": "high"},
        },
    }
    rules = compile_rules(load(system_config(tmp_path, alarms)).config).by_key()
    assert not any(k.startswith("coldwatch/notifier_failing/") for k in rules)
    assert rules["fr.temp/calibration_due"].priority is Priority.HIGH


def test_an_unknown_system_alarm_lists_the_known_ones(tmp_path: Path) -> None:
    alarms = {"system": {"notifier_broken": {"priority": "low"}}}
    with pytest.raises(ConfigError) as err:
        load(system_config(tmp_path, alarms))
    text = str(err.value)
    assert "alarms.system.notifier_broken" in text
    assert "notifier_failing" in text and "calibration_due" in text


# --- the engine and the escalator together ------------------------------------------------------


class World:
    """Engine + store + escalator + delivery with the watch, on one FakeClock."""

    def __init__(self, tmp_path: Path, clock: FakeClock) -> None:
        self.clock = clock
        config = load(system_config(tmp_path)).config
        self.store = SQLiteStore(tmp_path / "cw.db", now=clock.now)
        self.store.open()
        self.engine = AlarmEngine(config, self.store, clock, person="tester")
        self.events: list[Event] = []
        self.notifiers = {n: ScriptedNotifier(clock) for n in ("sms", "mail", "horn")}
        self.rig = Rig(
            clock, self.engine, paging_config=PagingConfig.of(config), notifiers=self.notifiers
        )
        self.watch = NotifierWatch(remote_notifiers(config.notifiers), self.publish, clock)
        self.rig.delivery.observer = self.watch.attempt

    def publish(self, event: Event) -> None:
        self.events.append(event)
        self.engine.on_event(event)

    async def start(self) -> World:
        await self.engine.start()
        await self.rig.start()
        return self

    async def push(self, value: float, flags: int = 0) -> None:
        self.engine.on_reading(Reading("fr.temp", self.clock.now(), value, Quality.GOOD, flags))
        await self.clock.settle()

    def horn_calls(self) -> list[tuple[str, str, str]]:
        return [(n.alarm_id, n.kind, who) for _, n, who in self.notifiers["horn"].calls]

    async def close(self) -> None:
        await self.rig.stop()
        await self.engine.stop()
        self.store.close()


@pytest.fixture
async def world(tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    w = await World(tmp_path, clock).start()
    yield w
    await w.close()


def failing(times: int) -> list[Any]:
    return [NotifyError("HTTP 500 from api.twilio.com", retryable=False) for _ in range(times)]


async def test_every_remote_notifier_failing_sounds_the_horn_until_acknowledged(
    world: World,
) -> None:
    world.notifiers["sms"].script = failing(200)  # the SMS provider is down
    await world.push(-55.0)  # the freezer warms: alice, then sam, then alice: all fail
    await world.rig.at(0)
    assert [e.kind for e in world.events] == [
        EventKind.NOTIFIER_FAILING,
        EventKind.NOTIFIERS_ALL_FAILING,
    ]
    assert world.engine.get(SMS_FAILING).state is S.UNACK
    assert world.engine.get(ALL_FAILING).state is S.NORMAL  # its 2-minute on-delay
    assert world.horn_calls() == []
    await world.rig.at(3)
    unreachable = world.engine.get(ALL_FAILING)
    assert unreachable.state is S.UNACK
    assert unreachable.priority is Priority.CRITICAL
    # nobody listed the horn in a tier: it sounds because nobody can be reached
    assert world.horn_calls() == [(unreachable.code, "raised", HORN_PLACE)]
    assert world.engine.get(WARM).state is S.UNACK  # still unacknowledged, still paging

    # SMS works again at the next page: the alarms return, the horn is told
    world.notifiers["sms"].script.clear()
    await world.rig.at(16)
    assert [e.kind for e in world.events[2:]] == [
        EventKind.NOTIFIER_RECOVERED,
        EventKind.NOTIFIERS_RECOVERED,
    ]
    assert world.engine.get(ALL_FAILING).state is S.RTN_UNACK
    assert (unreachable.code, "returned-to-normal", HORN_PLACE) in world.horn_calls()

    # acknowledged for the record by a person on site: the horn hears that too
    assert unreachable.code is not None
    world.engine.acknowledge(unreachable.code, "sam", "SMS provider outage 02:10-02:26, logged")
    await world.rig.at(17)
    assert world.horn_calls()[-1] == (unreachable.code, "acknowledged", HORN_PLACE)
    assert world.engine.get(ALL_FAILING).state is S.NORMAL
    history = [r.action for r in world.engine.history(ALL_FAILING)]
    assert history[0] == "raised" and "acknowledged" in history


async def test_one_failing_notifier_among_working_ones_does_not_sound_the_horn(
    world: World,
) -> None:
    world.notifiers["sms"].script = failing(200)
    world.watch.attempt("mail", True)  # e-mail went out earlier today
    await world.push(-55.0)
    await world.rig.at(0)
    assert [e.kind for e in world.events] == [EventKind.NOTIFIER_FAILING]
    await world.rig.at(5)
    assert world.engine.get(SMS_FAILING).state is S.UNACK
    assert world.engine.get(ALL_FAILING).state is S.NORMAL
    assert world.horn_calls() == []


async def test_the_next_channel_working_within_the_on_delay_raises_nothing(
    world: World,
) -> None:
    """SMS is down, but the person's next channel (here: e-mail) delivers a minute later:
    the watch says so at once, and the unreachable alarm's on-delay never completes."""
    world.notifiers["sms"].script = failing(200)
    for _ in range(3):
        world.watch.attempt("sms", False, "HTTP 500")
    await world.rig.at(1)
    world.watch.attempt("mail", True)
    await world.rig.at(10)
    assert [e.kind for e in world.events] == [
        EventKind.NOTIFIER_FAILING,
        EventKind.NOTIFIERS_ALL_FAILING,
        EventKind.NOTIFIERS_RECOVERED,
    ]
    assert world.engine.get(ALL_FAILING).state is S.NORMAL
    assert world.horn_calls() == []


async def test_an_old_success_does_not_count_as_working(clock: FakeClock) -> None:
    """A chat webhook that delivered hours ago proves nothing about the network now."""
    events: list[Event] = []
    watch = NotifierWatch({"sms", "chat"}, events.append, clock, fresh_for=1800)
    watch.attempt("chat", True)
    await clock.jump(7200)
    for _ in range(3):
        watch.attempt("sms", False, "cannot connect to api.twilio.com")
    assert [e.kind for e in events] == [
        EventKind.NOTIFIER_FAILING,
        EventKind.NOTIFIERS_ALL_FAILING,
    ]


def test_resumed_failures_clear_at_the_first_success(clock: FakeClock) -> None:
    """After a restart the engine still holds the alarms; the watch starts from them."""
    events: list[Event] = []
    watch = NotifierWatch({"sms", "mail"}, events.append, clock)
    watch.resume(["sms"], all_failing=True)
    assert watch.failing() == ["sms"] and watch.all_failing
    watch.attempt("sms", True)
    assert [(e.kind, e.source) for e in events] == [
        (EventKind.NOTIFIER_RECOVERED, "notifier/sms"),
        (EventKind.NOTIFIERS_RECOVERED, "coldwatch"),
    ]


async def test_calibration_overdue_raises_a_low_priority_alarm(world: World) -> None:
    key = "fr.temp/calibration_due"
    await world.push(-80.0)
    assert world.engine.get(key).state is S.NORMAL
    await world.push(-80.1, flags=FLAG_CALIBRATION_OVERDUE)
    view = world.engine.get(key)
    assert (view.state, view.priority) == (S.UNACK, Priority.LOW)
    assert "calibration" in view.contingency
    await world.push(-80.0)  # a new due date was configured: readings are no longer flagged
    assert world.engine.get(key).state is S.RTN_UNACK
    await asyncio.sleep(0)


async def test_a_bad_number_does_not_count_against_the_notifier(world: World) -> None:
    """Pages that fail because of the person (a wrong or unsubscribed number) say nothing
    about the SMS provider: no notifier alarm, no horn; the escalation moves on instead."""
    world.notifiers["sms"].script = [
        NotifyError("Twilio HTTP 400, error 21211: invalid 'To'", retryable=False, recipient=True)
        for _ in range(200)
    ]
    await world.push(-55.0)
    await world.rig.at(0)
    assert len(world.notifiers["sms"].calls) >= 3
    assert world.events == []
    assert world.engine.get(SMS_FAILING).state is S.NORMAL
    assert world.horn_calls() == []


def test_twilio_errors_about_the_number_are_the_recipients() -> None:
    from twilio.base.exceptions import TwilioRestException

    from alarms.notify.twilio_common import classify

    bad_number = classify(TwilioRestException(400, "uri", "invalid 'To'", code=21211))
    bad_credentials = classify(TwilioRestException(401, "uri", "auth", code=20003))
    assert (bad_number.recipient, bad_number.retryable) == (True, False)
    assert (bad_credentials.recipient, bad_credentials.retryable) == (False, False)
