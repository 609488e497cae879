"""The alarm history's rows, as the lifecycle writes them: one per change of an alarm point
(with the point's view after the change) and one per change of the engine's own state (flood,
inhibition, configuration). Every row carries the occurrence codes issued so far and whether a
flood is on; every announced raise counts its alarm toward a flood (each alarm once however often
it recurs), and a flood's start and end are rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alarms.config import AlarmsConfig
from alarms.flood import FloodDetector
from alarms.model import Action, AlarmState, AnnouncementKind
from alarms.point import AlarmPoint
from alarms.records.alarm_history import FLOOD_KEY, Journal
from monitor.core.clock import Clock
from monitor.store.base import AlarmRecord


class AlarmRecorder:
    """Writes the history rows to the journal; :class:`alarms.lifecycle.Lifecycle` is one."""

    def __init__(self, settings: AlarmsConfig, clock: Clock, journal: Journal) -> None:
        self.clock = clock
        self.journal = journal
        self.codes_issued = 0  # occurrence codes issued so far, carried by every row
        self.flood = FloodDetector(settings.flood)

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
        origin: str | None = None,
    ) -> None:
        """``origin``: what authenticated ``person`` on the path ``via`` (an OS user, a phone
        number), for the audit trail."""
        view = point.view()
        data: dict[str, Any] = {
            "alarm": view.to_json(),
            "activations": [activation.isoformat() for activation in point.activations],
            "codes_issued": self.codes_issued,
            "flood": self.flood.active,
        }
        if detail:
            data["detail"] = detail
        if origin:
            data["origin"] = origin
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
        if announce in (AnnouncementKind.RAISED, AnnouncementKind.LATE_FOUND):
            self.count_for_flood(point.key)

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

    def count_for_flood(self, key: str) -> None:
        now = self.clock.now()
        if self.flood.add(now, key):
            self.record_engine(
                FLOOD_KEY,
                Action.FLOOD_STARTED,
                now,
                "FLOOD",
                AnnouncementKind.FLOOD_STARTED,
                detail={"active": True, "since": now.isoformat(), "count": self.flood.count(now)},
            )

    def check_flood(self, now: datetime) -> None:
        if self.flood.check(now):
            self.record_engine(
                FLOOD_KEY,
                Action.FLOOD_ENDED,
                now,
                "NORMAL",
                AnnouncementKind.FLOOD_ENDED,
                detail={"active": False, "count": self.flood.count(now)},
            )
