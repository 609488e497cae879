"""The :class:`Notification`: one alarm event as every channel renders it.

The alarm engine builds it; notifiers only format it (SMS in :mod:`alarms.notify.sms`, speech
in :mod:`alarms.notify.twiml`, e-mail and webhooks in their modules). Times are stored in UTC
and shown in the site's named zone as well, because a night-shift technician reads local time
and an auditor reads UTC. ``key`` identifies the event in the notification log: the same event
rebuilt after a restart has the same key, so it is not paged twice.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal[
    "raised",
    "escalated",
    "re-alarm",
    "returned-to-normal",
    "acknowledged",
    "silenced",
    "chattering",
]
"""``silenced``: shelved, suppressed by design or taken out of service; paging stops.
``chattering``: the alarm keeps activating and clearing; told once, its returns are not paged."""

#: Kinds that tell of a person's action on the alarm, with who (``acknowledged_by``) and why.
ACTION_KINDS: frozenset[str] = frozenset({"acknowledged", "silenced"})

#: Kinds that ask for attention (a horn sounds, an acknowledgement is requested).
ACTIVE_KINDS: frozenset[str] = frozenset({"raised", "escalated", "re-alarm"})

#: States in which nobody needs to acknowledge any more.
ACKED_STATES: frozenset[str] = frozenset({"ACKED", "NORMAL", "LATCHED_ACKED"})

KIND_TITLES: dict[str, str] = {
    "raised": "ALARM",
    "escalated": "ESCALATED",
    "re-alarm": "STILL IN ALARM",
    "returned-to-normal": "BACK TO NORMAL",
    "acknowledged": "ACKNOWLEDGED",
    "silenced": "SILENCED",
    "chattering": "CHATTERING",
}

_SILENCED_TITLES: dict[str, str] = {
    "SHELVED": "SHELVED",
    "SUPPRESSED": "SUPPRESSED",
    "OUT_OF_SERVICE": "OUT OF SERVICE",
}

Shape = Literal["limit", "comm_loss", "system", "calibration", "state"]
"""The sentence an alarm is told in (:meth:`Notification.headline`)."""

#: A limit alarm's level, and on which side of its limit the value is while in alarm.
_SIDES: dict[str, str] = {"high": "above", "high-high": "above", "low": "below", "low-low": "below"}

#: States in which the condition is still true: a limit alarm's value is past its limit.
_IN_ALARM_STATES: frozenset[str] = frozenset({"UNACK", "ACKED"})

_SENTENCE_END = re.compile(r"(?<=[.!?])(?=\s)|\n")


class Notification(BaseModel):
    """What happened, where, how bad, what to do and how to acknowledge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alarm_id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,11}$")
    """The alarm's short code, e.g. ``A1234``: what a person types to acknowledge."""
    kind: Kind
    equipment: str = Field(min_length=1, max_length=200)
    channel: str = Field(default="", max_length=200)
    """The measured quantity, e.g. ``chamber temperature``."""
    value: (
        Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(max_length=40)] | None
    ) = None
    """A number, a state word of a discrete input (``OPEN``), or None (no reading)."""
    unit: str = Field(default="", max_length=16)
    limit: float | None = Field(default=None, allow_inf_nan=False)
    condition: str = Field(default="", max_length=60)
    """Short words: ``high``, ``high-high``, ``low``, ``comm loss``, ``door open``."""
    priority: str = Field(default="high", min_length=1, max_length=20)
    state: str = Field(default="UNACK", max_length=20)
    """ISA-18.2 state after the event (``UNACK``, ``ACKED``, ``RTN_UNACK``, ...)."""
    tier: int = Field(default=1, ge=0, le=99)
    sop: str = Field(default="", max_length=4000)
    """The SOP's contingency text; SMS carries its first sentence."""
    raised_at: datetime
    event_at: datetime
    """When this event (raise, escalation, acknowledgement, ...) happened."""
    timezone: str = "UTC"
    """Named zone for local display, e.g. ``Europe/Berlin``."""
    late: bool = False
    """The event is reported later than it happened (backlog, restart)."""
    possible_duplicate: bool = False
    """An earlier attempt's outcome is unknown: this one may repeat it."""
    acknowledged_by: str | None = Field(default=None, max_length=100)
    """Who acknowledged it (``acknowledged``), or shelved it (``silenced``)."""
    comment: str | None = Field(default=None, max_length=500)
    site: str | None = Field(default=None, max_length=100)
    event_id: str | None = Field(default=None, min_length=1, max_length=200)
    """The engine's id of the event; when absent, ``key`` is derived from the fields."""
    shape: Shape = "limit"
    """How the alarm is told: a value past a limit (``limit``: equipment, rate, deviation),
    no data from a device or channel (``comm_loss``), a check of coldwatch itself
    (``system``), a sensor past its calibration date (``calibration``), or a state such as a
    door, a status code or a sensor fault (``state``)."""
    source: str = Field(default="", max_length=200)
    """Where data stopped coming from, in words (``device tsx-03``): comm loss only."""
    bundled: tuple[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,11}$")], ...] = Field(
        default=(), max_length=2000
    )
    """A flood bundle: the codes of every alarm it pages about, ``alarm_id`` first; what a
    reply or a key press acknowledges. Empty for the page of one alarm."""

    @field_validator("raised_at", "event_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a time zone name (e.g. 'Europe/Berlin')") from None
        return value

    @property
    def key(self) -> str:
        """Identity of the event in the notification log (flags excluded)."""
        if self.event_id:
            return self.event_id
        stamp = self.event_at.strftime("%Y%m%dT%H%M%S.%fZ")
        return f"{self.alarm_id}/{self.kind}/t{self.tier}/{stamp}"

    @property
    def active(self) -> bool:
        return self.kind in ACTIVE_KINDS

    @property
    def needs_ack(self) -> bool:
        """Whether the message asks for an acknowledgement."""
        return self.kind not in ACTION_KINDS and self.state.upper() not in ACKED_STATES

    @property
    def title(self) -> str:
        """``ALARM``, ``ESCALATED``, ``BACK TO NORMAL, NOT ACKED``, ..."""
        title = KIND_TITLES[self.kind]
        if self.kind == "silenced":
            title = _SILENCED_TITLES.get(self.state.upper(), title)
        if self.kind == "returned-to-normal" and self.needs_ack:
            title += ", NOT ACKED"
        return title

    def local(self, when: datetime | None = None) -> datetime:
        return (when or self.event_at).astimezone(ZoneInfo(self.timezone))

    def local_text(self, when: datetime | None = None, *, seconds: bool = True) -> str:
        """``2026-03-01 03:12:05 CET``."""
        fmt = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
        return self.local(when).strftime(fmt)

    def utc_text(self, when: datetime | None = None) -> str:
        return (when or self.event_at).strftime("%Y-%m-%d %H:%M:%S UTC")

    def reading_text(self) -> str:
        """``-61.5 °C``, or ``no value`` (communication loss)."""
        if self.value is None:
            return "no value"
        if isinstance(self.value, str):
            return self.value
        return quantity(self.value, self.unit)

    def limit_text(self) -> str:
        return quantity(self.limit, self.unit) if self.limit is not None else "none"

    def sop_first_sentence(self) -> str:
        return first_sentence(self.sop)

    @property
    def side(self) -> str | None:
        """``above`` / ``below``: a limit alarm whose value is past its limit now."""
        if self.shape != "limit" or self.limit is None or self.value is None:
            return None
        if self.state.upper() not in _IN_ALARM_STATES:
            return None
        return _SIDES.get(self.condition)

    def since_text(self) -> str:
        """``01 Mar 03:12 CET``: when the alarm was raised, in the site's zone."""
        return self.local(self.raised_at).strftime("%d %b %H:%M %Z")

    def headline(self) -> str:
        """What is wrong, in the alarm's own sentence shape (no code, no title):

        - limit: ``ULT-03, chamber temperature -61.5 °C above high limit -65 °C`` (while past
          it; otherwise ``... -70.2 °C (limit -65 °C, high)``);
        - comm loss: ``ULT-03: no data from device tsx-03 since 01 Mar 03:12 CET``;
        - system: ``coldwatch: clock not synchronised``;
        - calibration: ``ULT-03, chamber temperature: calibration due since 01 Mar 03:12 CET``;
        - state: ``ULT-03, door: door open (1)``.
        """
        channel = f", {self.channel}" if self.channel else ""
        if self.shape == "comm_loss":
            source = self.source or "the device"
            return f"{self.equipment}: no data from {source} since {self.since_text()}"
        if self.shape == "system":
            return f"coldwatch: {self.condition or 'a check failed'}"
        if self.shape == "calibration":
            return f"{self.equipment}{channel}: calibration due since {self.since_text()}"
        if self.shape == "state":
            value = f" ({self.reading_text()})" if self.value is not None else ""
            return f"{self.equipment}{channel}: {self.condition or 'alarm'}{value}"
        side = self.side
        if side is not None:
            return (
                f"{self.equipment}{channel} {self.reading_text()} {side} {self.condition} "
                f"limit {self.limit_text()}"
            )
        condition = f", {self.condition}" if self.condition else ""
        return (
            f"{self.equipment}{channel} {self.reading_text()} "
            f"(limit {self.limit_text()}{condition})"
        )

    def summary(self) -> str:
        """One line for subjects and chat: ``A1234 CRITICAL ALARM: ULT-03, chamber
        temperature -61.5 °C above high limit -65 °C``, flags first (:meth:`headline`)."""
        flags = ("[possible duplicate] " if self.possible_duplicate else "") + (
            "[late] " if self.late else ""
        )
        tier = f" tier {self.tier}" if self.kind == "escalated" else ""
        return (
            f"{flags}{self.alarm_id} {self.priority.upper()} {self.title}{tier}: {self.headline()}"
        )


def number(value: float) -> str:
    """Compact and bounded: ``-61.5``, ``37``, ``0.004``, ``1.23457e+08``."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    text = f"{value:.6g}"
    return "0" if text == "-0" else text


def quantity(value: float, unit: str) -> str:
    if not unit:
        return number(value)
    sep = "" if unit in ("%", "°") else " "
    return f"{number(value)}{sep}{unit}"


def first_sentence(text: str) -> str:
    """Up to the first ``.``/``!``/``?`` followed by a space, or the first line break.

    A decimal point (``-65.5``) does not end a sentence; an abbreviation (``e.g. ``) does,
    which cuts early but never wrongly: the SMS says where the full SOP is anyway."""
    text = text.strip()
    parts = _SENTENCE_END.split(text, maxsplit=1)
    return parts[0].strip()
