"""The MQTT driver under the real coordinator on the system clock, against a real Mosquitto
that is stopped and started again while it runs: readings resume, subscriptions come back
(the broker forgets them: no persistence), and the outage is rows in the record, not a hole.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import EventKind, Quality
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.pipeline import Pipeline
from tests.support.fakes import Collector, fake_config
from tests.support.mosquitto import Mosquitto, running_broker

pytestmark = pytest.mark.timeout(40)

INTERVAL = 0.5


def broker_device(broker: Mosquitto, **settings: Any) -> dict[str, Any]:
    return {
        "id": "broker",
        "driver": "mqtt",
        "interval": INTERVAL,
        "timeout": 0.4,
        "backoff": {"initial": 0.2, "max": 0.5},
        "settings": {
            "host": broker.host,
            "port": broker.port,
            "client_id": "coldwatch-test-broker",
            "subscriptions": [{"topic": "site/+/+/temperature", "channel": "{1}.{2}"}],
            **settings,
        },
    }


CHANNELS = [
    {
        "id": "t",
        "quantity": "temperature",
        "unit": "C",
        "source": {"device": "broker", "topic": "fr/t"},
    },
    # fed by the subscription site/+/+/temperature -> {1}.{2}
    {"id": "cabinet", "quantity": "temperature", "unit": "C", "source": {"device": "broker"}},
]


class Running:
    def __init__(self, coordinator: Coordinator, sink: Collector, metrics: Metrics) -> None:
        self.coordinator = coordinator
        self.sink = sink
        self.metrics = metrics

    async def until(self, condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                tail = [(r.channel, r.quality.value, r.value) for r in self.sink.readings[-8:]]
                raise AssertionError(f"timed out waiting for {what}; last readings {tail}")
            await asyncio.sleep(0.02)

    def has_good(self, channel: str, after: datetime) -> Callable[[], bool]:
        """A condition: the channel has a good reading stamped after ``after``."""

        def check() -> bool:
            return any(r.quality is Quality.GOOD and r.ts > after for r in self.sink.of(channel))

        return check


@contextlib.asynccontextmanager
async def coordinated(tmp_path: Path, device: dict[str, Any]) -> AsyncIterator[Running]:
    loaded = fake_config(tmp_path, [device], CHANNELS)
    metrics = Metrics()
    pipeline = Pipeline(metrics)
    sink = Collector()
    pipeline.inline.append(sink)
    coordinator = Coordinator(loaded, pipeline, SystemClock(), metrics)
    await coordinator.start()
    try:
        yield Running(coordinator, sink, metrics)
    finally:
        await coordinator.stop()


@contextlib.asynccontextmanager
async def publishing(broker: Mosquitto, period: float = 0.1) -> AsyncIterator[None]:
    """Both channels' devices publish every ``period``, riding out the broker's absence."""

    async def run() -> None:
        i = 0
        while True:
            i += 1
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await broker.publish_many(
                    [("fr/t", str(-80 - i / 1000)), ("site/fr/cabinet/temperature", "-79.5")],
                    timeout=0.5,
                )
            await asyncio.sleep(period)

    task = asyncio.create_task(run(), name="test-publisher")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_broker_restart_under_the_coordinator(tmp_path: Path) -> None:
    async with (
        running_broker(tmp_path / "b") as broker,
        coordinated(tmp_path, broker_device(broker)) as run,
        publishing(broker),
    ):
        start = datetime.now(UTC)
        for channel in ("fr.t", "fr.cabinet"):
            await run.until(run.has_good(channel, start), f"{channel}", 5)
        await broker.publish("site/ghost/probe/temperature", "1")  # not bound: dropped, counted
        await run.until(lambda: run.metrics.get("readings_unknown_channel") >= 1, "drop", 3)

        await broker.stop()
        down = datetime.now(UTC)
        await asyncio.sleep(4 * INTERVAL)
        await broker.start()  # same port, no persistence: the session and subscriptions are gone
        up = datetime.now(UTC)
        for channel in ("fr.t", "fr.cabinet"):
            await run.until(run.has_good(channel, up), f"{channel} again", 8)

    state = run.coordinator.states()["broker"]
    assert state.online is True and state.failures >= 1
    for channel in ("fr.t", "fr.cabinet"):
        during = [r for r in run.sink.of(channel) if down < r.ts < up]
        assert len(during) >= 2, f"{channel}: the outage must be rows, not a hole: {during}"
        assert all(r.quality in (Quality.COMM_ERROR, Quality.STALE) for r in during), during
        assert any(r.quality is Quality.COMM_ERROR for r in during)
    kinds = [e.kind for e in run.sink.events]
    assert EventKind.DEVICE_DOWN in kinds
    assert kinds.index(EventKind.DEVICE_UP, kinds.index(EventKind.DEVICE_DOWN)) > 0


async def test_status_topic_under_the_coordinator(tmp_path: Path) -> None:
    """The gateway's status says offline: the device is down and its quiet channels get
    comm_error rows; online again: the device is back."""
    async with running_broker(tmp_path / "b") as broker:
        await broker.publish("gw/status", "online", retain=True)
        async with coordinated(tmp_path, broker_device(broker, status_topic="gw/status")) as run:
            await run.until(lambda: run.coordinator.states()["broker"].online is True, "up", 3)
            await broker.publish("gw/status", "offline", retain=True)
            await run.until(lambda: run.coordinator.states()["broker"].online is False, "down", 3)
            offline_at = datetime.now(UTC)
            await run.until(
                lambda: any(
                    r.quality is Quality.COMM_ERROR and r.ts > offline_at
                    for r in run.sink.of("fr.t")
                ),
                "comm_error rows while the gateway is offline",
                3,
            )
            await broker.publish("gw/status", "online", retain=True)
            await run.until(lambda: run.coordinator.states()["broker"].online is True, "up", 3)
        down = [e for e in run.sink.events if e.kind == EventKind.DEVICE_DOWN]
        assert down and "status topic gw/status says offline" in down[0].message
