"""SystemClock.timeout: asyncio.timeout's semantics with one timer handle (it runs for every poll
of every device)."""

from __future__ import annotations

import asyncio

import pytest

from monitor.core.clock import SystemClock


async def test_a_block_past_its_deadline_raises_timeout_error() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.05 s"):
        async with SystemClock().timeout(0.05):
            await asyncio.sleep(5)
    assert 0.04 <= loop.time() - started < 1.0
    await asyncio.sleep(0.01)  # the task carries no cancellation left over
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_block_within_its_deadline_is_untouched() -> None:
    async with SystemClock().timeout(0.2):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)  # the timer was cancelled: nothing fires later


async def test_an_outside_cancellation_is_not_a_timeout() -> None:
    entered = asyncio.Event()

    async def work() -> None:
        async with SystemClock().timeout(5):
            entered.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_errors_inside_pass_through() -> None:
    with pytest.raises(ValueError, match="bad"):
        async with SystemClock().timeout(1):
            raise ValueError("bad")
