"""Suppression by design: a parent alarm (site power failure, gateway comm loss) hides the
comm-loss, stale and status alarms it causes, while it is active and ``hold`` after it clears
(devices take a while to come back after power returns).

A group is *engaged* while a parent is active or its hold runs. Which alarm of the group came
first (first-out) is decided when the group engages, among the parent and the children that
activated at most ``first_out_window`` before it, and recorded. Limit, rate and deviation alarms
are never children (:mod:`alarms.rules.inhibits` leaves them out).

This module keeps the groups' state; :mod:`alarms.suppression` applies it to the alarm points.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alarms.rules.model import InhibitRule


class InhibitGroup:
    def __init__(self, rule: InhibitRule) -> None:
        self.rule = rule
        self.id = rule.id
        self.active: set[str] = set()
        self.hold_until: datetime | None = None
        self.first_out: str | None = None
        self.hold = timedelta(seconds=rule.hold)
        self.window = timedelta(seconds=rule.first_out_window)

    @property
    def engaged(self) -> bool:
        return bool(self.active) or self.hold_until is not None

    def parent(self) -> str:
        """The parent to name as the cause: an active one, else the first listed."""
        return min(self.active) if self.active else self.rule.parents[0]


class Inhibitor:
    def __init__(self, rules: tuple[InhibitRule, ...]) -> None:
        self.groups = {r.id: InhibitGroup(r) for r in rules}
        self.by_parent: dict[str, list[InhibitGroup]] = {}
        self.by_child: dict[str, list[InhibitGroup]] = {}
        for group in self.groups.values():
            for key in group.rule.parents:
                self.by_parent.setdefault(key, []).append(group)
            for key in group.rule.children:
                self.by_child.setdefault(key, []).append(group)

    def parent_changed(
        self, key: str, active: bool, at: datetime
    ) -> tuple[list[InhibitGroup], list[InhibitGroup]]:
        """(groups that engage now, groups whose hold starts now)."""
        engaged: list[InhibitGroup] = []
        holding: list[InhibitGroup] = []
        for group in self.by_parent.get(key, ()):
            if active:
                was = group.engaged
                group.active.add(key)
                group.hold_until = None
                if not was:
                    engaged.append(group)
            elif key in group.active:
                group.active.discard(key)
                if not group.active:
                    group.hold_until = at + group.hold
                    holding.append(group)
        return engaged, holding

    def expire(self, now: datetime) -> list[tuple[InhibitGroup, datetime]]:
        """Groups whose hold ended by ``now``, and when: their children are released."""
        out = []
        for group in self.groups.values():
            end = group.hold_until
            if end is not None and not group.active and end <= now:
                group.hold_until = None
                group.first_out = None
                out.append((group, end))
        return out

    def engaged_for(self, child: str) -> list[InhibitGroup]:
        return [g for g in self.by_child.get(child, ()) if g.engaged]

    def due(self) -> datetime | None:
        holds = [g.hold_until for g in self.groups.values() if g.hold_until is not None]
        return min(holds) if holds else None
