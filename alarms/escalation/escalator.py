"""The escalator: from the engine's announcements to pages that climb the call tree.

It subscribes to the alarm engine, and its callback only queues (the engine calls it inline
and must never wait for a page). One task, timed on the injected clock, handles the queue, runs
the escalation steps that are due and flushes flood bundles. What an announcement or a due step
does is decided by :mod:`alarms.escalation.decide` (a pure function); this module carries the
decisions out: the record (:mod:`.recording`), the pages (:mod:`.paging`, each delivery a task
of its own: :mod:`.page_tasks`), and the open tracks. Restart: :mod:`.recovery` and
:meth:`Escalator.start`. Built by :func:`alarms.escalator_builder.build_escalator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from alarms.escalation.decide import Decision, decide, decide_due
from alarms.escalation.page_tasks import PageId, PageTasks
from alarms.escalation.paging import Pager
from alarms.escalation.recording import RecordWriter
from alarms.escalation.recovery import Recovery
from alarms.escalation.setup import Setup
from alarms.escalation.state import EscalationLog, Track
from alarms.model import ATTENTION_KINDS, AlarmView, Announcement, FloodStatus
from alarms.notify.delivery import Delivery
from alarms.notify.message import Notification
from monitor.core.clock import Clock

log = logging.getLogger(__name__)

_IDLE = 60.0  # seconds the task sleeps at most when nothing is due
_MAX_ROUNDS = 1000  # a tier reaching nobody makes the next due at once: at most this many in a row


class AnnouncementSource(Protocol):
    """What the escalator needs of the alarm engine (:class:`alarms.engine.AlarmEngine`)."""

    def subscribe(self, subscriber: Callable[[Announcement], None]) -> Callable[[], None]: ...

    def announcements(self, after_seq: int = 0, limit: int | None = None) -> list[Announcement]: ...

    def active(self) -> list[AlarmView]: ...

    @property
    def flood(self) -> FloodStatus: ...


class Escalator:
    """``Escalator(engine, delivery, setup, record, clock)``; ``await start()`` after the engine
    is built (before or after its ``start``), ``await stop()`` at shutdown. With ``owned``
    (or ``owns_delivery`` / ``owns_record`` alone) ``stop()`` also closes the notifiers, the
    notification log and the record."""

    def __init__(
        self,
        source: AnnouncementSource,
        delivery: Delivery,
        setup: Setup,
        record: EscalationLog,
        clock: Clock,
        *,
        owned: bool = False,
        owns_delivery: bool = False,
        owns_record: bool = False,
    ) -> None:
        self.source = source
        self.delivery = delivery
        self.setup = setup
        self.record = record
        self.clock = clock
        self.owns_delivery = owned or owns_delivery  # ``owned``: both
        self.owns_record = owned or owns_record
        self._tracks: dict[str, Track] = {}  # open tracks by alarm code
        self._queue: deque[Announcement] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._writer = RecordWriter(record, clock)
        self._jobs = PageTasks(delivery, self._unreached)
        self._pager = Pager(setup, clock, self._writer, self._jobs, self._is_running)
        self._recovery = Recovery(self._tracks, setup, self._writer, self._jobs, self._is_running)
        self._starting = self._recovering = False

    @property
    def flooding(self) -> bool:
        """Whether the engine reports an alarm flood (pages are bundled meanwhile)."""
        return self._pager.flooding

    # --- input --------------------------------------------------------------------------------

    def on_announcement(self, announcement: Announcement) -> None:
        """The engine's subscriber: queue, wake the task, return. Never raises."""
        self._queue.append(announcement)
        self._wake.set()

    # --- queries ------------------------------------------------------------------------------

    def tracks(self) -> list[Track]:
        """Open escalations, oldest first (for status displays)."""
        return sorted(self._tracks.values(), key=lambda track: track.opened_at)

    def track(self, code: str) -> Track | None:
        return self._tracks.get(code)

    def wanted(self, notification: Notification) -> bool:
        """For ``Delivery.recover``: is an interrupted page still worth sending? A page of an
        alarm acknowledged (or closed) meanwhile is not; messages that inform always are."""
        return self._recovery.wanted(notification)

    def _is_running(self, track_id: str) -> bool:
        return any(
            track.id == track_id and track.status == "running" for track in self._tracks.values()
        )

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self, *, recover: bool = True) -> None:
        """Resume from the record: open tracks as they were, then the engine's announcements
        since the last one handled (replayed in order), then a check against the engine's open
        alarms (an unacknowledged alarm without escalation gets one, late; an escalation whose
        alarm was dealt with meanwhile ends). The page in flight at the crash is asked for
        again (the notification log sends it only if it never went), and with ``recover``
        ``Delivery.recover`` finishes other interrupted deliveries that still matter."""
        if self._task is not None:
            return
        self._recovery.load()
        after = self._writer.read(self.record.last_announcement_seq)
        if after is not None:
            try:
                self._queue.extendleft(reversed(self.source.announcements(after_seq=after)))
            except Exception:
                log.exception("cannot replay the alarm announcements; checking open alarms only")
        self._starting, self._recovering = True, recover
        self._unsubscribe = self.source.subscribe(self.on_announcement)
        self._task = asyncio.create_task(self._run(), name="escalator")

    async def stop(self) -> None:
        """Stop paging (in-flight pages are cancelled: their log entries stay ``pending`` and a
        restart's recovery decides); then close the notifiers, logs and record it owns."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._jobs.cancel_all()
        if self.owns_delivery:
            await self.delivery.aclose()
            self.delivery.log.close()
        if self.owns_record:
            self.record.close()

    # --- the task -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                self._work()
            except Exception:
                log.exception("escalation step failed")
            delay = self._sleep_for()
            waiter = asyncio.ensure_future(self._wake.wait())
            timer = asyncio.ensure_future(self.clock.sleep_until(self.clock.monotonic() + delay))
            try:
                await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                timer.cancel()

    def _sleep_for(self) -> float:
        now = self.clock.now()
        dues = [
            track.due
            for track in self._tracks.values()
            if track.status == "running" and track.due is not None
        ]
        if (held := self._pager.next_due()) is not None:
            dues.append(held)
        delay = min([(due - now).total_seconds() for due in dues], default=_IDLE)
        return max(0.001, min(_IDLE, delay))

    def _work(self) -> None:
        while self._queue:
            announcement = self._queue.popleft()
            try:
                self._handle(announcement)
            except Exception:
                log.exception("handling announcement %s failed", announcement.event_id)
        if self._starting:  # after the replay: the open alarms, then what was in flight
            self._starting = False
            self._check_at_start()
            self._recovery.resume_pages()
            if self._recovering:
                self._jobs.spawn(self._recovery.finish_deliveries(self.delivery), None)
        now = self.clock.now()
        for _ in range(_MAX_ROUNDS):
            due = [
                track
                for track in self._tracks.values()
                if track.status == "running" and track.due is not None and track.due <= now
            ]
            if not due:
                break
            for track in sorted(due, key=lambda track: (track.due or now, track.opened_at)):
                try:
                    policy = self.setup.policy_named(track.policy, track.view)
                    self._carry_out(decide_due(track, now=now, policy=policy), None, now)
                except Exception:
                    log.exception("escalation of %s failed", track.code)
                    current = self._tracks.get(track.code, track)
                    current.due = now + timedelta(seconds=_IDLE)  # try again, never give up
        self._pager.flush_due(now)

    def _handle(self, announcement: Announcement) -> None:
        view = announcement.alarm
        code = view.code if view is not None else None
        track = self._tracks.get(code) if code is not None else None
        policy = None
        once = False
        if view is not None and code is not None and announcement.kind in ATTENTION_KINDS:
            policy = self.setup.policy_for(view)
            once = self.setup.pages_once(view)
        now = self.clock.now()
        decision = decide(
            announcement,
            track,
            now=now,
            policy=policy,
            late_after=self.setup.late_after,
            once=once,
        )
        self._carry_out(decision, announcement, now)

    def _check_at_start(self) -> None:
        """Compare with the engine's open alarms after the replay."""
        try:
            views = self.source.active()
            self._pager.flooding = self.source.flood.active
        except Exception:
            log.exception("cannot read the open alarms; escalation continues as recorded")
            return
        now = self.clock.now()
        for decision in self._recovery.check(views, now):
            self._carry_out(decision, None, now)

    # --- carrying decisions out ---------------------------------------------------------------

    def _carry_out(
        self, decision: Decision, announcement: Announcement | None, now: datetime
    ) -> None:
        """Follow the decision's track (or stop following it), then act, in order."""
        track = decision.track
        if track is not None:
            if decision.closed:
                self._tracks.pop(track.code, None)
            else:
                self._tracks[track.code] = track
        self._pager.carry_out(decision.actions, track, announcement, now)

    def _unreached(self, page: PageId) -> None:
        """Every delivery of a page failed: its tier reached nobody, so the next tier is due
        now rather than after the wait."""
        track_id, page_number = page
        for track in self._tracks.values():
            if track.id == track_id and track.status == "running" and track.page == page_number:
                log.error(
                    "alarm %s: nobody in tier %d was reached; next tier now",
                    track.code,
                    track.last_tier,
                )
                track.due = self.clock.now()
                self._wake.set()
