"""Paging never depends on the disk: with the store on a real filesystem that is full, a
critical freezer alarm still pages through the real escalator to a real webhook peer, and the
on-call person's acknowledgement (``coldwatch alarms ack`` over the control socket) is taken
and stops the escalation; the page's records and the acknowledgement wait in the fallback
journal (on another filesystem) and reach the store, marked as recorded late, in their order,
once the disk has room again."""

from __future__ import annotations

import asyncio
import getpass
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.model import AlarmState
from monitor.app.cli import main as cli_main
from monitor.app.daemon import Daemon
from monitor.store.base import AuditQuery
from tests.support.fakes import FakePolled, fake_config
from tests.support.ports import free_port
from tests.support.small_disk import fill, small_disk_fixture  # noqa: F401


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=200, text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def until(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def late_rows(db: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return [
            (str(alarm), str(status), int(late))
            for alarm, status, late in conn.execute(
                "SELECT alarm_id, status, recorded_late_us FROM notification_log "
                "WHERE recorded_late_us IS NOT NULL ORDER BY seq"
            )
        ]


async def test_a_full_disk_does_not_silence_a_critical_page(
    tmp_path: Path,
    small_disk: Path,
    webhook: tuple[str, list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, received = webhook
    journal = tmp_path / "run" / "fallback.journal"
    journal.parent.mkdir()
    loaded = fake_config(
        tmp_path,
        [{"id": "dev", "driver": "fake", "interval": "1s", "timeout": "500ms"}],
        [
            {
                "id": "temp",
                "quantity": "temperature",
                "unit": "C",
                "source": {"device": "dev", "value": -80.0},
            }
        ],
        store={"path": str(small_disk / "cw.db"), "fallback_journal": str(journal)},
        alarms={
            "equipment": {
                "fr": {
                    "template": "other",
                    "rules": {
                        "warm": {
                            "condition": "limit",
                            "channel": "temp",
                            "high": -60,
                            "on_delay": 0,
                            "priority": "critical",
                            "contingency": "Move product to backup freezer BF-02.",
                        }
                    },
                }
            }
        },
        notifiers={"chat": {"type": "webhook", "url": url, "format": "slack_text"}},
        people=[
            {"id": "alice", "name": "Alice", "channels": ["chat"], "os_users": [getpass.getuser()]}
        ],
        acknowledgement={"control_socket": {"path": str(tmp_path / "run" / "control.sock")}},
        escalation={
            "policies": {"cold": {"tiers": [{"notify": ["person:alice"], "wait": "10m"}]}},
            "default_policy": "cold",
        },
    )
    db = small_disk / "cw.db"
    daemon = Daemon(loaded, base_dir=tmp_path)
    await daemon.start()
    filler: Path | None = None
    try:
        await until(
            "the first readings", lambda: daemon.metrics.get("store_readings_committed") > 0
        )
        filler = fill(small_disk)
        FakePolled.instances["dev"].values["fr.temp"] = -50.0  # the freezer warms
        await until(
            "the warm alarm's page at the webhook",
            lambda: any("warm" in str(page) or "BF-02" in str(page) for page in received),
        )
        assert len(daemon.journal) > 0, "the page's records wait in the journal"
        assert journal.stat().st_size > 0  # and survives a crash, on the other filesystem
        kinds = {entry.kind for entry in daemon.journal.pending()}
        assert {"notification_log", "alarm_history"} <= kinds
        engine = daemon.alarms
        assert engine is not None
        code = engine.get("fr.temp/warm").code
        assert code is not None
        acked = await asyncio.to_thread(
            cli_main,
            ["alarms", "ack", code, "-c", str(tmp_path / "config.yaml"), "--comment", "moved"],
        )
        assert acked == 0, capsys.readouterr()
        assert engine.get("fr.temp/warm").state is AlarmState.ACKED
        escalator = daemon.escalator
        assert escalator is not None
        await until(
            "the escalation to stop",
            lambda: {t.status for t in escalator.tracks() if t.code == code} == {"acked"},
        )
        filler.unlink()  # the disk has room again
        filler = None
        await until("the journal to be written to the store", lambda: len(daemon.journal) == 0)
        rows = late_rows(db)
        assert rows, "the page's records reached the notification log, marked late"
        assert {status for _, status, _ in rows} >= {"pending", "sent"}
        assert journal.stat().st_size == 0
        history = daemon.store.alarm_records(code=code)
        actions = [(r.action, r.person) for r in history]
        assert ("acknowledged", "alice") in actions
        assert all("recorded_late_at" in r.data for r in history)
        assert [r.seq for r in history] == sorted(r.seq for r in history)
        # the acknowledgement reached the audit trail with its history row, marked late too
        [audited] = daemon.store.audit_entries(AuditQuery(action="alarm.acknowledged"))
        assert (audited.person, audited.method, audited.reason) == ("alice", "cli", "moved")
        assert audited.subject == code and audited.equipment == "fr"
        assert audited.detail is not None and "recorded_late_at" in audited.detail
    finally:
        if filler is not None:
            filler.unlink()
        await daemon.stop()
    assert cli_main(["verify", "-c", str(tmp_path / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "notification log" in out
    assert "audit trail (table audit_log): " in out and "hash chain intact" in out
