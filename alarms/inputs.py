"""The alarm engine's inputs: readings, events and the passing of time, evaluated in place.

``on_reading`` / ``on_event`` are called synchronously by the pipeline (through the engine) for
every reading and event: a dictionary lookup and the conditions of that channel, never any I/O,
never an exception. Time-based conditions (stale data, a door open for N minutes with no further
report, shelve and maintenance ends, re-alarm, inhibit holds, chattering and flood ends) run in
:meth:`AlarmInputs.tick`, which the engine's task calls at :meth:`AlarmInputs.next_due`.
Readings older than the newest seen for their channel go to the late lane (:mod:`alarms.late`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from alarms.conditions import Verdict
from alarms.engine_parts import MAX_TEXT, EngineParts
from alarms.late import LateLane
from alarms.model import Action, AlarmState, ConditionKind
from alarms.point import AlarmPoint
from monitor.core.model import FLAG_LATE, Event, Reading

log = logging.getLogger(__name__)

ENGINE_FAULT_KEY = "coldwatch/engine_fault"


class AlarmInputs:
    """Routes readings (by channel) and events (by source) to the alarm points' conditions,
    and runs what falls due; the lifecycle records what changes.

    ``wake`` asks the engine's task to run soon (rows are queued, late data arrived);
    ``timer_changed`` tells it that a condition's timers changed (to be checkpointed)."""

    def __init__(
        self,
        parts: EngineParts,
        wake: Callable[[], None],
        timer_changed: Callable[[AlarmPoint], None],
    ) -> None:
        self.parts = parts
        self.wake = wake
        self.timer_changed = timer_changed
        self.faults = 0
        self.late = LateLane()
        self.newest: dict[str, datetime] = {}
        """The time of the newest reading seen of each channel (older ones are late data)."""
        self.by_channel: dict[str, list[AlarmPoint]] = {}
        self.by_source: dict[str, list[AlarmPoint]] = {}
        self.index()

    def index(self) -> None:
        """Which points each channel's readings and each source's events go to (again after
        the lifecycle's points changed)."""
        by_channel: dict[str, list[AlarmPoint]] = {}
        by_source: dict[str, list[AlarmPoint]] = {}
        for point in self.parts.life.points.values():
            for channel in point.rule.channels:
                by_channel.setdefault(channel, []).append(point)
            if point.rule.kind in (ConditionKind.COMM_LOSS, ConditionKind.SYSTEM):
                by_source.setdefault(point.rule.source, []).append(point)
        self.by_channel = by_channel
        self.by_source = by_source

    # --- readings and events -----------------------------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        points = self.by_channel.get(reading.channel)
        if points is None:
            return
        newest = self.newest.get(reading.channel)
        if newest is not None and reading.ts < newest:
            if not self.late:
                self.wake()  # later readings of the burst only push its end back
            now = self.parts.clock.now()
            for point in points:
                self.late.add(point, reading, now)
            return
        self.newest[reading.channel] = reading.ts
        late = bool(reading.flags & FLAG_LATE)
        arrived = self.parts.clock.now()  # what lets the clock complete a delay this starts
        journal = self.parts.journal
        pending = len(journal.pending)
        for point in points:
            try:
                verdict = point.condition.on_reading(reading, arrived)
                if point.condition.dirty:
                    self.timer_changed(point)
                if verdict is not None:
                    self.parts.life.apply(point, verdict, late)
            except Exception as exc:
                self._fault(point, exc)
        if len(journal.pending) != pending:
            self.wake()

    def on_event(self, event: Event) -> None:
        for point in self.by_source.get(event.source, ()):
            try:
                verdict = point.condition.on_event(event)
                if point.condition.dirty:
                    self.timer_changed(point)
                if verdict is None:
                    continue
                self.parts.life.apply(point, verdict)
                if point.rule.pulse and verdict.active:
                    point.condition.active = False
                    self.parts.life.apply(
                        point,
                        Verdict(False, verdict.at, value=verdict.value, detail=verdict.detail),
                        quiet=True,
                    )
            except Exception as exc:
                self._fault(point, exc)
        self.wake()

    def _fault(self, point: AlarmPoint, exc: Exception) -> None:
        """A rule that cannot be evaluated is itself an alarm (latching), never silence."""
        self.faults += 1
        try:
            if self.faults <= 10 or self.faults % 1000 == 0:
                log.error(
                    "alarm rule %s failed (%d failures so far)",
                    point.key,
                    self.faults,
                    exc_info=exc,
                )
            life = self.parts.life
            fault = life.points.get(ENGINE_FAULT_KEY)
            if fault is None or fault.base is not AlarmState.NORMAL or fault is point:
                return
            now = self.parts.clock.now()
            detail = f"{point.key}: {type(exc).__name__}: {exc}"[:MAX_TEXT]
            life.apply(fault, Verdict(True, now, detail=detail))
            life.apply(fault, Verdict(False, now, detail=detail), quiet=True)
            self.wake()
        except Exception:  # pragma: no cover - last resort: never raise into the pipeline
            log.exception("alarm engine fault handling failed")

    # --- time --------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> None:
        """Everything due by ``now`` (default: the clock's): time-based conditions, re-alarms,
        ends of shelves, maintenance, inhibit holds, chattering, flood; then late data."""
        now = now or self.parts.clock.now()
        life = self.parts.life
        for point in list(life.points.values()):
            try:
                self._tick_point(point, now)
            except Exception as exc:
                self._fault(point, exc)
        life.release_expired(now)
        life.check_flood(now)
        if self.late:
            for point, finding, found in self.late.drain(life.points, now):
                if found:
                    life.late_found(point, finding)
                else:
                    life.late_ended(point, finding)

    def _tick_point(self, point: AlarmPoint, now: datetime) -> None:
        life = self.parts.life
        condition = point.condition
        due = condition.due()
        if due is not None and due <= now:
            verdict = condition.on_time(now)
            if condition.dirty:
                self.timer_changed(point)
            if verdict is not None:
                life.apply(point, verdict)
        if point.realarm_due is not None and point.realarm_due <= now:
            life.realarm(point)
        oos = point.out_of_service
        if oos is not None and oos.until <= now:
            previous = point.state
            point.out_of_service = None
            life.leave_hidden(
                point, oos.until, Action.SERVICE_EXPIRED, previous, comment="maintenance ended"
            )
        shelve = point.shelve
        if shelve is not None and shelve.until <= now:
            previous = point.state
            point.shelve = None
            life.leave_hidden(
                point, shelve.until, Action.SHELVE_EXPIRED, previous, comment="shelve ended"
            )
        if point.chattering:
            life.check_chatter(point, now)

    def next_due(self) -> datetime | None:
        life = self.parts.life
        dues: list[datetime] = []
        for point in life.points.values():
            for due in (
                point.condition.due(),
                point.realarm_due,
                point.shelve.until if point.shelve else None,
                point.out_of_service.until if point.out_of_service else None,
                life.chatter_due(point),
            ):
                if due is not None:
                    dues.append(due)
        for due in (life.inhibitor.due(), life.flood.due(), self.late.due()):
            if due is not None:
                dues.append(due)
        return min(dues) if dues else None
