"""Every transition of the reference's ISA-18.2 table, through the engine; acknowledgement,
reset, re-alarm, and the codes people type."""

from __future__ import annotations

from typing import Any

import pytest

from alarms import states
from alarms.codes import make_code, parse_code
from alarms.model import AlarmCommandError, AlarmState
from alarms.states import Trigger
from tests.support.alarm_engine import KEY, Factory, at, cfg

S = AlarmState


def test_the_table_is_the_reference_table() -> None:
    expected = {
        (S.NORMAL, Trigger.ACTIVATE): S.UNACK,
        (S.UNACK, Trigger.ACK): S.ACKED,
        (S.UNACK, Trigger.CLEAR): S.RTN_UNACK,
        (S.UNACK, Trigger.CLEAR_LATCHING): S.LATCHED_UNACK,
        (S.ACKED, Trigger.CLEAR): S.NORMAL,
        (S.ACKED, Trigger.CLEAR_LATCHING): S.LATCHED_ACKED,
        (S.ACKED, Trigger.REALARM): S.UNACK,
        (S.RTN_UNACK, Trigger.ACK): S.NORMAL,
        (S.RTN_UNACK, Trigger.ACTIVATE): S.UNACK,
        (S.LATCHED_UNACK, Trigger.ACK): S.LATCHED_ACKED,
        (S.LATCHED_ACKED, Trigger.RESET): S.NORMAL,
    }
    for (state, trigger), nxt in expected.items():
        assert states.step(state, trigger) is nxt
    assert states.step(S.NORMAL, Trigger.ACK) is None
    assert states.step(S.ACKED, Trigger.ACK) is None
    assert states.step(S.RTN_UNACK, Trigger.RESET) is None


async def ack(h: Any, who: str = "ana", comment: str = "seen") -> None:
    code = h.view(KEY).code
    h.engine.acknowledge(code, who, comment, via="sms")
    await h.clock.settle()


async def test_non_latching_paths(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)  # NORMAL -> UNACK
    assert h.state(KEY) is S.UNACK
    code = h.view(KEY).code
    await h.push("box.t", 9.0, 10)  # UNACK -> RTN_UNACK
    assert h.state(KEY) is S.RTN_UNACK
    await h.push("box.t", 11.0, 20)  # RTN_UNACK -> UNACK (recurs: same occurrence)
    assert h.state(KEY) is S.UNACK and h.view(KEY).code == code
    await ack(h)  # UNACK -> ACKED
    assert h.state(KEY) is S.ACKED
    await h.push("box.t", 9.0, 30)  # ACKED -> NORMAL
    assert h.state(KEY) is S.NORMAL and h.view(KEY).code is None
    await h.push("box.t", 11.0, 40)  # a new occurrence, a new code
    assert h.view(KEY).code not in (None, code)
    await h.push("box.t", 9.0, 50)
    await ack(h, comment="door was open, closed it")  # RTN_UNACK -> NORMAL
    assert h.state(KEY) is S.NORMAL
    assert h.kinds(KEY) == [
        "raised",
        "returned-to-normal",
        "raised",
        "acknowledged",
        "returned-to-normal",
        "raised",
        "returned-to-normal",
        "acknowledged",
    ]
    record = h.engine.history(code or "")[-2]
    assert (record.action, record.person, record.via, record.comment) == (
        "acknowledged",
        "ana",
        "sms",
        "seen",
    )


async def test_latching_paths_and_reset(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(latching=True))
    await h.push("box.t", 11.0, 0)
    await h.push("box.t", 9.0, 10)  # UNACK -> LATCHED_UNACK
    assert h.state(KEY) is S.LATCHED_UNACK and h.view(KEY).active is False
    code = h.view(KEY).code or ""
    with pytest.raises(AlarmCommandError, match="acknowledged before it can be reset"):
        h.engine.reset(code, "ben", "reset")
    await ack(h)  # LATCHED_UNACK -> LATCHED_ACKED
    assert h.state(KEY) is S.LATCHED_ACKED
    h.engine.reset(code, "ben", "probe replaced", via="web")  # LATCHED_ACKED -> NORMAL
    assert h.state(KEY) is S.NORMAL
    await h.push("box.t", 11.0, 20)
    await ack(h)  # UNACK -> ACKED
    await h.push("box.t", 9.0, 30)  # ACKED -> LATCHED_ACKED
    assert h.state(KEY) is S.LATCHED_ACKED
    await h.push("box.t", 11.0, 40)  # a latched alarm whose condition recurs: UNACK
    assert h.state(KEY) is S.UNACK
    with pytest.raises(AlarmCommandError, match="only a latched alarm is reset"):
        h.engine.reset(h.view(KEY).code or "", "ben", "reset")
    actions = [r.action for r in h.engine.history(code)]
    assert actions == ["raised", "cleared", "acknowledged", "reset"]


async def test_realarm_time_while_acked_and_still_active(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(realarm_max=2))  # the default re-alarm time: 60 min
    await h.push("box.t", 11.0, 0)
    await h.to(100)
    await ack(h)
    assert h.view(KEY).realarm_due == at(3700)
    await h.to(3699)
    assert h.state(KEY) is S.ACKED
    await h.to(3700)
    view = h.view(KEY)
    assert view.state is S.UNACK and view.realarm_count == 1
    await ack(h)
    await h.to(3700 + 3600)
    await ack(h)
    await h.to(3700 + 7200 + 10)
    assert h.state(KEY) is S.ACKED  # capped at two re-alarms
    assert h.kinds(KEY).count("re-alarm") == 2


async def test_realarm_can_be_turned_off(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(realarm_after=0))
    await h.push("box.t", 11.0, 0)
    await ack(h)
    assert h.view(KEY).realarm_due is None


async def test_acknowledgement_needs_a_person_and_a_comment(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    code = h.view(KEY).code or ""
    with pytest.raises(AlarmCommandError, match="comment is required"):
        h.engine.acknowledge(code, "ana", "   ")
    with pytest.raises(AlarmCommandError, match="person is required"):
        h.engine.acknowledge(code, "", "seen")
    assert h.state(KEY) is S.UNACK
    h.engine.acknowledge(code.lower(), "ana", "seen")  # what a phone's keyboard sends
    with pytest.raises(AlarmCommandError, match="ACKED: nothing to acknowledge"):
        h.engine.acknowledge(code, "ana", "again")


async def test_a_mistyped_code_is_refused_not_applied_elsewhere(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    code = h.view(KEY).code or ""
    swapped = code[0] + code[2] + code[1] + code[3:]
    assert parse_code(swapped) is None
    with pytest.raises(AlarmCommandError):
        h.engine.acknowledge(swapped, "ana", "seen")
    assert h.state(KEY) is S.UNACK


def test_codes_catch_single_digit_errors_and_swaps() -> None:
    for n in range(100, 3000):
        code = make_code(n)
        assert parse_code(code) == code and parse_code(code[1:]) == code
        digits = code[1:]
        for i in range(len(digits)):
            for d in "0123456789":
                if d != digits[i]:
                    assert parse_code(digits[:i] + d + digits[i + 1 :]) is None
        for i in range(len(digits) - 1):
            if digits[i] != digits[i + 1]:
                swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
                assert parse_code(swapped) is None
    assert make_code(100) == "A1007"


async def test_get_finds_closed_occurrences_in_the_record(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    code = h.view(KEY).code or ""
    await h.push("box.t", 9.0, 10)
    await ack(h)
    closed = h.engine.get(code)
    assert closed.state is S.NORMAL and closed.acked_by == "ana"
    with pytest.raises(AlarmCommandError, match="not open"):
        h.engine.acknowledge(code, "ana", "late ack")
    assert [v.key for v in h.engine.active()] == []
