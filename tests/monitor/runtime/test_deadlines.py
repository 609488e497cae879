"""Poll deadlines on the injected clock: each poll is cancelled at its own start + timeout,
never later and never when it ended in time, and a cancellation from outside passes through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from monitor.core.clock import FakeClock
from monitor.runtime.deadlines import Deadlines


@pytest.fixture
async def deadlines(clock: FakeClock) -> AsyncIterator[Deadlines]:
    group = Deadlines(clock, 3.0)
    yield group
    await group.close()


async def poll(deadlines: Deadlines, clock: FakeClock, takes: float) -> tuple[str, float]:
    """A poll as the runner makes one: what became of it, and when (virtual seconds)."""
    watch = deadlines.watch()
    try:
        try:
            await clock.sleep_until(clock.monotonic() + takes)
        finally:
            expired = deadlines.end(watch)
    except asyncio.CancelledError:
        if not expired:
            raise
        return "timed out", clock.monotonic()
    return "answered", clock.monotonic()


async def test_a_hung_poll_is_cancelled_at_its_own_deadline(
    deadlines: Deadlines, clock: FakeClock
) -> None:
    quick = asyncio.create_task(poll(deadlines, clock, 0.5))
    await clock.advance(1.0)
    hung = asyncio.create_task(poll(deadlines, clock, 100))  # starts at t=1
    await clock.advance(2.5)
    slow = asyncio.create_task(poll(deadlines, clock, 2.9))  # starts at t=3.5
    await clock.advance(10)
    assert quick.result() == ("answered", 0.5)
    assert hung.result() == ("timed out", 4.0)  # 1 + 3: not the first poll's deadline
    assert slow.result() == ("answered", pytest.approx(6.4))
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_the_deadline_is_exact_for_polls_started_one_after_another(
    deadlines: Deadlines, clock: FakeClock
) -> None:
    polls = []
    for _ in range(5):  # five devices, each poll hung, started a second apart
        polls.append(asyncio.create_task(poll(deadlines, clock, 100)))
        await clock.advance(1.0)
    await clock.advance(10)
    assert [p.result() for p in polls] == [("timed out", s + 3.0) for s in range(5)]


async def test_an_outside_cancellation_is_not_a_timeout(
    deadlines: Deadlines, clock: FakeClock
) -> None:
    task = asyncio.create_task(poll(deadlines, clock, 100))
    await clock.advance(1.0)
    task.cancel()  # the coordinator stopping
    await clock.settle()
    assert task.cancelled()
    await clock.advance(10)  # the deadline passes: nothing else is cancelled
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_work_that_swallows_its_cancellation_leaves_no_request_behind(
    deadlines: Deadlines, clock: FakeClock
) -> None:
    async def deaf() -> tuple[bool, int]:
        watch = deadlines.watch()
        try:
            with contextlib.suppress(asyncio.CancelledError):  # a driver that ignores it
                await clock.sleep_until(clock.monotonic() + 100)
        finally:
            expired = deadlines.end(watch)
        task = asyncio.current_task()
        assert task is not None
        return expired, task.cancelling()

    task = asyncio.create_task(deaf())
    await clock.advance(5)
    assert task.result() == (True, 0)


async def test_a_poll_after_an_idle_spell_times_out_on_time(
    deadlines: Deadlines, clock: FakeClock
) -> None:
    done = asyncio.create_task(poll(deadlines, clock, 0.1))
    await clock.advance(4.5)
    assert done.result() == ("answered", 0.1)
    assert clock.pending_sleepers == 1  # the timer, idle: it wakes once per timeout
    again = asyncio.create_task(poll(deadlines, clock, 100))  # starts at 4.5, mid-sleep
    await clock.advance(5)
    assert again.result() == ("timed out", 7.5)
