"""The store writer: batching, the commit deadline, overflow as a gap event, failures retried."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.core.clock import FakeClock, SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Reading
from monitor.runtime.pipeline import Pipeline
from monitor.store.base import BatchInfo, StoreError
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter


class GatedStore(SQLiteStore):
    """A real SQLite store whose writes can be held up or made to fail."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = 0
        self.calls = 0

    def append(self, readings: Sequence[Reading], events: Sequence[Event] = ()) -> BatchInfo | None:
        self.calls += 1
        assert self.gate.wait(10), "test gate never opened"
        if self.fail_next:
            self.fail_next -= 1
            raise StoreError("disk I/O error")
        return super().append(readings, events)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatedStore]:
    s = GatedStore(tmp_path / "cw.db")
    s.open()
    yield s
    s.gate.set()
    s.close()


def readings(clock: FakeClock, channel: str, n: int, start: int = 0) -> list[Reading]:
    t0 = clock.now()
    return [Reading.good(channel, t0 + timedelta(seconds=start + i), float(i)) for i in range(n)]


async def test_commits_at_least_once_a_second(store: GatedStore, clock: FakeClock) -> None:
    writer = StoreWriter(store, clock, Metrics(), max_batch=1000, commit_interval=1.0)
    await writer.start()
    for r in readings(clock, "fr.t", 5):
        writer.offer(r)
    await clock.advance(0.5)
    await asyncio.sleep(0.05)
    await clock.advance(0.6)
    for _ in range(100):
        if len(store.readings("fr.t")) == 5:
            break
        await asyncio.sleep(0.01)
    assert len(store.readings("fr.t")) == 5
    await writer.stop()


async def test_a_full_batch_commits_at_once(store: GatedStore) -> None:
    writer = StoreWriter(store, SystemClock(), Metrics(), max_batch=100, commit_interval=1.0)
    await writer.start()
    clock = FakeClock()
    for r in readings(clock, "fr.t", 250):
        writer.offer(r)
    for _ in range(100):
        if len(store.readings("fr.t")) >= 200:
            break
        await asyncio.sleep(0.005)
    assert len(store.readings("fr.t")) >= 200  # two full batches did not wait for the deadline
    await writer.stop()
    assert len(store.readings("fr.t")) == 250


async def test_overflow_is_counted_and_recorded_as_a_gap(store: GatedStore) -> None:
    metrics = Metrics()
    writer = StoreWriter(
        store, SystemClock(), metrics, queue_size=100, max_batch=50, commit_interval=0.05
    )
    pipeline = Pipeline(metrics)
    pipeline.queued.append(writer)
    await pipeline.start()
    clock = FakeClock()
    store.gate.clear()  # the disk stalls
    first = readings(clock, "fr.a", 50)
    for r in first:
        pipeline.publish(r)
    for _ in range(200):
        if store.calls:
            break
        await asyncio.sleep(0.005)
    assert store.calls == 1 and writer.backlog == 0  # the writer holds 50 in flight
    later_a = readings(clock, "fr.a", 80, start=50)
    later_b = readings(clock, "fr.b", 80, start=50)
    for ra, rb in zip(later_a, later_b, strict=True):
        pipeline.publish(ra)  # polling goes on: publish never blocks
        pipeline.publish(rb)
    assert writer.backlog == 100
    assert metrics.get("store_queue_overflow") == 60
    assert metrics.get("dropped_readings.store") == 60
    store.gate.set()
    await pipeline.stop()
    stored = len(store.readings("fr.a")) + len(store.readings("fr.b"))
    assert stored == 50 + 160 - 60
    (gap,) = store.events(kinds=[EventKind.GAP])
    lost = gap.data["lost"]
    stored_a = {r.ts for r in store.readings("fr.a")}
    stored_b = {r.ts for r in store.readings("fr.b")}
    lost_a = [r.ts.isoformat() for r in later_a if r.ts not in stored_a]
    lost_b = [r.ts.isoformat() for r in later_b if r.ts not in stored_b]
    assert lost["fr.a"]["times"] == lost_a and lost["fr.b"]["times"] == lost_b
    assert lost["fr.a"]["count"] + lost["fr.b"]["count"] == 60
    assert "60 readings of 2 channels" in gap.message


async def test_a_failed_commit_is_retried_without_loss(store: GatedStore) -> None:
    metrics = Metrics()
    writer = StoreWriter(store, SystemClock(), metrics, max_batch=10, commit_interval=0.02)
    store.fail_next = 2
    await writer.start()
    clock = FakeClock()
    for r in readings(clock, "fr.t", 30):
        writer.offer(r)
    await writer.stop()
    assert metrics.get("store_write_failures") == 2
    assert [r.value for r in store.readings("fr.t")] == [float(i) for i in range(30)]
    assert store.verify().ok


async def test_a_value_the_store_refuses_becomes_a_bad_row(store: GatedStore) -> None:
    metrics = Metrics()
    writer = StoreWriter(store, SystemClock(), metrics, max_batch=10, commit_interval=0.02)
    await writer.start()
    clock = FakeClock()
    rows = readings(clock, "fr.t", 3)
    rows[1] = Reading.good("fr.t", rows[1].ts, float("nan"))  # a driver bug let a NaN through
    for r in rows:
        writer.offer(r)
    await writer.stop()
    stored = store.readings("fr.t")
    assert [r.value for r in stored] == [0.0, None, 2.0]
    assert stored[1].quality.value == "sensor_fault" and "nan" in (stored[1].detail or "")
    assert metrics.get("store_refused_values") == 1
