"""Injecting faults into a running simulator: the HTTP control endpoint, ``coldwatch sim
fault`` in-process against a running Simulation, and ``coldwatch sim`` as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.app.cli import main
from simulators.control_client import ControlError, call, state_file_for
from simulators.runner import serving
from simulators.simulation import Simulation
from tests.support.sim_harness import sim_config

DEVICES = [
    {"id": "ult", "model": "ult_freezer", "frontend": {"type": "modbus", "map": "tsx"}},
    {"id": "dewar", "model": "ln2_dewar", "frontend": {"type": "tec3000", "line": "socket"}},
]


def cli(*args: str) -> int:
    return main(["sim", *args])


async def test_http_control_endpoint(tmp_path: Path) -> None:
    sim = Simulation(sim_config(DEVICES), run_dir=tmp_path, run_models=False)
    async with serving(sim, control_port=0, state_file=None, config=None) as control:
        address = (control.host, control.port)

        async def request(method: str, path: str, body: object = None) -> dict[str, object]:
            return await asyncio.to_thread(call, address, method, path, body)  # type: ignore[arg-type]

        answer = await request("POST", "/fault", {"device": "ult", "fault": "door_open"})
        assert answer == {"device": "ult", "faults": ["door_open"]}
        assert sim.devices["ult"].model.faults == {"door_open"}
        await request("POST", "/fault", {"device": "ult", "fault": "door_open", "clear": True})
        assert sim.devices["ult"].model.faults == set()
        await request("POST", "/advance", {"seconds": 120})
        assert sim.devices["dewar"].model.time_s == 120
        assert (await request("POST", "/speed", {"speed": 600})) == {"speed": 600.0}
        status = await request("GET", "/status")
        assert status["speed"] == 600.0
        devices = status["devices"]
        assert isinstance(devices, list) and [d["id"] for d in devices] == ["ult", "dewar"]
        assert "lid_open" in devices[1]["accepted_faults"]

        with pytest.raises(ControlError, match="no simulated device 'nope'; devices: ult, dewar"):
            await request("POST", "/fault", {"device": "nope", "fault": "door_open"})
        with pytest.raises(ControlError, match="ln2_dewar has no fault 'door_open'"):
            await request("POST", "/fault", {"device": "dewar", "fault": "door_open"})
        with pytest.raises(ControlError, match="'fault' is required"):
            await request("POST", "/fault", {"device": "dewar"})
        with pytest.raises(ControlError, match="use POST /fault"):
            await request("GET", "/fault")
        with pytest.raises(ControlError, match="no such endpoint"):
            await request("POST", "/reboot", {})
        with pytest.raises(ControlError, match="must be a JSON object"):
            await request("POST", "/fault", [1, 2])


async def test_sim_fault_command_against_a_running_simulation(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "sim.yaml"
    state = state_file_for(config)
    assert state == tmp_path / "sim.control.json"
    sim = Simulation(sim_config(DEVICES), run_dir=tmp_path, run_models=False)
    async with serving(sim, control_port=0, state_file=state, config=config) as control:
        assert json.loads(state.read_text())["port"] == control.port
        c = str(config)
        args = ("fault", "-c", c, "--device", "ult", "--fault", "compressor_failure")
        assert await asyncio.to_thread(cli, *args) == 0
        assert sim.devices["ult"].model.faults == {"compressor_failure"}
        assert "ult: active faults: compressor_failure" in capsys.readouterr().out
        args = ("-c", c, "fault", "--device", "dewar", "--fault", "lid_open")  # -c first
        assert await asyncio.to_thread(cli, *args) == 0
        port = str(control.port)
        clear = ("fault", "--control", port, "--device", "dewar", "--fault", "lid_open", "--clear")
        assert await asyncio.to_thread(cli, *clear) == 0
        assert sim.devices["dewar"].model.faults == set()
        assert await asyncio.to_thread(cli, "advance", "-c", c, "--seconds", "60") == 0
        assert sim.devices["ult"].model.time_s == 60
        capsys.readouterr()
        assert await asyncio.to_thread(cli, "status", "-c", c, "--format", "json") == 0
        status = json.loads(capsys.readouterr().out)
        assert status["devices"][0]["faults"] == ["compressor_failure"]
        assert await asyncio.to_thread(cli, "status", "-c", c) == 0
        assert "    faults: compressor_failure\n" in capsys.readouterr().out

        args = ("fault", "-c", c, "--device", "ult", "--fault", "lid_open")
        assert await asyncio.to_thread(cli, *args) == 1
        assert "ult_freezer has no fault 'lid_open'" in capsys.readouterr().err
    assert not state.exists()  # removed with the simulator
    assert await asyncio.to_thread(cli, "fault", "-c", c, "--device", "ult", "--fault", "x") == 1
    assert "is a simulator running" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_sim_runs_as_a_process_and_takes_faults_from_another(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text(
        "speed: 60\n"
        "devices:\n"
        "  - {id: ult, model: ult_freezer, frontend: {type: modbus, map: tsx}}\n"
        "  - {id: dewar, model: ln2_dewar, frontend: {type: tec3000, link: tty/dewar}}\n"
    )
    out = tmp_path / "cw.yaml"
    run = [sys.executable, "-m", "monitor.app.cli", "sim"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*run, "-c", str(config), "--coldwatch-config", str(out), "--for", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        state = state_file_for(config)
        deadline = time.monotonic() + 10
        while not (state.exists() and out.exists()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)
        assert (tmp_path / "tty" / "dewar").is_symlink()
        fault = [*run, "fault", "-c", str(config), "--device", "ult", "--fault", "door_open"]
        done = subprocess.run(fault, capture_output=True, text=True, timeout=20, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ult: active faults: door_open"
        assert main(["check-config", "-c", str(out)]) == 0
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    text = stdout.decode()
    assert "coldwatch sim: 2 devices at 60x" in text
    assert f"sim fault -c {config} --device ult --fault compressor_failure" in text
    assert not state.exists() and not (tmp_path / "tty" / "dewar").exists()
