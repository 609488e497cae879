"""Restart: the escalator resumes from its record (:mod:`alarms.escalation.state`).

At start the open tracks are read back as they were (:meth:`Recovery.load`); the engine's
announcements since the last one handled are replayed (by the escalator); then the tracks are
compared with the engine's open alarms (:meth:`Recovery.check`): an unacknowledged alarm
without escalation gets one, late, and an escalation whose alarm was dealt with meanwhile
ends. The page in flight at the crash is asked for again (:meth:`Recovery.resume_pages`: the
notification log sends it only to those it never reached), and ``Delivery.recover`` finishes the
other interrupted deliveries that still matter (:meth:`Recovery.wanted`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from alarms.escalation.decide import HIDDEN, Decision, Record, changed, closing
from alarms.escalation.messages import notification_for
from alarms.escalation.page_tasks import PageId, PageTasks
from alarms.escalation.policy import Policy
from alarms.escalation.recording import RecordWriter
from alarms.escalation.setup import Setup
from alarms.escalation.state import Track
from alarms.model import AlarmState, AlarmView
from alarms.notify.delivery import Delivery
from alarms.notify.message import Kind, Notification

log = logging.getLogger(__name__)

_ACKED = (AlarmState.ACKED, AlarmState.LATCHED_ACKED)
_UNACKED = (AlarmState.UNACK, AlarmState.LATCHED_UNACK)


def found_at_start(track: Track, view: AlarmView | None, now: datetime) -> Decision:
    """What the engine's ``view`` of a recorded track's alarm at start (after the replay) does
    to the track; ``view`` None: the alarm is no longer open."""
    if view is None or view.state in HIDDEN:
        return closing(track, "closed")
    track = changed(track, view=view)
    base, status = view.base_state, track.status
    if base in _ACKED and status != "acked":
        track.status, track.due = "acked", None
    elif base is AlarmState.RTN_UNACK and status == "running" and not view.late:
        track.status, track.due = "paused", None
    elif base in _UNACKED and status == "paused":
        track.status, track.due = "running", now  # recurred: the next tier now
    elif base in _UNACKED and status == "acked":
        track.status, track.due = "running", now  # re-alarmed: tier 1 again
        track.step, track.cycle, track.first_kind = -1, track.cycle + 1, "re-alarm"
    else:
        return Decision(track)
    return Decision(track, (Record(track.status, detail="found so at start"),))


def opened_at_start(view: AlarmView, now: datetime, policy: Policy, late_after: float) -> Decision:
    """An unacknowledged alarm the record has no escalation for: one opens now, late when
    the alarm was raised more than ``late_after`` seconds ago."""
    code = view.code
    assert code is not None
    track_id = f"s{code}-{now.strftime('%Y%m%dT%H%M%S')}"
    raised = view.raised_at or view.since or now
    late = (now - raised).total_seconds() > late_after
    track = Track(track_id, code, view.key, policy.id, view, now, due=now, late=late)
    return Decision(track, (Record("opened", detail="unacknowledged at start"),))


class Recovery:
    """The escalator's restart, on its open ``tracks`` (by code, shared with the escalator)."""

    def __init__(
        self,
        tracks: dict[str, Track],
        setup: Setup,
        writer: RecordWriter,
        tasks: PageTasks,
        is_running: Callable[[str], bool],
    ) -> None:
        self.tracks = tracks
        self.setup = setup
        self.writer = writer
        self.tasks = tasks
        self.is_running = is_running
        self.bundled: dict[str, list[PageId]] = {}
        """The pages of each bundle recorded since the oldest open track, by bundle key."""
        self.pages_at_load: dict[str, int] = {}
        """Track id -> its page count when read back (until the pages are resumed)."""

    def load(self) -> None:
        """The open tracks as the record has them, and the bundles sent since they opened."""
        record = self.writer.record
        for row in self.writer.read(record.open_tracks) or []:
            try:
                track = Track.from_json(row.data)
            except (KeyError, ValueError, TypeError) as exc:
                log.error("escalation row %d unreadable (%s); the engine decides", row.seq, exc)
                continue
            self.tracks[track.code] = track
            self.pages_at_load[track.id] = track.page
        if self.tracks:
            since = min(track.opened_at for track in self.tracks.values())
            for row in self.writer.read(lambda: record.bundles(since)) or []:
                members = row.data.get("members", [])
                pages = [(str(member[0]), int(member[1])) for member in members]
                self.bundled[str(row.data.get("key"))] = pages
        log.info("escalation resumed: %d open", len(self.tracks))

    def check(self, views: Sequence[AlarmView], now: datetime) -> list[Decision]:
        """Compare the tracks with the engine's open alarms after the replay."""
        by_code = {view.code: view for view in views if view.code is not None}
        decisions = [
            found_at_start(track, by_code.get(code), now) for code, track in self.tracks.items()
        ]
        for view in views:
            code = view.code
            if code is None or code in self.tracks or view.state in HIDDEN:
                continue
            if view.base_state in _UNACKED:
                policy = self.setup.policy_for(view)
                decisions.append(opened_at_start(view, now, policy, self.setup.late_after))
        return decisions

    def resume_pages(self) -> None:
        """Ask again for the last page of each resumed track: the notification log sends it
        only to those it never reached (a crash between the record and the send)."""
        bundled = {page for pages in self.bundled.values() for page in pages}
        for track in self.tracks.values():
            if (
                track.status != "running"
                or track.last_key is None
                or self.pages_at_load.get(track.id) != track.page
                or (track.id, track.page) in bundled
                or track.last_at is None
            ):
                continue
            notification = notification_for(
                track.view,
                kind=_page_kind(track.last_kind),
                key=track.last_key,
                at=track.last_at,
                tier=track.last_tier,
                timezone=self.setup.timezone,
                site=self.setup.site,
            )
            if notification is None:
                continue
            for person_id in track.last_people:
                person = self.setup.resolver.person(person_id)
                if person is not None:
                    self.tasks.send(notification, person, track_id=track.id)
        self.pages_at_load.clear()

    def wanted(self, notification: Notification) -> bool:
        """For ``Delivery.recover``: is an interrupted page still worth sending? A page of an
        alarm acknowledged (or closed) meanwhile is not; messages that inform always are."""
        key = notification.key
        if not key.startswith("esc/"):
            return True
        if key.startswith("esc/bundle/"):
            pages = self.bundled.get(key)
            if pages is None:  # not in the record read at start: judge by its head alarm
                head = self.tracks.get(notification.alarm_id)
                return head is not None and head.status == "running"
            return any(self.is_running(track_id) for track_id, _ in pages)
        if not notification.active:
            return True
        return self.is_running(key.split("/")[1])

    async def finish_deliveries(self, delivery: Delivery) -> None:
        """``Delivery.recover``: the interrupted deliveries that are still :meth:`wanted`."""
        try:
            await delivery.recover(self.setup.resolver, wanted=self.wanted)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovering interrupted notifications failed")


def _page_kind(value: str | None) -> Kind:
    """The kind of a recorded page (one asking for attention)."""
    if value in ("raised", "escalated", "re-alarm"):
        return value  # type: ignore[return-value]
    return "escalated"
