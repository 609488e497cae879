"""The monitor watching itself: disk, clock, store writes, downtime (timelines on FakeClock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.boot_clock import FakeBootClock
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.health import (
    DiskUsage,
    HealthMonitor,
    kernel_clock_synchronised,
    last_run_marker,
    record_downtime,
)
from monitor.runtime.pipeline import Pipeline
from monitor.runtime.stop_record import StopRecord
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter
from tests.support.fakes import Collector

GIB = 1 << 30


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "cw.db")
    s.open()
    yield s
    s.close()


class Rig:
    def __init__(self, store: SQLiteStore, clock: FakeClock, tmp_path: Path) -> None:
        self.sink = Collector()
        self.pipeline = Pipeline(Metrics())
        self.pipeline.inline.append(self.sink)
        self.writer = StoreWriter(store, clock, Metrics())
        self.free = 50 * GIB
        self.synced: bool | None = True
        self.health = HealthMonitor(
            self.pipeline,
            clock,
            self.writer,
            tmp_path,
            tick=30,
            disk_usage=lambda _: DiskUsage(100 * GIB, self.free),
            clock_synchronised=lambda: self.synced,
        )

    def kinds(self) -> list[str]:
        return [e.kind for e in self.sink.events]


@pytest.fixture
def rig(store: SQLiteStore, clock: FakeClock, tmp_path: Path) -> Rig:
    return Rig(store, clock, tmp_path)


def test_disk_low_is_announced_once_and_recovery_needs_a_margin(rig: Rig) -> None:
    rig.health.check()
    rig.free = 8 * GIB  # below 10 %
    rig.health.check()
    rig.health.check()
    assert rig.kinds() == [EventKind.DISK_LOW]
    assert rig.sink.events[0].data["free_percent"] == 8.0
    rig.free = 12 * GIB  # above 10 % but inside the hysteresis band
    rig.health.check()
    assert rig.kinds() == [EventKind.DISK_LOW]
    rig.free = 20 * GIB
    rig.health.check()
    assert rig.kinds() == [EventKind.DISK_LOW, EventKind.DISK_OK]


def test_a_small_disk_is_low_by_absolute_space_too(rig: Rig) -> None:
    rig.health.disk_usage = lambda _: DiskUsage(4 * GIB, GIB // 2)  # 12.5 % but only 512 MiB
    rig.health.check()
    assert rig.kinds() == [EventKind.DISK_LOW]


async def test_a_clock_step_is_announced_with_its_size(rig: Rig, clock: FakeClock) -> None:
    rig.health.check()
    await clock.advance(30)
    rig.health.check()
    assert rig.kinds() == []
    clock.step_wall(-90)  # NTP stepped the clock back 90 s
    await clock.advance(30)
    rig.health.check()
    assert rig.kinds() == [EventKind.CLOCK_STEP]
    assert rig.sink.events[0].data["step_seconds"] == -90.0


def test_clock_synchronisation_changes_are_announced(rig: Rig) -> None:
    rig.health.check()
    rig.synced = False
    rig.health.check()
    rig.health.check()
    rig.synced = None  # cannot tell: no change
    rig.health.check()
    rig.synced = True
    rig.health.check()
    assert rig.kinds() == [EventKind.CLOCK_UNSYNCHRONISED, EventKind.CLOCK_SYNCHRONISED]


def test_the_kernel_can_be_asked_about_ntp() -> None:
    assert kernel_clock_synchronised() in (True, False, None)


def test_store_write_failure_and_recovery(rig: Rig) -> None:
    rig.writer.last_error = "disk I/O error"
    rig.health.check()
    rig.health.check()
    rig.writer.last_error = None
    rig.health.check()
    assert rig.kinds() == [EventKind.STORE_WRITE_FAILED, EventKind.STORE_WRITE_RECOVERED]


async def test_checks_run_on_their_tick(rig: Rig, clock: FakeClock) -> None:
    import asyncio

    task = asyncio.create_task(rig.health.run())
    await clock.advance(1)
    rig.free = GIB
    await clock.advance(25)
    assert rig.kinds() == []
    await clock.advance(5)  # t = 31: the second check
    assert rig.kinds() == [EventKind.DISK_LOW]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_downtime_after_an_unclean_stop_is_an_event_and_rows(
    store: SQLiteStore, clock: FakeClock
) -> None:
    t0 = clock.now()
    store.append(
        [Reading.good("fr.a", t0, -80.0), Reading.good("fr.b", t0, -79.0)],
        [Event(t0 - timedelta(seconds=5), EventKind.DAEMON_STARTED, "daemon", "started")],
    )
    sink = Collector()
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(sink)
    now = t0 + timedelta(minutes=10)
    event = record_downtime(
        store,
        pipeline,
        ["fr.a", "fr.b", "fr.new"],
        {"fr.a": 15.0, "fr.b": 15.0, "fr.new": 15.0},
        now,
        last_run_marker(store),
    )
    assert event is not None and event.kind == EventKind.UNCLEAN_RESTART
    assert event.data["downtime_seconds"] == 600.0 and event.data["unclean"] is True
    assert [(r.channel, r.quality) for r in sink.readings] == [
        ("fr.a", Quality.STALE),
        ("fr.b", Quality.STALE),
        ("fr.new", Quality.STALE),
    ]
    assert all(
        r.ts == now and "coldwatch was not running" in (r.detail or "") for r in sink.readings
    )


def test_a_clean_stop_still_leaves_no_hole(store: SQLiteStore, clock: FakeClock) -> None:
    t0 = clock.now()
    store.append(
        [Reading.good("fr.a", t0, -80.0)],
        [Event(t0, EventKind.DAEMON_STOPPED, "daemon", "stopped")],
    )
    sink = Collector()
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(sink)
    event = record_downtime(
        store, pipeline, ["fr.a"], {"fr.a": 15.0}, t0 + timedelta(hours=1), last_run_marker(store)
    )
    assert event is not None and event.kind == EventKind.DOWNTIME
    assert [r.quality for r in sink.readings] == [Quality.STALE]
    # a quick restart inside the interval leaves nothing to mark
    sink.readings.clear()
    record_downtime(
        store, pipeline, ["fr.a"], {"fr.a": 15.0}, t0 + timedelta(seconds=5), last_run_marker(store)
    )
    assert sink.readings == []


def test_a_new_store_has_no_downtime(store: SQLiteStore, clock: FakeClock) -> None:
    marker = last_run_marker(store)
    assert record_downtime(store, Pipeline(Metrics()), ["fr.a"], {}, clock.now(), marker) is None


def _stopped_then_started(
    store: SQLiteStore, clock: FakeClock, stop: StopRecord | None, gap: float
) -> tuple[Event | None, Collector]:
    """One reading and a clean stop (with ``stop`` in its event), then the start ``gap``
    seconds later: the downtime event and what was published."""
    t0 = clock.now()
    data = {"stop": stop.to_json()} if stop is not None else {}
    store.append(
        [Reading.good("fr.a", t0, -80.0)],
        [Event(t0, EventKind.DAEMON_STOPPED, "daemon", "stopped", data)],
    )
    sink = Collector()
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(sink)
    now = t0 + timedelta(seconds=gap)
    event = record_downtime(store, pipeline, ["fr.a"], {"fr.a": 1.5}, now, last_run_marker(store))
    return event, sink


def test_a_planned_stop_names_who_why_and_how_long_in_the_event_and_the_rows(
    store: SQLiteStore, clock: FakeClock
) -> None:
    stop = StopRecord(
        "restart", clock.now(), person="alice", os_user="asmith", reason="new probe on fr-07"
    )
    event, sink = _stopped_then_started(store, clock, stop, 3.0)
    assert event is not None and event.kind == EventKind.DOWNTIME
    assert event.message == (
        "coldwatch was stopped for 3 s (wall clock): restart asked by alice (OS user asmith): "
        "new probe on fr-07"
    )
    assert event.person == "alice"
    assert event.data["downtime_seconds"] == 3.0 and event.data["unclean"] is False
    assert (event.data["planned"], event.data["stopped_by"], event.data["reason"]) == (
        True,
        "alice",
        "new probe on fr-07",
    )
    assert StopRecord.from_json(event.data["stop"]) == stop
    (row,) = sink.readings
    assert row.quality is Quality.STALE and row.detail is not None
    assert row.detail.endswith(
        "coldwatch was not running for 3 s (wall clock): restart asked by alice (OS user asmith): "
        "new probe on fr-07"
    )


def test_a_bare_sigterm_is_recorded_with_its_sender_unknown(
    store: SQLiteStore, clock: FakeClock
) -> None:
    event, sink = _stopped_then_started(
        store, clock, StopRecord("signal", clock.now(), signal="SIGTERM"), 3.0
    )
    assert event is not None and event.kind == EventKind.DOWNTIME
    assert event.message == "coldwatch was stopped for 3 s (wall clock): SIGTERM, sender unknown"
    assert event.person is None
    assert (event.data["planned"], event.data["stopped_by"], event.data["reason"]) == (
        False,
        "sender unknown",
        None,
    )
    (row,) = sink.readings
    assert (row.detail or "").endswith("3 s (wall clock): SIGTERM, sender unknown")


def test_a_stop_recorded_without_who_or_why_reads_as_before(
    store: SQLiteStore, clock: FakeClock
) -> None:
    event, _ = _stopped_then_started(store, clock, None, 60.0)
    assert event is not None and event.message == "coldwatch was stopped for 60 s (wall clock)"
    assert "stop" not in event.data and event.person is None


@pytest.mark.parametrize("reboot", [False, True])
async def test_a_gap_the_wall_clock_hides_still_gets_its_rows(
    store: SQLiteStore, clock: FakeClock, reboot: bool
) -> None:
    """6 h stopped, the wall clock back where it was at the stop (fake-hwclock): on the same
    boot the boot clock says 6 h; rebooted with the clock not synchronised the gap is
    unknown. Either way the channel gets its row: a gap is a row, never a hole."""
    boot = FakeBootClock(clock)
    sink = Collector()
    pipeline = Pipeline(Metrics())
    pipeline.inline.append(sink)
    t0 = clock.now()
    stamp = boot()
    assert stamp is not None
    store.append(
        [Reading.good("fr.a", t0, -80.0)],
        [Event(t0, EventKind.DAEMON_STOPPED, "daemon", "stopped", {"boot": stamp.to_json()})],
    )
    await clock.advance(6 * 3600)
    clock.step_wall(-6 * 3600)
    if reboot:
        boot.reboot("boot-2")
    event = record_downtime(
        store,
        pipeline,
        ["fr.a"],
        {"fr.a": 15.0},
        clock.now(),
        last_run_marker(store),
        here=boot(),
        synchronised=False,
    )
    assert event is not None and event.data["wall_clock_seconds"] == 0.0
    assert event.data["downtime_seconds"] == (None if reboot else 21600.0)
    (row,) = sink.readings
    assert row.quality is Quality.STALE and row.detail is not None
    assert row.detail.endswith(
        "coldwatch was not running for an unknown time (rebooted while stopped and the clock "
        "is not synchronised: the gap cannot be measured; the wall clock says 0 s)"
        if reboot
        else "coldwatch was not running for 21600 s (boot clock; the wall clock says 0 s)"
    )
