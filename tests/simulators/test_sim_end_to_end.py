"""Simulators and the coldwatch daemon together: every fault kind, injected through the
control endpoint, seen in the stored readings (values and qualities).

All protocol I/O is real (TCP, pseudo-terminals, a private Mosquitto); model time runs at
10x and is fast-forwarded through the control endpoint where physics needs hours.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app.config import load
from monitor.app.daemon import Daemon
from monitor.core.model import Quality, Reading
from monitor.store.base import Store
from monitor.store.factory import open_store
from simulators.broker import PrivateBroker, mosquitto_binary
from simulators.coldwatch_config import coldwatch_config, write_config
from simulators.control_client import call
from simulators.runner import serving
from simulators.simulation import Simulation
from tests.support.sim_harness import sim_config

pytestmark = pytest.mark.timeout(60)

DEVICES = [
    {"id": "ult", "model": "ult_freezer", "frontend": {"type": "modbus", "map": "tsx"}},
    {
        "id": "forma",
        "model": "ult_freezer",
        "frontend": {"type": "forma900", "line": "socket", "interval": 0.2},
    },
    {
        "id": "dewar",
        "model": "ln2_dewar",
        "params": {"initial_level_mm": 100.2, "boil_off_mm_per_day": 200},
        "frontend": {"type": "tec3000", "link": "tty/dewar"},
    },
    {
        "id": "inc",
        "model": "co2_incubator",
        "frontend": {"type": "modbus", "map": "vaisala", "transport": "rtu", "unit": 240},
    },
    {
        "id": "crf",
        "model": "controlled_rate_freezer",
        "frontend": {
            "type": "modbus",
            "map": "tsx",
            "transport": "ascii",
            "line": "pty",
            "bind": {"tc2": "sample_temp"},
        },
    },
    {
        "id": "inc2",
        "model": "co2_incubator",
        "frontend": {"type": "mqtt", "interval": 0.2},
    },
]
#: The primary temperature channel of each device, where a broken probe shows.
PROBE = {
    "ult": "ult.cabinet_temp",
    "forma": "forma.cabinet_temp",
    "dewar": "dewar.temperature",
    "inc": "inc.co2",  # the Vaisala transmitter is the probe: all its values go NaN
    "crf": "crf.cabinet_temp",
    "inc2": "inc2.chamber_temp",
}


class Record:
    """The daemon's store, read while it writes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def rows(self, channel: str, since: datetime) -> list[Reading]:
        return self.store.readings(channel, start=since)

    async def until(
        self,
        channel: str,
        pred: Callable[[Reading], bool],
        what: str,
        since: datetime,
        timeout: float = 6.0,
    ) -> Reading:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(channel, since)
            hit = next((r for r in rows if pred(r)), None)
            if hit is not None:
                return hit
            if time.monotonic() > deadline:
                tail = [(r.quality.value, r.value) for r in rows[-5:]]
                raise AssertionError(f"{channel}: never stored {what}; last {tail}")
            await asyncio.sleep(0.1)


def value(pred: Callable[[float], bool]) -> Callable[[Reading], bool]:
    return lambda r: r.quality is Quality.GOOD and isinstance(r.value, float) and pred(r.value)


def is_(q: Quality) -> Callable[[Reading], bool]:
    return lambda r: r.quality is q


def now() -> datetime:
    return datetime.now(UTC)


def _diffs(rows: list[Reading]) -> Iterator[float]:
    values = [float(r.value) for r in rows if isinstance(r.value, float)]
    return (b - a for a, b in itertools.pairwise(values))


async def test_every_fault_kind_reaches_the_store(tmp_path: Path) -> None:
    broker = None
    devices = DEVICES
    binary = mosquitto_binary()
    if binary is None:  # the rest still runs; the MQTT front end has its own tests
        devices = [d for d in DEVICES if d["id"] != "inc2"]
    else:
        broker = PrivateBroker(binary, tmp_path / "broker")
        await broker.start()
    config = sim_config(devices, speed=10, tick="100ms")
    where = (broker.host, broker.port) if broker else None
    sim = Simulation(config, run_dir=tmp_path, broker=where)
    started = time.monotonic()
    try:
        async with serving(sim, control_port=0, state_file=None, config=None) as control:
            address = (control.host, control.port)

            async def api(path: str, body: dict[str, object]) -> None:
                await asyncio.to_thread(call, address, "POST", path, body)

            async def fault(device: str, name: str, clear: bool = False) -> None:
                await api("/fault", {"device": device, "fault": name, "clear": clear})

            data = coldwatch_config(
                sim, store_path=str(tmp_path / "cw.db"), poll_interval=0.2, commit_interval=0.1
            )
            loaded = load(write_config(data, tmp_path / "coldwatch.yaml", "e2e"))
            daemon = Daemon(loaded, base_dir=tmp_path)
            await daemon.start()
            record = Record(open_store(loaded.config.store, tmp_path))
            try:
                await _scenario(sim, record, fault, api)
            finally:
                await daemon.stop()
                record.store.close()
    finally:
        if broker is not None:
            await broker.stop()
    print(f"end-to-end scenario with {len(devices)} devices: {time.monotonic() - started:.1f} s")


Fault = Callable[..., Awaitable[None]]
Api = Callable[[str, dict[str, object]], Awaitable[None]]


async def _scenario(sim: Simulation, record: Record, fault: Fault, api: Api) -> None:
    t0 = now()
    # every channel of every device is stored good
    for channel in _all(sim):
        await record.until(channel, is_(Quality.GOOD), "a good reading", t0, timeout=8)

    # process faults, with hours of physics fast-forwarded
    t1 = now()
    for device, name in [
        ("ult", "compressor_failure"),
        ("ult", "door_open"),
        ("ult", "power_failure"),
        ("forma", "power_failure"),
        ("dewar", "ln2_supply_empty"),
        ("inc", "co2_supply_failure"),
        ("crf", "ln2_supply_fault"),
        *([("inc2", "heater_failure"), ("inc2", "door_open")] if "inc2" in sim.devices else []),
    ]:
        await fault(device, name)
    await api("/advance", {"seconds": 3600})
    await record.until("ult.door_open", value(lambda v: v == 1), "door open", t1)
    await record.until("ult.power_failure", value(lambda v: v == 1), "power failure", t1)
    await record.until("ult.cabinet_temp", value(lambda v: v > -65), "a warm cabinet", t1)
    await record.until("forma.power_failure", value(lambda v: v == 1), "PWRFAIL", t1)
    await record.until("dewar.fill_time", value(lambda v: v > 3000), "a fill that never ends", t1)
    await record.until("dewar.fill_valve_open", value(lambda v: v == 1), "the valve open", t1)
    await record.until("inc.co2", value(lambda v: v < 4.0), "CO2 falling", t1)
    await record.until("crf.cabinet_temp", value(lambda v: v > -20), "a lagging chamber", t1)
    if "inc2" in sim.devices:
        await record.until("inc2.door_open", value(lambda v: v == 1), "door open", t1)
        await record.until("inc2.chamber_temp", value(lambda v: v < 35), "cooling", t1)
    await fault("dewar", "lid_open")
    await record.until("dewar.lid_open", value(lambda v: v == 1), "lid open", now())
    for device in sim.devices:
        for name in sorted(sim.devices[device].model.faults):
            await fault(device, name, clear=True)

    # a broken probe on every device: sentinel, NaN, T_ERR or null -> sensor_fault
    t2 = now()
    for device in sim.devices:
        await fault(device, "sensor_open_circuit")
    for device, channel in PROBE.items():
        if device in sim.devices:
            await record.until(channel, is_(Quality.SENSOR_FAULT), "sensor_fault", t2)
    for device in sim.devices:
        await fault(device, "sensor_open_circuit", clear=True)

    # a drifting probe: the reported temperature walks away from the regulated 37 C
    await fault("inc", "sensor_drift")
    await api("/advance", {"seconds": 4 * 3600})
    await record.until("inc.temperature", value(lambda v: v > 38.5), "a drifted reading", now())
    await fault("inc", "sensor_drift", clear=True)

    # a noisy probe: poll-to-poll changes ten times larger
    await asyncio.sleep(0.3)
    t3 = now()
    await asyncio.sleep(2.0)
    before = record.rows("inc.temperature", t3)
    await fault("inc", "noisy")
    t4 = now()
    await asyncio.sleep(2.0)
    after = record.rows("inc.temperature", t4)
    quiet, loud = statistics.pstdev(_diffs(before)), statistics.pstdev(_diffs(after))
    assert loud > 4 * quiet, (quiet, loud)

    # silence: comm_error rows for polled devices and the MQTT device gone offline,
    # stale rows for the push device; then good readings again
    t5 = now()
    for device in sim.devices:
        await fault(device, "comm_drop")
    for device, channel in PROBE.items():
        if device in sim.devices:
            expected = Quality.STALE if device == "forma" else Quality.COMM_ERROR
            await record.until(channel, is_(expected), expected.value, t5)
    t6 = now()
    for device in sim.devices:
        await fault(device, "comm_drop", clear=True)
    for device, channel in PROBE.items():
        if device in sim.devices:
            await record.until(channel, is_(Quality.GOOD), "good again", t6, timeout=10)


def _all(sim: Simulation) -> list[str]:
    return [
        f"{device_id}.{ch['id']}"
        for device_id, frontend in sim.frontends.items()
        for ch in frontend.coldwatch(0.2).channels
    ]
