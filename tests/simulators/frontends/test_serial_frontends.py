"""The serial front ends: the TEC-3000-like query device and the Forma-900-like push device,
read by the real SerialDriver (pseudo-terminals and socket://), faults included."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from monitor.core.model import Quality
from simulators.frontends.tec3000 import Tec3000Session
from simulators.simulation import Simulation
from tests.support.sim_harness import good, quality, read_by_coldwatch, sim_config

TEC = {
    "id": "tec",
    "model": "ln2_dewar",
    "params": {"initial_level_mm": 100.5, "boil_off_mm_per_day": 2000},
    "frontend": {"type": "tec3000", "line": "pty", "link": "tty/tec"},
}
FORMA = {
    "id": "forma",
    "model": "ult_freezer",
    "frontend": {"type": "forma900", "line": "socket", "interval": 0.1},
}


async def test_tec3000_answers_each_command(tmp_path: Path) -> None:
    sim = Simulation(sim_config([TEC]), run_dir=tmp_path, run_models=False)
    frontend = sim.frontends["tec"]
    session = Tec3000Session(frontend.answer)  # type: ignore[attr-defined]
    values = sim.devices["tec"].model.values()
    assert session.feed(b"CALVL?\r") == f"{values['level']:+.1f}\r\n".encode()
    assert session.feed(b"TEMPA?\rFILL?\n") == f"{values['temp_top']:+.1f}\r\n0\r\n".encode()
    assert session.feed(b"LID?\r") == b"0\r\n"
    assert session.feed(b"*IDN?\r").startswith(b"CHART MVE,TEC3000 (simulated),tec")
    assert session.feed(b"HFIL 120.0\r") == b"?\r\n"  # not simulated: an error answer
    assert session.feed(b"FILTIM") == b""  # no terminator yet
    assert session.feed(b"?\r") == b"0\r\n"
    sim.set_fault("tec", "sensor_open_circuit")
    assert session.feed(b"TEMPA?\r") == b"-999.9\r\n"
    assert session.feed(b"CALVL?\r") == f"{values['level']:+.1f}\r\n".encode()  # other probe
    sim.set_fault("tec", "comm_drop")
    assert session.feed(b"CALVL?\r") == b""


async def test_forma900_frames_follow_the_model(tmp_path: Path) -> None:
    clock = FakeClock()
    sim = Simulation(sim_config([FORMA]), run_dir=tmp_path, run_models=False, clock=clock)
    frontend = sim.frontends["forma"]
    frame = frontend.frame  # type: ignore[attr-defined]
    assert frame() == b"\x00- -80 C  \n\r\x04 "
    sim.set_fault("forma", "power_failure")
    sim.advance(3 * 3600)  # no cooling for 3 h: past the warm alarm set point (-70 C)
    assert frame().startswith(b"\x00- -") and b"OVERTEMP PWRFAIL \n\r\x04 " in frame()
    sim.set_fault("forma", "sensor_open_circuit")
    assert frame() == b"\x00- T_ERR C PWRFAIL \n\r\x04 "
    # frames are timed on the simulation's clock, and stop under comm_drop
    async with sim:
        await clock.advance(0.35)
        assert frontend.frames_sent == 3  # type: ignore[attr-defined]
        sim.set_fault("forma", "comm_drop")
        await clock.advance(1.0)
        assert frontend.frames_sent == 3  # type: ignore[attr-defined]


@pytest.mark.timeout(30)
async def test_serial_driver_reads_both_devices_and_each_fault(tmp_path: Path) -> None:
    sim = Simulation(sim_config([TEC, FORMA]), run_dir=tmp_path, run_models=False)
    async with sim, read_by_coldwatch(sim, tmp_path) as watch:
        tec, ult = sim.devices["tec"].model, sim.devices["forma"].model
        r = await watch.next("tec.ln2_level", good, "level")
        assert r.value == pytest.approx(tec.values()["level"], abs=0.051)
        r = await watch.next("tec.temperature", good, "temperature")
        assert r.value == pytest.approx(tec.values()["temp_top"], abs=0.051)
        r = await watch.next("forma.cabinet_temp", good, "cabinet")
        assert r.value == round(ult.values()["cabinet_temp"])  # type: ignore[arg-type]
        assert (await watch.next("forma.power_failure", good, "power")).value == 0.0

        # the level falls to the low set point: the auto-fill opens the valve and counts
        sim.advance(60)
        assert (await watch.next("tec.fill_valve_open", good, "filling")).value == 1.0
        sim.set_fault("tec", "ln2_supply_empty")
        sim.advance(3600)  # an hour of filling with nothing arriving
        r = await watch.next("tec.fill_time", good, "fill time")
        assert r.value is not None and float(r.value) >= 3600
        sim.set_fault("tec", "lid_open")
        assert (await watch.next("tec.lid_open", good, "lid")).value == 1.0
        assert (await watch.next("tec.fill_valve_open", good, "lid cuts the valve")).value == 0

        sim.set_fault("forma", "power_failure")
        assert (await watch.next("forma.power_failure", good, "PWRFAIL")).value == 1.0

        # broken probes: the sentinel and T_ERR become sensor_fault
        sim.set_fault("tec", "sensor_open_circuit")
        sim.set_fault("forma", "sensor_open_circuit")
        await watch.next("tec.temperature", quality(Quality.SENSOR_FAULT), "sentinel")
        await watch.next("forma.cabinet_temp", quality(Quality.SENSOR_FAULT), "T_ERR")
        assert (await watch.next("tec.ln2_level", good, "level still good")).value is not None

        # silence: comm_error rows for the query device, stale rows for the push device
        sim.set_fault("tec", "comm_drop")
        sim.set_fault("forma", "comm_drop")
        await watch.next("tec.ln2_level", quality(Quality.COMM_ERROR), "comm_error")
        await watch.next("forma.cabinet_temp", quality(Quality.STALE), "stale")
        sim.clear_fault("tec", "comm_drop")
        sim.clear_fault("forma", "comm_drop")
        await watch.next("tec.ln2_level", good, "recovered", timeout=8)
        await watch.next("forma.power_failure", good, "recovered", timeout=8)
