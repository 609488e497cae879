"""The MQTT front end on a real (private) Mosquitto, read by the real MqttDriver: JSON state,
the status topic and last will, events, a broken probe and a dropped device."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from monitor.core.model import Quality
from simulators.frontends.mqtt import MqttPublisher
from simulators.simulation import Simulation
from tests.support.mosquitto import Mosquitto, mosquitto  # noqa: F401  (the fixture)
from tests.support.sim_harness import good, quality, read_by_coldwatch, sim_config

pytestmark = pytest.mark.timeout(40)

INCUBATOR = {
    "id": "inc",
    "model": "co2_incubator",
    "frontend": {"type": "mqtt", "topic_prefix": "lab", "interval": 0.2},
}


def simulation(broker: Mosquitto, tmp_path: Path, **kwargs: object) -> Simulation:
    return Simulation(
        sim_config([INCUBATOR]),
        run_dir=tmp_path,
        broker=(broker.host, broker.port),
        run_models=False,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_mqtt_driver_reads_state_and_each_fault(
    mosquitto: Mosquitto,  # noqa: F811
    tmp_path: Path,
) -> None:
    sim = simulation(mosquitto, tmp_path)
    async with sim, read_by_coldwatch(sim, tmp_path) as watch:
        values = sim.devices["inc"].model.values()
        r = await watch.next("inc.co2", good, "co2")
        assert r.value == pytest.approx(values["co2"])
        r = await watch.next("inc.chamber_temp", good, "temperature")
        assert r.value == pytest.approx(values["chamber_temp"])
        sim.set_fault("inc", "door_open")
        assert (await watch.next("inc.door_open", good, "door")).value == 1.0

        sim.set_fault("inc", "sensor_open_circuit")  # published as null
        await watch.next("inc.chamber_temp", quality(Quality.SENSOR_FAULT), "null")
        assert (await watch.next("inc.co2", good, "co2 still good")).value is not None

        sim.set_fault("inc", "comm_drop")  # "offline" on the status topic: device down
        r = await watch.next("inc.co2", quality(Quality.COMM_ERROR), "offline")
        assert "offline" in (r.detail or "")
        sim.clear_fault("inc", "comm_drop")
        await watch.next("inc.co2", good, "online again", timeout=8)


async def test_status_events_and_last_will(mosquitto: Mosquitto, tmp_path: Path) -> None:  # noqa: F811
    sim = simulation(mosquitto, tmp_path)
    frontend = sim.frontends["inc"]
    assert isinstance(frontend, MqttPublisher)
    seen: list[tuple[str, str]] = []
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.subscribe("lab/inc/#")

        async def collect() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                seen.append((str(message.topic), payload.decode()))

        reader = asyncio.create_task(collect())
        try:
            async with sim:
                await asyncio.wait_for(frontend.connected.wait(), 5)
                sim.set_fault("inc", "door_open")
                sim.devices["inc"].model._record("door_alarm", "Door open")  # an event
                sim.advance(1)  # events are drained as the model advances
                await _until(lambda: any(t.endswith("/event") for t, _ in seen))
            await _until(lambda: seen[-1] == ("lab/inc/status", "offline"))  # clean stop
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    assert seen[0] == ("lab/inc/status", "online")
    state = json.loads(next(p for t, p in seen if t == "lab/inc/state"))
    assert set(state) >= {"ts", "chamber_temp", "co2", "rh", "door_open", "power_fail"}
    event = json.loads(next(p for t, p in seen if t == "lab/inc/event"))
    assert event["kind"] == "door_alarm" and event["message"] == "Door open"


async def test_a_killed_simulator_leaves_offline_by_its_last_will(
    mosquitto: Mosquitto,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text(
        f"mqtt: {{host: {mosquitto.host}, port: {mosquitto.port}}}\n"
        "devices:\n"
        "  - {id: inc, model: co2_incubator,\n"
        "     frontend: {type: mqtt, topic_prefix: lab, interval: 0.2}}\n"
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 -- polled below, no child-watcher thread
        [sys.executable, "-m", "monitor.app.cli", "sim", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    statuses: list[str] = []
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.subscribe("lab/inc/status")

            async def collect() -> None:
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    statuses.append(message.payload.decode())

            reader = asyncio.create_task(collect())
            try:
                await _until(lambda: statuses[-1:] == ["online"], timeout=15)
                proc.send_signal(signal.SIGKILL)  # no clean stop: the broker sends the will
                await _until(lambda: statuses[-1:] == ["offline"], timeout=10)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    finally:
        if proc.poll() is None:
            proc.kill()
        while proc.poll() is None:  # noqa: ASYNC110 -- a process, not an event
            await asyncio.sleep(0.02)


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
