"""A chattering alarm on the real engine and escalator: it announces that it chatters once,
its returns and recurrences are not paged while it chatters, the call tree keeps climbing while
nobody acknowledges, and its return to normal is told once when it stops chattering."""

from __future__ import annotations

from alarms.model import AlarmState
from monitor.core.clock import FakeClock
from tests.support.alarm_engine import Factory, Harness
from tests.support.escalation import Rig

from .test_escalation_engine import KEY, cfg

S = AlarmState
WARM, COLD = -55.0, -75.0


def said(rig: Rig) -> list[tuple[float, str, str]]:
    """(second, person, kind) of everything sent, once per event (whatever the channel)."""
    seen = {(round(p.minute * 60, 1), p.person, p.kind) for p in rig.pages()}
    return sorted(seen)


async def toggle(h: Harness, rig: Rig, start: int, end: int, every: int = 10) -> None:
    """Warm at start, cold ``every`` s later, warm again ... until ``end`` s (cold last)."""
    for t in range(start, end, every):
        await rig.at(t / 60)
        await h.push("box.t", WARM if (t - start) // every % 2 == 0 else COLD)


async def test_chattering_is_told_once_and_its_return_once_when_it_stops(
    engine_factory: Factory, clock: FakeClock
) -> None:
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await toggle(h, rig, 0, 140)  # warm 0, 20, 40 ... 120; cold 10, 30 ... 130
    assert h.engine.get(KEY).chattering
    await rig.at(179 / 60)
    assert h.engine.get(KEY).chattering
    await rig.at(3)
    assert not h.engine.get(KEY).chattering  # no activation since 120 s: ended at 180 s
    assert h.engine.get(KEY).state is S.RTN_UNACK
    assert said(rig) == [
        (0.0, "alice", "raised"),
        (10.0, "alice", "returned-to-normal"),
        (20.0, "alice", "re-alarm"),
        (30.0, "alice", "returned-to-normal"),
        (40.0, "alice", "chattering"),  # the third activation within a minute: told once
        (180.0, "alice", "returned-to-normal"),  # it stopped chattering, back to normal
    ]
    told = next(p.notification for p in rig.pages(("chattering",)))
    assert told.needs_ack and told.alarm_id == h.engine.get(KEY).code
    actions = [r.action for r in h.store.alarm_records(key=KEY)]
    assert actions.count("chattering") == 1 and actions.count("chattering_ended") == 1
    await rig.stop()


async def test_a_chattering_alarm_nobody_acknowledges_climbs_the_call_tree(
    engine_factory: Factory, clock: FakeClock
) -> None:
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await toggle(h, rig, 0, 20 * 60)  # chatters for 20 minutes
    kinds = [(kind, person) for _, person, kind in said(rig)]
    assert kinds.count(("chattering", "alice")) == 1
    assert kinds.count(("returned-to-normal", "alice")) == 2  # before it chattered
    # tier 2 fifteen minutes after the recurrence at 40 s that resumed the escalation
    assert (15 * 60 + 40.0, "sam", "escalated") in said(rig)
    assert not [k for k in kinds if k[1] == "sam" and k[0] == "returned-to-normal"]
    await rig.stop()


async def test_chattering_that_ends_in_alarm_tells_no_return(
    engine_factory: Factory, clock: FakeClock
) -> None:
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await toggle(h, rig, 0, 50)  # warm 0, 20, 40: chatters from 40 s
    await rig.at(50 / 60)
    await h.push("box.t", WARM)  # cold at 30 s, then warm from 40 s for good
    await rig.at(2)
    assert not h.engine.get(KEY).chattering and h.engine.get(KEY).state is S.UNACK
    assert said(rig)[-1] == (40.0, "alice", "chattering")
    await rig.stop()


async def test_an_acknowledged_chattering_alarm_pages_each_new_occurrence(
    engine_factory: Factory, clock: FakeClock
) -> None:
    """Acknowledged and back to normal, an occurrence is over: the next activation is a new
    alarm with a new code, paged as raised, chattering or not; while it chatters its return
    is not told."""
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    codes = []
    for t in range(0, 60, 20):
        await rig.at(t / 60)
        await h.push("box.t", WARM)
        code = h.engine.get(KEY).code
        assert code is not None
        codes.append(code)
        h.engine.acknowledge(code, "alice", "door was open")
        await rig.at((t + 10) / 60)
        await h.push("box.t", COLD)
    assert len(set(codes)) == 3
    raised = [p.code for p in rig.pages(("raised",))]
    assert list(dict.fromkeys(raised)) == codes
    returns = {p.code for p in rig.pages(("returned-to-normal",))}
    assert returns == set(codes[:2])  # the third occurrence was the chattering one
    await rig.stop()
