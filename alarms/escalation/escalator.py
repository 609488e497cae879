"""The escalator: from the engine's announcements to pages that climb the call tree.

It subscribes to the alarm engine, and its callback only queues (the engine calls it inline
and must never wait for a page). One task, timed on the injected clock, handles the queue, runs
the escalation steps that are due and flushes flood bundles; every page is a delivery task of
its own, so a slow SMS provider delays nobody else's page.

Per alarm occurrence (alarm code) a :class:`~alarms.escalation.state.Track`:

- ``raised`` / ``late-found``: tier 1 now, then each step of the policy at its time.
- acknowledged: paging stops (pages still retrying are cancelled); everyone paged is told.
- ``re-alarm`` (the engine's acknowledgement timeout, ``realarm_after``, default 60 min) or
  ``severity-raised`` after an acknowledgement: escalation starts again at tier 1.
- ``severity-raised`` while nobody has acknowledged: the current tier is paged again at once
  with the new severity, and the escalation keeps its timing (it never goes back a tier).
- returned to normal before anyone acknowledged: paging stops and everyone paged is told; the
  alarm stays RTN_UNACK. If it recurs, escalation carries on from the tier it had reached: a
  chattering alarm nobody acknowledges still climbs the call tree. A *latched* alarm keeps being
  paged after its condition clears, until acknowledged: that is what latching is for.
- shelved, suppressed, out of service, retired, reset: paging stops.
- an alarm flood: pages for one person are bundled (:mod:`alarms.escalation.bundling`).

A tier that reaches nobody (an empty schedule, every channel failing) moves on to the next tier
at once instead of waiting, except once the policy's repeats are spent (the last tier keeps its
interval). Restart: see :mod:`alarms.escalation.state` and :meth:`Escalator.start`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from alarms.escalation.bundling import Bundler, Held
from alarms.escalation.config import (
    PagingConfig,
    never_bundled_channels,
    update_skip_channels,
)
from alarms.escalation.horns import UNREACHABLE_KEY, WithHorns, horn_places
from alarms.escalation.messages import bundle, notification_for
from alarms.escalation.policy import Policy, Router, Step, build_policies
from alarms.escalation.schedule import ScheduleResolver, build_schedules
from alarms.escalation.state import EscalationLog, EscalationRow, Track
from alarms.model import (
    ATTENTION_KINDS,
    AlarmState,
    AlarmView,
    Announcement,
    AnnouncementKind,
    FloodStatus,
)
from alarms.notify.delivery import Delivery
from alarms.notify.message import Kind, Notification
from alarms.people import Directory, Person, TargetResolver
from monitor.core.clock import Clock
from monitor.core.logs import RateLimiter

if TYPE_CHECKING:
    from alarms.site import AlarmSite

log = logging.getLogger(__name__)

K = AnnouncementKind
S = AlarmState
_IDLE = 60.0  # seconds the task sleeps at most when nothing is due
HIDDEN = frozenset({S.SHELVED, S.SUPPRESSED, S.OUT_OF_SERVICE})


class AnnouncementSource(Protocol):
    """What the escalator needs of the alarm engine (:class:`alarms.engine.AlarmEngine`)."""

    def subscribe(self, subscriber: Callable[[Announcement], None]) -> Callable[[], None]: ...

    def announcements(self, after_seq: int = 0, limit: int | None = None) -> list[Announcement]: ...

    def active(self) -> list[AlarmView]: ...

    @property
    def flood(self) -> FloodStatus: ...


@dataclass(frozen=True)
class Setup:
    """Everything the configuration decides, built once (:func:`build_setup`)."""

    policies: Mapping[str, Policy]
    router: Router
    resolver: TargetResolver
    timezone: str = "UTC"
    site: str | None = None
    bundle_window: float | None = 30.0
    """Seconds pages are held during a flood; None: no bundling."""
    skip_for_updates: frozenset[str] = frozenset()
    """Channels not used for back-to-normal and acknowledged messages (voice calls)."""
    never_bundled: frozenset[str] = frozenset()
    """People with one of these channels (horns) get every page on its own."""
    late_after: float = 300.0
    """An event paged later than this after it happened is marked late."""
    horns: tuple[str, ...] = ()
    """Place ids of the horns that sound when no remote notifier works (:mod:`.horns`)."""


def build_setup(paging: PagingConfig, config: AlarmSite | None = None) -> Setup:
    """The escalator's setup from the configuration (check it with ``check_paging`` first)."""
    esc = paging.escalation
    if esc is None:
        raise ValueError("no escalation section: nothing to page with")
    timezone = config.site.timezone if config is not None else "UTC"
    directory = Directory(paging.people, paging.groups)
    places = horn_places(never_bundled_channels(paging))
    resolver = WithHorns(
        ScheduleResolver(directory, build_schedules(paging.schedules, timezone)), places
    )
    return Setup(
        policies=build_policies(esc),
        router=Router.from_config(esc, config),
        resolver=resolver,
        timezone=timezone,
        site=config.site.name if config is not None else None,
        bundle_window=esc.flood.window if esc.flood.enabled else None,
        skip_for_updates=update_skip_channels(paging),
        never_bundled=never_bundled_channels(paging),
        horns=tuple(places),
    )


def build_escalator(
    source: AnnouncementSource,
    paging: PagingConfig,
    config: AlarmSite | None,
    clock: Clock,
    store_path: str | Path | None,
    delivery: Delivery | None = None,
) -> Escalator:
    """The daemon's escalator, its record in the store's file (``None``: in memory). Without
    ``delivery`` it builds the notifiers and the notification log there too and owns them
    (``stop()`` closes them); pass the daemon's one ``Delivery`` when other parts (the
    acknowledgement paths) send through the same notifiers: a horn's state lives in its
    notifier, so there must be one of each."""
    from alarms.escalation.state import SQLiteEscalationLog
    from alarms.notify.registry import build_all
    from alarms.records.notification_log import SQLiteLog

    setup = build_setup(paging, config)
    owns_delivery = delivery is None
    if delivery is None:
        delivery = Delivery(build_all(paging.notifiers, clock), SQLiteLog(store_path), clock)
    record = SQLiteEscalationLog(store_path)
    return Escalator(
        source, delivery, setup, record, clock, owns_delivery=owns_delivery, owns_record=True
    )


@dataclass
class _PageWatch:
    """The deliveries of one page still running, and whether any reached its person."""

    remaining: int
    continuing: bool
    ok: bool = False


@dataclass
class _Jobs:
    all: set[asyncio.Task[Any]] = field(default_factory=set)
    by_track: dict[str, set[asyncio.Task[Any]]] = field(default_factory=dict)


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
        self.flooding = False
        self._tracks: dict[str, Track] = {}  # open tracks by alarm code
        self._queue: deque[Announcement] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._jobs = _Jobs()
        self._watches: dict[tuple[str, int], _PageWatch] = {}
        window = setup.bundle_window
        self._bundler = Bundler(window) if window else None
        self._bundled: dict[str, list[tuple[str, int]]] = {}  # recorded bundles, at start
        self._resumed: dict[str, int] = {}  # track id -> page count when loaded
        self._starting = self._recovering = False
        self._limiter = RateLimiter(60.0)

    # --- input --------------------------------------------------------------------------------

    def on_announcement(self, announcement: Announcement) -> None:
        """The engine's subscriber: queue, wake the task, return. Never raises."""
        self._queue.append(announcement)
        self._wake.set()

    # --- queries ------------------------------------------------------------------------------

    def tracks(self) -> list[Track]:
        """Open escalations, oldest first (for status displays)."""
        return sorted(self._tracks.values(), key=lambda t: t.opened_at)

    def track(self, code: str) -> Track | None:
        return self._tracks.get(code)

    def wanted(self, notification: Notification) -> bool:
        """For ``Delivery.recover``: is an interrupted page still worth sending? A page of an
        alarm acknowledged (or closed) meanwhile is not; messages that inform always are."""
        key = notification.key
        if not key.startswith("esc/"):
            return True
        if key.startswith("esc/bundle/"):
            pages = self._bundled.get(key)
            if pages is None:  # not in the record read at start: judge by its head alarm
                head = self._tracks.get(notification.alarm_id)
                return head is not None and head.status == "running"
            return any(self._running(t) for t, _ in pages)
        if not notification.active:
            return True
        return self._running(key.split("/")[1])

    def _running(self, track_id: str) -> bool:
        return any(t.id == track_id and t.status == "running" for t in self._tracks.values())

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
        self._load()
        after = self._safely(self.record.last_announcement_seq)
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
        jobs = list(self._jobs.all)
        for job in jobs:
            job.cancel()
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)
        if self.owns_delivery:
            await self.delivery.aclose()
            self.delivery.log.close()
        if self.owns_record:
            self.record.close()

    async def _recover(self) -> None:
        try:
            await self.delivery.recover(self.setup.resolver, wanted=self.wanted)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovering interrupted notifications failed")

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
        dues = [t.due for t in self._tracks.values() if t.status == "running" and t.due]
        if self._bundler is not None and (held := self._bundler.due()) is not None:
            dues.append(held)
        delay = min([(d - now).total_seconds() for d in dues], default=_IDLE)
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
            self._reconcile()
            self._resume_pages()
            if self._recovering:
                self._spawn(self._recover(), None)
        now = self.clock.now()
        for _ in range(1000):  # fast-advancing tiers that reach nobody is bounded by the policy
            due = [
                t
                for t in self._tracks.values()
                if t.status == "running" and t.due is not None and t.due <= now
            ]
            if not due:
                break
            for track in sorted(due, key=lambda t: (t.due or now, t.opened_at)):
                try:
                    self._advance(track, now)
                except Exception:
                    log.exception("escalation of %s failed", track.code)
                    track.due = now + timedelta(seconds=_IDLE)  # try again, never give up
        if self._bundler is not None:
            held = self._bundler.due()
            if held is not None and (held <= now or not self.flooding):
                self._flush(now if self.flooding else None)

    # --- announcements ------------------------------------------------------------------------

    def _handle(self, a: Announcement) -> None:
        if a.kind is K.FLOOD_STARTED:
            self.flooding = True
            return
        if a.kind is K.FLOOD_ENDED:
            self.flooding = False
            self._flush(None)
            return
        view = a.alarm
        if view is None or view.code is None:
            return
        track = self._tracks.get(view.code)
        if a.kind in ATTENTION_KINDS:
            self._attention(a, view, track)
        elif track is None:
            return
        elif a.kind is K.ACKNOWLEDGED:
            self._acknowledged(a, view, track)
        elif a.kind is K.RETURNED_TO_NORMAL:
            self._returned(a, view, track)
        elif a.kind is K.SILENCED:  # shelved, suppressed, out of service: those paged are told
            track.view = view
            self._close(track, a.kind.value, a, update="silenced")
        elif a.kind in (K.RETIRED, K.RESET):
            track.view = view
            self._close(track, a.kind.value, a)

    def _attention(self, a: Announcement, view: AlarmView, track: Track | None) -> None:
        now = self.clock.now()
        policy = self._route(view)
        if track is None:
            code = view.code
            assert code is not None
            late = a.late or (now - a.at).total_seconds() > self.setup.late_after
            first = "raised" if a.kind in (K.RAISED, K.LATE_FOUND) else "re-alarm"
            track = Track(
                a.event_id, code, view.key, policy, view, now, due=now, first_kind=first, late=late
            )
            self._tracks[code] = track
            self._save("opened", track, a)
            return
        track.view = view
        if track.status == "running":
            if a.kind in (K.SEVERITY_RAISED, K.REALARM) and track.step >= 0:
                track.policy = policy
                self._page(track, now, "re-alarm", a)
            else:
                self._save("updated", track, a)
        elif track.status == "paused":
            track.status, track.policy = "running", policy
            if track.step < 0:
                track.due = now
                self._save("resumed", track, a)
            else:
                step = self._policy(track).step(track.step)
                track.due = now + timedelta(seconds=step.wait) if step else None
                self._page(track, now, "re-alarm", a)
        else:  # acknowledged before: an acknowledgement resets the call tree
            track.status, track.policy = "running", policy
            track.cycle += 1
            track.step, track.due, track.first_kind = -1, now, "re-alarm"
            track.late = a.late
            self._save("restarted", track, a)

    def _acknowledged(self, a: Announcement, view: AlarmView, track: Track) -> None:
        self._cancel_pages(track)
        track.view = view
        track.due = None
        if view.base_state is S.NORMAL:
            self._close(track, "acknowledged", a, update="acknowledged")
            return
        track.status = "acked"
        self._save("acknowledged", track, a)
        self._update(track, "acknowledged", a)

    def _returned(self, a: Announcement, view: AlarmView, track: Track) -> None:
        track.view = view
        if view.base_state is S.LATCHED_UNACK:
            self._save("updated", track, a)  # latched: paged until acknowledged
            return
        self._cancel_pages(track)
        track.due = None
        if track.status in ("running", "paused") and view.needs_ack:
            track.status = "paused"
            self._save("paused", track, a)
            self._update(track, "returned-to-normal", a)
        else:
            self._close(track, "returned-to-normal", a, update="returned-to-normal")

    def _close(
        self, track: Track, action: str, a: Announcement | None, update: Kind | None = None
    ) -> None:
        self._cancel_pages(track)
        track.status, track.due = "closed", None
        self._save(action, track, a, closed=True)
        if update is not None and a is not None:
            self._update(track, update, a)
        self._tracks.pop(track.code, None)

    def _route(self, view: AlarmView) -> str:
        choice = self.setup.router.route(view)
        if choice.policy in self.setup.policies:
            return choice.policy
        fallback = next(iter(self.setup.policies))
        log.error(
            "alarm %s: policy '%s' does not exist; using '%s'", view.key, choice.policy, fallback
        )
        return fallback

    def _policy(self, track: Track) -> Policy:
        policy = self.setup.policies.get(track.policy)
        if policy is None:  # the configuration changed under a running track
            track.policy = self._route(track.view)
            policy = self.setup.policies[track.policy]
        return policy

    # --- paging -------------------------------------------------------------------------------

    def _advance(self, track: Track, now: datetime) -> None:
        """The next step of the policy is due."""
        step = self._policy(track).step(track.step + 1)
        if step is None:  # keep_paging: false, never for critical alarms (check_paging)
            track.due = None
            self._save("stopped", track, None, detail="the policy's repeats are spent")
            return
        track.step = step.index
        track.due = now + timedelta(seconds=step.wait)
        kind: Kind = "escalated"
        if step.index == 0:
            kind = "raised" if track.first_kind == "raised" else "re-alarm"
        reached = self._page(track, now, kind, None, step, watch=True)
        if reached == 0 and not step.continuing:
            log.error(
                "alarm %s: tier %d of policy '%s' reaches nobody; next tier now",
                track.code,
                step.tier + 1,
                track.policy,
            )
            track.due = now

    def _page(
        self,
        track: Track,
        now: datetime,
        kind: Kind,
        a: Announcement | None,
        step: Step | None = None,
        watch: bool = False,
    ) -> int:
        """Page the tier of ``step`` (default: the track's current step); returns how many
        people it names. The row goes to the record before any page leaves."""
        step = step or self._policy(track).step(max(track.step, 0))
        if step is None:
            return 0
        people = self._resolve(step.targets, now, track)
        if track.key == UNREACHABLE_KEY:  # nobody off site can be reached: sound the horns
            named = {p.id for p in people}
            people += [
                p
                for pid in self.setup.horns
                if pid not in named and (p := self.setup.resolver.person(pid)) is not None
            ]
        track.page += 1
        key = track.page_key(track.page)
        track.last_people = [p.id for p in people]
        track.last_key, track.last_kind, track.last_tier, track.last_at = (
            key,
            kind,
            step.tier + 1,
            now,
        )
        for person in people:
            if person.id not in track.paged:
                track.paged.append(person.id)
        self._save(
            "paged",
            track,
            a,
            detail=f"{kind} tier {step.tier + 1}"
            + (f" pass {step.pass_no}" if step.pass_no else " (repeats spent, keeps paging)"),
        )
        notification = notification_for(
            track.view,
            kind=kind,
            key=key,
            at=now,
            tier=step.tier + 1,
            timezone=self.setup.timezone,
            site=self.setup.site,
            late=track.late and step.index == 0,
        )
        if notification is None:
            return len(people)
        direct = [p for p in people if not self._bundles(p)]
        if self._bundler is not None:
            for person in people:
                if self._bundles(person):
                    self._bundler.add(Held(track.id, track.page, notification, person), now)
        if watch and direct and len(direct) == len(people):  # a bundled page may still reach
            self._watches[(track.id, track.page)] = _PageWatch(len(direct), step.continuing)
        for person in direct:
            ident = (track.id, track.page) if watch else None
            self._spawn(self._deliver(notification, person, None, ident), track.id)
        return len(people)

    def _resolve(self, targets: Collection[str], now: datetime, track: Track) -> list[Person]:
        found: dict[str, Person] = {}
        for target in targets:
            try:
                people = self.setup.resolver.expand(target, now)
            except KeyError as exc:  # check_paging refuses such a configuration
                log.error("alarm %s: %s", track.code, exc)
                continue
            for person in people:
                found.setdefault(person.id, person)
        return list(found.values())

    def _bundles(self, person: Person) -> bool:
        return (
            self.flooding
            and self._bundler is not None
            and not any(c in self.setup.never_bundled for c in person.channels)
        )

    def _update(self, track: Track, kind: Kind, a: Announcement) -> None:
        """Tell everyone paged for this alarm (but whoever acknowledged it) what happened,
        on their channels but voice calls."""
        people = [
            p
            for pid in track.paged
            if pid != a.person and (p := self.setup.resolver.person(pid)) is not None
        ]
        if not people:
            return
        by = a.person
        if by is not None and (who := self.setup.resolver.person(by)) is not None:
            by = who.name
        notification = notification_for(
            track.view,
            kind=kind,
            key=f"esc/{track.id}/{a.event_id}/{kind}",
            at=a.at,
            tier=track.last_tier or 1,
            timezone=self.setup.timezone,
            site=self.setup.site,
            late=a.late,
            acknowledged_by=by if kind in ("acknowledged", "silenced") else None,
            comment=a.comment if kind in ("acknowledged", "silenced") else None,
        )
        if notification is None:
            return
        for person in people:
            channels = [c for c in person.channels if c not in self.setup.skip_for_updates]
            if channels:
                self._spawn(self._deliver(notification, person, channels, None), None)

    def _flush(self, now: datetime | None) -> None:
        """Send the held bundles due by ``now`` (all when None)."""
        if self._bundler is None:
            return
        for items in self._bundler.take(now):
            live = [h for h in items if self._running(h.track)]
            if not live:
                continue
            person = live[0].person
            if len(live) == 1:
                only = live[0]
                self._spawn(self._deliver(only.notification, person, None, None), only.track)
                continue
            at = self.clock.now()
            key = f"esc/bundle/{person.id}/{at.strftime('%Y%m%dT%H%M%S.%f')}"
            self._append(
                EscalationRow(
                    "bundled",
                    at,
                    None,
                    live[0].notification.alarm_id,
                    None,
                    False,
                    {
                        "key": key,
                        "person": person.id,
                        "members": [[h.track, h.page] for h in live],
                        "codes": [h.notification.alarm_id for h in live],
                    },
                )
            )
            merged = bundle([h.notification for h in live], key, at)
            self._spawn(self._deliver(merged, person, None, None), None)

    # --- deliveries ---------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], track_id: str | None) -> None:
        task = asyncio.create_task(work, name="escalation-page")
        jobs = self._jobs
        jobs.all.add(task)
        if track_id is not None:
            jobs.by_track.setdefault(track_id, set()).add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            jobs.all.discard(finished)
            if track_id is not None:
                mine = jobs.by_track.get(track_id)
                if mine is not None:
                    mine.discard(finished)
                    if not mine:
                        del jobs.by_track[track_id]

        task.add_done_callback(done)

    def _cancel_pages(self, track: Track) -> None:
        """Pages still retrying for an alarm that no longer needs them (the log keeps them
        ``pending``; recovery after a restart asks :meth:`wanted`)."""
        for task in self._jobs.by_track.pop(track.id, set()):
            task.cancel()
        for ident in [w for w in self._watches if w[0] == track.id]:
            del self._watches[ident]

    async def _deliver(
        self,
        notification: Notification,
        person: Person,
        channels: list[str] | None,
        watch: tuple[str, int] | None,
    ) -> None:
        ok = False
        try:
            outcome = await self.delivery.deliver(notification, person, channels)
            ok = outcome.ok
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering %s to %s failed", notification.key, person.id)
        if watch is not None:
            self._delivered(watch, ok)

    def _delivered(self, ident: tuple[str, int], ok: bool) -> None:
        """Every delivery of a page failed: its tier reached nobody, so the next tier is due
        now rather than after the wait (except once the policy keeps paging its last tier)."""
        watch = self._watches.get(ident)
        if watch is None:
            return
        watch.ok = watch.ok or ok
        watch.remaining -= 1
        if watch.remaining > 0:
            return
        del self._watches[ident]
        if watch.ok or watch.continuing:
            return
        track_id, page = ident
        for track in self._tracks.values():
            if track.id == track_id and track.status == "running" and track.page == page:
                log.error(
                    "alarm %s: nobody in tier %d was reached; next tier now",
                    track.code,
                    track.last_tier,
                )
                track.due = self.clock.now()
                self._wake.set()

    # --- restart ------------------------------------------------------------------------------

    def _load(self) -> None:
        rows = self._safely(self.record.open_tracks) or []
        for row in rows:
            try:
                track = Track.from_json(row.data)
            except (KeyError, ValueError, TypeError) as exc:
                log.error("escalation row %d unreadable (%s); the engine decides", row.seq, exc)
                continue
            self._tracks[track.code] = track
            self._resumed[track.id] = track.page
        if self._tracks:
            since = min(t.opened_at for t in self._tracks.values())
            for row in self._safely(lambda: self.record.bundles(since)) or []:
                pages = [(str(m[0]), int(m[1])) for m in row.data.get("members", [])]
                self._bundled[str(row.data.get("key"))] = pages
        log.info("escalation resumed: %d open", len(self._tracks))

    def _reconcile(self) -> None:
        """Compare with the engine's open alarms after the replay."""
        try:
            views = self.source.active()
            self.flooding = self.source.flood.active
        except Exception:
            log.exception("cannot read the open alarms; escalation continues as recorded")
            return
        now = self.clock.now()
        by_code = {v.code: v for v in views if v.code is not None}
        for code, track in list(self._tracks.items()):
            view = by_code.get(code)
            if view is None or view.state in HIDDEN:
                self._close(track, "closed", None)
                continue
            track.view = view
            base, status = view.base_state, track.status
            if base in (S.ACKED, S.LATCHED_ACKED) and status != "acked":
                track.status, track.due = "acked", None
            elif base is S.RTN_UNACK and status == "running" and not view.late:
                track.status, track.due = "paused", None
            elif base in (S.UNACK, S.LATCHED_UNACK) and status == "paused":
                track.status, track.due = "running", now  # recurred: the next tier now
            elif base in (S.UNACK, S.LATCHED_UNACK) and status == "acked":
                track.status, track.due = "running", now  # re-alarmed: tier 1 again
                track.step, track.cycle, track.first_kind = -1, track.cycle + 1, "re-alarm"
            else:
                continue
            self._save(track.status, track, None, detail="found so at start")
        for view in views:
            new = view.code
            if new is None or new in self._tracks or view.state in HIDDEN:
                continue
            if view.base_state in (S.UNACK, S.LATCHED_UNACK):
                ident = f"s{new}-{now.strftime('%Y%m%dT%H%M%S')}"
                policy = self._route(view)
                raised = view.raised_at or view.since or now
                late = (now - raised).total_seconds() > self.setup.late_after
                track = Track(ident, new, view.key, policy, view, now, due=now, late=late)
                self._tracks[new] = track
                self._save("opened", track, None, detail="unacknowledged at start")

    def _resume_pages(self) -> None:
        """Ask again for the last page of each resumed track: the notification log sends it
        only to those it never reached (a crash between the record and the send)."""
        bundled = {page for pages in self._bundled.values() for page in pages}
        for track in self._tracks.values():
            if (
                track.status != "running"
                or track.last_key is None
                or self._resumed.get(track.id) != track.page
                or (track.id, track.page) in bundled
                or track.last_at is None
            ):
                continue
            notification = notification_for(
                track.view,
                kind=_kind(track.last_kind),
                key=track.last_key,
                at=track.last_at,
                tier=track.last_tier,
                timezone=self.setup.timezone,
                site=self.setup.site,
            )
            if notification is None:
                continue
            for pid in track.last_people:
                person = self.setup.resolver.person(pid)
                if person is not None:
                    self._spawn(self._deliver(notification, person, None, None), track.id)
        self._resumed.clear()

    # --- the record ---------------------------------------------------------------------------

    def _save(
        self,
        action: str,
        track: Track,
        a: Announcement | None,
        *,
        closed: bool = False,
        detail: str | None = None,
    ) -> None:
        data = track.to_json()
        if detail:
            data["detail"] = detail
        self._append(
            EscalationRow(
                action,
                self.clock.now(),
                track.id,
                track.code,
                track.key,
                closed,
                data,
                event_id=a.event_id if a is not None else None,
                ann_seq=a.seq if a is not None and a.recorded else None,
            )
        )

    def _append(self, row: EscalationRow) -> None:
        """Record; a failing record is logged and paging goes on (a page matters more)."""
        try:
            self.record.append(row)
        except Exception as exc:
            allowed, suppressed = self._limiter.allow("append")
            if allowed:
                log.error(
                    "the escalation record cannot be written (%s)%s; paging continues",
                    exc,
                    f" ({suppressed} similar not logged)" if suppressed else "",
                )

    def _safely(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception:
            log.exception("cannot read the escalation record")
            return None


def _kind(value: str | None) -> Kind:
    if value in ("raised", "escalated", "re-alarm"):
        return value  # type: ignore[return-value]
    return "escalated"
