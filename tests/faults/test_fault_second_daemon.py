"""Fault: a second ``coldwatch run`` on a store in use, while the first polls and pages.

The second must exit 1 at once, writing nothing and paging nothing (it never gets the store's
lock); the first goes on as if nothing happened. Counted against the Modbus device's served
requests and the outbox: no due poll without its row, no poll stored twice, every page the
escalator decided delivered once.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_counts import (
    channel_rows,
    count_readings,
    named_gaps,
    outbox_pages,
    paging_result,
)
from tests.faults.fault_daemon import Daemons, freezers_on_one_device, write_config
from tests.faults.fault_report import FaultResult

ADDRESS = {"freezer_a.cabinet_temp": 0x540, "freezer_b.cabinet_temp": 0x542}
INTERVAL = 1.0
SECOND_TRIES = 3


def stored_twice(db: Path, channel: str) -> int:
    """Rows beyond one per poll timestamp (two daemons would each store every poll)."""
    per_ts = Counter(row.ts for row in channel_rows(db, channel))
    return sum(count - 1 for count in per_ts.values() if count > 1)


@pytest.mark.timeout(90)
async def test_a_second_daemon_on_the_store(
    tmp_path: Path,
    modbus_peer: Callable[..., Any],
    daemons: Callable[[Path], Daemons],
    fault_report: Callable[[FaultResult], None],
) -> None:
    db, outbox = tmp_path / "cw.db", tmp_path / "outbox.jsonl"

    def paged() -> int:
        return sum(outbox_pages(outbox).values())

    warm = ADDRESS["freezer_a.cabinet_temp"]
    async with modbus_peer({warm: -50.0, ADDRESS["freezer_b.cabinet_temp"]: -80.0}) as device:
        run = daemons(
            write_config(tmp_path, freezers_on_one_device(device.port, ADDRESS, INTERVAL, outbox))
        )
        first = run.start()
        await run.until("polls and pages", lambda: (paged() >= 2) or None)
        refused = 0
        for _ in range(SECOND_TRIES):  # a supervisor (or an operator) starting it again
            second = run.start()
            second.expected = 1  # refused: not a crash
            refused += await second.exited() == 1
        pages_before = paged()
        await run.until("paging going on", lambda: (paged() >= pages_before + 2) or None)
        await device.set(warm, -80.0)
        await first.stop(signal.SIGTERM)
        served = {channel: device.served(address) for channel, address in ADDRESS.items()}

    gaps = named_gaps(db)
    lost = twice = polls = 0
    for channel, times in served.items():
        count = count_readings(times, channel_rows(db, channel), INTERVAL, gaps.get(channel, []))
        lost += count.lost
        polls += count.polls
        twice += stored_twice(db, channel)
    result = paging_result(
        "a second daemon on the store",
        tmp_path,
        readings_lost=lost,
        crashes=run.crashes() + (SECOND_TRIES - refused),
        note=f"{refused} of {SECOND_TRIES} second starts refused; {polls} polls, "
        f"{twice} stored twice",
    )
    fault_report(result)
    assert twice == 0
    assert refused == SECOND_TRIES
    assert "not started: the store" in run.log_text()
