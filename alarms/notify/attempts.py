"""The delivery's bookkeeping: how hard a channel is tried, and its records in the
notification log.

Every step of a delivery is a :class:`~alarms.notify.notification_log.LogRecord`: the intent
(``pending``) before the notifier is called, the outcome (``sent``, ``failed``) after, and
``exhausted`` when every channel is given up. :class:`AttemptLog` writes them and reads back
where a channel stands (:meth:`AttemptLog.resume`), which is what lets
:class:`~alarms.notify.delivery.Delivery` pick up after a restart without sending twice what
was sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from alarms.notify.message import Notification
from alarms.notify.notification_log import LogRecord, NotificationLog, Status
from monitor.core.clock import Clock


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one channel is tried before falling back to the next."""

    attempts: int = 3
    """Attempts per channel, the first included."""
    initial_backoff: float = 10.0
    factor: float = 2.0
    max_backoff: float = 120.0
    timeout: float = 60.0
    """Per attempt; should exceed the notifier's own network timeout."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.initial_backoff < 0 or self.factor < 1 or self.timeout <= 0:
            raise ValueError("attempts >= 1, initial_backoff >= 0, factor >= 1, timeout > 0")

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1, 2, ...)."""
        return float(min(self.max_backoff, self.initial_backoff * self.factor ** (attempt - 1)))


@dataclass(frozen=True)
class Outcome:
    """What became of one notification to one person."""

    key: str
    person_id: str
    ok: bool
    channel: str | None = None
    """The channel that delivered it."""
    provider_id: str | None = None
    deduplicated: bool = False
    """Finished before this call (found in the log): nothing was sent now."""
    errors: tuple[str, ...] = field(default=())
    """``channel: error`` of every channel given up."""


@dataclass(frozen=True)
class Resume:
    """Where a channel's attempts go on: the next attempt's number, whether it may repeat a
    page already sent, and the last attempt the budget allows."""

    attempt: int
    possible_duplicate: bool
    last_attempt: int


class AttemptLog:
    """The delivery's records in the notification log, written with the clock's time."""

    def __init__(self, log: NotificationLog, clock: Clock) -> None:
        self.log = log
        self.clock = clock

    def resume(
        self,
        notification: Notification,
        person_id: str,
        channel: str,
        history: list[LogRecord],
        attempts: int,
    ) -> Resume | None:
        """Where this channel stands in the log (``history``, the person's records of this
        notification, which a give-up is added to): fresh, to be continued, or given up (None).
        ``attempts``: the channel's budget."""
        records = [r for r in history if r.channel == channel]
        if not records:
            return Resume(1, False, attempts)
        last = records[-1]
        if last.status == "failed":
            if last.final:
                return None
            duplicate = last.outcome_unknown or any(r.possible_duplicate for r in records)
            return Resume(last.attempt + 1, duplicate, attempts)
        resolved = {r.attempt for r in records if r.status != "pending"}
        unknown = sum(1 for r in records if r.status == "pending" and r.attempt not in resolved)
        if unknown >= 2:
            gave_up = self.append(
                notification,
                person_id,
                channel,
                last.attempt,
                "failed",
                error="outcome unknown twice (interrupted while sending); channel given up",
                final=True,
                outcome_unknown=True,
            )
            history.append(gave_up)
            return None
        # Sent once more even if that exceeds the attempt budget: the rule is "once more".
        return Resume(last.attempt + 1, True, max(attempts, last.attempt + 1))

    def append(
        self,
        notification: Notification,
        person_id: str,
        channel: str,
        attempt: int,
        status: Status,
        *,
        possible_duplicate: bool = False,
        provider_id: str | None = None,
        error: str | None = None,
        retryable: bool | None = None,
        outcome_unknown: bool = False,
        final: bool = False,
        payload: str | None = None,
    ) -> LogRecord:
        """Record one step of a delivery, stamped with the clock's time; ``payload`` is the
        notification itself, kept with an attempt's intent so that a restart can resend it."""
        return self.log.append(
            LogRecord(
                key=notification.key,
                alarm_id=notification.alarm_id,
                person_id=person_id,
                channel=channel,
                attempt=attempt,
                status=status,
                at=self.clock.now(),
                possible_duplicate=possible_duplicate,
                outcome_unknown=outcome_unknown,
                final=final,
                retryable=retryable,
                provider_id=provider_id,
                error=error,
                notification=payload,
            )
        )


def final_errors(records: Iterable[LogRecord]) -> list[str]:
    """``channel: error`` of every channel given up in ``records``."""
    return [f"{r.channel}: {r.error}" for r in records if r.status == "failed" and r.final]
