"""Planned stops and restarts with the daemon as a real process: a Modbus freezer (a real
pymodbus server) reading -80 C, paging through an outbox file, coldwatch's own alarms on a
call tree of three tiers one second apart (then tier 3 every second until acknowledged).

- ``coldwatch stop --reason`` then a start 3 s later: the downtime event and every channel's
  gap row name the person (from the socket's peer credentials), the reason and how long (on
  the boot clock: same boot); no page. A bare SIGTERM: "sender unknown", no page. SIGKILL:
  the unclean restart pages tier 1, once, and does not climb.
- With a 1 s threshold, the same 3 s planned stop pages tier 1 once, and nobody after.
- ``coldwatch restart`` without a supervisor: the same process runs again; under
  ``--supervised``, ``stop`` exits 3 (systemd leaves it stopped) and ``restart`` exits 0 (for
  systemd's ``Restart=`` to start it).

Each wait polls with a generous deadline (a loaded 2-core machine).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from monitor.app.daemon import service_user
from monitor.core.boot_clock import read_boot_stamp
from tests.support.daemon_site import CABINET, checkout_env, freezer_site
from tests.support.modbus_server import Unit, at, encode, modbus_server

DEADLINE = 30.0
CLIMB = 3.5
"""Seconds watched for a climb: tiers 2 and 3 would be paged within them."""
T = TypeVar("T")
MEASURE = "boot clock" if read_boot_stamp() is not None else "wall clock"
"""What the gap is measured on here: the boot clock on Linux (same boot, a restart)."""


@pytest.fixture
def site() -> Iterator[Path]:
    """A short folder (a Unix socket path holds 107 bytes; pytest's tmp_path can be longer)."""
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def write_config(folder: Path, port: int, system: dict[str, Any] | None = None) -> Path:
    people = ["alice", "bob", "carol"]
    data: dict[str, Any] = {
        **freezer_site(folder, port, "planned", "Planned stops"),
        "alarms": {"system": {"clock_unsynchronised": {"enabled": False}, **(system or {})}},
        "notifiers": {
            "outbox": {"type": "outbox", "path": str(folder / "outbox.jsonl"), "stderr": False}
        },
        "people": [
            {
                "id": p,
                "name": p.title(),
                "channels": ["outbox"],
                **({"os_users": [service_user()]} if p == "alice" else {}),
            }
            for p in people
        ],
        "escalation": {
            "policies": {
                "tree": {
                    "tiers": [{"notify": [f"person:{p}"], "wait": "1s"} for p in people],
                    "repeat": 0,
                }
            },
            "default_policy": "tree",
        },
    }
    path = folder / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start(config: Path, *options: str) -> subprocess.Popen[bytes]:
    with (config.parent / "daemon.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor.app.cli", "run", *options, "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=checkout_env(PYTHONUNBUFFERED="1"),
            cwd=config.parent,
        )


async def cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "monitor.app.cli", *args, "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=checkout_env(PYTHONUNBUFFERED="1"),
        cwd=config.parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE * 2)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def until(what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + DEADLINE
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE:g} s"
        await asyncio.sleep(0.05)
    return found


async def exited(proc: subprocess.Popen[bytes]) -> int:
    return await until("exit", proc.poll)


def rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows from the running daemon's store, read-only ([] while it is not there yet)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return []
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args).fetchall()]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


async def ready(config: Path, proc: subprocess.Popen[bytes]) -> None:
    """Serving its control socket, with a reading stored."""
    db = config.parent / "cw.db"

    def probe() -> bool | None:
        assert proc.poll() is None, f"the daemon exited ({proc.returncode})"
        served = (config.parent / "control.sock").exists()
        return (served and bool(rows(db, "SELECT 1 FROM readings LIMIT 1"))) or None

    await until("the daemon to serve", probe)


def downtimes(db: Path) -> list[dict[str, Any]]:
    found = rows(db, "SELECT kind, message, person, data FROM events WHERE kind = 'downtime'")
    return [{**r, "data": json.loads(r["data"])} for r in found]


def gap_pages(folder: Path) -> list[tuple[str, str, int]]:
    """(kind, to, tier) of every page about the monitoring gap so far."""
    db, outbox = folder / "cw.db", folder / "outbox.jsonl"
    codes = {
        r["code"]
        for r in rows(db, "SELECT code FROM alarm_history WHERE key = 'coldwatch/monitoring_gap'")
    }
    if not outbox.exists():
        return []
    pages = [json.loads(line) for line in outbox.read_text().splitlines(keepends=True)]
    return [
        (p["notification"]["kind"], p["to"]["id"], p["notification"]["tier"])
        for p in pages
        if p["notification"]["alarm_id"] in codes
    ]


def stale_details(db: Path) -> list[str]:
    return [
        r["detail"]
        for r in rows(db, "SELECT detail FROM readings WHERE quality = 'stale' ORDER BY id")
    ]


@pytest.mark.timeout(240)
async def test_planned_stop_sigterm_and_sigkill(site: Path, port: int) -> None:
    config = write_config(site, port)
    db = site / "cw.db"
    try:
        async with modbus_server(port, Unit(holding=at(CABINET, encode(-800, "int32")))):
            first = start(config)
            await ready(config, first)
            rc, out, err = await cli(config, "stop", "--reason", "new probe on the freezer")
            assert rc == 0, out + err
            assert f"coldwatch stopped (pid {first.pid}); recorded as alice" in out
            assert await exited(first) == 0
            await asyncio.sleep(3.0)

            second = start(config)
            (planned,) = await until("the downtime event", lambda: downtimes(db) or None)
            assert planned["person"] == "alice"
            assert planned["message"].startswith("coldwatch was stopped for ")
            assert planned["message"].endswith(
                f"s ({MEASURE}): stop asked by alice (OS user {service_user()}): "
                "new probe on the freezer"
                if service_user() != "alice"
                else f"s ({MEASURE}): stop asked by alice: new probe on the freezer"
            )
            data = planned["data"]
            assert 3.0 <= data["downtime_seconds"] < 30.0 and data["unclean"] is False
            assert data["gap_measure"] == MEASURE.replace(" ", "_")
            assert (data["planned"], data["stopped_by"], data["reason"]) == (
                True,
                "alice",
                "new probe on the freezer",
            )
            assert data["stop"]["os_user"] == service_user()
            (row,) = stale_details(db)
            assert "coldwatch was not running for" in row and "new probe on the freezer" in row
            await ready(config, second)
            await asyncio.sleep(CLIMB)
            assert gap_pages(site) == []  # recorded, not paged

            second.send_signal(signal.SIGTERM)  # systemctl stop, kill: nobody named
            assert await exited(second) == 0
            await asyncio.sleep(3.0)
            third = start(config)
            bare = await until("the second downtime", lambda: downtimes(db)[1:] or None)
            assert bare[0]["message"].endswith(f"s ({MEASURE}): SIGTERM, sender unknown")
            assert bare[0]["person"] is None and bare[0]["data"]["planned"] is False
            await ready(config, third)
            await asyncio.sleep(CLIMB)
            assert gap_pages(site) == []

            third.send_signal(signal.SIGKILL)  # not clean: pages as before, tier 1 ...
            await exited(third)
            fourth = start(config)
            await until("the unclean restart's page", lambda: gap_pages(site) or None)
            await asyncio.sleep(CLIMB)
            assert gap_pages(site) == [("raised", "alice", 1)]  # ... once: no climb
            fourth.send_signal(signal.SIGTERM)
            assert await exited(fourth) == 0
    except BaseException:
        log = site / "daemon.log"
        print(log.read_text() if log.exists() else "(no daemon log)")
        raise


@pytest.mark.timeout(180)
async def test_a_planned_gap_over_the_threshold_pages_tier_1_once(site: Path, port: int) -> None:
    config = write_config(site, port, {"monitoring_gap": {"clean_gap_threshold": "1s"}})
    try:
        async with modbus_server(port, Unit(holding=at(CABINET, encode(-800, "int32")))):
            first = start(config)
            await ready(config, first)
            rc, out, err = await cli(config, "stop", "--reason", "firmware update")
            assert rc == 0, out + err
            assert await exited(first) == 0
            await asyncio.sleep(3.0)
            second = start(config)
            await until("the gap's page", lambda: gap_pages(site) or None)
            await asyncio.sleep(CLIMB)
            assert gap_pages(site) == [("raised", "alice", 1)]
            second.send_signal(signal.SIGTERM)
            assert await exited(second) == 0
    except BaseException:
        log = site / "daemon.log"
        print(log.read_text() if log.exists() else "(no daemon log)")
        raise


@pytest.mark.timeout(180)
async def test_restart_runs_again_and_supervised_exit_statuses(site: Path, port: int) -> None:
    config = write_config(site, port)
    db = site / "cw.db"
    try:
        async with modbus_server(port, Unit(holding=at(CABINET, encode(-800, "int32")))):
            daemon = start(config)
            await ready(config, daemon)
            rc, out, err = await cli(config, "restart", "--reason", "alarm limits changed")
            assert rc == 0, out + err
            # no supervisor: the same process ran itself again
            assert f"coldwatch restarted (pid {daemon.pid})" in out and daemon.poll() is None
            (restart,) = await until("the downtime event", lambda: downtimes(db) or None)
            assert restart["data"]["stop"]["command"] == "restart"
            assert "restart asked by alice" in restart["message"]
            daemon.send_signal(signal.SIGTERM)
            assert await exited(daemon) == 0

            supervised = start(config, "--supervised")
            await ready(config, supervised)
            rc, out, err = await cli(config, "stop", "--reason", "decommissioning")
            assert rc == 0, out + err
            assert await exited(supervised) == 3  # RestartPreventExitStatus=3

            supervised = start(config, "--supervised")
            await ready(config, supervised)
            rc, out, err = await cli(config, "restart", "--reason", "upgrade", "--timeout", "4")
            assert await exited(supervised) == 0  # for systemd's Restart= to start it again
            assert rc == 1, out + err  # nobody started it again here: said so
            assert err.startswith("coldwatch: the daemon stopped, but none answers again after 4 s")
            assert gap_pages(site) == []
    except BaseException:
        log = site / "daemon.log"
        print(log.read_text() if log.exists() else "(no daemon log)")
        raise
