"""A clean stop's gap, measured on the clock that can be trusted, decides whether it pages.

Timelines on the engine's FakeClock and a :class:`FakeBootClock` that moves with its monotonic
time: a clean stop writes its ``daemon_stopped`` marker with the boot stamp (as the daemon
does), time passes (the machine may reboot, the wall clock may step), and the start's
:func:`record_downtime` hands its ``downtime`` event to the engine (default threshold 5 min).
"""

from __future__ import annotations

from typing import Any

import pytest

from alarms.model import AlarmState
from monitor.core.boot_clock import FakeBootClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind
from monitor.runtime.gap_measure import REBOOTED_UNSYNCHRONISED, WALL_CLOCK_BEHIND
from monitor.runtime.health import last_run_marker, record_downtime
from monitor.runtime.pipeline import Pipeline
from monitor.runtime.stop_record import StopRecord
from tests.support.alarm_engine import Factory, Harness

S = AlarmState
GAP = "coldwatch/monitoring_gap"
HOURS_6 = 6 * 3600.0


def stop_cleanly(h: Harness, boot: FakeBootClock | None) -> None:
    """A planned stop's ``daemon_stopped`` marker, committed now."""
    stop = StopRecord("restart", h.clock.now(), person="alice", reason="new probe")
    data: dict[str, Any] = {"stop": stop.to_json()}
    stamp = boot() if boot is not None else None
    if stamp is not None:
        data["boot"] = stamp.to_json()
    marker = Event(h.clock.now(), EventKind.DAEMON_STOPPED, "daemon", "stopped", data, "alice")
    h.store.append([], [marker])


async def start(h: Harness, boot: FakeBootClock | None, synchronised: bool | None) -> Event:
    """The next start: its ``downtime`` event, handed to the engine."""
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(h.engine)
    event = record_downtime(
        h.store,
        pipeline,
        [],
        {},
        h.clock.now(),
        last_run_marker(h.store),
        here=boot() if boot is not None else None,
        synchronised=synchronised,
    )
    await h.clock.settle()
    assert event is not None and event.kind == EventKind.DOWNTIME
    return event


async def test_same_boot_the_wall_clock_stepped_back_the_boot_clock_says_6_hours(
    engine_factory: Factory,
) -> None:
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(HOURS_6)
    h.clock.step_wall(-HOURS_6 + 4)  # the wall clock reads 4 s later than the stop
    event = await start(h, boot, synchronised=False)
    assert event.data["gap_measure"] == "boot_clock"
    assert event.data["downtime_seconds"] == HOURS_6 and event.data["wall_clock_seconds"] == 4.0
    assert event.message.startswith(
        "coldwatch was stopped for 21600 s (boot clock; the wall clock says 4 s): restart"
    )
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]


async def test_same_boot_the_wall_clock_stepped_forward_a_short_stop_stays_short(
    engine_factory: Factory,
) -> None:
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(60)
    h.clock.step_wall(3600)  # NTP caught up an hour while coldwatch was stopped
    event = await start(h, boot, synchronised=True)
    assert (event.data["gap_measure"], event.data["downtime_seconds"]) == ("boot_clock", 60.0)
    assert event.data["wall_clock_seconds"] == 3660.0 and event.data["rebooted"] is False
    assert h.state(GAP) is S.NORMAL and h.kinds(GAP) == []


async def test_rebooted_with_the_clock_not_synchronised_pages_saying_why(
    engine_factory: Factory,
) -> None:
    """fake-hwclock: 6 h powered off, the clock restored to the shutdown time, NTP not yet."""
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(HOURS_6)
    h.clock.step_wall(-HOURS_6 + 5)
    boot.reboot("boot-2", since_boot=25.0)
    event = await start(h, boot, synchronised=False)
    assert event.data["downtime_seconds"] is None and event.data["gap_measure"] == "unknown"
    assert event.data["rebooted"] is True and event.data["clock_synchronised"] is False
    assert event.data["gap_unknown_because"] == REBOOTED_UNSYNCHRONISED
    assert event.message.startswith(
        f"coldwatch was stopped for an unknown time ({REBOOTED_UNSYNCHRONISED}; "
        "the wall clock says 5 s): restart asked by alice"
    )
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]
    assert REBOOTED_UNSYNCHRONISED in h.view(GAP).message


async def test_rebooted_with_the_clock_state_unknown_pages_too(engine_factory: Factory) -> None:
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(30)
    boot.reboot("boot-2")
    event = await start(h, boot, synchronised=None)
    assert event.data["downtime_seconds"] is None
    assert h.state(GAP) is S.RTN_UNACK


async def test_rebooted_with_the_clock_synchronised_the_wall_clock_decides(
    engine_factory: Factory,
) -> None:
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(120)  # a quick reboot of the machine
    boot.reboot("boot-2")
    event = await start(h, boot, synchronised=True)
    assert (event.data["gap_measure"], event.data["downtime_seconds"]) == ("wall_clock", 120.0)
    assert event.message.startswith(
        "coldwatch was stopped for 120 s (wall clock, synchronised; rebooted while stopped)"
    )
    assert h.state(GAP) is S.NORMAL

    stop_cleanly(h, boot)
    await h.clock.advance(HOURS_6)
    boot.reboot("boot-3")
    event = await start(h, boot, synchronised=True)
    assert event.data["downtime_seconds"] == HOURS_6
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]


async def test_without_a_boot_clock_a_wall_clock_behind_the_stop_pages(
    engine_factory: Factory,
) -> None:
    """Not Linux (no boot id, no CLOCK_BOOTTIME): the wall clock, and a negative gap is
    never short."""
    h = await engine_factory()
    await h.to(10)
    stop_cleanly(h, None)
    await h.clock.advance(3)
    event = await start(h, None, synchronised=None)
    assert (event.data["gap_measure"], event.data["downtime_seconds"]) == ("wall_clock", 3.0)
    assert h.state(GAP) is S.NORMAL

    stop_cleanly(h, None)
    await h.clock.advance(HOURS_6)
    h.clock.step_wall(-HOURS_6 - 30)
    event = await start(h, None, synchronised=None)
    assert event.data["downtime_seconds"] is None and event.data["wall_clock_seconds"] == -30.0
    assert event.data["gap_unknown_because"] == WALL_CLOCK_BEHIND
    assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]


@pytest.mark.parametrize("synchronised", [False, True])
async def test_the_start_marker_lost_the_gap_is_judged_by_what_is_known(
    engine_factory: Factory, synchronised: bool
) -> None:
    """The reviewer's scenario: ``coldwatch restart`` at T0 (a planned, durable
    ``daemon_stopped``), the new run's ``daemon_started`` never reaches the disk (it is written
    with an fsync, so only a power loss before that fsync returned, before the run polled or
    paged anything), the machine is back 240 s later. The store then says: a planned stop,
    then a reboot. Unsynchronised: the gap cannot be measured, it pages. Synchronised: 240 s
    by the wall clock, under the threshold, no page: exactly what a stop, a reboot and a start
    240 s later would be, which is all that the disk can tell."""
    h = await engine_factory()
    boot = FakeBootClock(h.clock)
    await h.to(10)
    stop_cleanly(h, boot)
    await h.clock.advance(3)  # the new run starts, its marker still in the page cache ...
    await h.clock.advance(237)  # ... power lost; back at T0 + 240 s
    boot.reboot("boot-2")
    event = await start(h, boot, synchronised=synchronised)
    assert event.data["unclean"] is False and event.data["rebooted"] is True
    if synchronised:
        assert (event.data["gap_measure"], event.data["downtime_seconds"]) == ("wall_clock", 240.0)
        assert h.state(GAP) is S.NORMAL and h.kinds(GAP) == []
    else:
        assert event.data["downtime_seconds"] is None
        assert h.state(GAP) is S.RTN_UNACK and h.kinds(GAP) == ["raised"]
