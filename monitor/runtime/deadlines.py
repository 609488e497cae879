"""Poll deadlines: each polled device's timeout, on time, without a timer per poll.

A timer per poll (``asyncio.timeout``, or ``call_at`` and ``cancel``) cost about as much as the
rest of the coordinator's own work per poll. Devices that share a timeout share one
:class:`Deadlines`: a poll's deadline is the time it starts plus that timeout, so deadlines
come in the order polls start and a FIFO keeps them sorted. One task sleeps until the deadline
of the oldest poll still running and cancels that poll's task at that time: not a periodic
tick, so never late. Polls that ended are dropped as it goes; a poll costs an append and a flag,
and the task wakes about once per timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from monitor.core.clock import Clock


class Watch:
    """One poll's deadline. The runner calls :meth:`Deadlines.end` when the poll ends."""

    __slots__ = ("cancelling", "deadline", "done", "expired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[object]) -> None:
        self.deadline = deadline
        self.task = task
        self.cancelling = task.cancelling()  # cancellations from outside, before this poll
        self.done = False
        self.expired = False


class Deadlines:
    """The deadlines of every poll of the devices with this ``timeout``."""

    def __init__(self, clock: Clock, timeout: float) -> None:
        self.clock = clock
        self.timeout = timeout
        self._watches: deque[Watch] = deque()
        self._timer: asyncio.Task[None] | None = None

    def watch(self) -> Watch:
        """Start the deadline of a poll that the current task runs from now on."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        watch = Watch(self.clock.monotonic() + self.timeout, task)
        self._watches.append(watch)
        timer = self._timer
        if timer is None or timer.done():
            self._timer = asyncio.create_task(self._run(), name=f"deadlines-{self.timeout:g}s")
        return watch

    @staticmethod
    def end(watch: Watch) -> bool:
        """The poll is over. True if its deadline cancelled it, and nothing else did: the
        caller turns that ``CancelledError`` into a timeout (as ``asyncio.timeout`` does)."""
        watch.done = True
        # uncancel even when the work swallowed the cancellation: take the request back
        return watch.expired and watch.task.uncancel() <= watch.cancelling

    async def _run(self) -> None:
        watches, clock, timeout = self._watches, self.clock, self.timeout
        while True:
            while watches and watches[0].done:
                watches.popleft()
            if not watches:
                # no poll running: one that starts from now on ends no earlier than now +
                # timeout (a wake-up per timeout at most; waking the timer per poll cost more)
                await clock.sleep_until(clock.monotonic() + timeout)
                continue
            first = watches[0]  # the oldest poll still running; only this task pops
            if clock.monotonic() < first.deadline:
                await clock.sleep_until(first.deadline)
                if first.done:
                    continue
            watches.popleft()
            first.expired = True
            first.task.cancel()

    async def close(self) -> None:
        """Stop the timer (after the polls it watches)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
