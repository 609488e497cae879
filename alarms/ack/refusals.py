"""Refused commands: one record each (who, what, why), a rate-limited log line, no effect.

The alarm history records only what changed an alarm, so a refusal (a wrong PIN, an unknown
number, a bad signature, an unknown alarm, an acknowledgement without a comment) is handed to
``on_refused``; the daemon connects that to the store as an event (:meth:`Refusal.to_event`).
A record never holds a PIN or a raw SMS body (which carries one).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.core.logs import RateLimiter
from monitor.core.model import Event

log = logging.getLogger("alarms.ack")

#: The event kind of a refusal in the store's event log.
EVENT_KIND = "ack_refused"
_MAX = 300
_MAX_TARGETS = 100


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


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused command.

    ``who`` is where it came from as seen by coldwatch (a phone number, ``uid 1000 (bob)``,
    an IP address), never proven when the reason is an authentication failure; ``person`` is
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
        """The refusal as a store event (kind :data:`EVENT_KIND`, source ``ack.<via>``)."""
        return Event(
            self.at,
            EVENT_KIND,
            f"ack.{self.via}",
            f"{self.via} command refused ({self.reason.value}) from {self.who}: {self.detail}",
            data=self.to_json(),
            person=self.person,
        )


OnRefused = Callable[[Refusal], None]


class RefusalLog:
    """Records refusals through ``on_refused`` and logs them, one line per source and reason a
    minute at most (a script hammering the webhook must not flood the journal)."""

    def __init__(self, on_refused: OnRefused | None = None, interval: float = 60.0) -> None:
        self.on_refused = on_refused
        self._limiter = RateLimiter(interval)

    def record(self, refusal: Refusal) -> None:
        refusal = _bounded(refusal)
        allowed, suppressed = self._limiter.allow(f"{refusal.via}|{refusal.reason}|{refusal.who}")
        if allowed:
            more = f" ({suppressed} more like it not logged)" if suppressed else ""
            log.warning(
                "%s command refused (%s) from %s%s: %s%s",
                refusal.via,
                refusal.reason.value,
                refusal.who,
                f" as {refusal.person}" if refusal.person else "",
                refusal.detail,
                more,
                extra={"refusal": refusal.to_json()},
            )
        if self.on_refused is not None:
            try:
                self.on_refused(refusal)
            except Exception:
                log.exception("recording a refused command failed")


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
