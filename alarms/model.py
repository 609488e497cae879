"""The alarm engine's public vocabulary: states, priorities, what an alarm looks like from
outside (:class:`AlarmView`) and what the engine tells the escalation layer
(:class:`Announcement`).

Everything here is plain data: the escalation/notification layer depends on this module and
:mod:`alarms.engine`'s command methods only, never on conditions or persistence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


class AlarmState(enum.StrEnum):
    """ISA-18.2 / IEC 62682 alarm states (the names of the reference table)."""

    NORMAL = "NORMAL"
    UNACK = "UNACK"
    ACKED = "ACKED"
    RTN_UNACK = "RTN_UNACK"
    LATCHED_UNACK = "LATCHED_UNACK"
    LATCHED_ACKED = "LATCHED_ACKED"
    SHELVED = "SHELVED"
    SUPPRESSED = "SUPPRESSED"
    OUT_OF_SERVICE = "OUT_OF_SERVICE"


#: States in which a person still has to acknowledge.
UNACKED_STATES = frozenset({AlarmState.UNACK, AlarmState.RTN_UNACK, AlarmState.LATCHED_UNACK})


class Priority(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.CRITICAL: 3, Priority.HIGH: 2, Priority.LOW: 1}


class ConditionKind(enum.StrEnum):
    LIMIT = "limit"
    RATE = "rate"
    STALE = "stale"
    QUALITY = "quality"
    DISCRETE = "discrete"
    STATUS = "status"
    DEVIATION = "deviation"
    COMM_LOSS = "comm_loss"
    SYSTEM = "system"
    CALIBRATION = "calibration"


#: Alarms that inhibition may never suppress: a freezer that warms during a power failure
#: must still page.
NEVER_SUPPRESSED = frozenset({ConditionKind.LIMIT, ConditionKind.RATE, ConditionKind.DEVIATION})


class Level(enum.StrEnum):
    """Which limit of a limit alarm is exceeded; the severity of that alarm."""

    LOW_LOW = "low_low"
    LOW = "low"
    HIGH = "high"
    HIGH_HIGH = "high_high"

    @property
    def rank(self) -> int:
        return 2 if self in (Level.LOW_LOW, Level.HIGH_HIGH) else 1

    @property
    def high_side(self) -> bool:
        return self in (Level.HIGH, Level.HIGH_HIGH)

    @property
    def text(self) -> str:
        return self.value.replace("_", "-")


class AnnouncementKind(enum.StrEnum):
    """What the escalation layer is told. The first four ask for attention."""

    RAISED = "raised"
    SEVERITY_RAISED = "severity-raised"
    REALARM = "re-alarm"
    LATE_FOUND = "late-found"
    RETURNED_TO_NORMAL = "returned-to-normal"
    ACKNOWLEDGED = "acknowledged"
    RESET = "reset"
    SILENCED = "silenced"  # shelved, suppressed or out of service: stop paging, still recorded
    RETIRED = "retired"  # its rule was removed by a configuration change
    CHATTERING = "chattering"  # started chattering: told once; its returns are not paged
    CHATTERING_ENDED = "chattering-ended"  # stopped: its return to normal is told now, once
    FLOOD_STARTED = "flood-started"
    FLOOD_ENDED = "flood-ended"


#: Announcements that start or restart escalation.
ATTENTION_KINDS = frozenset(
    {
        AnnouncementKind.RAISED,
        AnnouncementKind.SEVERITY_RAISED,
        AnnouncementKind.REALARM,
        AnnouncementKind.LATE_FOUND,
    }
)


class Action(enum.StrEnum):
    """What a row of the alarm history records."""

    RAISED = "raised"
    RECURRED = "recurred"
    SEVERITY_RAISED = "severity_raised"
    SEVERITY_LOWERED = "severity_lowered"
    REALARM = "realarm"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    RESET = "reset"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    SHELVE_EXPIRED = "shelve_expired"
    OUT_OF_SERVICE = "out_of_service"
    RETURNED_TO_SERVICE = "returned_to_service"
    SERVICE_EXPIRED = "service_expired"
    SUPPRESSED = "suppressed"
    UNSUPPRESSED = "unsuppressed"
    LATE_FOUND = "late_found"
    LATE_ENDED = "late_ended"
    CHATTERING = "chattering"
    CHATTERING_ENDED = "chattering_ended"
    INHIBIT_ENGAGED = "inhibit_engaged"
    INHIBIT_HOLD = "inhibit_hold"
    INHIBIT_RELEASED = "inhibit_released"
    FLOOD_STARTED = "flood_started"
    FLOOD_ENDED = "flood_ended"
    CONFIG_LOADED = "config_loaded"
    RETIRED = "retired"
    RESTORED = "restored"


class AlarmCommandError(Exception):
    """A command that cannot be carried out; the message is fit to send back to a person
    (an SMS reply, a CLI error)."""


@dataclass(frozen=True, slots=True)
class AlarmView:
    """One alarm as people and the notification layer see it, at one moment.

    ``code`` is the short id a person types ("ACK A1007"); it names one occurrence, from its
    activation until it is back to NORMAL. ``key`` names the alarm point for good
    (``<equipment>.<channel>/<rule>``, ``<device>/comm_loss``, ``coldwatch/<check>``).
    """

    key: str
    code: str | None
    rule: str
    condition: ConditionKind
    state: AlarmState
    base_state: AlarmState
    active: bool
    priority: Priority
    level: Level | None
    equipment: str | None
    equipment_name: str | None
    source: str
    source_name: str | None
    value: float | str | None
    unit: str
    limit: float | None
    condition_text: str
    message: str
    contingency: str
    since: datetime | None = None
    raised_at: datetime | None = None
    changed_at: datetime | None = None
    activated_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_comment: str | None = None
    ack_via: str | None = None
    realarm_due: datetime | None = None
    realarm_count: int = 0
    shelved_until: datetime | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    out_of_service_until: datetime | None = None
    out_of_service_by: str | None = None
    out_of_service_reason: str | None = None
    suppressed_by: tuple[str, ...] = ()
    first_out: str | None = None
    chattering: bool = False
    late: bool = False
    detail: str = ""

    @property
    def needs_ack(self) -> bool:
        return self.base_state in UNACKED_STATES

    def to_json(self) -> dict[str, Any]:
        """A flat JSON-ready dict (no ``dataclasses.asdict``: its deep copies cost 0.5 ms,
        and this runs on every recorded change)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            out[name] = value
        return out

    @staticmethod
    def from_json(data: dict[str, Any]) -> AlarmView:
        """The inverse of :meth:`to_json`; raises ``KeyError``/``ValueError`` when damaged."""
        kwargs: dict[str, Any] = {}
        for f in fields(AlarmView):
            if f.name not in data:
                continue
            value = data[f.name]
            if value is not None and f.name in _TIMES:
                value = datetime.fromisoformat(value)
            elif f.name == "suppressed_by":
                value = tuple(value)
            elif value is not None and f.name in _ENUMS:
                value = _ENUMS[f.name](value)
            kwargs[f.name] = value
        return AlarmView(**kwargs)


_FIELDS = tuple(f.name for f in fields(AlarmView))
_TIMES = frozenset(
    {
        "since",
        "raised_at",
        "changed_at",
        "activated_at",
        "acked_at",
        "realarm_due",
        "shelved_until",
        "out_of_service_until",
    }
)
_ENUMS: dict[str, type[enum.StrEnum]] = {
    "condition": ConditionKind,
    "state": AlarmState,
    "base_state": AlarmState,
    "priority": Priority,
    "level": Level,
}


@dataclass(frozen=True, slots=True)
class FloodStatus:
    """Alarm flood (more than ``start_above`` alarms in ``window`` seconds, until fewer
    than ``end_below``): the notification layer bundles pages while it lasts."""

    active: bool
    since: datetime | None
    count: int


@dataclass(frozen=True, slots=True)
class Announcement:
    """One thing the engine tells the escalation layer, after it is in the store.

    ``event_id`` is stable: the same announcement read back after a restart
    (:meth:`AlarmEngine.announcements`) has the same id, so a notification log keyed on it
    never pages twice. ``seq`` is the alarm history row (None only when the store was
    failing and the engine announced before it could record: ``recorded`` is then False).
    ``alarm`` is None only for the flood announcements.
    """

    event_id: str
    seq: int | None
    kind: AnnouncementKind
    at: datetime
    recorded_at: datetime
    alarm: AlarmView | None
    late: bool = False
    person: str | None = None
    via: str | None = None
    comment: str | None = None
    flood: bool = False
    recorded: bool = True
    detail: dict[str, Any] | None = None
