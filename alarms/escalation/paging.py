"""Paging: a decision's actions (:mod:`alarms.escalation.decide`) carried out, a
:class:`~alarms.escalation.decide.Page` or a :class:`~alarms.escalation.decide.Tell` turned
into notifications sent through the page tasks (:mod:`.page_tasks`).

A page resolves the tier's targets to people at the moment of the page (schedules change
hands), adds the horns to the page of the system alarm that no remote notifier works, writes the
``paged`` row before anything leaves, and sends one notification per person. During an alarm
flood pages for one person are held and go out as one bundle (:mod:`.bundling`), except for
people with a channel that is never bundled (horns count alarms by their code).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from alarms.escalation.bundling import Bundler, Held
from alarms.escalation.decide import Action, CancelPages, FloodChanged, Page, Record, Tell
from alarms.escalation.horns import UNREACHABLE_KEY
from alarms.escalation.messages import bundle, notification_for
from alarms.escalation.page_tasks import PageTasks
from alarms.escalation.policy import Step
from alarms.escalation.recording import RecordWriter
from alarms.escalation.setup import Setup
from alarms.escalation.state import EscalationRow, Track
from alarms.model import Announcement
from alarms.notify.message import Kind
from alarms.people import Person
from monitor.core.clock import Clock

log = logging.getLogger(__name__)


class Pager:
    """Pages and updates for the escalator; ``is_running(track_id)`` says whether a held page
    is still wanted when its bundle goes out."""

    def __init__(
        self,
        setup: Setup,
        clock: Clock,
        writer: RecordWriter,
        tasks: PageTasks,
        is_running: Callable[[str], bool],
    ) -> None:
        self.setup = setup
        self.clock = clock
        self.writer = writer
        self.tasks = tasks
        self.is_running = is_running
        self.flooding = False
        window = setup.bundle_window
        self.bundler = Bundler(window) if window else None

    def carry_out(
        self,
        actions: Sequence[Action],
        track: Track | None,
        announcement: Announcement | None,
        now: datetime,
    ) -> None:
        """Carry out ``actions``, in order, for ``track`` (the track after the decision),
        caused by ``announcement`` (None: a step fell due, or the check at start)."""
        for action in actions:
            if isinstance(action, FloodChanged):
                self.flooding = action.active
                if not action.active:
                    self.flush(None)
                continue
            assert track is not None
            if isinstance(action, Record):
                self.writer.save(
                    action.action, track, announcement, closed=action.closed, detail=action.detail
                )
            elif isinstance(action, Page):
                self.page(
                    track, now, action.kind, announcement, action.step, climbing=action.climbing
                )
            elif isinstance(action, Tell):
                assert announcement is not None
                self.tell(track, action.kind, announcement)
            elif isinstance(action, CancelPages):
                self.tasks.cancel(track.id)

    def page(
        self,
        track: Track,
        now: datetime,
        kind: Kind,
        announcement: Announcement | None,
        step: Step,
        *,
        climbing: bool = False,
    ) -> None:
        """Page the tier of ``step``. The row goes to the record before any page leaves. With
        ``climbing``, a tier that names nobody makes the next step due now (and so does one
        whose every delivery fails: the page is watched)."""
        people = self._resolve(step.targets, now, track)
        if track.key == UNREACHABLE_KEY:  # nobody off site can be reached: sound the horns
            named = {person.id for person in people}
            people += [
                horn
                for place_id in self.setup.horns
                if place_id not in named
                and (horn := self.setup.resolver.person(place_id)) is not None
            ]
        track.page += 1
        key = track.page_key(track.page)
        track.last_people = [person.id for person in people]
        track.last_key, track.last_kind, track.last_tier, track.last_at = (
            key,
            kind,
            step.tier + 1,
            now,
        )
        for person in people:
            if person.id not in track.paged:
                track.paged.append(person.id)
        self.writer.save(
            "paged",
            track,
            announcement,
            detail=f"{kind} tier {step.tier + 1}"
            + (f" pass {step.pass_no}" if step.pass_no else " (repeats spent, keeps paging)"),
        )
        if climbing and not people and not step.continuing:
            log.error(
                "alarm %s: tier %d of policy '%s' reaches nobody; next tier now",
                track.code,
                step.tier + 1,
                track.policy,
            )
            track.due = now
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
            return
        direct = [person for person in people if not self._bundles(person)]
        if self.bundler is not None:
            for person in people:
                if self._bundles(person):
                    self.bundler.add(Held(track.id, track.page, notification, person), now)
        page_id = (track.id, track.page)
        watched = climbing and direct and len(direct) == len(people)  # a bundle may yet reach
        if watched:
            self.tasks.watch(page_id, len(direct), step.continuing)
        for person in direct:
            self.tasks.send(
                notification, person, track_id=track.id, watched=page_id if climbing else None
            )

    def tell(self, track: Track, kind: Kind, announcement: Announcement) -> None:
        """Tell everyone paged for this alarm (but whoever acknowledged it) what happened,
        on their channels but voice calls."""
        people = [
            person
            for person_id in track.paged
            if person_id != announcement.person
            and (person := self.setup.resolver.person(person_id)) is not None
        ]
        if not people:
            return
        acknowledged_by = announcement.person
        if acknowledged_by is not None:
            who = self.setup.resolver.person(acknowledged_by)
            if who is not None:
                acknowledged_by = who.name
        notification = notification_for(
            track.view,
            kind=kind,
            key=f"esc/{track.id}/{announcement.event_id}/{kind}",
            at=announcement.at,
            tier=track.last_tier or 1,
            timezone=self.setup.timezone,
            site=self.setup.site,
            late=announcement.late,
            acknowledged_by=acknowledged_by if kind in ("acknowledged", "silenced") else None,
            comment=announcement.comment if kind in ("acknowledged", "silenced") else None,
        )
        if notification is None:
            return
        for person in people:
            channels = [
                channel for channel in person.channels if channel not in self.setup.skip_for_updates
            ]
            if channels:
                self.tasks.send(notification, person, channels=channels)

    def next_due(self) -> datetime | None:
        """When the first held bundle is due (None: nothing held)."""
        return self.bundler.due() if self.bundler is not None else None

    def flush_due(self, now: datetime) -> None:
        """Send the bundles due by ``now``; all of them once the flood is over."""
        held = self.next_due()
        if held is not None and (held <= now or not self.flooding):
            self.flush(now if self.flooding else None)

    def flush(self, now: datetime | None) -> None:
        """Send the held bundles due by ``now`` (all when None)."""
        if self.bundler is None:
            return
        for items in self.bundler.take(now):
            live = [item for item in items if self.is_running(item.track)]
            if not live:
                continue
            person = live[0].person
            if len(live) == 1:
                only = live[0]
                self.tasks.send(only.notification, person, track_id=only.track)
                continue
            at = self.clock.now()
            key = f"esc/bundle/{person.id}/{at.strftime('%Y%m%dT%H%M%S.%f')}"
            self.writer.append(
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
                        "members": [[item.track, item.page] for item in live],
                        "codes": [item.notification.alarm_id for item in live],
                    },
                )
            )
            merged = bundle([item.notification for item in live], key, at)
            self.tasks.send(merged, person)

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
            and self.bundler is not None
            and not any(channel in self.setup.never_bundled for channel in person.channels)
        )
