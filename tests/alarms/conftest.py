"""Fixtures of the alarm tests: the example's secrets in the environment, and
``engine_factory`` (the builders are in tests/support/alarm_engine.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alarms.engine import AlarmEngine
from monitor.core.clock import FakeClock
from monitor.store.sqlite import SQLiteStore
from tests.support.alarm_engine import Factory, Harness, crash, make_config

# what config/alarms-example.yaml reads from the environment (as in
# tests/monitor/config/test_loader.py): its secrets are resolved when it is loaded, so the tests
# that load it need them set
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
