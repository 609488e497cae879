"""The MQTT faults' common course: a daemon reading a numbered flood, a fault in the middle.

:func:`flood_through` starts the daemon, waits until its persistent session exists (a probe
number is stored), floods, lets ``interrupt`` do the fault once the flood is being stored,
floods on for a while after it, then waits until every number the broker acknowledged is
stored (or a deadline passes: what is missing then is lost) and stops the daemon with SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.faults.fault_counts import paging_result, stored_numbers
from tests.faults.fault_daemon import DEADLINE, Daemons, paging, write_config
from tests.faults.fault_mqtt import CHANNEL, PROBE, NumberedPublisher, mqtt_sections
from tests.faults.fault_report import FaultResult

SETTLE = 30.0
"""How long the daemon gets, after the flood, to store what the broker still holds for it."""


@dataclass(frozen=True)
class FloodCount:
    published: int
    acknowledged: int
    lost: int
    """Acknowledged numbers never stored."""
    duplicated: int
    """Extra copies stored (at-least-once)."""
    during_fault: int
    """Numbers published from the fault's start until the daemon stored new ones again."""


def flood_config(folder: Path, host: str, port: int) -> Path:
    """The daemon's configuration: the flood's device and channel, the suite's paging."""
    return write_config(folder, {**mqtt_sections(host, port), **paging(folder / "outbox.jsonl")})


async def flood_through(
    run: Daemons,
    host: str,
    port: int,
    interrupt: Callable[[], Awaitable[None]],
    *,
    rate: float,
    before: float,
    after: float,
) -> FloodCount:
    """Flood at ``rate`` messages a second; ``interrupt`` once ``before`` seconds' worth are
    stored; go on until ``after`` seconds' worth more are published after the daemon stores
    numbers again."""
    db = run.config.parent / "cw.db"

    def stored() -> Counter[int]:
        try:
            return stored_numbers(db, CHANNEL)
        except sqlite3.OperationalError:  # no file or no table yet: the daemon is starting
            return Counter()

    run.start()
    publisher = NumberedPublisher(host, port, rate=rate)
    await asyncio.to_thread(publisher.connect)
    try:
        for _ in range(int(DEADLINE / 0.5)):  # until the daemon has subscribed
            publisher.probe()
            if await run.wait(lambda: PROBE in stored() or None, 0.5, every=0.1):
                break
        await run.until("the probe stored", lambda: PROBE in stored() or None)
        publisher.flood()
        await run.until("the flood stored", lambda: len(stored()) > rate * before or None, 0.1)
        before_fault = publisher.published
        await interrupt()
        await run.until(
            "numbers from after the fault's start stored",
            lambda: max(stored()) > before_fault or None,
            every=0.1,
        )
        back_at = publisher.published
        await run.until(
            "the flood after the fault",
            lambda: publisher.published > back_at + rate * after or None,
            every=0.1,
        )
    finally:
        await asyncio.to_thread(publisher.stop)
    acknowledged = publisher.acknowledged()
    await run.wait(lambda: acknowledged <= stored().keys() or None, SETTLE, every=0.2)
    await run.started[-1].stop(signal.SIGTERM)
    copies = stored()
    return FloodCount(
        published=publisher.published,
        acknowledged=len(acknowledged),
        lost=len(acknowledged - copies.keys()),
        duplicated=sum(n - 1 for number, n in copies.items() if number != PROBE),
        during_fault=back_at - before_fault,
    )


def flood_result(fault: str, flood: FloodCount, run: Daemons, during: str) -> FaultResult:
    """The figures: numbers lost from the flood, pages, crashes; ``during`` says what was away
    while ``during_fault`` numbers were published."""
    return paging_result(
        fault,
        run.config.parent,
        readings_lost=flood.lost,
        crashes=run.crashes(),
        note=f"{flood.acknowledged} of {flood.published} messages acknowledged by the broker, "
        f"{flood.during_fault} published while {during}, {flood.duplicated} stored twice",
    )
