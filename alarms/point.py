"""One alarm point at run time: its rule, its condition, and its ISA-18.2 state.

The point is the unit the store keeps: every history row carries the point's
:class:`~alarms.model.AlarmView` after the change, and a restart rebuilds each point from its
newest row (:meth:`AlarmPoint.load`), so what was shelved, acknowledged or due stays so.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from datetime import datetime

from alarms import states
from alarms.conditions import Condition, build
from alarms.model import AlarmState, AlarmView, ConditionKind, Level, Priority
from alarms.rules.model import Rule
from monitor.core.model import Value


@dataclass(slots=True)
class Hold:
    """A shelve or an out-of-service period: bounded, with who and why."""

    until: datetime
    by: str
    reason: str


class AlarmPoint:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.key = rule.key
        self.condition: Condition = build(rule)
        # the condition, as last reported
        self.active = False
        self.level: Level | None = None
        self.value: Value | None = None
        self.limit: float | None = None
        self.detail = ""
        self.since: datetime | None = None
        self.activated_at: datetime | None = None
        self.changed_at: datetime | None = None
        # the occurrence
        self.base = AlarmState.NORMAL
        self.code: str | None = None
        self.raised_at: datetime | None = None
        self.acked_by: str | None = None
        self.acked_at: datetime | None = None
        self.ack_comment: str | None = None
        self.ack_via: str | None = None
        self.realarm_due: datetime | None = None
        self.realarm_count = 0
        self.late = False
        self.first_out: str | None = None
        # hiding
        self.shelve: Hold | None = None
        self.out_of_service: Hold | None = None
        self.suppressed_by: dict[str, str] = {}  # inhibit id -> the parent alarm's key
        # chattering
        self.activations: collections.deque[datetime] = collections.deque()
        self.chattering = False

    def __repr__(self) -> str:
        return f"<AlarmPoint {self.key} {self.state.value}>"

    @property
    def hidden(self) -> bool:
        return (
            self.out_of_service is not None or self.shelve is not None or bool(self.suppressed_by)
        )

    @property
    def state(self) -> AlarmState:
        return states.displayed(
            self.base,
            self.out_of_service is not None,
            self.shelve is not None,
            bool(self.suppressed_by),
        )

    @property
    def priority(self) -> Priority:
        if self.level is not None and self.level in self.rule.limits:
            return self.rule.limits[self.level][1]
        return self.rule.priority

    def open(self, code: str, at: datetime) -> None:
        """A new occurrence starts."""
        self.code = code
        self.raised_at = at
        self.acked_by = self.acked_at = self.ack_comment = self.ack_via = None
        self.realarm_due = None
        self.realarm_count = 0
        self.late = False
        self.first_out = None

    def close(self) -> None:
        """Back to NORMAL: the occurrence is over; its code is never used again."""
        self.base = AlarmState.NORMAL
        self.code = None
        self.raised_at = None
        self.realarm_due = None
        self.late = False

    def view(self) -> AlarmView:
        rule = self.rule
        unit = rule.unit
        if rule.kind is ConditionKind.RATE:
            unit = f"{unit}/min"
        elif rule.kind not in (ConditionKind.LIMIT, ConditionKind.DEVIATION):
            unit = ""
        where = rule.equipment or rule.source
        detail = self.detail or ("normal" if not self.active else rule.name)
        shelve, oos = self.shelve, self.out_of_service
        value = self.value
        return AlarmView(
            key=self.key,
            code=self.code,
            rule=rule.rule_id,
            condition=rule.kind,
            state=self.state,
            base_state=self.base,
            active=self.active,
            priority=self.priority,
            level=self.level,
            equipment=rule.equipment,
            equipment_name=rule.equipment_name,
            source=rule.source,
            source_name=rule.source_name,
            value=value if isinstance(value, float | str) or value is None else float(value),
            unit=unit,
            limit=self.limit,
            condition_text=self.level.text if self.level is not None else rule.name,
            message=f"{where} {rule.name}: {detail}",
            contingency=rule.contingency,
            since=self.since,
            raised_at=self.raised_at,
            changed_at=self.changed_at,
            activated_at=self.activated_at,
            acked_by=self.acked_by,
            acked_at=self.acked_at,
            ack_comment=self.ack_comment,
            ack_via=self.ack_via,
            realarm_due=self.realarm_due,
            realarm_count=self.realarm_count,
            shelved_until=shelve.until if shelve else None,
            shelved_by=shelve.by if shelve else None,
            shelve_reason=shelve.reason if shelve else None,
            out_of_service_until=oos.until if oos else None,
            out_of_service_by=oos.by if oos else None,
            out_of_service_reason=oos.reason if oos else None,
            suppressed_by=tuple(dict.fromkeys(self.suppressed_by.values())),
            first_out=self.first_out,
            chattering=self.chattering,
            late=self.late,
            detail=self.detail,
        )

    def load(self, view: AlarmView, activations: list[datetime]) -> None:
        """Take the state a history row recorded (after a restart, or to undo a command
        the store refused). Suppression is not loaded: it follows the parents' state."""
        self.active = view.active
        self.level = view.level if view.level in self.rule.limits else None
        if self.active and self.rule.limits and self.level is None:
            self.level = max(self.rule.limits, key=lambda lvl: lvl.rank)
        self.value = view.value
        self.limit = view.limit
        self.detail = view.detail
        self.since = view.since
        self.activated_at = view.activated_at
        self.changed_at = view.changed_at
        self.base = view.base_state if view.base_state in states.BASE_STATES else AlarmState.UNACK
        self.code = view.code
        self.raised_at = view.raised_at
        self.acked_by, self.acked_at = view.acked_by, view.acked_at
        self.ack_comment, self.ack_via = view.ack_comment, view.ack_via
        self.realarm_due = view.realarm_due
        self.realarm_count = view.realarm_count
        self.late = view.late
        self.first_out = view.first_out
        self.shelve = _hold(view.shelved_until, view.shelved_by, view.shelve_reason)
        self.out_of_service = _hold(
            view.out_of_service_until, view.out_of_service_by, view.out_of_service_reason
        )
        self.chattering = view.chattering
        self.activations = collections.deque(activations)
        if self.base is not AlarmState.NORMAL and self.code is None:
            self.base = AlarmState.NORMAL  # an occurrence without a code cannot be addressed


def _hold(until: datetime | None, by: str | None, reason: str | None) -> Hold | None:
    """A recorded hold, or None when any part of it is missing: an unknown shelve or
    maintenance period ends (fail-safe)."""
    if until is None or not by or not reason:
        return None
    return Hold(until, by, reason)
