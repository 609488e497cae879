"""Watching the notifiers themselves: a page that cannot get out is an alarm of its own.

Every delivery attempt's outcome is counted per notifier. After ``failing_after`` failed
attempts in a row a notifier is *failing* (``notifier_failing``, source ``notifier/<name>``)
until one attempt succeeds again (``notifier_recovered``). A remote notifier (SMS, voice,
e-mail, webhooks: everything that leaves the building) is *working* if it delivered within the
last ``fresh_for`` seconds and is not failing since. When some remote notifier is failing and
none is working, nobody can be shown to be reachable from here: ``notifiers_all_failing``
(source ``coldwatch``), on which the escalator sounds the local horns, until a remote notifier
delivers again (``notifiers_recovered``). The system alarm has an on-delay (2 minutes by
default), so a person's next channel succeeding right after the first one failed raises nothing.

After a restart the watch starts from the engine's restored system alarms (:meth:`resume`), so
an alarm raised before the restart clears at the first delivery that works.

Events only on a change of state, as ``monitor.runtime.health`` does, so the alarm engine raises
and clears the system alarms ``coldwatch/notifier_failing/<name>`` and
``coldwatch/notifiers_all_failing``, and the store records when paging was impaired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.core.clock import Clock
from monitor.core.model import Event, EventKind

log = logging.getLogger(__name__)

#: The event source of one notifier's events, and so of its system alarm.
SOURCE_PREFIX = "notifier/"


#: The key of one notifier's system alarm is this plus the notifier's name.
ALARM_PREFIX = "coldwatch/notifier_failing/"


def notifier_source(name: str) -> str:
    return f"{SOURCE_PREFIX}{name}"


def notifier_alarm_key(name: str) -> str:
    return f"{ALARM_PREFIX}{name}"


@dataclass
class _Health:
    failures: int = 0
    failing: bool = False
    last_error: str = ""
    last_success: datetime | None = None


class NotifierWatch:
    """Delivery's observer (``Delivery(observer=watch.attempt)``); ``publish`` gets the events
    (the daemon's ``Pipeline.publish_event``: the store and the alarm engine)."""

    def __init__(
        self,
        remote: Collection[str],
        publish: Callable[[Event], None],
        clock: Clock,
        *,
        failing_after: int = 3,
        fresh_for: float = 1800.0,
    ) -> None:
        if failing_after < 1 or fresh_for <= 0:
            raise ValueError("failing_after must be at least 1 and fresh_for positive")
        self.remote = frozenset(remote)
        self.publish = publish
        self.clock = clock
        self.failing_after = failing_after
        self.fresh_for = timedelta(seconds=fresh_for)
        self.all_failing = False
        self._health: dict[str, _Health] = {}

    def resume(self, failing: Collection[str], all_failing: bool) -> None:
        """At start: what the restored system alarms say (the engine's state survives a
        restart, the counts here do not), so that the first success clears them."""
        for name in failing:
            self._health[name] = _Health(self.failing_after, True, "before the restart")
        self.all_failing = all_failing

    def failing(self) -> list[str]:
        """The notifiers failing now, by name."""
        return sorted(name for name, h in self._health.items() if h.failing)

    def attempt(self, channel: str, ok: bool, error: str | None = None) -> None:
        """One attempt on ``channel`` ended: delivered (``ok``) or failed with ``error``."""
        health = self._health.setdefault(channel, _Health())
        if ok:
            health.failures = 0
            health.last_success = self.clock.now()
            if health.failing:
                health.failing = False
                self._event(
                    EventKind.NOTIFIER_RECOVERED,
                    notifier_source(channel),
                    f"notifier '{channel}' delivers again",
                    {"notifier": channel},
                )
        else:
            health.failures += 1
            health.last_error = (error or "unknown error")[:500]
            if not health.failing and health.failures >= self.failing_after:
                health.failing = True
                self._event(
                    EventKind.NOTIFIER_FAILING,
                    notifier_source(channel),
                    f"notifier '{channel}' failed {health.failures} times in a row: "
                    f"{health.last_error}",
                    {"notifier": channel, "failures": health.failures, "error": health.last_error},
                )
        if channel in self.remote:
            self._check_all()

    def _working(self, name: str, now: datetime) -> bool:
        health = self._health.get(name)
        return (
            health is not None
            and not health.failing
            and health.last_success is not None
            and now - health.last_success <= self.fresh_for
        )

    def _check_all(self) -> None:
        now = self.clock.now()
        failing = sorted(n for n in self.remote if n in self._health and self._health[n].failing)
        working = sorted(n for n in self.remote if self._working(n, now))
        all_failing = bool(failing) and not working
        if all_failing == self.all_failing:
            return
        if not all_failing and not working:
            return  # no longer failing, but nothing shown to work yet: wait for a delivery
        self.all_failing = all_failing
        if all_failing:
            errors = {name: self._health[name].last_error for name in failing}
            self._event(
                EventKind.NOTIFIERS_ALL_FAILING,
                "coldwatch",
                "every remote notifier tried is failing ("
                + ", ".join(failing)
                + ") and none delivered lately: nobody can be paged from here; sounding the "
                "local horns",
                {"notifiers": failing, "errors": errors},
            )
        else:
            self._event(
                EventKind.NOTIFIERS_RECOVERED,
                "coldwatch",
                f"paging works again through {', '.join(working)}",
                {"notifiers": working},
            )

    def _event(self, kind: str, source: str, message: str, data: dict[str, object]) -> None:
        log.log(logging.ERROR if kind in _BAD else logging.WARNING, message)
        try:
            self.publish(Event(self.clock.now(), kind, source, message, dict(data)))
        except Exception:  # the observer runs inside a delivery: it must never break one
            log.exception("cannot publish the notifier event %s", kind)


_BAD = frozenset({EventKind.NOTIFIER_FAILING, EventKind.NOTIFIERS_ALL_FAILING})
