"""End to end: the demo facility, a compressor failure injected through `coldwatch sim fault`,
and the freezer's warm alarm raised in the alarm history of the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from monitor.config.loader import load
from monitor.store.factory import open_store


def test_compressor_failure_raises_the_warm_alarm(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--for",
            "30",
            "--speed",
            "900",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        state = data_dir / "sim.control.json"
        deadline = time.monotonic() + 20
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert state.exists(), "the demo did not start its simulators"
        time.sleep(3)  # the freezer settles and the daemon reads it
        fault = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "sim",
                "fault",
                "--config",
                str(data_dir / "sim.yaml"),
                "--device",
                "ult-01",
                "--fault",
                "compressor_failure",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=20,
        )
        assert fault.returncode == 0, fault.stdout + fault.stderr
        config = str(data_dir / "coldwatch.yaml")
        code = None
        deadline = time.monotonic() + 25
        while code is None and time.monotonic() < deadline:
            listed = subprocess.run(
                [sys.executable, "-m", "monitor.cli", "alarms", "list", "-c", config],
                capture_output=True,
                text=True,
                env=env,
                timeout=20,
            )
            for line in listed.stdout.splitlines():
                if "ult-01" in line and "cabinet warm" in line:
                    code = line.split()[0]
            time.sleep(0.5)
        assert code is not None, "the warm alarm never showed in `coldwatch alarms list`"
        acked = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor.cli",
                "alarms",
                "ack",
                code,
                "-c",
                config,
                "--comment",
                "moved product to BF-02",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=20,
        )
        assert acked.returncode == 0, acked.stdout + acked.stderr
        assert "acknowledged by operator" in acked.stdout
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0, output
    assert "ult-01.cabinet_temp/warm" in output  # announced in the daemon's log
    loaded = load(data_dir / "coldwatch.yaml")
    store = open_store(loaded.config.store, data_dir)
    try:
        raised = [
            r for r in store.alarm_records(key="ult-01.cabinet_temp/warm") if r.action == "raised"
        ]
        assert raised, "no warm alarm in the alarm history"
        assert raised[0].code and raised[0].state == "UNACK"
        assert "BF-02" in str(raised[0].data.get("alarm", {}).get("contingency"))
        acks = [
            r
            for r in store.alarm_records(key="ult-01.cabinet_temp/warm")
            if r.action == "acknowledged"
        ]
        assert [(a.person, a.via, a.comment) for a in acks] == [
            ("operator", "cli", "moved product to BF-02")
        ]
        # tier 1 of the demo's call tree was paged through the outbox, with the SOP line
        outbox = (data_dir / "outbox.jsonl").read_text().splitlines()
        pages = [json.loads(line) for line in outbox]
        warm = [p for p in pages if p["notification"]["alarm_id"] == raised[0].code]
        first = warm[0]["notification"]
        assert (first["kind"], first["tier"]) == ("raised", 1)
        assert "BF-02" in warm[0]["text"] and f"ACK {raised[0].code}" in warm[0]["text"]
        assert sum(1 for p in warm if p["notification"]["kind"] == "raised") == 1
        readings = store.readings("ult-01.cabinet_temp")
        assert max(r.value for r in readings if isinstance(r.value, float)) > -70.0
        assert store.verify().ok
    finally:
        store.close()
