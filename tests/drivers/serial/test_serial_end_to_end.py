"""The serial driver under a real Coordinator on the system clock, against fake devices
that go away and come back: the outage must be recorded as rows, never as a hole."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import EventKind, Quality, Reading
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.pipeline import Pipeline
from tests.support.fakes import Collector, fake_config
from tests.support.serial_peer import LineDevice, PtyPeer, TcpPeer, forma_frame

INTERVAL = 0.2


def device(id: str, settings: dict[str, Any], interval: float = INTERVAL) -> dict[str, Any]:
    return {
        "id": id,
        "driver": "serial",
        "interval": interval,
        "timeout": interval * 0.75,
        "backoff": {"initial": 0.1, "max": 0.2},
        "settings": settings,
    }


class WaitingCollector(Collector):
    """A collector a test can wait on: woken by every reading."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def on_reading(self, reading: Reading) -> None:
        super().on_reading(reading)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, devices: list[dict[str, Any]], channels: list[dict[str, Any]]
) -> AsyncIterator[WaitingCollector]:
    loaded = fake_config(tmp_path, devices, channels)
    metrics = Metrics()
    pipeline = Pipeline(metrics)
    sink = WaitingCollector()
    pipeline.inline.append(sink)
    coordinator = Coordinator(loaded, pipeline, SystemClock(), metrics)
    await coordinator.start()
    try:
        yield sink
    finally:
        await coordinator.stop()


def qualities(rows: list[Reading]) -> list[Quality]:
    """Runs of equal quality, collapsed: [GOOD, COMM_ERROR, GOOD] for an outage."""
    runs: list[Quality] = []
    for row in rows:
        if not runs or runs[-1] is not row.quality:
            runs.append(row.quality)
    return runs


async def test_query_device_outage_is_rows_and_polling_resumes(tmp_path: Path) -> None:
    peer = TcpPeer(LineDevice({"CALVL?": "+123.4", "FILL?": "ON"}))
    await peer.start()
    settings = {"mode": "query", "port": peer.url, "response_timeout": 0.1}
    channels = [
        {
            "id": "level",
            "quantity": "ln2_level",
            "unit": "mm",
            "source": {"device": "tec", "command": "CALVL?"},
        },
        {
            "id": "fill",
            "quantity": "fill_valve_open",
            "unit": "bool",
            "source": {
                "device": "tec",
                "command": "FILL?",
                "pattern": "(?P<value>ON|OFF)",
                "map": {"ON": 1, "OFF": 0},  # quoted keys (as JSON-ish YAML from safe_dump)
            },
        },
    ]
    try:
        async with running(tmp_path, [device("tec", settings)], channels) as sink:

            def level() -> list[Reading]:
                return sink.of("fr.level")

            await sink.until(lambda: len(level()) >= 3)
            await peer.stop()  # the serial server goes away
            await sink.until(lambda: sum(r.quality is Quality.COMM_ERROR for r in level()) >= 4)
            await peer.start()  # a new one on the same port
            await sink.until(lambda: level()[-1].quality is Quality.GOOD and len(level()) >= 10)
            await asyncio.sleep(2 * INTERVAL)
    finally:
        await peer.stop()

    rows = sink.of("fr.level")
    assert qualities(rows) == [Quality.GOOD, Quality.COMM_ERROR, Quality.GOOD]
    assert {r.value for r in rows if r.quality is Quality.GOOD} == {123.4}
    assert {r.value for r in sink.of("fr.fill") if r.quality is Quality.GOOD} == {1.0}
    bad = [r for r in rows if r.quality is Quality.COMM_ERROR]
    assert all(r.value is None and r.detail for r in bad)
    assert any("cannot open" in (r.detail or "") for r in bad)
    gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(rows)]
    assert max(gaps) < INTERVAL * 1.75  # one row per due poll, outage included
    kinds = [e.kind for e in sink.events]
    assert kinds.count(EventKind.DEVICE_DOWN) == 1 and kinds.count(EventKind.DEVICE_UP) == 2


async def test_push_device_unplugged_and_replugged(tmp_path: Path) -> None:
    peer = PtyPeer(link=tmp_path / "ttyForma")
    await peer.start()
    settings = {
        "mode": "push",
        "port": peer.path,
        "baudrate": 1200,
        "stopbits": 2,
        "receive_terminator": r"\x04",
        "strip": r"\0",
        "events": [{"pattern": "UNDERTEMP", "kind": "undertemp", "suppress_repeats": True}],
    }
    channels = [
        {
            "id": "cabinet",
            "quantity": "temperature",
            "unit": "C",
            "source": {
                "device": "forma",
                "pattern": r"-\s*(?P<value>-?\d+)\s*C",
                "fault_patterns": ["T_ERR"],
            },
        }
    ]
    interval = 0.3

    async def pushing() -> None:
        while True:
            peer.write(forma_frame(-85, "UNDERTEMP"))
            await asyncio.sleep(0.05)

    pusher = asyncio.create_task(pushing(), name="forma-pusher")
    try:
        async with running(tmp_path, [device("forma", settings, interval)], channels) as sink:

            def cabinet() -> list[Reading]:
                return sink.of("fr.cabinet")

            await sink.until(lambda: len(cabinet()) >= 5)
            await peer.vanish()  # the USB adapter is pulled out
            await sink.until(lambda: sum(r.quality is Quality.COMM_ERROR for r in cabinet()) >= 3)
            await peer.start()  # plugged in again under the same /dev/serial/by-id-like name
            await sink.until(lambda: cabinet()[-1].quality is Quality.GOOD)
            await asyncio.sleep(0.2)
    finally:
        pusher.cancel()
        await asyncio.gather(pusher, return_exceptions=True)
        await peer.stop()

    rows = sink.of("fr.cabinet")
    assert qualities(rows) == [Quality.GOOD, Quality.COMM_ERROR, Quality.GOOD]
    assert {r.value for r in rows if r.quality is Quality.GOOD} == {-85.0}
    bad = [r for r in rows if r.quality is Quality.COMM_ERROR]
    assert all((r.detail or "").startswith("device down:") for r in bad)
    outage = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(rows)]
    # The silence timer fills the outage with rows: the first one comes at most two ticks
    # after the last frame (the channel must have been quiet for a whole interval).
    assert sum(outage) > 3 * interval and max(outage) < interval * 2.5
    events = [e for e in sink.events if e.kind == EventKind.DEVICE_EVENT]
    # UNDERTEMP repeats in every frame: one event per connection, not one per frame
    assert [e.data["device_event"] for e in events] == ["undertemp", "undertemp"]
    kinds = [e.kind for e in sink.events]
    assert kinds.count(EventKind.DEVICE_DOWN) == 1 and kinds.count(EventKind.DEVICE_UP) >= 2
