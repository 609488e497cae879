"""The daemon as a process: starts with nothing reachable, reports it, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from monitor.app.cli import main
from monitor.app.config import load
from monitor.core.model import EventKind, Quality
from monitor.store.factory import open_store
from tests.support.paths import REPO
from tests.support.ports import ClosedPorts

ROOT = REPO


def example_with_store(tmp_path: Path, port_a: int, port_b: int) -> Path:
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    # fast polls so the test sees several; the ports are free ones nobody listens on
    data["devices"][0]["interval"] = "1s"
    data["devices"][0]["timeout"] = "500ms"
    data["devices"][0]["settings"]["port"] = port_a
    data["devices"][0]["settings"]["request_timeout"] = "200ms"
    data["devices"][1]["interval"] = "1s"
    data["devices"][1]["timeout"] = "500ms"
    data["devices"][1]["settings"]["serial_port"] = f"socket://127.0.0.1:{port_b}"
    data["devices"][1]["settings"]["request_timeout"] = "200ms"
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_runs_with_no_device_reachable_and_stops_cleanly(
    tmp_path: Path, closed_port: ClosedPorts, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example_with_store(tmp_path, closed_port(), closed_port())
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    db = tmp_path / "cw.db"
    try:
        _wait_for(
            "three readings",
            lambda: (
                proc.poll() is not None
                or _count(
                    db, "SELECT count(*) FROM readings WHERE channel = ?", "freezer-07.cabinet_temp"
                )
                >= 3
            ),
        )
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert main(["status", "-c", str(config), "--format", "json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert {s["device"]: s["comm"] for s in status} == {"tsx-07": "down", "gmp251-03": "down"}
        for s in status:
            assert s["channels"], s
            assert {c["quality"] for c in s["channels"].values()} == {"comm_error"}
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        stop_seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == 0, stderr
    assert stop_seconds < 5.0
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    down_logs = [entry for entry in logs if "not communicating" in entry["msg"]]
    assert len(down_logs) == 2  # once per device, not once per poll
    loaded = load(config)
    store = open_store(loaded.config.store)
    try:
        rows = store.readings("freezer-07.cabinet_temp")
        assert len(rows) >= 3
        assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in rows)
        kinds = [e.kind for e in store.events()]
        assert kinds[0] == EventKind.DAEMON_STARTED and kinds[-1] == EventKind.DAEMON_STOPPED
        assert EventKind.CONFIG_LOADED in kinds
        (version,) = store.config_versions()
        assert version.sha256 == loaded.sha256
        assert store.verify().ok
        stopped = store.events(kinds=[EventKind.DAEMON_STOPPED])[0]
        committed = stopped.data["metrics"]
        assert committed  # the daemon reported what it did
    finally:
        store.close()
    assert main(["verify", "-c", str(config)]) == 0
    assert "hash chain intact" in capsys.readouterr().out


def _count(db: Path, sql: str, *args: object) -> int:
    """A count from the running daemon's store, read-only (0 while it does not exist yet)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql, args).fetchone()[0])
    except sqlite3.OperationalError:  # created but not migrated yet
        return 0


def _wait_for(what: str, check: object, timeout: float = 30.0) -> None:
    """Poll ``check()`` until true: startup takes longer on a loaded machine."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _start(config: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )


def test_a_killed_daemon_is_noticed_at_the_next_start(
    tmp_path: Path, closed_port: ClosedPorts
) -> None:
    config = example_with_store(tmp_path, closed_port(), closed_port())
    db = tmp_path / "cw.db"
    proc = _start(config, tmp_path)
    try:
        _wait_for(
            "readings of the first run",
            lambda: (
                _count(
                    db, "SELECT count(*) FROM readings WHERE channel = ?", "freezer-07.cabinet_temp"
                )
                >= 2
            ),
        )
    finally:
        proc.kill()  # SIGKILL: no clean stop, no daemon_stopped event
        proc.wait(timeout=10)
    time.sleep(2.0)
    proc = _start(config, tmp_path)
    try:
        _wait_for(
            "the unclean restart to be recorded",
            lambda: _count(db, "SELECT count(*) FROM events WHERE kind = 'unclean_restart'") == 1,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    loaded = load(config)
    store = open_store(loaded.config.store)
    try:
        (unclean,) = store.events(kinds=[EventKind.UNCLEAN_RESTART])
        assert unclean.data["unclean"] is True and unclean.data["downtime_seconds"] >= 2.0
        marks = [
            r
            for r in store.readings("freezer-07.cabinet_temp")
            if r.quality is Quality.STALE and "not running" in (r.detail or "")
        ]
        assert len(marks) == 1
        assert store.verify().ok  # nothing committed before the kill was lost or broken
    finally:
        store.close()


async def test_the_start_is_on_disk_before_anything_can_page(
    tmp_path: Path, closed_port: ClosedPorts
) -> None:
    """A run killed in its first second must still be found unclean at the next start: its
    ``daemon_started`` is committed before the alarm engine, the escalator or the pollers
    start (they write alarm records and pages at once, readings and events come batched)."""
    from monitor.app.daemon import Daemon

    config = example_with_store(tmp_path, closed_port(), closed_port())
    daemon = Daemon(load(config), base_dir=tmp_path)
    seen: list[int] = []
    original = daemon.coordinator.start

    async def start_polling() -> None:
        seen.append(len(daemon.store.events(kinds=[EventKind.DAEMON_STARTED])))
        await original()

    daemon.coordinator.start = start_polling  # type: ignore[method-assign]
    await daemon.start()
    await daemon.stop()
    assert seen == [1]


async def test_a_store_that_refuses_the_start_marker_does_not_stop_the_daemon(
    tmp_path: Path, closed_port: ClosedPorts
) -> None:
    """A full disk at start: the daemon still starts (and the writer's retries raise the
    store alarm); the start is recorded with the readings once the store takes writes."""
    import asyncio

    from monitor.app.daemon import Daemon
    from monitor.store.base import StoreError

    config = example_with_store(tmp_path, closed_port(), closed_port())
    daemon = Daemon(load(config), base_dir=tmp_path)
    calls = 0

    def full(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        raise StoreError("database or disk is full")

    daemon.store.append_durable = full  # type: ignore[method-assign]
    await daemon.start()
    try:
        for _ in range(100):
            if daemon.store.events(kinds=[EventKind.DAEMON_STARTED]):
                break
            await asyncio.sleep(0.05)
        assert len(daemon.store.events(kinds=[EventKind.DAEMON_STARTED])) == 1
        assert calls == 1  # the durable commit was refused; the writer's ordinary one took it
    finally:
        await daemon.stop()
