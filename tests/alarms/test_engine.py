"""The engine as the pipeline's inline consumer, fed by the real coordinator and a fake device."""

from __future__ import annotations

from pathlib import Path

from alarms.engine import AlarmEngine
from alarms.model import AlarmState, Announcement
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.pipeline import Pipeline
from monitor.store.sqlite import SQLiteStore
from tests.support.fakes import FakePolled, fake_config


async def test_a_warming_freezer_and_a_dead_device_through_the_pipeline(
    tmp_path: Path, clock: FakeClock
) -> None:
    loaded = fake_config(
        tmp_path,
        [{"id": "a", "driver": "fake", "interval": 10, "timeout": 3}],
        [
            {
                "id": "temp",
                "quantity": "temperature",
                "unit": "C",
                "source": {"device": "a", "value": -80.0},
            }
        ],
        alarms={"equipment": {"fr": {"rules": {"warm": {"on_delay": "1m"}}}}},
    )
    store = SQLiteStore(tmp_path / "cw.db", now=clock.now)
    store.open()
    pipeline = Pipeline(Metrics())
    engine = AlarmEngine(loaded.config, store, clock, config_sha=loaded.sha256)
    pipeline.inline.append(engine)
    heard: list[Announcement] = []
    engine.subscribe(heard.append)
    coordinator = Coordinator(loaded, pipeline, clock)
    await engine.start()
    await coordinator.start()
    try:
        await clock.advance(30)
        driver = FakePolled.instances["a"]
        driver.values["fr.temp"] = -62.0
        await clock.advance(90)
        assert engine.get("fr.temp/warm").state is AlarmState.UNACK
        driver.mode = "fail"
        await clock.advance(30)
        assert engine.get("a/comm_loss").state is AlarmState.UNACK
        assert engine.get("fr.temp/warm").active  # bad readings never clear it
        driver.mode = "ok"
        await clock.advance(60)
        assert engine.get("a/comm_loss").state is AlarmState.RTN_UNACK
        kinds = [(a.kind.value, a.alarm.key if a.alarm else "") for a in heard]
        assert ("raised", "fr.temp/warm") in kinds and ("raised", "a/comm_loss") in kinds
        assert ("returned-to-normal", "a/comm_loss") in kinds
    finally:
        await coordinator.stop()
        await engine.stop()
        store.close()
