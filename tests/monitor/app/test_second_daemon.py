"""A second ``coldwatch run`` on a store in use exits 1 with one line naming the store, the other
daemon's pid and its start time; it writes nothing and pages nothing, whatever the control
socket or alarms settings; read-only commands still work beside the running daemon."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, *, alarms: bool, socket_path: str | None) -> Path:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    for device in data["devices"]:
        device["interval"] = "1s"
        device["timeout"] = "500ms"
        device["settings"]["request_timeout"] = "200ms"
    data["devices"][0]["settings"]["port"] = free_port()
    data["devices"][1]["settings"]["serial_port"] = f"socket://127.0.0.1:{free_port()}"
    if alarms:
        data["alarms"] = {"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}}
        for room in data["locations"]:  # keep the freezer: the example's incubator needs binding
            room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
        data["notifiers"] = {"outbox": {"type": "outbox", "path": str(tmp_path / "outbox.jsonl")}}
        control: dict[str, Any] = {"enabled": socket_path is not None}
        if socket_path is not None:
            control["path"] = socket_path
        data["acknowledgement"] = {"control_socket": control}
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _coldwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("alarms", "socket_name"),
    [(False, None), (True, None), (True, "elsewhere.sock")],
    ids=["no-alarms", "socket-disabled", "socket-elsewhere"],
)
def test_a_second_daemon_is_refused_and_writes_nothing(
    tmp_path: Path, alarms: bool, socket_name: str | None
) -> None:
    socket_path = str(tmp_path / "second" / socket_name) if socket_name else None
    config = _config(tmp_path, alarms=alarms, socket_path=None)
    db = tmp_path / "cw.db"
    first = subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        _wait_for("two readings", lambda: _count(db, "SELECT count(*) FROM readings") >= 2)
        if socket_path is not None:  # the second one would listen elsewhere: no clash to save it
            (tmp_path / "second").mkdir()
            second_config = _config(tmp_path / "second", alarms=alarms, socket_path=socket_path)
            data = yaml.safe_load(second_config.read_text())
            data["store"]["path"] = str(db)
            second_config.write_text(yaml.safe_dump(data, sort_keys=False))
        else:
            second_config = config
        last_event = _count(db, "SELECT coalesce(max(id), 0) FROM events")
        second = _coldwatch("run", "-c", str(second_config), cwd=tmp_path)
        assert second.returncode == 1, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        holder = json.loads((tmp_path / "cw.db.lock").read_text())
        assert lines[0] == (
            f"coldwatch: not started: the store {db} is in use by coldwatch pid {first.pid}, "
            f"running since {holder['started']}"
        )
        time.sleep(1.5)  # let the first daemon commit what it has
        # nothing of the second's: no start, no configuration load, no false unclean restart
        starts = _count(
            db,
            "SELECT count(*) FROM events WHERE kind IN "
            f"('daemon_started', 'config_loaded', 'unclean_restart') AND id > {last_event}",
        )
        assert starts == 0
        assert _count(db, "SELECT count(*) FROM config_versions") == 1
        if alarms:
            outbox = tmp_path / "outbox.jsonl"
            assert not outbox.exists() or outbox.read_text() == ""
        # read-only commands do not take the lock
        assert _coldwatch("verify", "-c", str(config), cwd=tmp_path).returncode == 0
        assert _coldwatch("status", "-c", str(config), cwd=tmp_path).returncode == 0
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(timeout=15)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
    assert first.returncode == 0
    # a clean stop frees the store for the next daemon
    assert not (tmp_path / "cw.db.lock").read_text()
    assert db.exists()
