"""The coldwatch configuration a simulation generates for itself (simulators/coldwatch_config.py)
is a valid one, with every device, kind and sentinel of the demo facility."""

from __future__ import annotations

from pathlib import Path

from simulators.simulation import Simulation
from tests.support.paths import REPO
from tests.support.sim_harness import generated_config


async def test_demo_facility_generates_a_valid_coldwatch_config(tmp_path: Path) -> None:
    from simulators.loader import load_sim_config

    config = load_sim_config(REPO / "config" / "sim-demo.yaml")
    sim = Simulation(config, run_dir=tmp_path, broker=("127.0.0.1", 1), run_models=False)
    async with sim:
        loaded = generated_config(sim, tmp_path, 1.0)
    channels = loaded.config.channels()
    assert {d.id for d in loaded.config.devices} == set(sim.devices)
    assert {d.driver for d in loaded.config.devices} == {"modbus", "serial", "mqtt"}
    kinds = {eq.kind.value for eq, _ in channels.values()}
    assert kinds == {"ult_freezer", "ln2_dewar", "co2_incubator", "controlled_rate_freezer"}
    # the broken-probe value is declared where the protocol shows it as a number
    assert -999.9 in channels["ult-01.cabinet_temp"][1].sentinels
    assert -999.9 in channels["dewar-01.temperature"][1].sentinels
    # any model behind any front end: the freezer's sample probe is the TSX map's TC2
    assert channels["crf-01.tc2_temp"][1].name == "sample_temp at 0x04cc"
