"""The simulator configuration: the shipped files load, and every mistake is reported with
its file, line, path and device, like the main configuration's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.cli import main
from monitor.config.issues import ConfigError
from simulators.loader import load_sim_config, parse
from tests.support.paths import REPO

ROOT = REPO


@pytest.mark.parametrize("name", ["sim-demo.yaml", "sim-example.yaml"])
def test_shipped_configurations_load(name: str) -> None:
    config = load_sim_config(ROOT / "config" / name)
    assert config.devices


def test_sim_example_serves_what_example_yaml_reads() -> None:
    import yaml

    sim = load_sim_config(ROOT / "config" / "sim-example.yaml")
    example = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    served = {(d.frontend.type, getattr(d.frontend, "port", None)) for d in sim.devices}
    tsx, gmp = example["devices"]
    assert ("modbus", tsx["settings"]["port"]) in served
    assert ("modbus", int(gmp["settings"]["serial_port"].rsplit(":", 1)[1])) in served
    assert {getattr(d.frontend, "unit", None) for d in sim.devices} == {1, 240}


CASES = [
    (
        "devices:\n"
        "  - id: a\n"
        "    model: ult_freezer\n"
        "    faults: [lid_open]\n"
        "    frontend: {type: modbus, map: tsx}\n",
        "sim.yaml:4: devices[0].faults[0]: device 'a': ult_freezer has no fault 'lid_open'; "
        "it accepts: comm_drop, compressor_failure, door_open, noisy, power_failure, "
        "sensor_drift, sensor_open_circuit",
    ),
    (
        "devices:\n"
        "  - id: a\n"
        "    model: ult_freezer\n"
        "    params:\n"
        "      setpoint: -80\n"
        "    frontend: {type: modbus, map: tsx}\n",
        "sim.yaml:5: devices[0].params.setpoint: device 'a': ult_freezer has no parameter "
        "'setpoint'; known: setpoint_c,",
    ),
    (
        "devices:\n"
        "  - id: a\n"
        "    model: ult_freezer\n"
        "    params: {cooling_power_w: 10}\n"
        "    frontend: {type: modbus, map: tsx}\n",
        "sim.yaml:4: devices[0].params: device 'a': cooling_power_w (10.0 W) cannot hold the "
        "setpoint",
    ),
    (
        "devices:\n"
        "  - id: crf\n"
        "    model: controlled_rate_freezer\n"
        "    frontend:\n"
        "      type: modbus\n"
        "      map: tsx\n"
        "      bind:\n"
        "        tc2: run_state\n",
        "sim.yaml:8: devices[0].frontend.bind.tc2: device 'crf': output 'run_state' is text; "
        "field 'tc2' is a number",
    ),
    (
        "devices:\n"
        "  - id: d\n"
        "    model: ln2_dewar\n"
        "    frontend: {type: tec3000, bind: {level: cabinet_temp}}\n",
        "sim.yaml:4: devices[0].frontend.bind.level: device 'd': ln2_dewar has no output "
        "'cabinet_temp'; outputs: temp_top, level,",
    ),
    (
        "devices:\n  - id: a\n    model: ult_freezer\n    frontend: {type: profibus}\n",
        "sim.yaml:4: devices[0].frontend: device 'a': type 'profibus' is not one of "
        "forma900, modbus, mqtt, tec3000",
    ),
    (
        "devices:\n"
        "  - id: a\n"
        "    model: ult_freezer\n"
        "    frontend: {type: modbus, map: tsx, baud: 9600}\n",
        "sim.yaml:4: devices[0].frontend.baud: device 'a': unknown key 'baud'",
    ),
    (
        "devices:\n"
        "  - id: a\n"
        "    model: ult_freezer\n"
        "    frontend: {type: forma900, line: pty, port: 4001}\n",
        "sim.yaml:4: devices[0].frontend: device 'a': 'port' is for line: socket",
    ),
    (
        "host: 0.0.0.0\ndevices: []\n",
        "sim.yaml:1: host: host '0.0.0.0' is not a loopback address",
    ),
    ("speed: 60\ndevices: []\n", "sim.yaml:2: devices: no devices: a simulator needs at least one"),
    (
        "devices:\n"
        "  - {id: a, model: ult_freezer, frontend: {type: modbus, map: tsx, port: 5020}}\n"
        "  - {id: a, model: ult_freezer, frontend: {type: forma900, line: socket, port: 5020}}\n",
        "sim.yaml:3: devices[1].id: device 'a': duplicate device id 'a' (first at line 2)",
    ),
    ("devices: [\n", "sim.yaml:2: invalid YAML: expected the node content"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mistakes_are_reported_with_file_line_and_device(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(text, "sim.yaml")
    assert any(str(issue).startswith(expected) for issue in exc.value.issues), exc.value.issues


def test_sim_command_prints_every_issue_and_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "speed: -1\n"
        "devices:\n"
        "  - {id: a, model: ult_freezer, faults: [bogus], frontend: {type: modbus, map: tsx}}\n"
    )
    assert main(["sim", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1: speed:" in err
    assert main(["sim", "-c", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
