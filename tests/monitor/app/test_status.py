"""Values as the record keeps them and as people see them: a real Modbus server serving FLOAT32
and scaled integer registers, the daemon as a process, its real SQLite store, then the readings
CSV and ``coldwatch status`` with and without a channel's ``decimals:``."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from monitor.app.cli import main
from monitor.app.status import DeviceStatus, render_status
from monitor.core.model import Quality, Reading
from tests.support.modbus_server import Unit, at, encode, modbus_server

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def channel(cid: str, address: int, type_: str, **extra: object) -> dict[str, object]:
    source: dict[str, object] = {
        "device": "tsx",
        "register": "holding",
        "address": address,
        "type": type_,
    }
    decimals = extra.pop("decimals", None)
    source.update(extra)
    out: dict[str, object] = {"id": cid, "quantity": "temperature", "unit": "C", "source": source}
    if decimals is not None:
        out["decimals"] = decimals
    return out


def site(tmp_path: Path, port: int) -> Path:
    data = {
        "site": {"id": "t", "name": "T"},
        "store": {"path": str(tmp_path / "cw.db")},
        "devices": [
            {
                "id": "tsx",
                "driver": "modbus",
                "interval": "500ms",
                "timeout": "400ms",
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "request_timeout": "200ms",
                },
            }
        ],
        "locations": [
            {
                "id": "room",
                "equipment": [
                    {
                        "id": "fr",
                        "kind": "ult_freezer",
                        "channels": [
                            channel("tc2", 0x4CC, "float32"),
                            channel("tc3", 0x4D0, "float32", decimals=1),
                            channel("cabinet", 0x540, "int32", scale=0.1),
                            channel("probe", 0x542, "int16", scale=0.1, decimals=2),
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def stored(db: Path) -> dict[str, float]:
    """The latest good value of each channel, as SQLite holds it (0 rows until the daemon
    has committed some)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT channel, value FROM readings WHERE quality = 'good' ORDER BY ts"
            ).fetchall()
    except sqlite3.OperationalError:  # created, not migrated yet
        return {}
    return {ch: value for ch, value in rows}


async def test_float32_and_scaled_values_are_stored_and_shown_without_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = {
        **at(0x4CC, encode(37.05362, "float32")),  # 37.05361557006836 as a double
        **at(0x4D0, encode(-79.3, "float32")),  # -79.30000305175781
        **at(0x540, encode(-639, "int32")),  # -639 * 0.1 == -63.900000000000006
        **at(0x542, encode(-793, "int16")),  # -793 * 0.1 == -79.30000000000001
    }
    async with modbus_server(0, Unit(holding=image)) as server:
        config = site(tmp_path, server.port)
        log = tmp_path / "daemon.log"
        with log.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "monitor.app.cli", "run", "-c", str(config)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=tmp_path,
            )
        try:
            deadline = time.monotonic() + 30
            while len(stored(tmp_path / "cw.db")) < 4:
                assert proc.returncode is None, log.read_text()
                assert time.monotonic() < deadline, "no good readings from the daemon"
                await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    # the record: what SQLite holds, read with sqlite3 itself
    values = stored(tmp_path / "cw.db")
    assert {ch: repr(v) for ch, v in values.items()} == {
        "fr.tc2": "37.05362",
        "fr.tc3": "-79.3",
        "fr.cabinet": "-63.9",
        "fr.probe": "-79.3",
    }

    # the readings CSV QA exports: the stored form, or the channel's decimals
    def csv_values(cid: str) -> set[str]:
        assert main(["readings", "-c", str(config), "--channel", cid]) == 0
        rows = csv.DictReader(io.StringIO(capsys.readouterr().out))
        return {r["value"] for r in rows if r["quality"] == "good"}

    assert csv_values("fr.tc2") == {"37.05362"}
    assert csv_values("fr.tc3") == {"-79.3"}
    assert csv_values("fr.cabinet") == {"-63.9"}
    assert csv_values("fr.probe") == {"-79.30"}

    assert main(["status", "-c", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tsx [modbus] comm=")
    assert lines[1:6] == [
        "    fr.cabinet  -63.9      C  good",
        "    fr.probe    -79.30     C  good",
        "    fr.tc2       37.05362  C  good",
        "    fr.tc3      -79.3      C  good",
        "",  # then the site overview (tests/monitor/app/test_overview.py)
    ]
    assert lines[6].startswith("units: ")


def test_status_aligns_values_across_devices_on_the_decimal_point() -> None:
    def status(device: str, readings: list[Reading], decimals: dict[str, int]) -> DeviceStatus:
        return DeviceStatus(
            device,
            "modbus",
            "up",
            T0,
            None,
            T0,
            False,
            {r.channel: r for r in readings},
            {r.channel: "C" for r in readings} | {"b.door": "bool"},
            decimals,
        )

    out = render_status(
        [
            status(
                "a",
                [
                    Reading.good("a.tc2", T0, 37.05362),
                    Reading.good("a.co2_ppm", T0, 1200.0),
                ],
                {},
            ),
            status(
                "b",
                [
                    Reading.good("b.cabinet_temp", T0, -63.94),
                    Reading.good("b.door", T0, 1.0),
                    Reading.bad("b.tc3", T0, Quality.COMM_ERROR, "no answer within 3 s"),
                ],
                {"b.cabinet_temp": 1},
            ),
        ]
    )
    assert out.splitlines() == [
        "a [modbus] comm=up last_poll=2026-03-01T12:00:00+00:00",
        "    a.co2_ppm       1200.0      C  good",
        "    a.tc2             37.05362  C  good",
        "b [modbus] comm=up last_poll=2026-03-01T12:00:00+00:00",
        "    b.cabinet_temp   -63.9      C  good",
        "    b.door             1.0         good",
        "    b.tc3              -           comm_error  (no answer within 3 s)",
    ]
