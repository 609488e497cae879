"""Escalation progress, and the append-only record that lets it survive a restart.

One :class:`Track` per alarm occurrence (alarm code): its policy, the step last paged, when
the next is due, who was paged. Every change appends a row with the whole track after it (a
snapshot of a kilobyte or two, alarm view included; pages are rare), *before* the page goes
out, so a restarted escalator takes the newest row of every open track and carries on: the
next tier on time, and nothing already paged paged again (the notification log de-duplicates
the one page that may have been in flight). ``ann_seq`` is the alarm-history row of the
announcement that caused the row: a restart replays the engine's announcements after the
highest one.

:class:`~alarms.records.escalation_record.SQLiteEscalationLog` keeps the rows in the store's
file (its own append-only, hash-chained table); :class:`MemoryEscalationLog` is the same in a
list, for tests and the offline demo.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from alarms.model import AlarmView

Status = Literal["running", "paused", "acked", "closed"]


@dataclass
class Track:
    """The escalation of one alarm occurrence.

    ``running``: paging, next step at ``due``. ``paused``: returned to normal before anyone
    acknowledged; a recurrence carries on from the same tier. ``acked``: stopped by an
    acknowledgement (or the policy ran out); a re-alarm starts again at tier 1. ``closed``:
    back to NORMAL, shelved, retired.
    """

    id: str
    code: str
    key: str
    policy: str
    view: AlarmView
    opened_at: datetime
    status: Status = "running"
    step: int = -1
    """The step last paged; -1 before the first page."""
    page: int = 0
    """Pages sent so far (each has its own notification key)."""
    due: datetime | None = None
    cycle: int = 1
    """1 + the number of restarts at tier 1 after an acknowledgement."""
    first_kind: str = "raised"
    """What the first page of the cycle says: ``raised`` or ``re-alarm``."""
    late: bool = False
    once: bool = False
    """Each step pages once and sets nothing due: a pulse back to normal when raised (see
    :func:`alarms.escalation.decide.decide`). A tier that reaches nobody still hands on."""
    paged: list[str] = field(default_factory=list)
    """Everyone paged in this occurrence, in order: who hears that it is back to normal."""
    last_people: list[str] = field(default_factory=list)
    last_key: str | None = None
    last_kind: str | None = None
    last_tier: int = 0
    last_at: datetime | None = None

    def page_key(self, page: int) -> str:
        return f"esc/{self.id}/p{page}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "key": self.key,
            "policy": self.policy,
            "view": self.view.to_json(),
            "opened_at": self.opened_at.isoformat(),
            "status": self.status,
            "step": self.step,
            "page": self.page,
            "due": self.due.isoformat() if self.due else None,
            "cycle": self.cycle,
            "first_kind": self.first_kind,
            "late": self.late,
            "once": self.once,
            "paged": list(self.paged),
            "last_people": list(self.last_people),
            "last_key": self.last_key,
            "last_kind": self.last_kind,
            "last_tier": self.last_tier,
            "last_at": self.last_at.isoformat() if self.last_at else None,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Track:
        """The inverse of :meth:`to_json`; raises ``KeyError``/``ValueError`` when damaged."""

        def when(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if value else None

        status = data["status"]
        if status not in ("running", "paused", "acked", "closed"):
            raise ValueError(f"unknown status {status!r}")
        opened = when("opened_at")
        if opened is None:
            raise ValueError("opened_at missing")
        return Track(
            id=str(data["id"]),
            code=str(data["code"]),
            key=str(data["key"]),
            policy=str(data["policy"]),
            view=AlarmView.from_json(data["view"]),
            opened_at=opened,
            status=status,
            step=int(data["step"]),
            page=int(data["page"]),
            due=when("due"),
            cycle=int(data.get("cycle", 1)),
            first_kind=str(data.get("first_kind", "raised")),
            late=bool(data.get("late", False)),
            once=bool(data.get("once", False)),
            paged=[str(person_id) for person_id in data.get("paged", [])],
            last_people=[str(person_id) for person_id in data.get("last_people", [])],
            last_key=data.get("last_key"),
            last_kind=data.get("last_kind"),
            last_tier=int(data.get("last_tier", 0)),
            last_at=when("last_at"),
        )


@dataclass(frozen=True)
class EscalationRow:
    """One appended row: what happened (``action``) and the track after it, or a bundle."""

    action: str
    """opened, paged, updated, paused, acknowledged, restarted, stopped, closed, bundled."""
    at: datetime
    track: str | None
    code: str | None
    alarm_key: str | None
    closed: bool
    data: dict[str, Any]
    event_id: str | None = None
    """The announcement that caused it (None: a timer)."""
    ann_seq: int | None = None
    seq: int = 0


class EscalationLog(Protocol):
    """Where the escalation's rows are appended and read back at start."""

    def append(self, row: EscalationRow) -> EscalationRow:
        """Persist ``row`` before returning it with its ``seq``."""

    def open_tracks(self) -> list[EscalationRow]:
        """The newest row of every track whose newest row is not closed, oldest first."""

    def last_announcement_seq(self) -> int | None:
        """The highest ``ann_seq`` recorded (None: nothing yet)."""

    def bundles(self, since: datetime) -> list[EscalationRow]:
        """Bundle rows at or after ``since``."""

    def for_code(self, code: str) -> list[EscalationRow]:
        """Every row of an alarm occurrence (for reports)."""

    def close(self) -> None: ...


class MemoryEscalationLog:
    """An :class:`EscalationLog` in a list: tests, and the demo without a store."""

    def __init__(self) -> None:
        self.rows: list[EscalationRow] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, row: EscalationRow) -> EscalationRow:
        with self._lock:
            stored = replace(row, seq=next(self._seq))
            self.rows.append(stored)
        return stored

    def open_tracks(self) -> list[EscalationRow]:
        newest: dict[str, EscalationRow] = {}
        for row in self.rows:
            if row.track is not None:
                newest[row.track] = row
        return sorted((row for row in newest.values() if not row.closed), key=lambda row: row.seq)

    def last_announcement_seq(self) -> int | None:
        seqs = [row.ann_seq for row in self.rows if row.ann_seq is not None]
        return max(seqs) if seqs else None

    def bundles(self, since: datetime) -> list[EscalationRow]:
        return [row for row in self.rows if row.action == "bundled" and row.at >= since]

    def for_code(self, code: str) -> list[EscalationRow]:
        return [row for row in self.rows if row.code == code]

    def close(self) -> None:
        pass
