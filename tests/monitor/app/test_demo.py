"""``coldwatch demo --for N``: a simulated facility read into the store, and out by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.app.cli import main
from monitor.app.config import load
from monitor.core.model import Quality
from monitor.store.factory import open_store
from simulators.broker import mosquitto_binary
from simulators.loader import load_sim_config

pytestmark = pytest.mark.timeout(45)


def test_demo_leaves_readings_from_every_device(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "demo", "--for", "8", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=40,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    config = data / "coldwatch.yaml"
    assert f"status -c {config}" in out
    assert f"sim fault -c {data / 'sim.yaml'} --device ult-01 --fault" in out
    assert "did not stop" not in done.stderr

    assert main(["check-config", "-c", str(config)]) == 0
    loaded = load(config)
    devices = {d.id for d in loaded.config.devices}
    expected = {"ult-01", "ult-02", "dewar-01", "inc-01", "crf-01"}
    if mosquitto_binary() is not None:
        expected.add("inc-02")
    else:
        assert "mosquitto is not installed" in out
    assert devices == expected
    store = open_store(loaded.config.store, data)
    try:
        latest = store.latest(list(loaded.config.channels()))
        for device in devices:
            good = [
                r
                for cid, r in latest.items()
                if cid.startswith(f"{device}.") and r.quality is Quality.GOOD
            ]
            assert good, f"no good reading from {device}"
    finally:
        store.close()
    # the simulators in force are written beside it, and what ran is cleaned up
    assert load_sim_config(data / "sim.yaml").devices
    assert not (data / "sim.control.json").exists()
    assert not any((data / "tty").iterdir())
    capsys.readouterr()
    assert main(["verify", "-c", str(config)]) == 0
    assert "hash chain intact" in capsys.readouterr().out


async def test_without_mosquitto_the_demo_says_so_and_leaves_mqtt_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.app.demo as demo

    monkeypatch.setattr(demo, "mosquitto_binary", lambda: None)
    config = load_sim_config(demo.find_sim_config())
    broker, note = await demo._broker(config, tmp_path)
    assert broker is None
    assert "mosquitto is not installed: the MQTT device inc-02 left out" in note
    assert "apt-get install mosquitto" in note
    kept = demo._without_mqtt(config)
    assert [d.id for d in kept.devices] == ["ult-01", "ult-02", "dewar-01", "inc-01", "crf-01"]
    kinds = {d.model for d in kept.devices}
    assert kinds == {"ult_freezer", "ln2_dewar", "co2_incubator", "controlled_rate_freezer"}
