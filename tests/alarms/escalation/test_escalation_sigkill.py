"""Escalation across a real SIGKILL: the daemon as a process, a real Modbus freezer, short tiers.

The in-process restart tests (``test_escalation_restart.py``) run on a FakeClock; this one
does it for real. The freezer reads -50 C (above the -60 C high-high limit, no on-delay), so
the daemon raises a critical alarm at its first poll and pages tier 1 (alice) through an
outbox file. Once the notification log says that page was sent, the daemon is killed with
SIGKILL, before tier 2 is due (5 s later), and started again on the same store. Then: tier 2
(bob) is paged, not before its time; alice's tier-1 page is not sent again (not even as a
"possible duplicate"); the restart is recorded as unclean and raises the monitoring-gap alarm;
and an acknowledgement through ``coldwatch alarms ack`` stops the paging (which would
otherwise go on to tier 3, carol, every 2 s).

Every wait polls with a generous deadline (a loaded 2-core CI machine); the only tight
window is the one the test is about: the kill must land within the 5 s of tier 1, and it
lands some 50 ms after the page is logged as sent.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from monitor.app.config import load
from monitor.app.daemon import service_user
from monitor.core.model import EventKind
from monitor.store.factory import open_store
from tests.support.daemon_site import CABINET, checkout_env, freezer_site
from tests.support.modbus_server import Unit, at, encode, modbus_server

TIER_WAIT = 2.0
TIER1_WAIT = 5.0
"""Tier 1 waits longer than the others: it is the window in which the test kills the daemon
and starts it again, and a restart took 1.3-2.6 s on a 2-core machine (Python imports). With
2 s there, the restarted daemon would mostly find tier 2 overdue, and "tier 2 not early"
would test nothing."""
DEADLINE = 30.0
ACTIVE = ("raised", "escalated", "re-alarm")

T = TypeVar("T")


def write_config(tmp_path: Path, port: int) -> Path:
    data: dict[str, Any] = {
        **freezer_site(tmp_path, port, "sigkill", "SIGKILL test site"),
        "alarms": {
            "equipment": {
                "freezer": {"rules": {"warm": {"on_delay": 0}, "warm_warning": {"enabled": False}}}
            }
        },
        "notifiers": {
            "outbox": {"type": "outbox", "path": str(tmp_path / "outbox.jsonl"), "stderr": False}
        },
        "people": [
            {"id": "alice", "name": "Alice", "channels": ["outbox"], "os_users": [service_user()]},
            {"id": "bob", "name": "Bob", "channels": ["outbox"]},
            {"id": "carol", "name": "Carol", "channels": ["outbox"]},
            {"id": "dave", "name": "Dave", "channels": ["outbox"]},
        ],
        "escalation": {
            "policies": {
                "tree": {
                    "tiers": [
                        {"notify": ["person:alice"], "wait": f"{TIER1_WAIT:g}s"},
                        {"notify": ["person:bob"], "wait": f"{TIER_WAIT:g}s"},
                        {"notify": ["person:carol"], "wait": f"{TIER_WAIT:g}s"},
                    ],
                    "repeat": 0,  # then carol every 2 s until acknowledged
                },
                "it": {"tiers": [{"notify": ["person:dave"], "wait": "1h"}]},
            },
            # coldwatch's own alarms (an unsynchronised clock at start, the monitoring gap
            # after the kill) page someone else: alice's pages are the freezer's alone
            "routes": [{"match": {"condition": "system"}, "policy": "it"}],
            "default_policy": "tree",
        },
    }
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextmanager
def daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``coldwatch run`` as a process, its output appended to ``log``; killed if still running
    when the block ends, whatever happened."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=checkout_env(PYTHONUNBUFFERED="1"),
            cwd=config.parent,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


async def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """A ``coldwatch`` command: exit code, stdout, stderr. Waited for without blocking the
    event loop (the Modbus server runs in it)."""
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "monitor.app.cli", *args, "-c", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=checkout_env(PYTHONUNBUFFERED="1"),
        cwd=config.parent,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def until(what: str, probe: Callable[[], T | None], proc: subprocess.Popen[bytes]) -> T:
    """Poll ``probe`` until it returns something, while the daemon runs."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = probe()
        if found is not None:
            return found
        assert proc.poll() is None, f"the daemon exited ({proc.returncode}) waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE:g} s"
        await asyncio.sleep(0.05)


async def exited(proc: subprocess.Popen[bytes]) -> int:
    """The exit code, waited for without blocking the event loop."""
    deadline = time.monotonic() + DEADLINE
    while (code := proc.poll()) is None:
        assert time.monotonic() < deadline, f"the daemon did not exit within {DEADLINE:g} s"
        await asyncio.sleep(0.05)
    return code


def log_rows(db: Path, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The notification log, read-only, beside a running daemon (the file or the table may
    not be there yet)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return []
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            f"SELECT * FROM notification_log WHERE {where} ORDER BY seq", args
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    return [dict(row) for row in rows]


def pages(outbox: Path) -> list[dict[str, Any]]:
    """The outbox's complete lines (a line being written is left for the next look)."""
    if not outbox.exists():
        return []
    return [
        json.loads(line)
        for line in outbox.read_text().splitlines(keepends=True)
        if line[-1:] == "\n"
    ]


def of(code: str, items: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    """Pages of alarm ``code`` whose notification (or recipient, ``to=``) matches."""
    found = []
    for page in items:
        note = page["notification"]
        if note["alarm_id"] != code:
            continue
        if "to" in match and page["to"]["id"] != match["to"]:
            continue
        if all(note.get(k) == v for k, v in match.items() if k != "to"):
            found.append(page)
    return found


def when(page: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(page["notification"]["event_at"])


@pytest.mark.timeout(180)  # the waits have their own deadlines; this is the backstop
async def test_sigkill_between_tiers(tmp_path: Path, port: int) -> None:
    config = write_config(tmp_path, port)
    outbox, log = tmp_path / "outbox.jsonl", tmp_path / "daemon.log"
    try:
        await sigkill_between_tiers(config, port, tmp_path / "cw.db", outbox, log)
    except BaseException:
        print(log.read_text() if log.exists() else "(no daemon log)")
        print(outbox.read_text() if outbox.exists() else "(no outbox)")
        raise


async def sigkill_between_tiers(config: Path, port: int, db: Path, outbox: Path, log: Path) -> None:
    freezer = Unit(holding=at(CABINET, encode(-500, "int32")))  # -50.0 C

    def tier1_sent() -> tuple[str, str] | None:
        rows = log_rows(db, "person_id = 'alice' AND status = 'sent' AND key LIKE 'esc/%'")
        return (rows[0]["alarm_id"], rows[0]["key"]) if rows else None

    async with modbus_server(port, freezer):
        with daemon(config, log) as first:
            code, tier1_key = await until("tier-1 page sent", tier1_sent, first)
            first.send_signal(signal.SIGKILL)  # no clean stop, right after the page
            await exited(first)
            killed_at = datetime.now(UTC)
        assert {r["key"] for r in log_rows(db, "alarm_id = ?", (code,))} == {tier1_key}, (
            f"tier 2 was paged before the kill: the machine was too slow for {TIER1_WAIT:g} s"
        )
        (tier1,) = of(code, pages(outbox), to="alice")
        assert tier1["notification"]["kind"] == "raised"
        assert tier1["notification"]["tier"] == 1
        assert tier1["notification"]["priority"] == "critical"
        assert tier1["notification"]["equipment"].startswith("ULT freezer")

        with daemon(config, log) as second:
            tier2 = await until(
                "tier-2 page after the restart",
                lambda: next(iter(of(code, pages(outbox), to="bob", tier=2)), None),
                second,
            )
            assert tier2["notification"]["kind"] == "escalated"
            while True:  # the control socket may not be listening yet
                rc, out, err = await cli(
                    config, "alarms", "ack", code, "--comment", "moved to backup freezer"
                )
                if rc == 0:
                    break
                assert "not running" in err, out + err
                assert second.poll() is None, "the daemon exited"
                await asyncio.sleep(0.2)
            assert f"{code} acknowledged by alice" in out, out
            # bob hears of it (alice acknowledged it herself), stamped with the ack's time
            told = await until(
                "acknowledged message to bob",
                lambda: next(iter(of(code, pages(outbox), to="bob", kind="acknowledged")), None),
                second,
            )
            await asyncio.sleep(3 * TIER_WAIT)  # carol would have been paged again by now
            assert second.poll() is None, "the daemon exited"
            second.send_signal(signal.SIGTERM)
            assert await exited(second) == 0

    everything = of(code, pages(outbox))
    active = [p for p in everything if p["notification"]["kind"] in ACTIVE]
    # tier 1 exactly once, never resent, not even marked as a possible duplicate
    assert len([p for p in active if p["notification"]["tier"] == 1]) == 1
    assert not [p for p in everything if p["notification"]["possible_duplicate"]]
    tier1_rows = log_rows(db, "key = ?", (tier1_key,))
    assert [r["status"] for r in tier1_rows] == ["pending", "sent"], tier1_rows
    assert not log_rows(db, "alarm_id = ? AND possible_duplicate = 1", (code,))
    # tier 2 by the restarted daemon, and not before its time: tier 1's time + the tier's wait
    assert when(tier2) >= when(tier1) + timedelta(seconds=TIER1_WAIT)
    assert when(tier2) >= killed_at
    # the acknowledgement stopped the paging: no page was begun after it (one begun just
    # before it may land after the ack returned; the tiers would have gone on every 2 s)
    assert [p for p in active if when(p) > when(told)] == []
    assert [p["to"]["id"] for p in active][:2] == ["alice", "bob"]

    loaded = load(config)
    store = open_store(loaded.config.store)
    try:
        (unclean,) = store.events(kinds=[EventKind.UNCLEAN_RESTART])
        assert unclean.data["unclean"] is True
        gap = store.alarm_records(key="coldwatch/monitoring_gap")
        assert [r for r in gap if r.action == "raised"], gap
        acks = [r for r in store.alarm_records(code=code) if r.action == "acknowledged"]
        assert [(a.person, a.via) for a in acks] == [("alice", "cli")]
        assert store.verify().ok
    finally:
        store.close()
