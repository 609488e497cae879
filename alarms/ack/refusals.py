"""Refused commands: counted, logged and recorded in aggregate; never an effect.

The alarm history records only what changed an alarm, so a refusal (a wrong PIN, an unknown
number, a bad signature, an unknown alarm, an acknowledgement without a comment, a malformed
or throttled request) is handed to ``on_refused`` (every one, in memory: counters, tests) and
recorded in the store as ``ack_refused`` events through ``on_event``, *aggregated*: per path,
reason and source (``who``) the first refusal of a minute is recorded at once, the rest of
that minute are summed into one event with their count when the window closes (at the next
refusal, by :meth:`RefusalLog.run`, or at stop). A flood of unauthenticated requests thus adds
a few rows a minute, not one per request. The windows are bounded: past ``max_sources`` open
windows, a new source is summed under the catch-all source :data:`OTHER_SOURCES`.
A record never holds a PIN or a raw SMS body (which carries one).
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core.clock import Clock, SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event

log = logging.getLogger("alarms.ack")

#: The event kind of a refusal in the store's event log.
EVENT_KIND = "ack_refused"
_MAX = 300
_MAX_TARGETS = 100
_MAX_SEEN = 20  # distinct people and alarms listed in a summary
#: The source under which refusals from sources beyond ``max_sources`` are summed.
OTHER_SOURCES = "other sources"


class Reason(enum.StrEnum):
    """Why a command was refused (a stable word for records and API clients)."""

    BAD_SIGNATURE = "bad_signature"
    BAD_TOKEN = "bad_token"
    BAD_REQUEST = "bad_request"
    UNKNOWN_NUMBER = "unknown_number"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_PERSON = "unknown_person"
    NO_PIN = "no_pin"
    WRONG_PIN = "wrong_pin"
    LOCKED_OUT = "locked_out"
    MALFORMED = "malformed"
    NO_COMMENT = "no_comment"
    UNKNOWN_ALARM = "unknown_alarm"
    NOT_ACKNOWLEDGEABLE = "not_acknowledgeable"
    STORE_ERROR = "store_error"
    UNAVAILABLE = "unavailable"
    NOT_ALLOWED = "not_allowed"
    """The caller's role may not do this (``coldwatch stop|restart|reload``)."""
    RATE_LIMITED = "rate_limited"
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused command.

    ``who`` is where it came from as seen by coldwatch (a phone number from a signed request,
    ``uid 1000 (bob)``, an IP address): the source its refusals are summed and throttled
    under, so never a value an unauthenticated request chose; ``person`` is
    the coldwatch person it came from or named, if any; ``target`` the alarm it named, and
    ``targets`` every alarm when it named several (an SMS reply to a flood bundle, a key press
    on a bundle's call), ``target`` being the first."""

    at: datetime
    via: str
    reason: Reason
    who: str
    detail: str
    person: str | None = None
    target: str | None = None
    comment: str | None = None
    targets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "via": self.via,
            "reason": self.reason.value,
            "who": self.who,
            "person": self.person,
            "target": self.target,
            "targets": list(self.targets),
            "comment": self.comment,
            "detail": self.detail,
        }

    def to_event(self) -> Event:
        """The refusal alone as a store event (kind :data:`EVENT_KIND`, source
        ``ack.<via>``, ``count`` 1)."""
        return aggregate_event(self, 1, self.who)


OnRefused = Callable[[Refusal], None]
OnEvent = Callable[[Event], None]
Key = tuple[str, Reason, str]


@dataclass(slots=True)
class _Window:
    """One source's refusals of one reason on one path, within a minute."""

    opened: float
    last: Refusal
    count: int = 0  # not yet recorded
    first_at: datetime | None = None
    people: dict[str, None] = field(default_factory=dict)
    targets: dict[str, None] = field(default_factory=dict)

    def add(self, refusal: Refusal) -> None:
        self.count += 1
        self.first_at = self.first_at or refusal.at
        self.last = refusal
        for seen, value in ((self.people, refusal.person), (self.targets, refusal.target)):
            if value is not None and len(seen) < _MAX_SEEN:
                seen[value] = None


class RefusalLog:
    """Counts every refusal, hands it to ``on_refused``, and records it in aggregate through
    ``on_event`` with a log line for each event recorded (so the journal is bounded too)."""

    def __init__(
        self,
        on_refused: OnRefused | None = None,
        *,
        on_event: OnEvent | None = None,
        clock: Clock | None = None,
        window: float = 60.0,
        max_sources: int = 100,
        metrics: Metrics | None = None,
    ) -> None:
        self.on_refused = on_refused
        self.on_event = on_event
        self.clock = clock or SystemClock()
        self.window = window
        self.max_sources = max_sources
        self.metrics = metrics or Metrics()
        self._open: OrderedDict[Key, _Window] = OrderedDict()  # oldest window first

    def record(self, refusal: Refusal) -> None:
        refusal = _bounded(refusal)
        self.metrics.inc("ack_refused")
        self.metrics.inc(f"ack_refused_{refusal.reason.value}")
        if self.on_refused is not None:
            try:
                self.on_refused(refusal)
            except Exception:
                log.exception("handing on a refused command failed")
        now = self.clock.monotonic()
        self.flush(now)
        key: Key = (refusal.via, refusal.reason, refusal.who)
        window = self._open.get(key)
        if window is not None:
            window.add(refusal)
            return
        if len(self._open) >= self.max_sources:  # summed under the catch-all, never at once
            key = (refusal.via, refusal.reason, OTHER_SOURCES)
            window = self._open.get(key)
            if window is None:
                window = self._open[key] = _Window(now, refusal)
            window.add(refusal)
            return
        self._open[key] = _Window(now, refusal)
        self._emit(refusal, 1, refusal.who, None, {}, {})

    def flush(self, now: float | None = None, *, everything: bool = False) -> None:
        """Record the sums of the windows that have closed (all of them at stop)."""
        now = self.clock.monotonic() if now is None else now
        while self._open:
            key, window = next(iter(self._open.items()))
            if not everything and now - window.opened < self.window:
                break
            del self._open[key]
            if window.count:
                self._emit(
                    window.last,
                    window.count,
                    key[2],
                    window.first_at,
                    window.people,
                    window.targets,
                )

    async def run(self) -> None:
        """Close windows on time when no refusal comes to close them (until cancelled)."""
        tick = max(1.0, self.window / 6)
        while True:
            await self.clock.sleep_until(self.clock.monotonic() + tick)
            self.flush()

    def _emit(
        self,
        sample: Refusal,
        count: int,
        who: str,
        first_at: datetime | None,
        people: dict[str, None],
        targets: dict[str, None],
    ) -> None:
        event = aggregate_event(sample, count, who, first_at, list(people), list(targets))
        log.warning("%s", event.message, extra={"refusal": event.data})
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("recording a refused command failed")


def aggregate_event(
    sample: Refusal,
    count: int,
    who: str,
    first_at: datetime | None = None,
    people: list[str] | None = None,
    targets: list[str] | None = None,
) -> Event:
    """``count`` refusals from ``who`` as one store event; ``sample`` is the last of them (its
    detail, person and alarm), ``first_at`` when the first of a sum came."""
    data = {**sample.to_json(), "who": who, "count": count}
    if first_at is None:
        text = f"{sample.via} command refused ({sample.reason.value}) from {who}"
        return Event(
            sample.at,
            EVENT_KIND,
            f"ack.{sample.via}",
            f"{text}: {sample.detail}",
            data,
            sample.person,
        )
    data |= {"first_at": first_at.isoformat(), "people": people or [], "alarms": targets or []}
    text = (
        f"{sample.via} command refused ({sample.reason.value}) {count} more "
        f"time{'s' if count != 1 else ''} from {who} between {first_at.isoformat()} and "
        f"{sample.at.isoformat()}, the last: {sample.detail}"
    )
    person = sample.person if people == [sample.person] else None
    return Event(sample.at, EVENT_KIND, f"ack.{sample.via}", text, data, person)


def _bounded(refusal: Refusal) -> Refusal:
    def cut(text: str | None) -> str | None:
        return None if text is None else text[:_MAX]

    return Refusal(
        refusal.at,
        refusal.via,
        refusal.reason,
        cut(refusal.who) or "",
        cut(refusal.detail) or "",
        cut(refusal.person),
        cut(refusal.target),
        cut(refusal.comment),
        tuple(t[:20] for t in refusal.targets[:_MAX_TARGETS]),
    )
