"""The alarm engine: an inline consumer of readings and events, a timer task, and commands.

Inputs
    ``on_reading`` / ``on_event`` are called synchronously by the pipeline for every reading
    and event: a dictionary lookup and the conditions of that channel, never any I/O, never an
    exception. Time-based conditions (stale data, a door open for N minutes with no further
    report, shelve and maintenance ends, re-alarm, inhibit holds, chattering and flood ends)
    run in :meth:`tick`, which the engine's task calls at the next due time on the injected
    clock. Readings older than the newest seen for their channel go to the late lane
    (:mod:`alarms.late`). All this is :mod:`alarms.inputs`.

Output
    Every change is a row of the alarm history; the task commits rows (with the condition-timer
    checkpoint) in one transaction, then hands each :class:`Announcement` to the subscribers.
    ``announcements(after_seq)`` reads them back, with the same ids, after a restart.

Commands and queries
    ``acknowledge``, ``reset``, ``shelve``, ``unshelve``, ``set_out_of_service``,
    ``return_to_service``: each is recorded before it returns, or refused (:class:`StoreError`)
    and undone, so that nothing takes effect without its record (:mod:`alarms.commands`).
    ``active``, ``get``, ``history``, ``flood``, ``keys`` (:mod:`alarms.queries`).

Restart and reload
    A new engine on the same store resumes from the newest history row of each alarm and the
    checkpointed timers: nothing already announced is announced again; a shelve or maintenance
    period that ended meanwhile (or is unreadable) ends at once, fail-safe
    (:mod:`alarms.restore`). ``reload`` takes a new configuration (:mod:`alarms.reload`).

This module builds those parts, runs the task, and offers their methods in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from alarms.commands import EngineCommands, required
from alarms.engine_parts import EngineParts
from alarms.inhibit import Inhibitor
from alarms.inputs import AlarmInputs
from alarms.lifecycle import Lifecycle
from alarms.model import AlarmView, Announcement, FloodStatus
from alarms.point import AlarmPoint
from alarms.queries import AlarmQueries
from alarms.records.alarm_history import Journal, announcement_of
from alarms.reload import take_rules
from alarms.restore import resume
from alarms.rules import RuleSet, compile_rules
from alarms.site import AlarmSite
from monitor.core.clock import Clock
from monitor.core.esign import Signature
from monitor.core.model import Event, Reading
from monitor.store.base import AlarmRecord, Store
from monitor.store.canonical import canonical_json
from monitor.store.fallback_journal import FallbackJournal

log = logging.getLogger(__name__)

Subscriber = Callable[[Announcement], None]

_IDLE = 60.0  # seconds the task sleeps at most when nothing is due
_RETRY = 2.0  # seconds between attempts while the store refuses alarm records


class AlarmEngine:
    """``AlarmEngine(config, store, clock)``; add it to ``Pipeline.inline``, subscribe, then
    ``await start()``; ``await stop()`` at shutdown."""

    on_reading: Callable[[Reading], None]
    """Evaluate a reading: :meth:`AlarmInputs.on_reading` itself, not a call through the
    engine, as the pipeline calls it for every reading."""
    on_event: Callable[[Event], None]
    """Evaluate an event (:meth:`AlarmInputs.on_event`)."""

    def __init__(
        self,
        config: AlarmSite,
        store: Store,
        clock: Clock,
        *,
        config_sha: str | None = None,
        person: str | None = None,
        checkpoint_interval: float = 1.0,
        fallback: FallbackJournal | None = None,
    ) -> None:
        """``fallback``: where alarm records wait while the store refuses them (the daemon's
        fallback journal); without one they wait in memory and commands are refused."""
        ruleset = _compiled(config)
        self.store = store
        self.clock = clock
        self.ruleset = ruleset
        self.settings = ruleset.settings
        self.config_sha = config_sha or _sha(config)
        self.checkpoint_interval = checkpoint_interval
        self._journal = Journal(store, fallback)
        self._subscribers: list[Subscriber] = []
        self._dirty: set[AlarmPoint] = set()  # conditions whose timers wait for a checkpoint
        self._last_checkpoint = clock.monotonic()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wakes_at: datetime | None = None  # while the task sleeps: when it wakes
        self._life = Lifecycle(self.settings, clock, self._journal, Inhibitor(ruleset.inhibits))
        self._life.points = {rule.key: AlarmPoint(rule) for rule in ruleset.rules}
        self._parts = EngineParts(store, clock, self._journal, self._life)
        self._inputs = AlarmInputs(self._parts, self._wake.set, self._timer_changed)
        self.on_reading = self._inputs.on_reading
        self.on_event = self._inputs.on_event
        self._queries = AlarmQueries(self._parts)
        self._commands = EngineCommands(self._parts, self.flush, self._deliver)
        self._inputs.newest = resume(self._parts, self._inputs.by_channel, self.config_sha, person)

    # --- inputs (alarms.inputs) --------------------------------------------------------------

    def _timer_changed(self, point: AlarmPoint) -> None:
        """A condition's timers changed: checkpoint them within ``checkpoint_interval``, and
        wake the task if the condition is now due before the task would wake anyway. (Waking
        it for every change would cost a scan of all alarms per noisy reading.)"""
        self._dirty.add(point)
        wakes_at = self._wakes_at
        if wakes_at is None:
            return
        due = point.condition.due()
        checkpoint = self.clock.now() + timedelta(seconds=self.checkpoint_interval)
        if wakes_at > checkpoint or (due is not None and due < wakes_at):
            self._wake.set()

    def tick(self, now: datetime | None = None) -> None:
        """Run everything due by ``now`` (default: the clock's; :meth:`AlarmInputs.tick`)."""
        self._inputs.tick(now)

    def next_due(self) -> datetime | None:
        return self._inputs.next_due()

    @property
    def faults(self) -> int:
        """How many times a rule could not be evaluated (see ``coldwatch/engine_fault``)."""
        return self._inputs.faults

    # --- the task ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alarm-engine")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tick()
        self.flush()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self.tick()
                if self._journal.pending or self._checkpoint_due():
                    self.flush()
            except Exception:
                log.exception("alarm engine step failed")
            delay = self._sleep_for()
            deadline = self.clock.monotonic() + delay
            self._wakes_at = self.clock.now() + timedelta(seconds=delay)
            waiter = asyncio.ensure_future(self._wake.wait())
            timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
            try:
                await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._wakes_at = None
                waiter.cancel()
                timer.cancel()

    def _checkpoint_due(self) -> bool:
        return bool(self._dirty) and (
            self.clock.monotonic() - self._last_checkpoint >= self.checkpoint_interval
        )

    def _sleep_for(self) -> float:
        delay = _IDLE
        due = self.next_due()
        if due is not None:
            delay = min(delay, (due - self.clock.now()).total_seconds())
        if self._dirty:
            waited = self.clock.monotonic() - self._last_checkpoint
            delay = min(delay, self.checkpoint_interval - waited)
        if self._journal.pending:
            delay = min(delay, _RETRY)
        return max(delay, 0.001)

    def flush(self) -> None:
        """Commit the queued records and timer checkpoints, then announce what they carry."""
        for point in self._dirty:
            self._journal.timers[point.key] = point.condition.timers()
            point.condition.dirty = False
        self._dirty.clear()
        self._last_checkpoint = self.clock.monotonic()
        self._deliver(self._journal.flush())

    def _deliver(self, announcements: Iterable[Announcement]) -> None:
        for announcement in announcements:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(announcement)
                except Exception:
                    log.exception("alarm subscriber %r failed", subscriber)

    # --- output --------------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every announcement from now on; returns the unsubscribe."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)

        return unsubscribe

    def announcements(self, after_seq: int = 0, limit: int | None = None) -> list[Announcement]:
        """What was announced after history row ``after_seq``, from the store, oldest first:
        what a notification layer replays after a restart (same ``event_id`` as live)."""
        out: list[Announcement] = []
        for record in self.store.alarm_records(after_seq=after_seq):
            announcement = announcement_of(record)
            if announcement is not None:
                out.append(announcement)
                if limit is not None and len(out) >= limit:
                    break
        return out

    # --- queries (alarms.queries) ------------------------------------------------------------

    def active(self) -> list[AlarmView]:
        """Every alarm not in NORMAL, those waiting for an acknowledgement first."""
        return self._queries.active()

    def get(self, target: str) -> AlarmView:
        """An alarm by code (also a closed occurrence, from the record) or by key."""
        return self._queries.get(target)

    def history(self, target: str) -> list[AlarmRecord]:
        return self._queries.history(target)

    @property
    def flood(self) -> FloodStatus:
        return self._queries.flood

    @property
    def keys(self) -> list[str]:
        return self._queries.keys

    # --- commands (alarms.commands) ----------------------------------------------------------

    def acknowledge(
        self,
        target: str,
        person: str,
        comment: str,
        via: str | None = None,
        origin: str | None = None,
    ) -> AlarmView:
        """Acknowledge an alarm; ``comment`` is required."""
        return self._commands.acknowledge(target, person, comment, via, origin)

    def reset(self, target: str, person: str, comment: str, via: str | None = None) -> AlarmView:
        """Reset a latched, acknowledged alarm whose condition has cleared."""
        return self._commands.reset(target, person, comment, via)

    def shelve(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Shelve an alarm, or every alarm of an equipment or a device, until ``until``."""
        return self._commands.shelve(target, person, reason, until, via)

    def unshelve(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._commands.unshelve(target, person, comment, via)

    def set_out_of_service(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Take alarms out of service for maintenance until ``until``."""
        return self._commands.set_out_of_service(target, person, reason, until, via)

    def return_to_service(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._commands.return_to_service(target, person, comment, via)

    def signed(
        self,
        target: str,
        person: str,
        signature: Signature,
        *,
        until: datetime | timedelta | None = None,
        via: str = "web",
    ) -> list[AlarmView]:
        """Run the command ``signature.action`` names with its electronic signature."""
        return self._commands.signed(target, person, signature, until=until, via=via)

    # --- reload (alarms.reload) --------------------------------------------------------------

    def reload(
        self,
        config: AlarmSite,
        person: str,
        via: str | None = None,
        config_sha: str | None = None,
    ) -> None:
        """Take a new configuration: unchanged rules keep everything, changed rules keep their
        alarm state (their delays restart), removed rules are retired on the record."""
        ruleset = _compiled(config)
        person = required(person, "person")
        self.flush()
        sha = config_sha or _sha(config)
        take_rules(self._parts, ruleset, self._dirty, sha, person, via)
        self.ruleset, self.settings, self.config_sha = ruleset, ruleset.settings, sha
        self._inputs.index()
        self.flush()


def _compiled(config: AlarmSite) -> RuleSet:
    ruleset = compile_rules(config)
    if ruleset.issues:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in path)}: {message}" for path, message in ruleset.issues
        )
        raise ValueError(f"the alarms configuration has errors (run check-config): {problems}")
    return ruleset


def _sha(config: AlarmSite) -> str:
    data: Any = config.model_dump(mode="json")
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()
