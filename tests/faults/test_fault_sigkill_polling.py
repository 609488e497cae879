"""Fault: the daemon is SIGKILLed while it polls and pages, and started again on the same store.

A real pymodbus device holds two freezers' temperatures, polled every second. Freezer A is
warm (-50 C, past the -60 C limit), so its critical alarm pages the call tree through the
outbox from the first poll on, every second. The kill lands right after a page reached the
outbox (the moment a page is most likely half-recorded); the restarted daemon records the
downtime, resumes the escalation and pages on; then freezer A cools, the alarm returns to
normal, the paging stops, and the daemon gets SIGTERM.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_counts import (
    channel_rows,
    count_pages,
    count_readings,
    named_gaps,
    outbox_pages,
    read_only,
)
from tests.faults.fault_daemon import Daemons, paging, write_config
from tests.faults.fault_report import FaultResult

INTERVAL = 1.0
POLLS = 5
"""Polls of each run, at least."""
ADDRESS = {"freezer_a.cabinet_temp": 0x540, "freezer_b.cabinet_temp": 0x542}


def sections(port: int, outbox: Path) -> dict[str, Any]:
    def freezer(name: str) -> dict[str, Any]:
        return {
            "id": name,
            "kind": "ult_freezer",
            "name": f"ULT {name}",
            "channels": [
                {
                    "id": "cabinet_temp",
                    "quantity": "temperature",
                    "unit": "C",
                    "source": {
                        "device": "tsx",
                        "register": "holding",
                        "address": ADDRESS[f"{name}.cabinet_temp"],
                        "type": "int32",
                        "scale": 0.1,
                    },
                }
            ],
        }

    return {
        "devices": [
            {
                "id": "tsx",
                "driver": "modbus",
                "interval": f"{INTERVAL:g}s",
                "timeout": "800ms",
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "unit": 1,
                    "request_timeout": "500ms",
                },
            }
        ],
        "locations": [{"id": "room", "equipment": [freezer("freezer_a"), freezer("freezer_b")]}],
        **paging(
            outbox,
            alarms={
                "equipment": {
                    "freezer_a": {
                        "rules": {
                            "warm": {"on_delay": 0, "off_delay": 0},
                            "warm_warning": {"enabled": False},
                        }
                    }
                }
            },
        ),
    }


def escalation_actions(db: Path) -> list[str]:
    if not db.exists():
        return []
    with read_only(db) as conn:
        return [r["action"] for r in conn.execute("SELECT action FROM escalation_log")]


@pytest.mark.timeout(120)
async def test_daemon_sigkill_during_polling(
    tmp_path: Path,
    modbus_peer: Callable[..., Any],
    daemons: Callable[[Path], Daemons],
    fault_report: Callable[[FaultResult], None],
) -> None:
    db, outbox = tmp_path / "cw.db", tmp_path / "outbox.jsonl"

    def paged() -> int:
        return sum(outbox_pages(outbox).values())

    async with modbus_peer({ADDRESS["freezer_a.cabinet_temp"]: -50.0,
                            ADDRESS["freezer_b.cabinet_temp"]: -80.0}) as device:  # fmt: skip

        def polled() -> int:
            return len(device.served(ADDRESS["freezer_b.cabinet_temp"]))

        def at_least(polls: int, pages: int) -> Callable[[], bool | None]:
            return lambda: (polled() >= polls and paged() >= pages) or None

        run = daemons(write_config(tmp_path, sections(device.port, outbox)))
        first = run.start()
        await run.until("polls and pages before the kill", at_least(POLLS, 2))
        size = outbox.stat().st_size
        await run.until("the next page", lambda: outbox.stat().st_size > size or None, 0.001)
        first.send(signal.SIGKILL)  # as a page reaches the outbox, before it is logged as sent
        await first.exited()
        second = run.start()
        await run.until(
            "polls and pages after the restart", at_least(polled() + POLLS, paged() + 3)
        )
        await device.set(ADDRESS["freezer_a.cabinet_temp"], -80.0)
        await run.until("the paging stopped", lambda: "paused" in escalation_actions(db) or None)
        await second.stop(signal.SIGTERM)
        served = {channel: device.served(address) for channel, address in ADDRESS.items()}

    gaps = named_gaps(db)
    lost = uncommitted = polls = 0
    for channel, times in served.items():
        count = count_readings(times, channel_rows(db, channel), INTERVAL, gaps.get(channel, []))
        lost += count.lost
        uncommitted += count.uncommitted
        polls += count.polls
    pages = count_pages(db, outbox)
    fault_report(
        FaultResult(
            "daemon SIGKILL during polling",
            readings_lost=lost,
            pages_lost=pages.lost,
            pages_duplicated=pages.duplicated,
            crashes=run.crashes(),
            note=f"{polls} polls, {uncommitted} taken < commit_interval before the kill and "
            f"named in the restart's gap row; {pages.decided} pages decided, "
            f"{pages.withdrawn} withdrawn",
        )
    )
    assert polls >= len(ADDRESS) * 2 * POLLS
    assert pages.decided >= 5
