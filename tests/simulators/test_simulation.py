"""Model time on an injected clock: speed, fast-forward, and a failure reaching an alarm limit
within a demo's minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.core.clock import FakeClock
from simulators.simulation import Simulation
from tests.support.sim_harness import sim_config

DEVICES = [
    {"id": "ult", "model": "ult_freezer", "frontend": {"type": "modbus", "map": "tsx"}},
    {"id": "dewar", "model": "ln2_dewar", "frontend": {"type": "tec3000", "line": "socket"}},
]


def simulation(clock: FakeClock, tmp_path: Path, **top: object) -> Simulation:
    return Simulation(sim_config(DEVICES, **top), clock=clock, run_dir=tmp_path)


async def test_speed_scales_clock_time_into_model_time(clock: FakeClock, tmp_path: Path) -> None:
    sim = simulation(clock, tmp_path, speed=60, tick="500ms")
    async with sim:
        await clock.advance(10)
        assert [d.model.time_s for d in sim.devices.values()] == [600, 600]
        sim.set_speed(3600)
        await clock.advance(1)
        assert sim.devices["ult"].model.time_s == pytest.approx(600 + 3600)
        sim.advance(7200)  # fast-forward, whatever the clock
        assert sim.devices["dewar"].model.time_s == pytest.approx(600 + 3600 + 7200)
    with pytest.raises(ValueError, match="speed"):
        sim.set_speed(0)


async def test_a_held_up_loop_catches_up_in_one_step(clock: FakeClock, tmp_path: Path) -> None:
    sim = simulation(clock, tmp_path, speed=10, tick="100ms")
    async with sim:
        await clock.advance(0)  # the ticker is running
        await clock.jump(30)  # as if the event loop had been blocked for 30 s
        assert sim.devices["ult"].model.time_s == pytest.approx(300)


async def test_compressor_failure_reaches_the_alarm_limit_in_a_demo(
    clock: FakeClock, tmp_path: Path
) -> None:
    """At 60x a failed compressor takes the cabinet from -80 C past -65 C in minutes."""
    sim = simulation(clock, tmp_path, speed=60, tick="1s")
    async with sim:
        sim.set_fault("ult", "compressor_failure")
        minutes = 0
        while sim.devices["ult"].model.true_values()["cabinet_temp"] < -65:  # type: ignore[operator]
            await clock.advance(60)
            minutes += 1
            assert minutes < 10
    assert 1 <= minutes <= 4
