"""Coordinator timelines on the injected clock: schedule, timeouts, backoff, availability."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.core.model import FLAG_CALIBRATION_OVERDUE, EventKind, Quality
from monitor.runtime.coordinator import Coordinator, stagger_offset
from monitor.runtime.pipeline import Pipeline
from tests.support.fakes import Collector, FakePolled, FakeStreaming, fake_config


def dev(id: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "driver": "fake",
        "interval": 10,
        "timeout": 3,
        "backoff": {"initial": 20, "max": 40},
        **kw,
    }


def chan(id: str, device: str, value: Any = -80.0, **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "quantity": "temperature",
        "unit": "C",
        "source": {"device": device, "value": value},
        **kw,
    }


class Harness:
    def __init__(self, coordinator: Coordinator, sink: Collector, clock: FakeClock) -> None:
        self.coordinator = coordinator
        self.sink = sink
        self.clock = clock

    def offset(self, device: str) -> float:
        return stagger_offset(device, self.coordinator.loaded.config.device(device).interval)


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Any]:
    holder: dict[str, Any] = {}

    async def start(devices: list[dict[str, Any]], channels: list[dict[str, Any]]) -> Harness:
        loaded = fake_config(tmp_path, devices, channels)
        metrics = Metrics()
        pipeline = Pipeline(metrics)
        sink = Collector()
        pipeline.inline.append(sink)
        coordinator = Coordinator(loaded, pipeline, clock, metrics)
        await coordinator.start()
        holder["c"] = coordinator
        return Harness(coordinator, sink, clock)

    yield start
    if "c" in holder:
        await holder["c"].stop()


async def test_polls_follow_the_schedule_without_drift(harness: Any, clock: FakeClock) -> None:
    h = await harness([dev("a", settings={"read_time": 2.5})], [chan("t", "a")])
    await clock.advance(100)
    driver = FakePolled.instances["a"]
    offset = h.offset("a")
    expected = [offset + 10 * n for n in range(11) if offset + 10 * n <= 100]
    assert driver.read_times == pytest.approx(expected)
    good = h.sink.of("fr.t")
    assert len(good) == len([t for t in expected if t + 2.5 <= 100])
    assert all(r.quality is Quality.GOOD and r.value == -80.0 for r in good)


async def test_schedules_are_staggered_across_the_interval() -> None:
    offsets = {stagger_offset(f"freezer-{i}", 1.0) for i in range(1000)}
    buckets = {int(o * 10) for o in offsets}
    assert len(offsets) > 990 and buckets == set(range(10))


async def test_a_hung_device_does_not_delay_another(harness: Any, clock: FakeClock) -> None:
    h = await harness([dev("hung"), dev("ok")], [chan("h", "hung"), chan("o", "ok")])
    FakePolled.instances["hung"].mode = "hang"
    await clock.advance(60)
    ok = FakePolled.instances["ok"]
    offset = h.offset("ok")
    assert ok.read_times == pytest.approx(
        [offset + 10 * n for n in range(6) if offset + 10 * n <= 60]
    )
    assert all(r.quality is Quality.GOOD for r in h.sink.of("fr.o"))
    hung = h.sink.of("fr.h")
    # every due poll is a row, even while backing off: a gap is never a hole
    assert len(hung) == len(ok.read_times) or abs(len(hung) - len(ok.read_times)) <= 1
    assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in hung)
    assert "no answer within 3 s" in (hung[0].detail or "")
    downs = [e for e in h.sink.events if e.kind == EventKind.DEVICE_DOWN]
    assert [e.source for e in downs] == ["hung"]


async def test_a_driver_that_ignores_its_timeout_is_replaced(
    harness: Any, clock: FakeClock
) -> None:
    h = await harness([dev("deaf"), dev("ok")], [chan("d", "deaf"), chan("o", "ok")])
    first = FakePolled.instances["deaf"]
    first.mode = "deaf"
    await clock.advance(h.offset("deaf") + 0.1)  # the read starts and never gives up
    await clock.advance(10)
    assert FakePolled.instances["deaf"] is not first  # a fresh driver took over
    rows = h.sink.of("fr.d")
    assert rows and rows[0].quality is Quality.COMM_ERROR
    assert "driver wedged" in (rows[0].detail or "")
    await clock.advance(40)
    assert h.sink.of("fr.d")[-1].quality is Quality.GOOD  # the new instance reads again
    assert all(r.quality is Quality.GOOD for r in h.sink.of("fr.o"))
    assert h.coordinator.metrics.get("drivers_replaced") == 1
    first.release.set()
    await clock.advance(1)


async def test_backoff_skips_attempts_but_never_skips_rows(harness: Any, clock: FakeClock) -> None:
    h = await harness([dev("a")], [chan("t", "a")])
    driver = FakePolled.instances["a"]
    driver.mode = "fail"
    offset = h.offset("a")
    await clock.advance(offset + 95)  # polls at offset + 0, 10, ..., 90
    # attempts: t0 fails -> retry after 20 s (t20), fails -> 40 s (t60), fails -> 40 s (t100)
    attempts = [t - offset for t in [c for c in driver.read_times]] if driver.read_times else []
    assert attempts == []  # connect fails before read
    assert driver.connects == 3
    rows = h.sink.of("fr.t")
    assert len(rows) == 10
    assert all(r.quality is Quality.COMM_ERROR for r in rows)
    assert len([e for e in h.sink.events if e.kind == EventKind.DEVICE_DOWN]) == 1
    driver.mode = "ok"
    await clock.advance(10)  # t100: the retry is due and succeeds
    assert h.sink.of("fr.t")[-1].quality is Quality.GOOD
    ups = [e for e in h.sink.events if e.kind == EventKind.DEVICE_UP]
    assert len(ups) == 1 and ups[0].data["after_failures"] == 3
    assert h.coordinator.states()["a"].online is True


async def test_recovery_is_logged_once(
    harness: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    h = await harness([dev("a", backoff={"initial": 1, "max": 1})], [chan("t", "a")])
    driver = FakePolled.instances["a"]
    driver.mode = "fail"
    await clock.advance(h.offset("a") + 55)
    driver.mode = "ok"
    await clock.advance(30)
    messages = [r.getMessage() for r in caplog.records if r.name == "monitor.runtime.coordinator"]
    assert sum("not communicating" in m for m in messages) == 1
    assert sum("recovered" in m for m in messages) == 1


async def test_missed_polls_are_recorded_as_stale(harness: Any, clock: FakeClock) -> None:
    h = await harness([dev("a")], [chan("t", "a")])
    await clock.advance(h.offset("a") + 1)  # first poll done
    await clock.jump(35)  # the loop was held up for 35 s
    await clock.advance(0.1)
    rows = h.sink.of("fr.t")
    qualities = [r.quality for r in rows]
    # slots 10 and 20 were missed whole; slot 30 is polled late (6 s) but polled
    assert qualities == [Quality.GOOD, Quality.STALE, Quality.STALE, Quality.GOOD]
    start = rows[0].ts
    assert [(r.ts - start).total_seconds() for r in rows[1:3]] == pytest.approx([10, 20])
    assert h.coordinator.states()["a"].skipped_polls == 2
    await clock.advance(10)  # back on the original grid
    assert h.sink.of("fr.t")[-1].quality is Quality.GOOD
    driver = FakePolled.instances["a"]
    assert (driver.read_times[-1] - h.offset("a")) % 10 == pytest.approx(0)


async def test_channel_checks_apply_to_every_reading(harness: Any, clock: FakeClock) -> None:
    h = await harness(
        [dev("a")],
        [
            chan("nan", "a", value=math.nan),
            chan("sentinel", "a", value=-999.9, sentinels=[-999.9]),
            chan("hot", "a", value=300.0),
            chan("narrow", "a", value=-20.0, range={"min": -100, "max": -30}),
            chan("cal", "a", value=-80.0, sensor={"serial": "S1", "calibration_due": "2026-02-01"}),
            chan("exc", "a", value=None),
        ],
    )
    await clock.advance(h.offset("a") + 1)
    by = {r.channel: r for r in h.sink.readings}
    assert by["fr.nan"].quality is Quality.SENSOR_FAULT and by["fr.nan"].value is None
    assert by["fr.sentinel"].quality is Quality.SENSOR_FAULT
    assert by["fr.hot"].quality is Quality.OUT_OF_RANGE and by["fr.hot"].value is None
    assert by["fr.narrow"].quality is Quality.OUT_OF_RANGE
    assert by["fr.cal"].quality is Quality.GOOD and by["fr.cal"].value == -80.0
    assert by["fr.cal"].flags & FLAG_CALIBRATION_OVERDUE
    assert by["fr.exc"].quality is Quality.COMM_ERROR and by["fr.exc"].detail == "exception 2"


async def test_a_channel_the_driver_skipped_is_a_bad_row(harness: Any, clock: FakeClock) -> None:
    h = await harness([dev("a")], [chan("x", "a"), chan("y", "a")])
    FakePolled.instances["a"].mode = "partial"
    await clock.advance(h.offset("a") + 1)
    by = {r.channel: r for r in h.sink.readings}
    assert by["fr.x"].quality is Quality.COMM_ERROR and by["fr.y"].quality is Quality.GOOD


def sdev(id: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": id,
        "driver": "fake_stream",
        "interval": 10,
        "timeout": 3,
        "backoff": {"initial": 5, "max": 5},
        **kw,
    }


async def test_a_quiet_streaming_channel_becomes_stale_once_per_interval(
    harness: Any, clock: FakeClock
) -> None:
    h = await harness([sdev("s")], [chan("t", "s", stale_after=25)])
    await clock.advance(0.1)
    driver = FakeStreaming.instances["s"]
    driver.push("fr.t", -79.5)
    await clock.advance(20)
    assert [r.quality for r in h.sink.of("fr.t")] == [Quality.GOOD]
    await clock.advance(40)  # quiet since t=0.1: stale rows at t=30, 40, 50, 60
    rows = h.sink.of("fr.t")
    assert [r.quality for r in rows] == [Quality.GOOD] + [Quality.STALE] * 4
    driver.push("fr.t", -79.0)
    await clock.advance(10)
    assert h.sink.of("fr.t")[-1].quality is Quality.GOOD


async def test_streaming_reconnects_with_backoff_and_marks_gap(
    harness: Any, clock: FakeClock
) -> None:
    h = await harness([sdev("s")], [chan("t", "s")])
    await clock.advance(0.1)
    driver = FakeStreaming.instances["s"]
    driver.push("fr.t", -80.0)
    driver.refuse = True
    driver.drop()
    await clock.advance(30)  # reconnect attempts every 5 s, all refused
    assert driver.connects >= 5
    rows = h.sink.of("fr.t")[1:]
    assert rows and all(r.quality is Quality.COMM_ERROR for r in rows)
    driver.refuse = False
    await clock.advance(5)
    assert driver.connected
    driver.push("fr.t", -80.1)
    assert h.sink.of("fr.t")[-1].quality is Quality.GOOD
    kinds = [e.kind for e in h.sink.events]
    assert kinds.count(EventKind.DEVICE_DOWN) == 1 and kinds.count(EventKind.DEVICE_UP) == 2
