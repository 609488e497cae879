"""The daemon's run markers reach the disk: a power loss is told from a clean stop.

The store commits with ``synchronous=NORMAL`` (a WAL commit is not fsynced). The
``daemon_started`` marker is one commit with ``synchronous=FULL`` before anything can page; from
the stop on every commit is (the last readings and ``daemon_stopped``); the readings and events
in between keep the store's setting. Both markers carry the boot clock
(:mod:`monitor.core.boot_clock`) for the next start to measure the gap on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.app.config import load
from monitor.app.daemon import Daemon
from monitor.core.boot_clock import read_boot_stamp
from monitor.core.model import EventKind
from monitor.store.sqlite import SQLiteStore
from tests.monitor.app.test_daemon import example_with_store
from tests.support.ports import ClosedPorts
from tests.support.sql_trace import Traced


def level_of(commits: list[tuple[str, list[str]]], kind: str) -> str:
    (level,) = [level for level, kinds in commits if kind in kinds]
    return level


async def test_the_markers_are_fsynced_the_readings_are_not_and_both_carry_the_boot(
    tmp_path: Path, closed_port: ClosedPorts
) -> None:
    config = example_with_store(tmp_path, closed_port(), closed_port())
    daemon = Daemon(load(config), base_dir=tmp_path)
    assert isinstance(daemon.store, SQLiteStore)
    traced = Traced(daemon.store)
    await daemon.start()
    try:
        for _ in range(100):  # the writer's first commit (commit_interval 1 s)
            if daemon.store.events(kinds=[EventKind.CONFIG_LOADED]):
                break
            await asyncio.sleep(0.05)
    finally:
        await daemon.stop()
    commits = traced.commits()
    assert level_of(commits, EventKind.DAEMON_STARTED) == "FULL"
    assert level_of(commits, EventKind.CONFIG_LOADED) == "NORMAL"
    assert level_of(commits, EventKind.DAEMON_STOPPED) == "FULL"

    wal = tmp_path / "cw.db-wal"
    assert wal.stat().st_size == 0  # and the close checkpointed all of it into the store file
    with SQLiteStore(tmp_path / "cw.db") as store:
        (started,) = store.events(kinds=[EventKind.DAEMON_STARTED])
        (stopped,) = store.events(kinds=[EventKind.DAEMON_STOPPED])
    here = read_boot_stamp()
    if here is None:  # no boot clock here: the markers say nothing of one
        assert "boot" not in started.data and "boot" not in stopped.data
        return
    assert started.data["boot"]["boot_id"] == stopped.data["boot"]["boot_id"] == here.boot_id
    assert 0 < started.data["boot"]["since_boot"] < stopped.data["boot"]["since_boot"]
    assert stopped.data["boot"]["since_boot"] <= here.since_boot
