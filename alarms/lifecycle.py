"""What happens to an alarm, and the record of it: the state machine applied to alarm points.

Every change goes through :meth:`Lifecycle.record` (:mod:`alarms.recorder`), which writes one
history row (with the alarm's view after the change) to the journal and says what, if anything,
is announced.
Nothing is announced while an alarm is SHELVED, SUPPRESSED or OUT_OF_SERVICE, but everything is
recorded; going into one of those states announces ``silenced`` (if the alarm was open and
announced) so that escalation stops, and leaving it puts the alarm in UNACK (announced as
raised) or NORMAL by its current condition.

Whether an alarm chatters is decided in :mod:`alarms.flood` and what an inhibit group does to
its children in :mod:`alarms.suppression`; both record through this lifecycle.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from alarms import states, suppression
from alarms.codes import FIRST, make_code
from alarms.conditions import Verdict
from alarms.conditions.base import iso
from alarms.config import AlarmsConfig
from alarms.flood import ChatterDetector
from alarms.inhibit import InhibitGroup, Inhibitor
from alarms.late import Finding
from alarms.model import Action, AlarmState, AnnouncementKind
from alarms.point import AlarmPoint, Hold
from alarms.recorder import AlarmRecorder
from alarms.records.alarm_history import Journal
from alarms.states import Trigger
from monitor.core.clock import Clock


class Lifecycle(AlarmRecorder):
    """The alarm points' ISA-18.2 states, changed by conditions, people and time, and
    recorded."""

    def __init__(
        self,
        settings: AlarmsConfig,
        clock: Clock,
        journal: Journal,
        inhibitor: Inhibitor,
    ) -> None:
        super().__init__(settings, clock, journal)
        self.settings = settings
        self.inhibitor = inhibitor
        self.points: dict[str, AlarmPoint] = {}
        self.codes: dict[str, AlarmPoint] = {}  # open occurrences
        self.chatter = ChatterDetector(settings.chattering)

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
        return not point.hidden and point.base is not AlarmState.NORMAL

    # --- the condition changes -------------------------------------------------------------

    def apply(
        self, point: AlarmPoint, verdict: Verdict, late: bool = False, quiet: bool = False
    ) -> None:
        """Take a condition's verdict. ``quiet``: the clear of a pulse, recorded only (the
        event was announced once, as raised).

        A change is never timed before the change it follows: a delay completed on the clock
        at its end can be followed by a reading stamped a little earlier that arrived after
        it, and what that reading changes is timed at the earlier change instead."""
        last = point.changed_at
        if last is not None and verdict.at < last:
            verdict = replace(verdict, at=last)
        since = verdict.since
        if not point.active and since is not None and last is not None and since < last:
            verdict = replace(verdict, since=last)
        was_active, old_level = point.active, point.level
        point.value, point.limit = verdict.value, verdict.limit
        point.detail, point.changed_at = verdict.detail, verdict.at
        if verdict.active:
            point.level = verdict.level
            if not was_active:
                point.active = True
                point.since = verdict.since or verdict.at
                point.activated_at = verdict.at
                self.activate(point, verdict.at, late)
            elif verdict.level is not None and old_level is not None and verdict.level != old_level:
                if (
                    verdict.level.rank > old_level.rank
                    or verdict.level.high_side != old_level.high_side
                ):
                    self.severity_raised(point, verdict.at, old_level.value, late)
                else:
                    self.record(
                        point,
                        Action.SEVERITY_LOWERED,
                        verdict.at,
                        point.state,
                        late=late,
                        detail={"from": old_level.value},
                    )
        elif was_active:
            point.active = False
            point.level = None
            self.deactivate(point, verdict.at, late, quiet)
        if point.active != was_active and point.key in self.inhibitor.by_parent:
            suppression.parent_changed(self, point, verdict.at)

    def activate(self, point: AlarmPoint, at: datetime, late: bool) -> None:
        previous = point.state
        self.count_chatter(point, at)
        action = Action.RECURRED
        if point.base is AlarmState.NORMAL:
            self.open(point, at)
            action = Action.RAISED
        point.base = states.step(point.base, Trigger.ACTIVATE) or AlarmState.UNACK
        point.realarm_due = None
        point.late = point.late or late
        announce = None if point.hidden else AnnouncementKind.RAISED
        self.record(point, action, at, previous, announce, late=late)

    def severity_raised(self, point: AlarmPoint, at: datetime, old_level: str, late: bool) -> None:
        previous = point.state
        point.base = states.step(point.base, Trigger.REALARM) or AlarmState.UNACK
        point.realarm_due = None
        point.late = point.late or late
        announce = None if point.hidden else AnnouncementKind.SEVERITY_RAISED
        self.record(
            point,
            Action.SEVERITY_RAISED,
            at,
            previous,
            announce,
            late=late,
            detail={"from": old_level},
        )

    def deactivate(self, point: AlarmPoint, at: datetime, late: bool, quiet: bool = False) -> None:
        previous = point.state
        trigger = Trigger.CLEAR_LATCHING if point.rule.latching else Trigger.CLEAR
        next_state = states.step(point.base, trigger) or point.base
        point.realarm_due = None
        visible = not point.hidden
        code = point.code
        if next_state is AlarmState.NORMAL:
            self.close(point)
        else:
            point.base = next_state
        announce = AnnouncementKind.RETURNED_TO_NORMAL if visible and code and not quiet else None
        self.record(point, Action.CLEARED, at, previous, announce, code=code, late=late)

    def realarm(self, point: AlarmPoint) -> None:
        due, point.realarm_due = point.realarm_due, None
        rule = point.rule
        if (
            due is None
            or point.base is not AlarmState.ACKED
            or not point.active
            or point.hidden
            or (rule.realarm_max is not None and point.realarm_count >= rule.realarm_max)
        ):
            return
        previous = point.state
        point.base = AlarmState.UNACK
        point.realarm_count += 1
        self.record(
            point,
            Action.REALARM,
            due,
            previous,
            AnnouncementKind.REALARM,
            detail={"count": point.realarm_count, "acked_at": iso(point.acked_at)},
        )

    # --- people --------------------------------------------------------------------------

    def acknowledge(
        self,
        point: AlarmPoint,
        person: str,
        comment: str,
        via: str | None,
        origin: str | None = None,
    ) -> None:
        previous = point.state
        next_state = states.acknowledge(point.base, point.code or point.key)
        now = self.clock.now()
        visible = not point.hidden
        point.acked_by, point.acked_at, point.ack_comment, point.ack_via = person, now, comment, via
        code = point.code
        if next_state is AlarmState.NORMAL:
            self.close(point)
        else:
            point.base = next_state
        rule = point.rule
        if (
            next_state is AlarmState.ACKED
            and rule.realarm_after
            and (rule.realarm_max is None or point.realarm_count < rule.realarm_max)
        ):
            point.realarm_due = now + timedelta(seconds=rule.realarm_after)
        self.record(
            point,
            Action.ACKNOWLEDGED,
            now,
            previous,
            AnnouncementKind.ACKNOWLEDGED if visible else None,
            code=code,
            person=person,
            via=via,
            comment=comment,
            origin=origin,
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
            AnnouncementKind.RESET if visible else None,
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
            AnnouncementKind.SILENCED if silence else None,
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
        if point.base is AlarmState.UNACK:
            if point.code is None:
                self.open(point, at)
            point.acked_by = point.acked_at = point.ack_comment = point.ack_via = None
            announce = AnnouncementKind.RAISED
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
        if point.base is AlarmState.NORMAL and not point.active:
            self.open(point, finding.start)
            point.base = AlarmState.RTN_UNACK
            point.detail = f"found in late data: {finding.detail}"
            point.value, point.limit = finding.value, finding.limit
        point.late = True
        announce = None if point.hidden else AnnouncementKind.LATE_FOUND
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

    # --- chattering (alarms.flood) and inhibition (alarms.suppression) --------------------

    def count_chatter(self, point: AlarmPoint, at: datetime) -> None:
        """Count one activation of ``point``; record it when it starts ``point`` chattering,
        announced when an occurrence is open (those paged for it are told, once)."""
        if self.chatter.activated(point, at):
            self.record(
                point,
                Action.CHATTERING,
                at,
                point.state,
                AnnouncementKind.CHATTERING if point.code and not point.hidden else None,
                detail={
                    "activations": len(point.activations),
                    "window_s": self.chatter.span.total_seconds(),
                },
            )

    def check_chatter(self, point: AlarmPoint, now: datetime) -> None:
        """Record the end of ``point``'s chattering once a whole window passed without an
        activation; announced when an occurrence is open (its return is told now)."""
        if self.chatter.check(point, now):
            told = point.code is not None and not point.hidden
            announce = AnnouncementKind.CHATTERING_ENDED if told else None
            self.record(point, Action.CHATTERING_ENDED, now, point.state, announce)

    def chatter_due(self, point: AlarmPoint) -> datetime | None:
        return self.chatter.due(point)

    def suppress(self, child: AlarmPoint, group: InhibitGroup, at: datetime) -> None:
        """See :func:`alarms.suppression.suppress`."""
        suppression.suppress(self, child, group, at)

    def release_expired(self, now: datetime) -> None:
        """See :func:`alarms.suppression.release_expired`."""
        suppression.release_expired(self, now)
