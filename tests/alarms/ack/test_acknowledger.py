"""The acknowledger against a minimal in-memory AlarmCommands (the protocol is small enough to
fake): a shared handset told apart by PIN, a store that cannot record, refusal records and
rate-limited logs, and a failing on_refused that cannot break acknowledgement."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.commands import AlarmCommands
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Reason, Refusal, RefusalLog
from alarms.model import AlarmCommandError, AlarmState, AlarmView, ConditionKind, Priority
from alarms.people import Directory, Person
from monitor.core.clock import FakeClock
from monitor.store.base import AlarmRecord, StoreError

SHARED = "+4915199999999"


def view(code: str = "A1007", state: AlarmState = AlarmState.UNACK) -> AlarmView:
    return AlarmView(
        key="box.t/lim",
        code=code,
        rule="lim",
        condition=ConditionKind.LIMIT,
        state=state,
        base_state=state,
        active=True,
        priority=Priority.HIGH,
        level=None,
        equipment="box",
        equipment_name="Box",
        source="box.t",
        source_name=None,
        value=11.0,
        unit="C",
        limit=10.0,
        condition_text="above 10 C",
        message="box too warm",
        contingency="",
    )


class MemoryCommands:
    """AlarmCommands in a dict; ``broken`` makes acknowledge fail like a full disk."""

    def __init__(self) -> None:
        self.alarms = {"A1007": view()}
        self.broken = False

    def acknowledge(
        self,
        target: str,
        person: str,
        comment: str,
        via: str | None = None,
        origin: str | None = None,
    ) -> AlarmView:
        current = self.get(target)
        if current.state is not AlarmState.UNACK:
            raise AlarmCommandError(f"alarm {target} is {current.state}: nothing to acknowledge")
        if self.broken:
            raise StoreError("disk full")
        acked = replace(
            current, state=AlarmState.ACKED, acked_by=person, ack_comment=comment, ack_via=via
        )
        self.alarms[target] = acked
        return acked

    def active(self) -> list[AlarmView]:
        return list(self.alarms.values())

    def get(self, target: str) -> AlarmView:
        if target not in self.alarms:
            raise AlarmCommandError(f"no alarm '{target}'")
        return self.alarms[target]

    def history(self, target: str) -> list[AlarmRecord]:
        return []


def build(
    clock: FakeClock, people: list[Person]
) -> tuple[Acknowledger, MemoryCommands, list[Refusal]]:
    commands = MemoryCommands()
    typed: AlarmCommands = commands  # the fake satisfies the protocol (mypy checks this line)
    refused: list[Refusal] = []
    service = Acknowledger(
        typed, Directory(people), clock, PinLockout(clock), RefusalLog(refused.append)
    )
    return service, commands, refused


def shared_handset() -> list[Person]:
    return [
        Person(id="ana", name="Ana", phone=SHARED, pin="1111", channels=("sms",)),
        Person(id="ben", name="Ben", phone=SHARED, pin="2222", channels=("sms",)),
    ]


async def test_a_shared_on_call_handset_is_told_apart_by_pin(clock: FakeClock) -> None:
    service, commands, refused = build(clock, shared_handset())
    outcome = service.sms(SHARED, "ACK A1007 2222 on my way")
    assert outcome.ok and outcome.person is not None and outcome.person.id == "ben"
    assert commands.alarms["A1007"].acked_by == "ben"
    assert refused == []


async def test_a_store_that_cannot_record_changes_nothing(clock: FakeClock) -> None:
    service, commands, refused = build(clock, shared_handset())
    commands.broken = True
    outcome = service.sms(SHARED, "ACK A1007 1111 on my way")
    assert not outcome.ok and outcome.reason is Reason.STORE_ERROR
    assert "nothing was changed" in outcome.message
    assert commands.alarms["A1007"].state is AlarmState.UNACK
    assert [r.reason for r in refused] == [Reason.STORE_ERROR]
    assert refused[0].comment == "on my way" and refused[0].person == "ana"


async def test_an_unknown_person_is_refused(clock: FakeClock) -> None:
    service, commands, refused = build(clock, shared_handset())
    outcome = service.acknowledge_as("mallory", "A1007", "x", "http", "127.0.0.1")
    assert outcome.reason is Reason.UNKNOWN_PERSON
    assert commands.alarms["A1007"].state is AlarmState.UNACK
    assert refused[0].to_event().data["reason"] == "unknown_person"


async def test_refusal_logs_are_rate_limited_but_every_one_is_recorded(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    people = [Person(id="ana", name="Ana", phone=SHARED, pin="1111", channels=("sms",))]
    service, _commands, refused = build(clock, people)
    service.lockout = PinLockout(clock, attempts=1000)
    with caplog.at_level(logging.WARNING, logger="alarms.ack"):
        for _ in range(50):
            service.sms(SHARED, "ACK A1007 8642 guess")
    assert len(refused) == 50
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "wrong_pin" in lines[0].getMessage()
    assert "8642" not in caplog.text


async def test_a_failing_recorder_does_not_break_acknowledgement(clock: FakeClock) -> None:
    def broken(_: Refusal) -> None:
        raise RuntimeError("store down")

    commands = MemoryCommands()
    service = Acknowledger(
        commands, Directory(shared_handset()), clock, PinLockout(clock), RefusalLog(broken)
    )
    assert not service.sms(SHARED, "ACK A1007 0000 x").ok
    assert service.sms(SHARED, "ACK A1007 1111 x").ok


async def test_several_alarms_each_on_its_own_a_store_failure_names_its_alarm(
    clock: FakeClock,
) -> None:
    service, commands, refused = build(clock, shared_handset())
    commands.alarms.update({"A1010": view("A1010"), "A1029": view("A1029")})
    real = commands.acknowledge

    def flaky(
        target: str, person: str, comment: str, via: str | None = None, origin: str | None = None
    ) -> AlarmView:
        commands.broken = target == "A1010"
        return real(target, person, comment, via, origin)

    commands.acknowledge = flaky  # type: ignore[method-assign]
    outcome = service.sms(SHARED, "ACK A1007 A1010 A1029 1111 on my way")
    assert not outcome.ok and outcome.reason is Reason.STORE_ERROR
    assert [v.code for v in outcome.acknowledged] == ["A1007", "A1029"]
    assert outcome.reply == (
        "NOT acknowledged: A1010: the acknowledgement could not be recorded; nothing was "
        "changed, try again. A1007, A1029 acknowledged by Ana: on my way"
    )
    assert commands.alarms["A1010"].state is AlarmState.UNACK
    assert [(r.reason, r.target) for r in refused] == [(Reason.STORE_ERROR, "A1010")]


async def test_what_was_not_acknowledged_comes_first_and_none_is_a_refusal(
    clock: FakeClock,
) -> None:
    service, commands, refused = build(clock, shared_handset())
    outcome = service.sms(SHARED, "ACK A1007 A1010 1111 on my way")
    assert outcome.ok is False  # A1010 does not exist; A1007 is acknowledged
    assert commands.alarms["A1007"].acked_by == "ana"
    assert (
        outcome.reply == "NOT acknowledged: no alarm 'A1010'. A1007 acknowledged by Ana: on my way"
    )
    again = service.sms(SHARED, "ACK A1007 A1010 1111 again")
    assert again.acknowledged == () and again.reply == (
        "Not acknowledged: alarm A1007 is ACKED: nothing to acknowledge; no alarm 'A1010'"
    )
    assert [r.reason for r in refused] == [
        Reason.UNKNOWN_ALARM,
        Reason.NOT_ACKNOWLEDGEABLE,
        Reason.UNKNOWN_ALARM,
    ]
