"""The alarm engine: an inline consumer of readings and events, a timer task, and commands.

Inputs
    ``on_reading`` / ``on_event`` are called synchronously by the pipeline for every reading
    and event: a dictionary lookup and the conditions of that channel, never any I/O, never an
    exception. Time-based conditions (stale data, a door open for N minutes with no further
    report, shelve and maintenance ends, re-alarm, inhibit holds, chattering and flood ends)
    run in :meth:`tick`, which the engine's task calls at the next due time on the injected
    clock. Readings older than the newest seen for their channel go to the late lane
    (:mod:`alarms.late`).

Output
    Every change is a row of the alarm history; the task commits rows (with the condition-timer
    checkpoint) in one transaction, then hands each :class:`Announcement` to the subscribers.
    ``announcements(after_seq)`` reads them back, with the same ids, after a restart.

Commands
    ``acknowledge``, ``reset``, ``shelve``, ``unshelve``, ``set_out_of_service``,
    ``return_to_service``: each is recorded before it returns, or refused (:class:`StoreError`)
    and undone, so that nothing takes effect without its record.

Restart
    A new engine on the same store resumes from the newest history row of each alarm and the
    checkpointed timers: nothing already announced is announced again; a shelve or maintenance
    period that ended meanwhile (or is unreadable) ends at once, fail-safe
    (:mod:`alarms.restore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from alarms import restore
from alarms.codes import parse_code
from alarms.conditions import Verdict
from alarms.inhibit import Inhibitor
from alarms.late import LateLane
from alarms.lifecycle import Lifecycle
from alarms.model import (
    Action,
    AlarmCommandError,
    AlarmState,
    AlarmView,
    Announcement,
    ConditionKind,
    FloodStatus,
)
from alarms.point import AlarmPoint, Hold
from alarms.records.alarm_history import (
    CONFIG_KEY,
    Journal,
    announcement_of,
)
from alarms.rules import RuleSet, compile_rules
from alarms.site import AlarmSite
from monitor.core.clock import Clock
from monitor.core.model import FLAG_LATE, Event, Reading
from monitor.store.base import AlarmRecord, Store, StoreError
from monitor.store.canonical import canonical_json

log = logging.getLogger(__name__)

Subscriber = Callable[[Announcement], None]

ENGINE_FAULT_KEY = "coldwatch/engine_fault"
_IDLE = 60.0  # seconds the task sleeps at most when nothing is due
_RETRY = 2.0  # seconds between attempts while the store refuses alarm records
_MAX_TEXT = 2000


class AlarmEngine:
    """``AlarmEngine(config, store, clock)``; add it to ``Pipeline.inline``, subscribe, then
    ``await start()``; ``await stop()`` at shutdown."""

    def __init__(
        self,
        config: AlarmSite,
        store: Store,
        clock: Clock,
        *,
        config_sha: str | None = None,
        person: str | None = None,
        checkpoint_interval: float = 1.0,
    ) -> None:
        ruleset = _compiled(config)
        self.store = store
        self.clock = clock
        self.settings = ruleset.settings
        self.config_sha = config_sha or _sha(config)
        self.checkpoint_interval = checkpoint_interval
        self.faults = 0
        self._journal = Journal(store)
        self._subscribers: list[Subscriber] = []
        self._late = LateLane()
        self._dirty: set[AlarmPoint] = set()
        self._newest: dict[str, datetime] = {}
        self._last_checkpoint = clock.monotonic()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wakes_at: datetime | None = None  # while the task sleeps: when it wakes
        self._life = Lifecycle(self.settings, clock, self._journal, Inhibitor(ruleset.inhibits))
        self._life.points = {rule.key: AlarmPoint(rule) for rule in ruleset.rules}
        self._install(ruleset)
        restore.resume(self, person)

    # --- set-up ----------------------------------------------------------------------------

    def _install(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        life = self._life
        by_channel: dict[str, list[AlarmPoint]] = {}
        by_source: dict[str, list[AlarmPoint]] = {}
        for point in life.points.values():
            for channel in point.rule.channels:
                by_channel.setdefault(channel, []).append(point)
            if point.rule.kind in (ConditionKind.COMM_LOSS, ConditionKind.SYSTEM):
                by_source.setdefault(point.rule.source, []).append(point)
        self._by_channel = by_channel
        self._by_source = by_source

    # --- inputs ----------------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> None:
        points = self._by_channel.get(reading.channel)
        if points is None:
            return
        newest = self._newest.get(reading.channel)
        if newest is not None and reading.ts < newest:
            if not self._late:
                self._wake.set()  # later readings of the burst only push its end back
            now = self.clock.now()
            for point in points:
                self._late.add(point, reading, now)
            return
        self._newest[reading.channel] = reading.ts
        late = bool(reading.flags & FLAG_LATE)
        journal = self._journal
        pending = len(journal.pending)
        for point in points:
            try:
                verdict = point.condition.on_reading(reading)
                if point.condition.dirty:
                    self._timer_changed(point)
                if verdict is not None:
                    self._life.apply(point, verdict, late)
            except Exception as exc:
                self._fault(point, exc)
        if len(journal.pending) != pending:
            self._wake.set()

    def on_event(self, event: Event) -> None:
        for point in self._by_source.get(event.source, ()):
            try:
                verdict = point.condition.on_event(event)
                if point.condition.dirty:
                    self._timer_changed(point)
                if verdict is None:
                    continue
                self._life.apply(point, verdict)
                if point.rule.pulse and verdict.active:
                    point.condition.active = False
                    self._life.apply(
                        point,
                        Verdict(False, verdict.at, value=verdict.value, detail=verdict.detail),
                        quiet=True,
                    )
            except Exception as exc:
                self._fault(point, exc)
        self._wake.set()

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

    def _fault(self, point: AlarmPoint, exc: Exception) -> None:
        """A rule that cannot be evaluated is itself an alarm (latching), never silence."""
        self.faults += 1
        try:
            if self.faults <= 10 or self.faults % 1000 == 0:
                log.error(
                    "alarm rule %s failed (%d failures so far)",
                    point.key,
                    self.faults,
                    exc_info=exc,
                )
            fault = self._life.points.get(ENGINE_FAULT_KEY)
            if fault is None or fault.base is not AlarmState.NORMAL or fault is point:
                return
            now = self.clock.now()
            detail = f"{point.key}: {type(exc).__name__}: {exc}"[:_MAX_TEXT]
            self._life.apply(fault, Verdict(True, now, detail=detail))
            self._life.apply(fault, Verdict(False, now, detail=detail), quiet=True)
            self._wake.set()
        except Exception:  # pragma: no cover - last resort: never raise into the pipeline
            log.exception("alarm engine fault handling failed")

    # --- time --------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> None:
        """Everything due by ``now`` (default: the clock's): time-based conditions, re-alarms,
        ends of shelves, maintenance, inhibit holds, chattering, flood; then late data."""
        now = now or self.clock.now()
        life = self._life
        for point in list(life.points.values()):
            try:
                self._tick_point(point, now)
            except Exception as exc:
                self._fault(point, exc)
        life.release_expired(now)
        life.check_flood(now)
        if self._late:
            for point, finding, found in self._late.drain(life.points, now):
                if found:
                    life.late_found(point, finding)
                else:
                    life.late_ended(point, finding)

    def _tick_point(self, point: AlarmPoint, now: datetime) -> None:
        life = self._life
        condition = point.condition
        due = condition.due()
        if due is not None and due <= now:
            verdict = condition.on_time(now)
            if condition.dirty:
                self._dirty.add(point)
            if verdict is not None:
                life.apply(point, verdict)
        if point.realarm_due is not None and point.realarm_due <= now:
            life.realarm(point)
        oos = point.out_of_service
        if oos is not None and oos.until <= now:
            previous = point.state
            point.out_of_service = None
            life.leave_hidden(
                point, oos.until, Action.SERVICE_EXPIRED, previous, comment="maintenance ended"
            )
        shelve = point.shelve
        if shelve is not None and shelve.until <= now:
            previous = point.state
            point.shelve = None
            life.leave_hidden(
                point, shelve.until, Action.SHELVE_EXPIRED, previous, comment="shelve ended"
            )
        if point.chattering:
            life.check_chatter(point, now)

    def next_due(self) -> datetime | None:
        life = self._life
        dues: list[datetime] = []
        for point in life.points.values():
            for due in (
                point.condition.due(),
                point.realarm_due,
                point.shelve.until if point.shelve else None,
                point.out_of_service.until if point.out_of_service else None,
                life.chatter_due(point),
            ):
                if due is not None:
                    dues.append(due)
        for due in (life.inhibitor.due(), life.flood.due(), self._late.due()):
            if due is not None:
                dues.append(due)
        return min(dues) if dues else None

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

    # --- queries -------------------------------------------------------------------------------

    def active(self) -> list[AlarmView]:
        """Every alarm not in NORMAL (hidden ones too), those waiting for an acknowledgement
        first, then by priority and age."""
        views = [p.view() for p in self._life.points.values() if p.state is not AlarmState.NORMAL]
        return sorted(
            views,
            key=lambda v: (
                not v.needs_ack,
                -v.priority.rank,
                v.raised_at or v.changed_at or datetime.max.replace(tzinfo=self.clock.now().tzinfo),
                v.key,
            ),
        )

    def get(self, target: str) -> AlarmView:
        """An alarm by code (also a closed occurrence, from the record) or by key."""
        code = parse_code(target)
        if code is not None:
            point = self._life.codes.get(code)
            if point is not None:
                return point.view()
            rows = self.store.alarm_records(code=code, newest_first=True, limit=1)
            if rows and isinstance(rows[0].data.get("alarm"), dict):
                return AlarmView.from_json(rows[0].data["alarm"])
        point = self._life.points.get(target)
        if point is None:
            raise AlarmCommandError(f"no alarm '{target}'")
        return point.view()

    def history(self, target: str) -> list[AlarmRecord]:
        code = parse_code(target)
        if code is not None:
            return self.store.alarm_records(code=code)
        return self.store.alarm_records(key=target)

    @property
    def flood(self) -> FloodStatus:
        life = self._life
        return FloodStatus(life.flood.active, life.flood.since, life.flood.count(self.clock.now()))

    @property
    def keys(self) -> list[str]:
        return sorted(self._life.points)

    # --- commands --------------------------------------------------------------------------------

    def acknowledge(
        self, target: str, person: str, comment: str, via: str | None = None
    ) -> AlarmView:
        """Acknowledge an alarm (UNACK -> ACKED, RTN_UNACK -> NORMAL, LATCHED_UNACK ->
        LATCHED_ACKED); ``comment`` is required."""
        person, comment = _required(person, "person"), _required(comment, "comment")
        point = self._open_point(target)
        return self._command([point], lambda: self._life.acknowledge(point, person, comment, via))

    def reset(self, target: str, person: str, comment: str, via: str | None = None) -> AlarmView:
        """Reset a latched, acknowledged alarm whose condition has cleared."""
        person, comment = _required(person, "person"), _required(comment, "comment")
        point = self._open_point(target)
        return self._command([point], lambda: self._life.reset(point, person, comment, via))

    def shelve(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Shelve an alarm (code or key), every alarm of an equipment, or of a device, until
        ``until`` (at most ``alarms.max_shelve`` ahead); ``reason`` is required."""
        person, reason = _required(person, "person"), _required(reason, "reason")
        end = self._until(until, self.settings.max_shelve, "a shelve")
        points = self._targets(target)
        hold = Hold(end, person, reason)
        return self._commands(
            points, lambda p: self._life.hide(p, Action.SHELVED, hold, "shelve", via)
        )

    def unshelve(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._release(target, person, comment, via, "shelve", Action.UNSHELVED, "shelved")

    def _release(
        self,
        target: str,
        person: str,
        comment: str | None,
        via: str | None,
        hold: str,
        action: Action,
        what: str,
    ) -> list[AlarmView]:
        """End a shelve or a maintenance window (``hold`` names the point's attribute) early."""
        person = _required(person, "person")
        points = [p for p in self._targets(target) if getattr(p, hold) is not None]
        if not points:
            raise AlarmCommandError(f"nothing {what} for '{target}'")

        def release(point: AlarmPoint) -> None:
            previous = point.state
            setattr(point, hold, None)
            self._life.leave_hidden(
                point,
                self.clock.now(),
                action,
                previous,
                person=person,
                via=via,
                comment=_optional(comment),
            )

        return self._commands(points, release)

    def set_out_of_service(
        self,
        target: str,
        person: str,
        reason: str,
        until: datetime | timedelta,
        via: str | None = None,
    ) -> list[AlarmView]:
        """Take alarms out of service for maintenance until ``until`` (never indefinitely: at
        most ``alarms.max_out_of_service`` ahead); ``reason`` is required."""
        person, reason = _required(person, "person"), _required(reason, "reason")
        end = self._until(until, self.settings.max_out_of_service, "maintenance")
        points = self._targets(target)
        hold = Hold(end, person, reason)
        return self._commands(
            points,
            lambda p: self._life.hide(p, Action.OUT_OF_SERVICE, hold, "out_of_service", via),
        )

    def return_to_service(
        self, target: str, person: str, comment: str | None = None, via: str | None = None
    ) -> list[AlarmView]:
        return self._release(
            target,
            person,
            comment,
            via,
            "out_of_service",
            Action.RETURNED_TO_SERVICE,
            "out of service",
        )

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
        person = _required(person, "person")
        self.flush()
        life = self._life
        now = self.clock.now()
        old = life.points
        life.points = {}
        for rule in ruleset.rules:
            kept = old.get(rule.key)
            if kept is not None and kept.rule == rule:
                life.points[rule.key] = kept
                continue
            point = AlarmPoint(rule)
            point.condition.begin(now)
            if kept is not None:
                point.load(kept.view(), list(kept.activations))
                point.condition.restore(point.active, point.level, {})
            life.points[rule.key] = point
        for key, gone in old.items():
            self._dirty.discard(gone)
            if key not in life.points:
                self._journal.timers[key] = None
                if gone.state is not AlarmState.NORMAL:
                    restore.retire_view(
                        self, gone.view(), gone.state.value, gone.code, now, person, via
                    )
        life.codes = {p.code: p for p in life.points.values() if p.code is not None}
        life.settings = self.settings = ruleset.settings
        life.flood.start_above = self.settings.flood.start_above
        life.flood.end_below = self.settings.flood.end_below
        suppressed = {k for k, p in life.points.items() if p.suppressed_by}
        for point in life.points.values():
            point.suppressed_by.clear()
        life.inhibitor = Inhibitor(ruleset.inhibits)
        for key, point in life.points.items():
            if point.active and key in life.inhibitor.by_parent:
                life.inhibitor.parent_changed(key, True, point.activated_at or now)
        self._install(ruleset)
        restore.restore_suppression(self, suppressed, now)
        last = self.store.alarm_records(key=CONFIG_KEY, newest_first=True, limit=1)
        self.config_sha = config_sha or _sha(config)
        restore.record_config(self, last[0] if last else None, person, now, via)
        self.flush()

    # --- command plumbing ------------------------------------------------------------------------

    def _command(self, points: list[AlarmPoint], action: Callable[[], None]) -> AlarmView:
        return self._transaction(points, action)[0]

    def _commands(
        self, points: list[AlarmPoint], action: Callable[[AlarmPoint], None]
    ) -> list[AlarmView]:
        def each() -> None:
            for point in points:
                action(point)

        return self._transaction(points, each)

    def _transaction(self, points: list[AlarmPoint], action: Callable[[], None]) -> list[AlarmView]:
        """Run a command so that it takes effect only with its record."""
        self.flush()
        if self._journal.pending:
            raise StoreError("the alarm history cannot be written now; nothing was changed")
        saved = [(p, p.view(), list(p.activations), dict(p.suppressed_by)) for p in points]
        try:
            action()
            announcements = self._journal.flush(strict=True)
        except BaseException:
            self._journal.discard()
            for point, view, activations, suppressed in saved:
                point.load(view, activations)
                point.suppressed_by = suppressed
            life = self._life
            life.codes = {p.code: p for p in life.points.values() if p.code is not None}
            raise
        self._deliver(announcements)
        return [p.view() for p in points]

    def _open_point(self, target: str) -> AlarmPoint:
        code = parse_code(target)
        if code is not None:
            point = self._life.codes.get(code)
            if point is None or point.code != code:  # never another occurrence of the alarm
                raise AlarmCommandError(f"alarm {code} is not open (already back to NORMAL)")
            return point
        point = self._life.points.get(target)
        if point is None:
            if target.strip().upper().startswith("A") and target.strip()[1:].isdigit():
                raise AlarmCommandError(f"'{target}' is not a valid alarm code (check digit)")
            raise AlarmCommandError(f"no alarm '{target}'")
        return point

    def _targets(self, target: str) -> list[AlarmPoint]:
        """Alarms by code, key, equipment id or device id."""
        life = self._life
        code = parse_code(target)
        if code is not None and code in life.codes and life.codes[code].code == code:
            return [life.codes[code]]
        if target in life.points:
            return [life.points[target]]
        found = [
            p
            for p in life.points.values()
            if target in p.rule.equipment_ids or target in p.rule.devices
        ]
        if not found:
            raise AlarmCommandError(f"no alarm, equipment or device '{target}'")
        return found

    def _until(self, until: datetime | timedelta, longest: float, what: str) -> datetime:
        now = self.clock.now()
        end = now + until if isinstance(until, timedelta) else until
        if end.tzinfo is None:
            raise AlarmCommandError("the end time needs a time zone")
        if end <= now:
            raise AlarmCommandError(f"the end of {what} must be in the future")
        if (end - now).total_seconds() > longest + 1e-6:
            raise AlarmCommandError(
                f"{what} may last at most {longest / 3600:g} h (alarms configuration)"
            )
        return end


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


def _required(text: str, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise AlarmCommandError(f"a {what} is required")
    return cleaned[:_MAX_TEXT]


def _optional(text: str | None) -> str | None:
    cleaned = (text or "").strip()
    return cleaned[:_MAX_TEXT] or None
