"""Inhibition applied to the alarm points: when a parent alarm engages its inhibit groups
(:mod:`alarms.inhibit`), their children are SUPPRESSED and the first-out is decided; when a
group's hold ends, its children are released. Every step is recorded through the lifecycle:
a row per child, and a row per group under ``inhibit/<id>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from alarms.conditions.base import iso
from alarms.inhibit import InhibitGroup, Inhibitor
from alarms.model import Action, AlarmState, AnnouncementKind
from alarms.records.alarm_history import INHIBIT_PREFIX

if TYPE_CHECKING:
    from alarms.point import AlarmPoint


class Lifecycle(Protocol):
    """What suppression needs of :class:`alarms.lifecycle.Lifecycle` (which calls in here, so
    this module names its needs instead of importing it)."""

    inhibitor: Inhibitor
    points: dict[str, AlarmPoint]

    def visible_open(self, point: AlarmPoint) -> bool: ...

    def record(
        self,
        point: AlarmPoint,
        action: Action,
        at: datetime,
        previous: AlarmState | None,
        announce: AnnouncementKind | None = None,
        *,
        comment: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None: ...

    def record_engine(
        self, key: str, action: Action, at: datetime, state: str, *, detail: dict[str, Any] | None
    ) -> None: ...

    def leave_hidden(
        self,
        point: AlarmPoint,
        at: datetime,
        action: Action,
        previous: AlarmState,
        *,
        comment: str | None = None,
    ) -> None: ...


def parent_changed(life: Lifecycle, point: AlarmPoint, at: datetime) -> None:
    """``point``, a parent of inhibit groups, became active or cleared."""
    engaged, holding = life.inhibitor.parent_changed(point.key, point.active, at)
    for group in engaged:
        group.first_out = first_out(life, group, point, at)
        point.first_out = group.first_out
        record_group(life, group, Action.INHIBIT_ENGAGED, at, parent=point.key)
        for child in _children(life, group):
            suppress(life, child, group, at)
    for group in holding:
        record_group(life, group, Action.INHIBIT_HOLD, at, parent=point.key)
    release_expired(life, at)


def first_out(life: Lifecycle, group: InhibitGroup, parent: AlarmPoint, at: datetime) -> str:
    """The key of the alarm of the group that activated first: the parent, or a child that
    activated at most the group's first-out window before ``at``."""
    candidates = [(parent.activated_at or at, parent.key)]
    earliest = at - group.window
    for child in _children(life, group):
        if child.active and child.activated_at is not None and child.activated_at >= earliest:
            candidates.append((child.activated_at, child.key))
    return min(candidates)[1]


def suppress(life: Lifecycle, child: AlarmPoint, group: InhibitGroup, at: datetime) -> None:
    """Hide ``child`` while ``group`` is engaged (silencing it if it was announced)."""
    if group.id in child.suppressed_by:
        return
    previous = child.state
    silence = life.visible_open(child)
    child.suppressed_by[group.id] = group.parent()
    child.first_out = group.first_out
    life.record(
        child,
        Action.SUPPRESSED,
        at,
        previous,
        AnnouncementKind.SILENCED if silence else None,
        comment=f"suppressed while {group.parent()} is active (inhibit {group.id})",
        detail={"inhibit": group.id, "parent": group.parent(), "first_out": group.first_out},
    )


def release_expired(life: Lifecycle, now: datetime) -> None:
    """Release the children of the groups whose hold ended by ``now``."""
    for group, at in life.inhibitor.expire(now):
        record_group(life, group, Action.INHIBIT_RELEASED, at)
        for child in _children(life, group):
            if group.id in child.suppressed_by:
                previous = child.state
                del child.suppressed_by[group.id]
                life.leave_hidden(
                    child,
                    at,
                    Action.UNSUPPRESSED,
                    previous,
                    comment=f"inhibit {group.id} released",
                )


def record_group(
    life: Lifecycle, group: InhibitGroup, action: Action, at: datetime, parent: str | None = None
) -> None:
    life.record_engine(
        INHIBIT_PREFIX + group.id,
        action,
        at,
        "SUPPRESSING" if group.engaged else "NORMAL",
        detail={
            "parent": parent,
            "active_parents": sorted(group.active),
            "hold_until": iso(group.hold_until),
            "first_out": group.first_out,
        },
    )


def _children(life: Lifecycle, group: InhibitGroup) -> Iterable[AlarmPoint]:
    for key in group.rule.children:
        child = life.points.get(key)
        if child is not None:
            yield child
