"""Conditions raised by events: a device's communication loss, and checks of coldwatch itself.

``device_down`` .. ``device_up`` from the coordinator (once each per outage), ``disk_low`` ..
``disk_ok`` and the like from ``monitor.runtime.health``. An event with no "ok" counterpart (a clock
step, a monitoring gap) is a pulse: the engine raises and returns it at once, so it waits in
RTN_UNACK until a person acknowledges that it happened. The monitoring gap after a clean stop
(a ``downtime`` event) raises it only when longer than the rule's ``clean_gap_threshold``: a
planned restart is in the record, not on anyone's phone. A gap that could not be measured
(``downtime_seconds`` null: rebooted while stopped with the clock not synchronised, a clock
behind the last record; see ``monitor.runtime.gap_measure``) is never short.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alarms.conditions.base import Condition, Verdict, iso, parse_ts
from alarms.model import ConditionKind, Level
from alarms.rules.model import Rule
from monitor.core.model import Event, EventKind


class EventCondition(Condition):
    kind = ConditionKind.COMM_LOSS

    def __init__(self, rule: Rule) -> None:
        super().__init__(rule)
        self.on_delay = timedelta(seconds=rule.spec.on_delay or 0.0)
        self.pending: datetime | None = None
        self.message = ""

    def on_event(self, event: Event) -> Verdict | None:
        if event.source != self.rule.source:
            return None
        if event.kind in self.rule.set_kinds:
            self.message = event.message
            if self.rule.pulse:
                return Verdict(True, event.ts, since=event.ts, detail=event.message)
            if self.active or self.pending is not None:
                return None
            if not self.on_delay:
                self.active = True
                return Verdict(True, event.ts, since=event.ts, detail=event.message)
            self.pending = event.ts
            self.dirty = True
            return None
        if event.kind in self.rule.clear_kinds:
            if self.pending is not None:
                self.pending = None
                self.dirty = True
            if self.active:
                self.active = False
                return Verdict(False, event.ts, detail=event.message)
        return None

    def due(self) -> datetime | None:
        return self.pending + self.on_delay if self.pending is not None else None

    def on_time(self, now: datetime) -> Verdict | None:
        due = self.due()
        if due is None or now < due:
            return None
        since, self.pending = self.pending, None
        self.active = True
        self.dirty = True
        return Verdict(True, due, since=since, detail=self.message)

    def timers(self) -> dict[str, Any]:
        return {"pending": iso(self.pending), "message": self.message}

    def restore(self, active: bool, level: Level | None, timers: dict[str, Any]) -> None:
        super().restore(active, None, timers)
        self.pending = None if active else parse_ts(timers.get("pending"))
        self.message = str(timers.get("message") or "")


class SystemCondition(EventCondition):
    kind = ConditionKind.SYSTEM

    def on_event(self, event: Event) -> Verdict | None:
        if self.short_clean_gap(event):
            return None
        return super().on_event(event)

    def short_clean_gap(self, event: Event) -> bool:
        """A ``downtime`` event (a clean stop) no longer than the threshold. Anything that
        cannot be read as one (no threshold, no figure: a gap that could not be measured, a
        figure below zero, an unclean flag) is not: it raises."""
        threshold = self.rule.clean_gap_threshold
        if threshold is None or event.kind != EventKind.DOWNTIME:
            return False
        seconds = event.data.get("downtime_seconds")
        if event.data.get("unclean") is not False or isinstance(seconds, bool):
            return False
        if not isinstance(seconds, int | float):
            return False
        return bool(0 <= seconds <= threshold)
