"""What happens to an alarm, and the record of it: the state machine applied to alarm points.

Every change goes through :meth:`Lifecycle.record`, which writes one history row (with the
alarm's view after the change) to the journal and says what, if anything, is announced.
Nothing is announced while an alarm is SHELVED, SUPPRESSED or OUT_OF_SERVICE, but everything is
recorded; going into one of those states announces ``silenced`` (if the alarm was open and
announced) so that escalation stops, and leaving it puts the alarm in UNACK (announced as
raised) or NORMAL by its current condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from alarms import states
from alarms.codes import FIRST, make_code
from alarms.conditions import Verdict
from alarms.conditions.base import iso
from alarms.config import AlarmsConfig
from alarms.flood import FloodDetector
from alarms.inhibit import InhibitGroup, Inhibitor
from alarms.late import Finding
from alarms.model import (
    Action,
    AlarmState,
    AnnouncementKind,
)
from alarms.point import AlarmPoint, Hold
from alarms.records.alarm_history import FLOOD_KEY, INHIBIT_PREFIX, Journal
from alarms.states import Trigger
from monitor.core.clock import Clock
from monitor.store.base import AlarmRecord

S = AlarmState
K = AnnouncementKind


class Lifecycle:
    def __init__(
        self,
        settings: AlarmsConfig,
        clock: Clock,
        journal: Journal,
        inhibitor: Inhibitor,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.journal = journal
        self.inhibitor = inhibitor
        self.points: dict[str, AlarmPoint] = {}
        self.codes: dict[str, AlarmPoint] = {}  # open occurrences
        self.codes_issued = 0
        self.flood = FloodDetector(settings.flood)
        self.chatter_span = timedelta(seconds=settings.chattering.window)
        self.chatter_count = settings.chattering.count

    # --- records ---------------------------------------------------------------------------

    def record(
        self,
        point: AlarmPoint,
        action: Action,
        at: datetime,
        previous: AlarmState | None,
        announce: AnnouncementKind | None = None,
        *,
        code: str | None = None,
        person: str | None = None,
        via: str | None = None,
        comment: str | None = None,
        late: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> None:
        view = point.view()
        data: dict[str, Any] = {
            "alarm": view.to_json(),
            "activations": [t.isoformat() for t in point.activations],
            "codes_issued": self.codes_issued,
            "flood": self.flood.active,
        }
        if detail:
            data["detail"] = detail
        self.journal.add(
            AlarmRecord(
                recorded_at=self.clock.now(),
                at=at,
                key=point.key,
                action=action.value,
                state=view.state.value,
                code=code or point.code,
                previous=previous.value if previous is not None else None,
                announce=announce.value if announce is not None else None,
                late=late,
                person=person,
                via=via,
                comment=comment,
                data=data,
            )
        )
        if announce in (K.RAISED, K.LATE_FOUND):
            self.count_for_flood()

    def record_engine(
        self,
        key: str,
        action: Action,
        at: datetime,
        state: str,
        announce: AnnouncementKind | None = None,
        *,
        person: str | None = None,
        via: str | None = None,
        comment: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """A row about the engine itself (flood, inhibition, configuration)."""
        data: dict[str, Any] = {"codes_issued": self.codes_issued, "flood": self.flood.active}
        data.update(detail or {})
        self.journal.add(
            AlarmRecord(
                recorded_at=self.clock.now(),
                at=at,
                key=key,
                action=action.value,
                state=state,
                announce=announce.value if announce is not None else None,
                person=person,
                via=via,
                comment=comment,
                data=data,
            )
        )

    def count_for_flood(self) -> None:
        now = self.clock.now()
        if self.flood.add(now):
            self.record_engine(
                FLOOD_KEY,
                Action.FLOOD_STARTED,
                now,
                "FLOOD",
                K.FLOOD_STARTED,
                detail={"active": True, "since": now.isoformat(), "count": self.flood.count(now)},
            )

    def check_flood(self, now: datetime) -> None:
        if self.flood.check(now):
            self.record_engine(
                FLOOD_KEY,
                Action.FLOOD_ENDED,
                now,
                "NORMAL",
                K.FLOOD_ENDED,
                detail={"active": False, "count": self.flood.count(now)},
            )

    # --- occurrences ---------------------------------------------------------------------

    def new_code(self) -> str:
        code = make_code(FIRST + self.codes_issued)
        self.codes_issued += 1
        return code

    def open(self, point: AlarmPoint, at: datetime) -> None:
        point.open(self.new_code(), at)
        assert point.code is not None
        self.codes[point.code] = point

    def close(self, point: AlarmPoint) -> str | None:
        code = point.code
        if code is not None:
            self.codes.pop(code, None)
        point.close()
        return code

    def visible_open(self, point: AlarmPoint) -> bool:
        """Whether escalation may be running for it: open and not hidden."""
        return not point.hidden and point.base is not S.NORMAL

    # --- the condition changes -------------------------------------------------------------

    def apply(self, point: AlarmPoint, v: Verdict, late: bool = False, quiet: bool = False) -> None:
        """Take a condition's verdict. ``quiet``: the clear of a pulse, recorded only (the
        event was announced once, as raised)."""
        was_active, old_level = point.active, point.level
        point.value, point.limit, point.detail, point.changed_at = v.value, v.limit, v.detail, v.at
        if v.active:
            point.level = v.level
            if not was_active:
                point.active = True
                point.since = v.since or v.at
                point.activated_at = v.at
                self.activate(point, v.at, late)
            elif v.level is not None and old_level is not None and v.level != old_level:
                if v.level.rank > old_level.rank or v.level.high_side != old_level.high_side:
                    self.severity_raised(point, v.at, old_level.value, late)
                else:
                    self.record(
                        point,
                        Action.SEVERITY_LOWERED,
                        v.at,
                        point.state,
                        late=late,
                        detail={"from": old_level.value},
                    )
        elif was_active:
            point.active = False
            point.level = None
            self.deactivate(point, v.at, late, quiet)
        if point.active != was_active and point.key in self.inhibitor.by_parent:
            self.parent_changed(point, v.at)

    def activate(self, point: AlarmPoint, at: datetime, late: bool) -> None:
        previous = point.state
        self.count_chatter(point, at)
        action = Action.RECURRED
        if point.base is S.NORMAL:
            self.open(point, at)
            action = Action.RAISED
        point.base = states.step(point.base, Trigger.ACTIVATE) or S.UNACK
        point.realarm_due = None
        point.late = point.late or late
        announce = None if point.hidden else K.RAISED
        self.record(point, action, at, previous, announce, late=late)

    def severity_raised(self, point: AlarmPoint, at: datetime, old: str, late: bool) -> None:
        previous = point.state
        point.base = states.step(point.base, Trigger.REALARM) or S.UNACK
        point.realarm_due = None
        point.late = point.late or late
        announce = None if point.hidden else K.SEVERITY_RAISED
        self.record(
            point, Action.SEVERITY_RAISED, at, previous, announce, late=late, detail={"from": old}
        )

    def deactivate(self, point: AlarmPoint, at: datetime, late: bool, quiet: bool = False) -> None:
        previous = point.state
        trigger = Trigger.CLEAR_LATCHING if point.rule.latching else Trigger.CLEAR
        nxt = states.step(point.base, trigger) or point.base
        point.realarm_due = None
        visible = not point.hidden
        code = point.code
        if nxt is S.NORMAL:
            self.close(point)
        else:
            point.base = nxt
        announce = K.RETURNED_TO_NORMAL if visible and code and not quiet else None
        self.record(point, Action.CLEARED, at, previous, announce, code=code, late=late)

    def realarm(self, point: AlarmPoint) -> None:
        due, point.realarm_due = point.realarm_due, None
        rule = point.rule
        if (
            due is None
            or point.base is not S.ACKED
            or not point.active
            or point.hidden
            or (rule.realarm_max is not None and point.realarm_count >= rule.realarm_max)
        ):
            return
        previous = point.state
        point.base = S.UNACK
        point.realarm_count += 1
        self.record(
            point,
            Action.REALARM,
            due,
            previous,
            K.REALARM,
            detail={"count": point.realarm_count, "acked_at": iso(point.acked_at)},
        )

    def count_chatter(self, point: AlarmPoint, at: datetime) -> None:
        acts = point.activations
        acts.append(at)
        while acts and acts[0] <= at - self.chatter_span:
            acts.popleft()
        if not point.chattering and len(acts) >= self.chatter_count:
            point.chattering = True
            self.record(
                point,
                Action.CHATTERING,
                at,
                point.state,
                detail={"activations": len(acts), "window_s": self.chatter_span.total_seconds()},
            )

    def check_chatter(self, point: AlarmPoint, now: datetime) -> None:
        acts = point.activations
        while acts and acts[0] <= now - self.chatter_span:
            acts.popleft()
        if point.chattering and len(acts) < self.chatter_count:
            point.chattering = False
            self.record(point, Action.CHATTERING_ENDED, now, point.state)

    def chatter_due(self, point: AlarmPoint) -> datetime | None:
        if point.chattering and point.activations:
            return point.activations[0] + self.chatter_span
        return None

    # --- people --------------------------------------------------------------------------

    def acknowledge(self, point: AlarmPoint, person: str, comment: str, via: str | None) -> None:
        previous = point.state
        nxt = states.acknowledge(point.base, point.code or point.key)
        now = self.clock.now()
        visible = not point.hidden
        point.acked_by, point.acked_at, point.ack_comment, point.ack_via = person, now, comment, via
        code = point.code
        if nxt is S.NORMAL:
            self.close(point)
        else:
            point.base = nxt
        rule = point.rule
        if (
            nxt is S.ACKED
            and rule.realarm_after
            and (rule.realarm_max is None or point.realarm_count < rule.realarm_max)
        ):
            point.realarm_due = now + timedelta(seconds=rule.realarm_after)
        self.record(
            point,
            Action.ACKNOWLEDGED,
            now,
            previous,
            K.ACKNOWLEDGED if visible else None,
            code=code,
            person=person,
            via=via,
            comment=comment,
        )

    def reset(self, point: AlarmPoint, person: str, comment: str, via: str | None) -> None:
        previous = point.state
        states.reset(point.base, point.code or point.key)
        visible = not point.hidden
        code = self.close(point)
        self.record(
            point,
            Action.RESET,
            self.clock.now(),
            previous,
            K.RESET if visible else None,
            code=code,
            person=person,
            via=via,
            comment=comment,
        )

    def hide(
        self,
        point: AlarmPoint,
        action: Action,
        hold: Hold,
        attribute: str,
        via: str | None,
    ) -> None:
        """Shelve (``attribute="shelve"``) or take out of service."""
        previous = point.state
        silence = self.visible_open(point)
        setattr(point, attribute, hold)
        self.record(
            point,
            action,
            self.clock.now(),
            previous,
            K.SILENCED if silence else None,
            person=hold.by,
            via=via,
            comment=hold.reason,
            detail={"until": hold.until.isoformat()},
        )

    def leave_hidden(
        self,
        point: AlarmPoint,
        at: datetime,
        action: Action,
        previous: AlarmState,
        *,
        person: str | None = None,
        via: str | None = None,
        comment: str | None = None,
    ) -> None:
        """A shelve, suppression or maintenance period ended (the caller removed it)."""
        if point.hidden:  # still hidden by something else
            self.record(point, action, at, previous, person=person, via=via, comment=comment)
            return
        point.base = states.after_hiding(point.active)
        point.realarm_due = None
        announce = None
        code = point.code
        if point.base is S.UNACK:
            if point.code is None:
                self.open(point, at)
            point.acked_by = point.acked_at = point.ack_comment = point.ack_via = None
            announce = K.RAISED
        else:
            code = self.close(point)
        self.record(
            point,
            action,
            at,
            previous,
            announce,
            code=code,
            person=person,
            via=via,
            comment=comment,
        )

    # --- late data -------------------------------------------------------------------------

    def late_found(self, point: AlarmPoint, finding: Finding) -> None:
        previous = point.state
        if point.base is S.NORMAL and not point.active:
            self.open(point, finding.start)
            point.base = S.RTN_UNACK
            point.detail = f"found in late data: {finding.detail}"
            point.value, point.limit = finding.value, finding.limit
        point.late = True
        announce = None if point.hidden else K.LATE_FOUND
        self.record(
            point,
            Action.LATE_FOUND,
            finding.start,
            previous,
            announce,
            late=True,
            detail=finding.data(),
        )

    def late_ended(self, point: AlarmPoint, finding: Finding) -> None:
        assert finding.end is not None
        self.record(
            point, Action.LATE_ENDED, finding.end, point.state, late=True, detail=finding.data()
        )

    # --- inhibition ------------------------------------------------------------------------

    def parent_changed(self, point: AlarmPoint, at: datetime) -> None:
        engaged, holding = self.inhibitor.parent_changed(point.key, point.active, at)
        for group in engaged:
            group.first_out = self.first_out(group, point, at)
            point.first_out = group.first_out
            self.record_group(group, Action.INHIBIT_ENGAGED, at, parent=point.key)
            for child in self._children(group):
                self.suppress(child, group, at)
        for group in holding:
            self.record_group(group, Action.INHIBIT_HOLD, at, parent=point.key)
        self.release_expired(at)

    def first_out(self, group: InhibitGroup, parent: AlarmPoint, at: datetime) -> str:
        candidates = [(parent.activated_at or at, parent.key)]
        earliest = at - group.window
        for child in self._children(group):
            if child.active and child.activated_at is not None and child.activated_at >= earliest:
                candidates.append((child.activated_at, child.key))
        return min(candidates)[1]

    def suppress(self, child: AlarmPoint, group: InhibitGroup, at: datetime) -> None:
        if group.id in child.suppressed_by:
            return
        previous = child.state
        silence = self.visible_open(child)
        child.suppressed_by[group.id] = group.parent()
        child.first_out = group.first_out
        self.record(
            child,
            Action.SUPPRESSED,
            at,
            previous,
            K.SILENCED if silence else None,
            comment=f"suppressed while {group.parent()} is active (inhibit {group.id})",
            detail={"inhibit": group.id, "parent": group.parent(), "first_out": group.first_out},
        )

    def release_expired(self, now: datetime) -> None:
        for group, at in self.inhibitor.expire(now):
            self.record_group(group, Action.INHIBIT_RELEASED, at)
            for child in self._children(group):
                if group.id in child.suppressed_by:
                    previous = child.state
                    del child.suppressed_by[group.id]
                    self.leave_hidden(
                        child,
                        at,
                        Action.UNSUPPRESSED,
                        previous,
                        comment=f"inhibit {group.id} released",
                    )

    def record_group(
        self, group: InhibitGroup, action: Action, at: datetime, parent: str | None = None
    ) -> None:
        self.record_engine(
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

    def _children(self, group: InhibitGroup) -> Iterable[AlarmPoint]:
        for key in group.rule.children:
            child = self.points.get(key)
            if child is not None:
                yield child
