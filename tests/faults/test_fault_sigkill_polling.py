"""Fault: the daemon is SIGKILLed while it polls and pages, and started again on the same store.

A real pymodbus device holds three freezers' temperatures: A and B polled every second, C
every 5 s (as a site polls: slower than a restart takes). Freezer A is warm (-50 C, past the
-60 C limit), so its critical alarm pages the call tree through the outbox from the first poll
on, every second. The kill lands right after freezer C's poll reached the device, its reading
not yet committed (the store commits once a second); the restarted daemon records the downtime,
resumes the escalation and pages on; then freezer A cools, the alarm returns to normal, the
paging stops, and the daemon gets SIGTERM.
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
    paging_result,
    read_only,
)
from tests.faults.fault_daemon import Daemons, paging, write_config
from tests.faults.fault_report import FaultResult

POLLS = 5
"""Polls of the fast device in each run, at least."""
FAST, SLOW = 1.0, 5.0
CHANNELS = {  # channel: (device, poll interval, holding register)
    "freezer_a.cabinet_temp": ("fast", FAST, 0x540),
    "freezer_b.cabinet_temp": ("fast", FAST, 0x542),
    "freezer_c.cabinet_temp": ("slow", SLOW, 0x544),
}
ADDRESS = {channel: address for channel, (_, _, address) in CHANNELS.items()}


def sections(port: int, outbox: Path) -> dict[str, Any]:
    def device(name: str, interval: float) -> dict[str, Any]:
        return {
            "id": name,
            "driver": "modbus",
            "interval": f"{interval:g}s",
            "timeout": "800ms",
            "settings": {
                "transport": "tcp",
                "host": "127.0.0.1",
                "port": port,
                "unit": 1,
                "request_timeout": "500ms",
            },
        }

    def freezer(channel: str) -> dict[str, Any]:
        name = channel.split(".")[0]
        source, _, address = CHANNELS[channel]
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
                        "device": source,
                        "register": "holding",
                        "address": address,
                        "type": "int32",
                        "scale": 0.1,
                    },
                }
            ],
        }

    return {
        "devices": [device("fast", FAST), device("slow", SLOW)],
        "locations": [{"id": "room", "equipment": [freezer(channel) for channel in CHANNELS]}],
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

    warm_freezer = ADDRESS["freezer_a.cabinet_temp"]
    async with modbus_peer(
        {address: -80.0 for address in ADDRESS.values()} | {warm_freezer: -50.0}
    ) as device:

        def polled(channel: str) -> int:
            return len(device.served(ADDRESS[channel]))

        def at_least(fast: int, slow: int, pages: int) -> Callable[[], bool | None]:
            def reached() -> bool | None:
                fast_ok = polled("freezer_b.cabinet_temp") >= fast
                return (
                    fast_ok and polled("freezer_c.cabinet_temp") >= slow and paged() >= pages
                ) or None

            return reached

        run = daemons(write_config(tmp_path, sections(device.port, outbox)))
        first = run.start()
        await run.until("polls and pages before the kill", at_least(POLLS, 1, 2))
        slow = polled("freezer_c.cabinet_temp")
        await run.until("the next slow poll", at_least(0, slow + 1, 0), every=0.001)
        first.send(signal.SIGKILL)  # its reading is in the store's queue, not yet committed
        await first.exited()
        second = run.start()
        after = at_least(polled("freezer_b.cabinet_temp") + POLLS, slow + 3, paged() + 3)
        await run.until("polls and pages after the restart", after)
        await device.set(warm_freezer, -80.0)
        await run.until("the paging stopped", lambda: "paused" in escalation_actions(db) or None)
        await second.stop(signal.SIGTERM)
        served = {channel: device.served(address) for channel, address in ADDRESS.items()}

    gaps = named_gaps(db)
    lost = uncommitted = polls = 0
    for channel, times in served.items():
        interval = CHANNELS[channel][1]
        count = count_readings(times, channel_rows(db, channel), interval, gaps.get(channel, []))
        lost += count.lost
        uncommitted += count.uncommitted
        polls += count.polls
    result = paging_result(
        "daemon SIGKILL during polling",
        tmp_path,
        readings_lost=lost,
        crashes=run.crashes(),
        note=f"{polls} polls, {uncommitted} taken < commit_interval before the kill and "
        "named in the restart's gap row",
    )
    fault_report(result)
    assert polls >= 2 * 2 * POLLS + 3
    assert count_pages(db, outbox).decided >= 5
