"""Only ``run`` and ``check-config`` read secrets: the read-only commands (status, verify,
readings, route-test, alarms list|show|history) work with none of the paging secrets or PINs
set, beside a real daemon (started with them) on a real SQLite store; ``run`` and
``check-config`` still refuse a secret they cannot read, naming its file and line."""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app.cli import main
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(90)

PIN = "CW_TEST_PIN_ALICE"
SMTP = "CW_TEST_SMTP_PASSWORD"
CHANNEL = "freezer-07.cabinet_temp"


def site_config(tmp_path: Path) -> Path:
    """The example freezer on an unreachable Modbus port, alarms on, a mail notifier and a
    person whose secrets come from environment variables."""
    data: dict[str, Any] = yaml.safe_load((Path("config") / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    data["devices"] = [data["devices"][0]]
    device = data["devices"][0]
    device.update(interval="1s", timeout="500ms")
    device["settings"].update(port=free_port(), request_timeout="200ms")
    for room in data["locations"]:
        room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
    data["alarms"] = {"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}}
    data["notifiers"] = {
        "outbox": {"type": "outbox", "path": str(tmp_path / "outbox.jsonl"), "stderr": False},
        "mail": {
            "type": "email",
            "host": "smtp.example.org",
            "username": "coldwatch",
            "password_env": SMTP,
            "from_address": "coldwatch@example.org",
        },
    }
    data["people"] = [
        {
            "id": "alice",
            "name": "Alice",
            "pin_env": PIN,
            "channels": ["outbox", "mail"],
            "os_users": [getpass.getuser()],
        }
    ]
    data["escalation"] = {
        "default_policy": "tech",
        "policies": {"tech": {"tiers": [{"notify": ["person:alice"], "wait": "15m"}]}},
    }
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.Error:
        return 0


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A daemon started with its secrets; the test's own environment has none of them."""
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    config = site_config(tmp_path)
    monkeypatch.delenv(PIN, raising=False)
    monkeypatch.delenv(SMTP, raising=False)
    env = {**os.environ, PIN: "4711", SMTP: "smtp-secret"}
    log = tmp_path / "daemon.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        db = tmp_path / "cw.db"
        _wait_for("two readings", lambda: _count(db) >= 2 or proc.poll() is not None)
        assert proc.poll() is None, log.read_text()
        _wait_for("the control socket", lambda: (tmp_path / "control.sock").exists())
        yield config
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # as `run --help` says: JSON lines on stderr, the configuration not asking for text
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert logged and all({"ts", "level", "logger", "msg"} <= set(entry) for entry in logged)


def test_read_only_commands_need_no_secret(
    daemon: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(daemon)
    assert PIN not in os.environ and SMTP not in os.environ

    assert main(["status", "-c", config]) == 0
    out = capsys.readouterr()
    assert "freezer-07" in out.out or "tsx-07" in out.out, out
    assert "_env" not in out.err

    assert main(["verify", "-c", config]) == 0
    assert capsys.readouterr().out.startswith("ok: ")

    assert main(["readings", "-c", config, "--channel", CHANNEL]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["quality"] for r in rows} == {"comm_error"}  # nothing answers the port

    assert main(["route-test", "-c", config, "--channel", CHANNEL, "--condition", "high"]) == 0
    capsys.readouterr()

    def comm_loss_listed() -> bool:
        assert main(["alarms", "list", "-c", config]) == 0  # the daemon answered
        out = capsys.readouterr()
        assert "_env" not in out.err and "not running" not in out.err
        listed.extend(out.out.splitlines())
        return any("tsx-07" in line for line in listed)

    listed: list[str] = []
    _wait_for("the comm-loss alarm", comm_loss_listed)  # nothing answers the device's port
    code = next(w for line in listed if "tsx-07" in line for w in line.split() if w[:2] == "A1")
    assert main(["alarms", "show", code, "-c", config]) == 0
    assert "tsx-07" in capsys.readouterr().out
    assert main(["alarms", "history", code, "-c", config]) == 0
    assert "raised" in capsys.readouterr().out
    assert main(["alarms", "show", "A9999", "-c", config]) == 1  # the daemon refused
    assert capsys.readouterr().err.startswith("coldwatch: refused")
    assert main(["alarms", "history", "A9999", "-c", config]) == 1  # nothing found
    assert "no alarm 'A9999' has any history" in capsys.readouterr().err


def test_run_and_check_config_still_refuse_a_missing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[3])
    config = site_config(tmp_path)
    monkeypatch.setenv(SMTP, "smtp-secret")
    monkeypatch.delenv(PIN, raising=False)
    line = next(
        n for n, text in enumerate(config.read_text().splitlines(), 1) if "id: alice" in text
    )

    assert main(["check-config", "-c", str(config)]) == 2
    out = capsys.readouterr().out
    assert out.strip() == (
        f"{config}:{line}: people[0]: pin_env names environment variable '{PIN}', which is not set"
    )
    assert main(["check-config", "--without-secrets", "-c", str(config)]) == 0
    capsys.readouterr()

    run = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != PIN},
    )
    assert run.returncode == 2
    assert run.stderr.strip() == out.strip()
    assert not (tmp_path / "cw.db").exists()  # refused before it opened anything
