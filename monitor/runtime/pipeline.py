"""From the coordinator to the consumers: the store, the alarm engine, time-series sinks.

* Inline consumers (the alarm engine) are called synchronously for every reading: evaluation
  costs microseconds, so they never need a queue and never drop anything.
* Queued consumers (the store writer in :mod:`monitor.store.writer`, sinks) each own a
  bounded queue, so a slow consumer never blocks polling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from monitor.core.metrics import Metrics
from monitor.core.model import Event, Reading


class InlineConsumer(Protocol):
    """Called for every reading and event on the event loop; must be fast and never raise."""

    def on_reading(self, reading: Reading) -> None: ...

    def on_event(self, event: Event) -> None: ...


class QueuedConsumer(Protocol):
    """Owns a bounded buffer; ``offer`` never blocks and says whether it kept the reading."""

    name: str

    def offer(self, reading: Reading) -> bool: ...

    def offer_event(self, event: Event) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush what is buffered, then stop."""


class Pipeline:
    """Fans readings and events out to every consumer; never blocks the producer."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.inline: list[InlineConsumer] = []
        self.queued: list[QueuedConsumer] = []

    def publish(self, reading: Reading) -> None:
        for inline in self.inline:
            inline.on_reading(reading)
        for consumer in self.queued:
            if not consumer.offer(reading):
                self.metrics.inc(f"dropped_readings.{consumer.name}")

    def publish_many(self, readings: Iterable[Reading]) -> None:
        """:meth:`publish` for each reading in turn (one call per poll, not per channel)."""
        inline, queued = self.inline, self.queued
        for reading in readings:
            for consumer in inline:
                consumer.on_reading(reading)
            for sink in queued:
                if not sink.offer(reading):
                    self.metrics.inc(f"dropped_readings.{sink.name}")

    def publish_event(self, event: Event) -> None:
        for inline in self.inline:
            inline.on_event(event)
        for consumer in self.queued:
            consumer.offer_event(event)

    async def start(self) -> None:
        for consumer in self.queued:
            await consumer.start()

    async def stop(self) -> None:
        for consumer in self.queued:
            await consumer.stop()
