"""Injectable time: the daemon runs on the system clock, tests run on a fake one.

Every time-dependent part of coldwatch (schedules, timeouts, silence timers, alarm delays)
asks a :class:`Clock` instead of ``time`` or ``asyncio.sleep`` so that tests can be written
as timelines on virtual time rather than with real sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC: what readings are stamped with."""

    def monotonic(self) -> float:
        """Seconds on a clock that never steps: what schedules are computed on."""

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``monotonic() >= deadline``."""

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        """Like ``asyncio.wait_for`` but timed on this clock; raises ``TimeoutError``."""


class SystemClock:
    """The real clock: wall time from the OS, schedules on the event loop's monotonic time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        await asyncio.sleep(max(0.0, delay))

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        return await asyncio.wait_for(aw, timeout)


class FakeClock:
    """Virtual time for tests: nothing moves until the test calls :meth:`advance`.

    ``advance`` wakes sleepers in deadline order, letting the event loop run between
    wake-ups, so that a test reads like a timeline: push input at t, expect output at t2.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._wall0.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._mono)

    def monotonic(self) -> float:
        return self._mono

    def step_wall(self, seconds: float) -> None:
        """Step the wall clock without moving monotonic time (an NTP step)."""
        self._wall0 += timedelta(seconds=seconds)

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._mono:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._seq), fut))
        await fut

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        task = asyncio.ensure_future(aw)
        timer = asyncio.ensure_future(self.sleep_until(self._mono + timeout))
        try:
            done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise TimeoutError(f"timed out after {timeout} s")
        finally:
            timer.cancel()
            if not task.done():
                task.cancel()

    @property
    def pending_sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def settle(self, rounds: int = 50) -> None:
        """Let every runnable task run until the loop is idle (on virtual time)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move virtual time forward, waking each sleeper at its own deadline."""
        target = self._mono + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            if fut.done():
                continue
            self._mono = max(self._mono, deadline)
            fut.set_result(None)
            await self.settle()
        self._mono = target
        await self.settle()

    async def jump(self, seconds: float) -> None:
        """Move time forward at once, as if the event loop had been blocked meanwhile:
        sleepers whose deadlines passed wake up late, all together."""
        self._mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
        await self.settle()
