"""The read-only commands against a real store: readings (csv, json, ranges) and status."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from monitor.app.cli import main
from monitor.app.config import load
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.factory import open_store
from tests.support.paths import REPO

ROOT = REPO
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = load(path)
    store = open_store(loaded.config.store)
    rows = [
        Reading.good("freezer-07.cabinet_temp", T0 + timedelta(seconds=10 * i), -80.0 + i / 10)
        for i in range(6)
    ]
    rows.append(
        Reading.bad(
            "freezer-07.cabinet_temp",
            T0 + timedelta(seconds=60),
            Quality.COMM_ERROR,
            "no answer within 3 s",
        )
    )
    store.append(
        rows, [Event(T0, EventKind.DEVICE_DOWN, "gmp251-03", "down", {"reason": "refused"})]
    )
    store.close()
    return path


def test_readings_as_csv_with_a_time_range(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "readings",
                "-c",
                str(config),
                "--channel",
                "freezer-07.cabinet_temp",
                "--from",
                "2026-03-01T12:00:10Z",
                "--to",
                "2026-03-01T12:00:40+00:00",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["ts"] for r in rows] == [
        "2026-03-01T12:00:10+00:00",
        "2026-03-01T12:00:20+00:00",
        "2026-03-01T12:00:30+00:00",
    ]
    assert [float(r["value"]) for r in rows] == [-79.9, -79.8, -79.7]
    assert {r["quality"] for r in rows} == {"good"}


def test_readings_as_json_keep_bad_rows(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "readings",
                "-c",
                str(config),
                "--channel",
                "freezer-07.cabinet_temp",
                "--format",
                "json",
                "--from",
                "2026-03-01T12:00:50",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "channel": "freezer-07.cabinet_temp",
            "ts": "2026-03-01T12:00:50+00:00",
            "value": -79.5,
            "quality": "good",
            "flags": 0,
            "detail": None,
        },
        {
            "channel": "freezer-07.cabinet_temp",
            "ts": "2026-03-01T12:01:00+00:00",
            "value": None,
            "quality": "comm_error",
            "flags": 0,
            "detail": "no answer within 3 s",
        },
    ]


def test_unknown_channel_and_bad_time_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["readings", "-c", str(config), "--channel", "freezer-07.nope"]) == 2
    assert "unknown channel 'freezer-07.nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "readings",
                "-c",
                str(config),
                "--channel",
                "freezer-07.cabinet_temp",
                "--from",
                "yesterday",
            ]
        )
    assert exc.value.code == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err


def test_status_reports_comm_state_and_latest_quality(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "tsx-07 [modbus] comm=down" in out  # its latest reading is a comm_error
    assert "gmp251-03 [modbus] comm=down" in out and "reason: refused" in out
    assert "no recent poll" in out  # the rows are old: the daemon is not running


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "check-config", "verify", "readings", "status", "demo"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert "usage: coldwatch" in capsys.readouterr().out


def test_route_test_reads_a_time_without_zone_as_site_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    data["locations"][0]["equipment"] = data["locations"][0]["equipment"][:1]  # the freezer
    data["alarms"] = {"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}}
    data["notifiers"] = {"outbox": {"type": "outbox"}}
    data["people"] = [{"id": "tech", "name": "Tech", "channels": ["outbox"]}]
    data["escalation"] = {
        "policies": {"p": {"tiers": [{"notify": ["person:tech"], "wait": "15m"}]}},
        "default_policy": "p",
    }
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert (
        main(
            [
                "route-test",
                "-c",
                str(path),
                "--channel",
                "freezer-07.cabinet_temp",
                "--condition",
                "high",
                "--at",
                "2026-07-01T08:00",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "nothing is sent" in out and "Tech (tech)" in out
    assert "08:00" in out and "06:00 UTC" in out  # Europe/Berlin in summer is UTC+2
