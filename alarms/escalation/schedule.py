"""On-call schedules: who is on call at a given moment, and the ``schedule:<id>`` resolver.

A layer is a rotation whose turns begin at a *local* wall-clock time: a daily 08:00
Europe/Berlin hand-off stays at 08:00 local across the March and October changes, so a turn
that spans a change is 23 or 25 hours long. Turn boundaries are computed as local wall times
(``start`` + n * rotation, naive) and only then placed in the zone, which is what keeps them on
the wall clock. A hand-off inside a spring-forward gap (02:30 on the March change in Europe)
happens at the wall time one hour later (03:30), as ``zoneinfo`` maps a time in a gap; one in
the repeated autumn hour happens at its first occurrence.

Precedence: an override (``person X from T1 to T2``) beats every layer; otherwise the last
layer that names someone at that moment (a layer may be restricted to days or hours).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alarms.escalation.config import WEEKDAYS, LayerSpec, ScheduleSpec
from alarms.people import Directory, Person


class Layer:
    """One rotation of a schedule."""

    def __init__(self, spec: LayerSpec, zone: ZoneInfo) -> None:
        self.spec = spec
        self.zone = zone
        self.people = spec.people
        self.length = spec.rotation
        self.origin = datetime.combine(spec.start, spec.handoff)  # naive local wall time
        restrict = spec.restrict
        self.days = (
            frozenset(WEEKDAYS.index(day) for day in restrict.days)
            if restrict is not None and restrict.days is not None
            else None
        )
        self.window: tuple[time, time] | None = None
        if restrict is not None and (restrict.start is not None or restrict.end is not None):
            self.window = (restrict.start or time(0), restrict.end or time(0))

    def boundary(self, turn: int) -> datetime:
        """When turn ``turn`` begins (UTC): a local wall time placed in the zone."""
        wall = self.origin + turn * self.length
        return wall.replace(tzinfo=self.zone).astimezone(UTC)

    def turn(self, at: datetime) -> int:
        """The turn under way at ``at``: the last boundary at or before it."""
        local = at.astimezone(self.zone).replace(tzinfo=None)
        turn = (local - self.origin) // self.length
        while self.boundary(turn) > at:
            turn -= 1
        while self.boundary(turn + 1) <= at:
            turn += 1
        return turn

    def applies(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if self.days is not None and local.weekday() not in self.days:
            return False
        if self.window is None:
            return True
        start, end = self.window
        now = local.time().replace(tzinfo=None)
        if start < end:
            return start <= now < end
        return now >= start or now < end  # past midnight (or the whole day when equal)

    def on_call(self, at: datetime) -> str | None:
        if not self.applies(at):
            return None
        return self.people[self.turn(at) % len(self.people)]


class Schedule:
    """``Schedule(id, spec, default_timezone)``; :meth:`on_call` is the whole API."""

    def __init__(self, schedule_id: str, spec: ScheduleSpec, default_timezone: str = "UTC") -> None:
        self.id = schedule_id
        self.name = spec.name or schedule_id
        self.zone = ZoneInfo(spec.timezone or default_timezone)
        self.layers = [Layer(layer, self.zone) for layer in spec.layers]
        self.overrides = [
            (self._aware(override.start), self._aware(override.end), override.person)
            for override in spec.overrides
        ]

    def _aware(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self.zone)
        return when.astimezone(UTC)

    def on_call(self, at: datetime) -> list[str]:
        """Person ids on call at ``at`` (timezone-aware): the overrides in force, else the
        top layer that names someone; empty only if every layer is restricted away."""
        if at.tzinfo is None:
            raise ValueError("on_call needs a timezone-aware time")
        covering = [person for start, end, person in self.overrides if start <= at < end]
        if covering:
            return list(dict.fromkeys(covering))
        for layer in reversed(self.layers):
            person = layer.on_call(at)
            if person is not None:
                return [person]
        return []

    def changes(self, start: datetime, end: datetime) -> list[tuple[datetime, list[str]]]:
        """Who is on call from ``start`` to ``end``: each change as (when, people), the first
        at ``start``. Hand-offs, override edges and restriction edges are all candidates."""
        candidates = {start}
        for layer in self.layers:
            turn = layer.turn(start)
            while (edge := layer.boundary(turn + 1)) < end:
                candidates.add(edge)
                turn += 1
            if layer.window is not None or layer.days is not None:
                candidates.update(_local_edges(layer, start, end))
        for override_start, override_end, _ in self.overrides:
            candidates.update(edge for edge in (override_start, override_end) if start < edge < end)
        out: list[tuple[datetime, list[str]]] = []
        for when in sorted(candidates):
            people = self.on_call(when)
            if not out or out[-1][1] != people:
                out.append((when, people))
        return out


def _local_edges(layer: Layer, start: datetime, end: datetime) -> Iterable[datetime]:
    """Local midnights and window edges between start and end (for :meth:`Schedule.changes`)."""
    times = [time(0)]
    if layer.window is not None:
        times += list(layer.window)
    day = start.astimezone(layer.zone).date()
    last = end.astimezone(layer.zone).date()
    while day <= last:
        for time_of_day in times:
            edge = datetime.combine(day, time_of_day).replace(tzinfo=layer.zone).astimezone(UTC)
            if start < edge < end:
                yield edge
        day += timedelta(days=1)


class ScheduleResolver:
    """The notify :class:`~alarms.people.TargetResolver` plus ``schedule:<id>``:
    whoever is on call at the moment of the page."""

    def __init__(self, directory: Directory, schedules: Mapping[str, Schedule]) -> None:
        self.directory = directory
        self.schedules = dict(schedules)

    def person(self, person_id: str) -> Person | None:
        return self.directory.person(person_id)

    def expand(self, target: str, at: datetime) -> list[Person]:
        kind, _, name = target.partition(":")
        if kind != "schedule":
            return self.directory.expand(target, at)
        schedule = self.schedules.get(name)
        if schedule is None:
            raise KeyError(f"unknown target '{target}' (no schedule '{name}')")
        found: dict[str, Person] = {}
        for person_id in schedule.on_call(at):
            person = self.directory.person(person_id)
            if person is not None:
                found.setdefault(person_id, person)
        return list(found.values())

    def expand_all(self, targets: Iterable[str], at: datetime) -> list[Person]:
        found: dict[str, Person] = {}
        for target in targets:
            for person in self.expand(target, at):
                found.setdefault(person.id, person)
        return list(found.values())


def build_schedules(
    specs: Mapping[str, ScheduleSpec], default_timezone: str = "UTC"
) -> dict[str, Schedule]:
    return {
        schedule_id: Schedule(schedule_id, spec, default_timezone)
        for schedule_id, spec in specs.items()
    }
