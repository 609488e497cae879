"""Fault: the store's disk fills up while a freezer warms.

The store is on a real 8 MiB filesystem (tmpfs, mounted for the test: root only) that the
test fills to the last byte; the fallback journal and the outbox are on another one. The
warm freezer's critical alarm must page on time although nothing can be written beside the
store; once the disk has room again, every poll the device served has its row and every page
the escalator decided reached the outbox, the records written late from the journal.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.faults.fault_counts import channel_rows, count_pages, count_readings, outbox_pages
from tests.faults.fault_daemon import Daemons, freezers_on_one_device, write_config
from tests.faults.fault_report import FaultResult
from tests.support.small_disk import fill, small_disk_fixture  # noqa: F401

WARM, OTHER = 0x540, 0x542
ADDRESS = {"freezer_a.cabinet_temp": WARM, "freezer_b.cabinet_temp": OTHER}
INTERVAL = 1.0


@pytest.mark.timeout(90)
async def test_a_full_disk_while_a_freezer_warms(
    tmp_path: Path,
    small_disk: Path,
    modbus_peer: Callable[..., Any],
    daemons: Callable[[Path], Daemons],
    fault_report: Callable[[FaultResult], None],
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    db, outbox = small_disk / "cw.db", run_dir / "outbox.jsonl"
    journal = run_dir / "fallback.journal"

    def paged() -> int:
        return sum(outbox_pages(outbox).values())

    async with modbus_peer({WARM: -80.0, OTHER: -80.0}) as device:
        sections = freezers_on_one_device(device.port, ADDRESS, INTERVAL, outbox)
        store = {"path": str(db), "fallback_journal": str(journal)}
        config = write_config(run_dir, {**sections, "store": store})
        run = daemons(config)
        daemon = run.start()
        await run.until("the first polls", lambda: (len(device.served(WARM)) >= 3) or None)
        filler = fill(small_disk)
        try:
            await device.set(WARM, -50.0)  # the freezer warms on a full disk
            await run.until("pages while the disk is full", lambda: (paged() >= 3) or None)
            waiting = journal.exists() and journal.stat().st_size > 0
        finally:
            filler.unlink()
        await run.until(
            "the journal written to the store",
            lambda: (journal.exists() and journal.stat().st_size == 0) or None,
        )
        await device.set(WARM, -80.0)
        await daemon.stop(signal.SIGTERM)
        served = {channel: device.served(address) for channel, address in ADDRESS.items()}

    lost = polls = 0
    for channel, times in served.items():
        count = count_readings(times, channel_rows(db, channel), INTERVAL, [])
        lost += count.lost
        polls += count.polls
    pages = count_pages(db, outbox)
    result = FaultResult(
        "disk full",
        readings_lost=lost,
        pages_lost=pages.lost,
        pages_duplicated=pages.duplicated,
        crashes=run.crashes(),
        note=f"{polls} polls; {pages.decided} pages decided; records waited in the fallback "
        f"journal: {waiting}",
    )
    fault_report(result)
    assert waiting
