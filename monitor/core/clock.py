"""Injectable time: the daemon runs on the system clock, tests run on a fake one.

Every time-dependent part of coldwatch (schedules, timeouts, silence timers, alarm delays)
asks a :class:`Clock` instead of ``time`` or ``asyncio.sleep`` so that tests can be written
as timelines on virtual time rather than with real sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

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

    def timeout(self, seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
        """Like ``asyncio.timeout``, timed on this clock: no extra task, for hot paths.

        Work that swallows its cancellation is not stopped by it; callers that must never
        hang pair it with a watchdog (see ``monitor.runtime.coordinator``)."""


class Abandoned(TimeoutError):
    """The awaited work ignored its cancellation and was left running: whatever it holds
    (a lock, a connection) must be considered wedged and replaced."""


#: Work left running by :func:`bounded_wait`; kept so that it is not garbage-collected
#: mid-flight and its eventual exception is retrieved rather than reported as lost.
_abandoned: set[asyncio.Future[Any]] = set()

CANCEL_GRACE = 1.0


def _settle_abandoned(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()


async def _race(clock: Clock, task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait until ``task`` is done or ``seconds`` pass on ``clock``; True if it is done."""
    if isinstance(clock, SystemClock):  # the hot path: a timer handle, not a timer task
        await asyncio.wait({task}, timeout=seconds)
        return task.done()
    timer: asyncio.Future[Any] = asyncio.ensure_future(
        clock.sleep_until(clock.monotonic() + seconds)
    )
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return task.done()


async def bounded_wait(
    clock: Clock, aw: Awaitable[T], timeout: float, grace: float = CANCEL_GRACE
) -> T:
    """``asyncio.wait_for`` that can never hang the caller.

    ``asyncio.wait_for`` waits for the cancelled work to finish; work that swallows its
    cancellation (seen with nested ``wait_for`` on Python 3.11) would then hang the caller
    forever: a device task that silently stops polling. Here the caller gets
    :class:`TimeoutError` after ``timeout``, or :class:`Abandoned` if the work has not
    finished ``grace`` seconds after being cancelled.
    """
    task = asyncio.ensure_future(aw)
    try:
        if await _race(clock, task, timeout):
            return task.result()
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_settle_abandoned)
        _abandoned.add(task)
        raise
    task.cancel()
    if await _race(clock, task, grace):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()
        raise TimeoutError(f"timed out after {timeout:g} s")
    _abandoned.add(task)
    task.add_done_callback(_settle_abandoned)
    raise Abandoned(f"timed out after {timeout:g} s and ignored cancellation for {grace:g} s")


class SystemClock:
    """The real clock: wall time from the OS, schedules on the event loop's monotonic time."""

    # the C functions themselves, not methods around them: the poll loop asks for both on
    # every poll of every device, and a Python frame each time costs more than the reading
    now: Callable[[], datetime] = staticmethod(functools.partial(datetime.now, UTC))
    monotonic: Callable[[], float] = staticmethod(time.monotonic)

    def sleep_until(self, deadline: float) -> Coroutine[Any, Any, None]:
        # asyncio.sleep's own coroutine, not one around it: one frame less for the poll loop
        # to pass through on every sleep and wake-up
        return asyncio.sleep(max(0.0, deadline - time.monotonic()))

    async def wait_for(self, aw: Awaitable[T], timeout: float) -> T:
        return await bounded_wait(self, aw, timeout)

    def timeout(self, seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
        return _Deadline(seconds)


class _Deadline:
    """``asyncio.timeout(seconds)`` for the poll loop, which enters one for every poll of
    every device: the same semantics (``TimeoutError`` when the deadline cancels the block,
    an outside cancellation passes through), one timer handle, none of the rescheduling."""

    __slots__ = ("_cancelling", "_expired", "_handle", "_seconds", "_task")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._expired = False

    async def __aenter__(self) -> _Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        loop = task.get_loop()
        # call_later, one frame less
        self._handle = loop.call_at(loop.time() + self._seconds, self._expire)
        return self

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> None:
        self._handle.cancel()
        if (
            self._expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError(f"timed out after {self._seconds:g} s") from exc


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
        return await bounded_wait(self, aw, timeout)

    @contextlib.asynccontextmanager
    async def timeout(self, seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def expire(_: asyncio.Future[None]) -> None:
            nonlocal fired
            if not timer.cancelled():
                fired = True
                task.cancel()

        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), timer))
        timer.add_done_callback(expire)
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                fired = False
                if task.uncancel() == 0:
                    raise TimeoutError(f"timed out after {seconds:g} s") from None
            raise
        finally:
            if fired:  # the work swallowed our cancellation: take the request back anyway
                task.uncancel()
            if not timer.done():
                timer.cancel()

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
