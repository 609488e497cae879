"""Delivery of one notification to one person: a small chain of stages around the log.

The stages, outermost first (Alertmanager's pipeline, per person instead of per receiver):

dedup
    Reads the notification log. A delivery already ``sent`` (or ``exhausted``) is not sent
    again, whoever asks: the escalation layer rebuilding its state after a restart, or
    :meth:`Delivery.recover`. A channel whose last attempt is ``pending`` was interrupted with
    its outcome unknown (a crash, a kill, a cancellation): it is sent once more, marked as a
    possible duplicate; if that also ends unknown the channel is given up.
fallback
    The person's channels in order of preference: when one is given up, the next is tried.
retry
    Retryable failures are retried on the same channel with exponential backoff, a bounded
    number of times, timed on the injected clock; a non-retryable one gives the channel up.
record + send
    The intent is appended to the log before the notifier is called, the outcome after. A
    per-attempt timeout bounds a notifier that hangs; a timeout's outcome is unknown, so the
    attempts after it are marked as possible duplicates.

At-least-once, with at most the page in flight repeated: SMS providers have no idempotency
key, so exactly-once is not possible.

The retry policy and the records each stage writes and reads back are in
:mod:`alarms.notify.attempts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from pydantic import ValidationError

from alarms.notify.attempts import AttemptLog, Outcome, Resume, RetryPolicy, final_errors
from alarms.notify.base import DeliveryResult, Notifier, NotifyError
from alarms.notify.message import Notification
from alarms.notify.notification_log import LogRecord, NotificationLog
from alarms.people import Person, TargetResolver
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter

__all__ = ["Delivery", "Outcome", "RetryPolicy"]  # the delivery, and what is imported from here

log = logging.getLogger(__name__)


class Delivery:
    """Delivers notifications to people through the configured notifiers (by channel name)."""

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        log: NotificationLog,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        policies: Mapping[str, RetryPolicy] | None = None,
        observer: Callable[[str, bool, str | None], None] | None = None,
    ) -> None:
        """``observer(channel, ok, error)`` hears every attempt's outcome (the notifier
        watch, :mod:`alarms.notify.watch`); it must not block."""
        self.notifiers = dict(notifiers)
        self.observer = observer
        self.log = log
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.policies = dict(policies or {})
        self._records = AttemptLog(log, clock)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: Counter[tuple[str, str]] = Counter()
        self._limiter = RateLimiter(60.0)

    # --- the API for the escalation layer -------------------------------------------------

    async def deliver(
        self, notification: Notification, person: Person, channels: Sequence[str] | None = None
    ) -> Outcome:
        """Deliver to one person; idempotent over the log (see the module docstring).

        ``channels`` overrides the person's list for this notification (e.g. no phone call
        to say that an alarm was acknowledged). Concurrent calls for the same notification
        and person wait for each other; the second finds the first's result in the log.
        """
        ident = (notification.key, person.id)
        lock = self._locks.setdefault(ident, asyncio.Lock())
        self._users[ident] += 1
        try:
            async with lock:
                return await self._dedup(notification, person, channels or person.channels)
        finally:
            self._users[ident] -= 1
            if not self._users[ident]:
                del self._users[ident]
                del self._locks[ident]

    async def deliver_to(
        self,
        notification: Notification,
        targets: Sequence[str],
        resolver: TargetResolver,
        channels: Sequence[str] | None = None,
    ) -> list[Outcome]:
        """Deliver to everyone the targets (``person:x``, ``group:y``) name now, concurrently."""
        at = self.clock.now()
        people: dict[str, Person] = {}
        for target in targets:
            for person in resolver.expand(target, at):
                people.setdefault(person.id, person)
        return await self._all([(notification, p, channels) for p in people.values()])

    async def recover(
        self,
        resolver: TargetResolver,
        *,
        since: datetime | None = None,
        wanted: Callable[[Notification], bool] | None = None,
        late_after: float = 300.0,
    ) -> list[Outcome]:
        """At start-up: finish the deliveries a previous run left unfinished.

        ``wanted`` lets the engine drop pages that no longer matter (the alarm was
        acknowledged meanwhile); they are closed as ``exhausted`` with the reason. A page
        whose event is older than ``late_after`` seconds is marked late.
        """
        jobs: list[tuple[Notification, Person, Sequence[str] | None]] = []
        now = self.clock.now()
        for key, person_id in self.log.unfinished(since):
            history = self.log.history(key, person_id)
            raw = next((r.notification for r in reversed(history) if r.notification), None)
            if raw is None:
                continue
            try:
                notification = Notification.model_validate_json(raw)
            except ValidationError:  # written by a version with other fields: do not crash
                log.error("cannot read the stored notification %s for %s", key, person_id)
                continue
            person = resolver.person(person_id)
            reason = None
            if person is None:
                reason = "not resent after restart: person no longer configured"
            elif wanted is not None and not wanted(notification):
                reason = "not resent after restart: no longer wanted"
            if reason is not None or person is None:
                self._records.append(notification, person_id, "*", 0, "exhausted", error=reason)
                continue
            if (now - notification.event_at).total_seconds() > late_after:
                notification = notification.model_copy(update={"late": True})
            jobs.append((notification, person, None))
        return await self._all(jobs)

    async def aclose(self) -> None:
        """Close every notifier (their sessions, connections and background tasks)."""
        for name, notifier in self.notifiers.items():
            try:
                await notifier.aclose()
            except Exception:  # one broken notifier must not keep the others open
                log.exception("closing notifier %s failed", name)

    # --- stages ----------------------------------------------------------------------------

    async def _all(
        self, jobs: Sequence[tuple[Notification, Person, Sequence[str] | None]]
    ) -> list[Outcome]:
        if not jobs:
            return []
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self.deliver(n, p, c)) for n, p, c in jobs]
        return [t.result() for t in tasks]

    async def _dedup(
        self, notification: Notification, person: Person, channels: Sequence[str]
    ) -> Outcome:
        history = self.log.history(notification.key, person.id)
        for record in history:
            if record.status == "sent":
                return Outcome(
                    notification.key, person.id, True, record.channel, record.provider_id, True
                )
            if record.status == "exhausted":
                errors = tuple(final_errors(history))
                return Outcome(notification.key, person.id, False, deduplicated=True, errors=errors)
        return await self._fallback(notification, person, channels, history)

    async def _fallback(
        self,
        notification: Notification,
        person: Person,
        channels: Sequence[str],
        history: list[LogRecord],
    ) -> Outcome:
        errors: list[str] = []
        for channel in channels:
            resume = self._records.resume(
                notification, person.id, channel, history, self._policy(channel).attempts
            )
            if resume is None:
                errors.extend(final_errors(r for r in history if r.channel == channel))
                continue
            try:
                result = await self._retry(notification, person, channel, resume)
            except NotifyError as exc:
                errors.append(f"{channel}: {exc}")
                continue
            return Outcome(
                notification.key, person.id, True, channel, result.provider_id, errors=tuple(errors)
            )
        self._records.append(notification, person.id, "*", 0, "exhausted", error="; ".join(errors))
        log.error(
            "notification %s to %s failed on every channel: %s",
            notification.key,
            person.id,
            "; ".join(errors) or "no channels",
            extra={"alarm": notification.alarm_id, "person": person.id},
        )
        return Outcome(notification.key, person.id, False, errors=tuple(errors))

    async def _retry(
        self, notification: Notification, person: Person, channel: str, resume: Resume
    ) -> DeliveryResult:
        policy = self._policy(channel)
        attempt, duplicate = resume.attempt, resume.possible_duplicate
        while True:
            try:
                return await self._attempt(
                    notification, person, channel, attempt, duplicate, resume.last_attempt
                )
            except NotifyError as exc:
                if not exc.retryable or attempt >= resume.last_attempt:
                    raise
                duplicate = duplicate or exc.outcome_unknown
                await self.clock.sleep_until(self.clock.monotonic() + policy.backoff(attempt))
                attempt += 1

    async def _attempt(
        self,
        notification: Notification,
        person: Person,
        channel: str,
        attempt: int,
        duplicate: bool,
        last_attempt: int,
    ) -> DeliveryResult:
        if duplicate and not notification.possible_duplicate:
            notification = notification.model_copy(update={"possible_duplicate": True})
        notifier = self.notifiers.get(channel)
        self._records.append(
            notification,
            person.id,
            channel,
            attempt,
            "pending",
            possible_duplicate=notification.possible_duplicate,
            payload=notification.model_dump_json(),
        )
        try:
            if notifier is None:
                raise NotifyError(f"no notifier named '{channel}' is configured", retryable=False)
            async with self.clock.timeout(self._policy(channel).timeout):
                result = await notifier.send(notification, person)
            if not result.ok:
                raise NotifyError("the notifier reported a failure", retryable=False)
        except NotifyError as exc:
            error = exc
        except TimeoutError:
            timeout = self._policy(channel).timeout
            error = NotifyError(
                f"timed out after {timeout:g} s", retryable=True, outcome_unknown=True
            )
        except Exception as exc:  # a notifier bug: its outcome is unknown, try again
            log.exception("notifier %s raised %s", channel, type(exc).__name__)
            error = NotifyError(
                f"unexpected {type(exc).__name__}", retryable=True, outcome_unknown=True
            )
        else:
            self._observe(channel, True, None)
            self._records.append(
                notification,
                person.id,
                channel,
                attempt,
                "sent",
                possible_duplicate=notification.possible_duplicate,
                provider_id=result.provider_id,
            )
            log.info(
                "notified %s of %s via %s (%s)",
                person.id,
                notification.key,
                channel,
                result.provider_id,
                extra={"alarm": notification.alarm_id, "person": person.id, "channel": channel},
            )
            return result
        if not error.recipient:  # a bad number says nothing about the notifier
            self._observe(channel, False, str(error))
        final = not error.retryable or attempt >= last_attempt
        self._records.append(
            notification,
            person.id,
            channel,
            attempt,
            "failed",
            possible_duplicate=notification.possible_duplicate,
            error=str(error),
            retryable=error.retryable,
            outcome_unknown=error.outcome_unknown,
            final=final,
        )
        allowed, suppressed = self._limiter.allow(f"{channel}:{final}")
        if allowed:
            log.warning(
                "notifying %s via %s failed (attempt %d%s): %s%s",
                person.id,
                channel,
                attempt,
                ", giving the channel up" if final else ", will retry",
                error,
                f" ({suppressed} similar not logged)" if suppressed else "",
                extra={"alarm": notification.alarm_id, "person": person.id, "channel": channel},
            )
        raise error

    # --- helpers ---------------------------------------------------------------------------

    def _observe(self, channel: str, ok: bool, error: str | None) -> None:
        if self.observer is None:
            return
        try:
            self.observer(channel, ok, error)
        except Exception:  # watching must never break a delivery
            log.exception("the delivery observer failed")

    def _policy(self, channel: str) -> RetryPolicy:
        return self.policies.get(channel, self.policy)
