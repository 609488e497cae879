"""A pulse (an event with no "ok" to follow) is back to normal the moment it is raised: on the
real engine and escalator (FakeClock), a non-critical one pages its first tier once and does
not climb, however long nobody acknowledges it; a critical one climbs like any critical
alarm. The monitoring gap of a clean stop under the threshold pages nobody.

The policy is the escalation tests' ``cold``: on call (Alice), supervisor (Sam), QA (Quinn,
Rita), 15 min each, run twice, then QA every 15 min until acknowledged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alarms.model import AlarmState
from alarms.notify.base import NotifyError
from monitor.core.clock import FakeClock
from monitor.core.model import Event, EventKind
from tests.support.alarm_engine import Factory, Harness, make_config
from tests.support.escalation import Rig

S = AlarmState
GAP = "coldwatch/monitoring_gap"
ATTENTION = ("raised", "escalated", "re-alarm")
CLIMBING = [
    (0, "alice", "raised", 1),
    (15, "sam", "escalated", 2),
    (30, "quinn", "escalated", 3),
    (30, "rita", "escalated", 3),
    (45, "alice", "escalated", 1),
]


async def rig_for(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path, **site: Any
) -> tuple[Harness, Rig]:
    """The engine and an escalator whose router knows the same site's rules."""
    h = await engine_factory(**site)
    folder = tmp_path / "router"
    folder.mkdir()
    rig = await Rig(clock, h.engine, config=make_config(folder, **site)).start()
    return h, rig


def of(rig: Rig, h: Harness, key: str = GAP) -> list[tuple[float, str, str, int]]:
    """The pages asking for attention about ``key``'s alarm (the site's freezer, read by
    nobody here, has stale-data alarms of its own)."""
    codes = {r.code for r in h.store.alarm_records(key=key) if r.code}
    return [p.brief for p in rig.pages(ATTENTION) if p.code in codes]


def gap(h: Harness, seconds: float, kind: str = EventKind.DOWNTIME) -> None:
    """coldwatch starts after ``seconds`` without running, as its health check records it."""
    data = {"downtime_seconds": seconds, "unclean": kind != EventKind.DOWNTIME}
    h.engine.on_event(Event(h.clock.now(), kind, "coldwatch", f"down for {seconds} s", data))


async def test_a_monitoring_gap_pages_the_first_tier_once_and_does_not_climb(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    h, rig = await rig_for(engine_factory, clock, tmp_path)
    gap(h, 900.0)  # a clean stop of 15 min: over the 5 min threshold
    await rig.at(0)
    await rig.at(6 * 60)  # six hours nobody acknowledges it
    assert of(rig, h) == [(0, "alice", "raised", 1)]
    assert h.state(GAP) is S.RTN_UNACK
    code = h.view(GAP).code
    assert code is not None
    track = rig.escalator.track(code)
    assert track is not None and (track.once, track.status, track.due) == (True, "running", None)
    h.engine.acknowledge(code, "alice", "power work in room 101, planned")
    await rig.at(6 * 60 + 1)
    assert h.state(GAP) is S.NORMAL and rig.escalator.track(code) is None
    assert of(rig, h) == [(0, "alice", "raised", 1)]
    await rig.stop()


async def test_an_unclean_restart_pages_once_too(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    h, rig = await rig_for(engine_factory, clock, tmp_path)
    gap(h, 4.0, EventKind.UNCLEAN_RESTART)  # SIGKILL, a crash, power loss: however short
    await rig.at(0)
    await rig.at(120)
    assert of(rig, h) == [(0, "alice", "raised", 1)]
    await rig.stop()


async def test_a_planned_gap_under_the_threshold_pages_nobody(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    h, rig = await rig_for(engine_factory, clock, tmp_path)
    gap(h, 3.0)
    await rig.at(120)
    assert of(rig, h) == [] and h.kinds(GAP) == [] and h.state(GAP) is S.NORMAL
    await rig.stop()


async def test_a_critical_pulse_still_climbs_until_acknowledged(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    site = {"alarms": {"system": {"monitoring_gap": {"priority": "critical"}}}}
    h, rig = await rig_for(engine_factory, clock, tmp_path, **site)
    gap(h, 900.0)
    await rig.at(0)
    await rig.at(45)
    assert of(rig, h) == CLIMBING
    code = h.view(GAP).code
    assert code is not None and not getattr(rig.escalator.track(code), "once", True)
    await rig.stop()


async def test_a_latching_pulse_climbs_as_latching_says(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    """Latched, it is not back to normal: it is paged until acknowledged."""
    site = {"alarms": {"system": {"clock_step": {"priority": "high", "latching": True}}}}
    h, rig = await rig_for(engine_factory, clock, tmp_path, **site)
    h.engine.on_event(Event(h.clock.now(), EventKind.CLOCK_STEP, "coldwatch", "stepped +30 s"))
    await rig.at(0)
    await rig.at(45)
    assert h.state("coldwatch/clock_step") is S.LATCHED_UNACK
    assert of(rig, h, "coldwatch/clock_step") == CLIMBING
    await rig.stop()


async def test_a_first_tier_that_reaches_nobody_hands_the_single_page_on(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    """Paging once never means paging nobody: Alice's every channel fails, so Sam gets the
    one page, at once, and nobody after him."""
    h, rig = await rig_for(engine_factory, clock, tmp_path)
    rig.notifiers["phone"].script = [NotifyError("busy", retryable=False)]
    rig.notifiers["sms"].script = [NotifyError("21211 invalid number", retryable=False)]
    gap(h, 4.0, EventKind.UNCLEAN_RESTART)
    await rig.at(0)
    await rig.at(120)
    codes = {r.code for r in h.store.alarm_records(key=GAP) if r.code}
    pages = [p for p in rig.pages(ATTENTION) if p.code in codes]
    assert sorted((p.minute, p.person, p.channel, p.tier) for p in pages) == [
        (0, "alice", "phone", 1),
        (0, "alice", "sms", 1),
        (0, "sam", "sms", 2),  # Alice could not be reached: the supervisor at once, once
    ]
    await rig.stop()
