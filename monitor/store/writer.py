"""The store writer: batches readings and events into the store from one writer thread.

It is a queued consumer of the pipeline with a bounded buffer, so a slow disk never blocks
polling; it never loses a reading silently: when its buffer is full the overflow is counted
and a ``gap`` event records exactly which channels and times were lost.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from monitor.core.clock import Clock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.base import Store, StoreError

log = logging.getLogger(__name__)


@dataclass
class _LostSpan:
    first: datetime
    last: datetime
    count: int
    times: list[str] = field(default_factory=list)


class GapTracker:
    """Remembers exactly which readings a full queue refused, per channel."""

    MAX_TIMES_PER_CHANNEL = 1000

    def __init__(self) -> None:
        self._lost: dict[str, _LostSpan] = {}

    def __bool__(self) -> bool:
        return bool(self._lost)

    def add(self, reading: Reading) -> None:
        span = self._lost.get(reading.channel)
        if span is None:
            span = self._lost[reading.channel] = _LostSpan(reading.ts, reading.ts, 0)
        span.first = min(span.first, reading.ts)
        span.last = max(span.last, reading.ts)
        span.count += 1
        if len(span.times) < self.MAX_TIMES_PER_CHANNEL:
            span.times.append(reading.ts.isoformat())

    def take_event(self, now: datetime) -> Event:
        lost = self._lost
        self._lost = {}
        total = sum(s.count for s in lost.values())
        return Event(
            ts=now,
            kind=EventKind.GAP,
            source="store",
            message=f"store queue full: {total} readings of {len(lost)} channels were not stored",
            data={
                "reason": "store_queue_full",
                "lost": {
                    ch: {
                        "first": s.first.isoformat(),
                        "last": s.last.isoformat(),
                        "count": s.count,
                        "times": s.times,
                    }
                    for ch, s in sorted(lost.items())
                },
            },
        )


class StoreWriter:
    """Batches readings and events into the store from one writer thread.

    Commits whenever ``max_batch`` readings are waiting and at least every ``commit_interval``
    seconds. A failed commit keeps the batch and retries it; new readings wait in the
    bounded queue meanwhile (and overflow into a gap event if the failure lasts).
    """

    name = "store"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        queue_size: int = 100_000,
        max_batch: int = 2000,
        commit_interval: float = 1.0,
        max_events: int = 10_000,
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.commit_interval = commit_interval
        self.max_events = max_events
        self._readings: collections.deque[Reading] = collections.deque()
        self._events: collections.deque[Event] = collections.deque()
        self._gaps = GapTracker()
        self._lost_events = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="coldwatch-store"
        )
        self.last_error: str | None = None
        self.committed_batches = 0
        self.last_commit_at: datetime | None = None
        """When the last batch was committed (the injected clock's time): ``/healthz``."""

    # --- producers -------------------------------------------------------------------

    def offer(self, reading: Reading) -> bool:
        if len(self._readings) >= self.queue_size:
            self.metrics.inc("store_queue_overflow")
            self._gaps.add(reading)
            return False
        self._readings.append(reading)
        if len(self._readings) >= self.max_batch:
            self._wake.set()
        return True

    def offer_event(self, event: Event) -> bool:
        if len(self._events) >= self.max_events:
            self.metrics.inc("store_event_overflow")
            self._lost_events += 1
            return False
        self._events.append(event)
        return True

    @property
    def backlog(self) -> int:
        return len(self._readings)

    # --- the writer --------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def stop(self) -> None:
        """Commit everything still buffered, then release the writer thread."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        retry_delay = 0.5
        while True:
            if not self._stopping and len(self._readings) < self.max_batch:
                with contextlib.suppress(TimeoutError):
                    await self.clock.wait_for(self._wake.wait(), self.commit_interval)
            self._wake.clear()
            readings, events = self._take_batch()
            if readings or events:
                try:
                    try:
                        await loop.run_in_executor(
                            self._executor, self.store.append, readings, events
                        )
                    except (ValueError, TypeError) as exc:
                        # A value the store refuses (a bug upstream): keep the row, lose the value.
                        self.metrics.inc("store_refused_values")
                        log.error(
                            "store refused a batch (%s); storing the offending values as "
                            "bad-quality rows",
                            exc,
                        )
                        readings, events = salvage(readings, events)
                        await loop.run_in_executor(
                            self._executor, self.store.append, readings, events
                        )
                except StoreError as exc:
                    self._give_back(readings, events)
                    self.metrics.inc("store_write_failures")
                    if self.last_error is None:
                        log.error("store write failed; keeping the batch and retrying: %s", exc)
                    self.last_error = str(exc)
                    if self._stopping and retry_delay > 8:
                        log.critical(
                            "store unavailable at shutdown: %d readings not stored",
                            len(self._readings),
                        )
                        return
                    await self.clock.sleep_until(self.clock.monotonic() + retry_delay)
                    retry_delay = min(retry_delay * 2, 30.0)
                    continue
                if self.last_error is not None:
                    log.warning("store writes recovered")
                    self.last_error = None
                retry_delay = 0.5
                self.committed_batches += 1
                self.last_commit_at = self.clock.now()
                self.metrics.inc("store_readings_committed", len(readings))
            if self._stopping and not self._readings and not self._events and not self._gaps:
                return

    def _take_batch(self) -> tuple[list[Reading], list[Event]]:
        count = min(len(self._readings), self.max_batch)
        readings = [self._readings.popleft() for _ in range(count)]
        events = list(self._events)
        self._events.clear()
        if self._gaps and len(self._readings) < self.queue_size:
            events.append(self._gaps.take_event(self.clock.now()))
        if self._lost_events:
            events.append(
                Event(
                    self.clock.now(),
                    EventKind.STORE_OVERFLOW,
                    "store",
                    f"event queue full: {self._lost_events} events were not stored",
                )
            )
            self._lost_events = 0
        return readings, events

    def _give_back(self, readings: Sequence[Reading], events: Sequence[Event]) -> None:
        self._readings.extendleft(reversed(readings))
        self._events.extendleft(reversed(events))


def _storable(reading: Reading) -> Reading:
    value = reading.value
    ts = reading.ts if reading.ts.tzinfo is not None else reading.ts.replace(tzinfo=UTC)
    if (
        value is None
        or isinstance(value, str)
        or (isinstance(value, float) and math.isfinite(value))
    ):
        return reading if ts is reading.ts else replace(reading, ts=ts)
    if isinstance(value, int) and not isinstance(value, bool):
        return replace(reading, ts=ts, value=float(value))
    return Reading(
        reading.channel,
        ts,
        None,
        Quality.SENSOR_FAULT,
        reading.flags,
        f"value the store cannot keep: {value!r}"[:200],
    )


def salvage(
    readings: Sequence[Reading], events: Sequence[Event]
) -> tuple[list[Reading], list[Event]]:
    """Make every row storable: a value that cannot be kept becomes a bad-quality row."""
    fixed_events = [
        e if e.ts.tzinfo is not None else replace(e, ts=e.ts.replace(tzinfo=UTC)) for e in events
    ]
    return [_storable(r) for r in readings], fixed_events
