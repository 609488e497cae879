"""Timelines for the alarm engine: a real store in tmp_path, a FakeClock, and a harness that
pushes readings at t seconds and remembers every announcement. The fixture that builds them,
``engine_factory``, is in tests/alarms/conftest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.engine import AlarmEngine
from alarms.model import AlarmState, AlarmView, Announcement
from monitor.app.config import Config, load
from monitor.core.clock import FakeClock
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.sqlite import SQLiteStore
from tests.support.fakes import write_config

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


def crash(harness: Harness) -> None:
    """Kill the engine's task without its final flush."""
    task = harness.engine._task
    harness.engine._task = None
    if task is not None:
        task.cancel()


# --- one limit rule on one box: the state-table timelines and others --------------------

KEY = "box.t/lim"


def cfg(**rule: Any) -> dict[str, Any]:
    return {
        "alarms": {
            "equipment": {
                "box": {
                    "rules": {"lim": {"condition": "limit", "channel": "t", "high": 10, **rule}}
                }
            }
        },
        "equipment": [
            {
                "id": "box",
                "kind": "other",
                "channels": [
                    {"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
                ],
            }
        ],
    }


# --- a site on a UPS: the inhibition timelines ------------------------------------------

PARENT = "ups-room.mains/power_failure"


def site(**inhibit: Any) -> dict[str, Any]:
    return {
        "alarms": {
            "equipment": {
                "ups-room": {
                    "rules": {
                        "power_failure": {
                            "condition": "discrete",
                            "channel": "mains",
                            "priority": "critical",
                        }
                    }
                },
                "fr": {"rules": {"no_data": {"after": "2m"}}},
            },
            "inhibit": [
                {
                    "id": "site-power",
                    "when": [PARENT],
                    "suppress": {"equipment": ["fr"], "devices": ["dev"]},
                    **inhibit,
                }
            ],
        },
        "equipment": [
            {"id": "fr", "kind": "ult_freezer", "channels": ULT_CHANNELS},
            {
                "id": "ups-room",
                "kind": "other",
                "channels": [
                    {
                        "id": "mains",
                        "quantity": "power_failure",
                        "unit": "bool",
                        "source": {"device": "ups"},
                    }
                ],
            },
        ],
    }
