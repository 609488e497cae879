"""Timelines for the alarm engine: a real store in tmp_path, a FakeClock, and a harness that
pushes readings at t seconds and remembers every announcement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.engine import AlarmEngine
from alarms.model import AlarmState, AlarmView, Announcement
from monitor.app.config import Config, load
from monitor.core.clock import FakeClock
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.sqlite import SQLiteStore
from tests.fakes import write_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

ULT_CHANNELS: list[dict[str, Any]] = [
    {"id": "temp", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}},
    {"id": "door", "quantity": "door_open", "unit": "bool", "source": {"device": "dev"}},
    {"id": "power", "quantity": "power_failure", "unit": "bool", "source": {"device": "dev"}},
    {"id": "status", "quantity": "status_code", "unit": "code", "source": {"device": "dev"}},
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def config_data(
    alarms: dict[str, Any] | None = None,
    equipment: list[dict[str, Any]] | None = None,
    devices: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "site": {"id": "test", "name": "Test site"},
        "devices": devices
        or [{"id": "dev", "driver": "fake", "interval": 10}, {"id": "ups", "driver": "fake"}],
        "locations": [
            {
                "id": "room",
                "equipment": equipment
                or [{"id": "fr", "kind": "ult_freezer", "channels": ULT_CHANNELS}],
            }
        ],
        "alarms": alarms if alarms is not None else {},
    }


def make_config(tmp_path: Path, **kwargs: Any) -> Config:
    path = write_config(tmp_path, config_data(**kwargs), name="alarms.yaml")
    return load(path).config


class Harness:
    """One engine on a FakeClock; ``push`` readings at t seconds after T0."""

    def __init__(self, engine: AlarmEngine, clock: FakeClock, store: SQLiteStore) -> None:
        self.engine = engine
        self.clock = clock
        self.store = store
        self.announced: list[Announcement] = []
        engine.subscribe(self.announced.append)

    @property
    def t(self) -> float:
        return (self.clock.now() - T0).total_seconds()

    async def to(self, seconds: float) -> None:
        """Move the clock to T0 + seconds, waking the engine's timers on the way."""
        if seconds > self.t:
            await self.clock.advance(seconds - self.t)
        else:
            await self.clock.settle()

    async def push(
        self,
        channel: str,
        value: float | str | None,
        t: float | None = None,
        quality: Quality = Quality.GOOD,
        flags: int = 0,
    ) -> None:
        """A reading stamped T0 + t (default: now), given to the engine at the current time
        (or, if t is ahead, once the clock gets there)."""
        if t is not None and t > self.t:
            await self.to(t)
        ts = at(t) if t is not None else self.clock.now()
        if quality is Quality.GOOD:
            reading = Reading(channel, ts, value, Quality.GOOD, flags)
        else:
            reading = Reading(channel, ts, None, quality, flags, "probe says so")
        self.engine.on_reading(reading)
        await self.clock.settle()

    async def event(self, kind: str, source: str, t: float | None = None) -> None:
        if t is not None:
            await self.to(t)
        self.engine.on_event(Event(self.clock.now(), kind, source, f"{source}: {kind}"))
        await self.clock.settle()

    async def device_down(self, device: str = "dev", t: float | None = None) -> None:
        await self.event(EventKind.DEVICE_DOWN, device, t)

    async def device_up(self, device: str = "dev", t: float | None = None) -> None:
        await self.event(EventKind.DEVICE_UP, device, t)

    def state(self, key: str) -> AlarmState:
        return self.engine.get(key).state

    def view(self, key: str) -> AlarmView:
        return self.engine.get(key)

    def kinds(self, key: str | None = None) -> list[str]:
        return [
            a.kind.value
            for a in self.announced
            if key is None or (a.alarm is not None and a.alarm.key == key)
        ]

    def take(self) -> list[tuple[str, str | None]]:
        out = [(a.kind.value, a.alarm.key if a.alarm else None) for a in self.announced]
        self.announced.clear()
        return out


Factory = Callable[..., Awaitable[Harness]]

# what config/alarms-example.yaml reads from the environment (as in tests/core/test_config.py):
# its secrets are resolved when it is loaded, so the tests that load it need them set
EXAMPLE_SECRETS = {
    "TWILIO_AUTH_TOKEN": "not-a-real-token",
    "SMTP_PASSWORD": "not-a-real-password",
    **{f"PIN_{name}": "4711" for name in ("ALICE", "BOB", "CAROL", "SAM", "MARIA", "QUINN")},
}


@pytest.fixture(autouse=True)
def _example_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def engine_factory(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Factory]:
    """``await make(alarms=..., equipment=...)``; ``await make(..., restart=True)`` builds a
    new engine (and store connection) on the same file, as after a crash."""
    harnesses: list[Harness] = []
    stores: list[SQLiteStore] = []
    path = tmp_path / "cw.db"

    async def make(restart: bool = False, start: bool = True, **kwargs: Any) -> Harness:
        if restart and harnesses:
            crash(harnesses[-1])
        cfg_dir = tmp_path / f"cfg{len(harnesses)}"
        cfg_dir.mkdir()
        config = make_config(cfg_dir, **kwargs)
        store = SQLiteStore(path, now=clock.now)
        store.open()
        stores.append(store)
        engine = AlarmEngine(config, store, clock, person="tester")
        harness = Harness(engine, clock, store)
        harnesses.append(harness)
        if start:
            await engine.start()
            await clock.settle()
        return harness

    yield make
    for harness in harnesses:
        task = harness.engine._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    for store in stores:
        store.close()


def crash(harness: Harness) -> None:
    """Kill the engine's task without its final flush."""
    task = harness.engine._task
    harness.engine._task = None
    if task is not None:
        task.cancel()
