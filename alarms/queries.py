"""What the command line, the HTTP API and the escalation layer ask the alarm engine.

Read-only: the open alarms from the lifecycle's points, closed occurrences and history from the
store's alarm records. The engine (:mod:`alarms.engine`) answers through :class:`AlarmQueries`.
"""

from __future__ import annotations

from datetime import datetime

from alarms.codes import parse_code
from alarms.engine_parts import EngineParts
from alarms.model import AlarmCommandError, AlarmState, AlarmView, FloodStatus
from monitor.store.base import AlarmRecord


class AlarmQueries:
    """The alarms as they are now, and as recorded."""

    def __init__(self, parts: EngineParts) -> None:
        self.parts = parts

    def active(self) -> list[AlarmView]:
        """Every alarm not in NORMAL (hidden ones too), those waiting for an acknowledgement
        first, then by priority and age."""
        points = self.parts.life.points.values()
        views = [p.view() for p in points if p.state is not AlarmState.NORMAL]
        clock = self.parts.clock
        return sorted(
            views,
            key=lambda v: (
                not v.needs_ack,
                -v.priority.rank,
                v.raised_at or v.changed_at or datetime.max.replace(tzinfo=clock.now().tzinfo),
                v.key,
            ),
        )

    def get(self, target: str) -> AlarmView:
        """An alarm by code (also a closed occurrence, from the record) or by key."""
        life = self.parts.life
        code = parse_code(target)
        if code is not None:
            point = life.codes.get(code)
            if point is not None:
                return point.view()
            rows = self.parts.store.alarm_records(code=code, newest_first=True, limit=1)
            if rows and isinstance(rows[0].data.get("alarm"), dict):
                return AlarmView.from_json(rows[0].data["alarm"])
        point = life.points.get(target)
        if point is None:
            raise AlarmCommandError(f"no alarm '{target}'")
        return point.view()

    def history(self, target: str) -> list[AlarmRecord]:
        code = parse_code(target)
        if code is not None:
            return self.parts.store.alarm_records(code=code)
        return self.parts.store.alarm_records(key=target)

    @property
    def flood(self) -> FloodStatus:
        flood = self.parts.life.flood
        return FloodStatus(flood.active, flood.since, flood.count(self.parts.clock.now()))

    @property
    def keys(self) -> list[str]:
        return sorted(self.parts.life.points)
