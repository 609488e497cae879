"""The escalator's side of its record (:class:`~alarms.escalation.state.EscalationLog`): a row
per change with the whole track after it, written before any page leaves.

A record that cannot be written is logged (at most once a minute) and paging goes on: a page
matters more than its row. A record that cannot be read at start is logged and read as empty:
the engine's open alarms decide then (:mod:`alarms.escalation.recovery`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from alarms.escalation.state import EscalationLog, EscalationRow, Track
from alarms.model import Announcement
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter

log = logging.getLogger(__name__)

Read = TypeVar("Read")


class RecordWriter:
    """Rows for ``record``, stamped with ``clock``; errors logged, never raised."""

    def __init__(self, record: EscalationLog, clock: Clock) -> None:
        self.record = record
        self.clock = clock
        self._limiter = RateLimiter(60.0)

    def save(
        self,
        action: str,
        track: Track,
        announcement: Announcement | None,
        *,
        closed: bool = False,
        detail: str | None = None,
    ) -> None:
        """A row with ``track`` as it is now; ``announcement``: what caused it (None: a timer,
        or the check at start)."""
        data = track.to_json()
        if detail:
            data["detail"] = detail
        self.append(
            EscalationRow(
                action,
                self.clock.now(),
                track.id,
                track.code,
                track.key,
                closed,
                data,
                event_id=announcement.event_id if announcement is not None else None,
                ann_seq=(
                    announcement.seq if announcement is not None and announcement.recorded else None
                ),
            )
        )

    def append(self, row: EscalationRow) -> None:
        """Record; a failing record is logged and paging goes on (a page matters more)."""
        try:
            self.record.append(row)
        except Exception as exc:
            allowed, suppressed = self._limiter.allow("append")
            if allowed:
                log.error(
                    "the escalation record cannot be written (%s)%s; paging continues",
                    exc,
                    f" ({suppressed} similar not logged)" if suppressed else "",
                )

    def read(self, read: Callable[[], Read]) -> Read | None:
        """``read()`` of the record, or None (logged) when it fails."""
        try:
            return read()
        except Exception:
            log.exception("cannot read the escalation record")
            return None
