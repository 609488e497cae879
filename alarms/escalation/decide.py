"""What the escalation of one alarm occurrence does next: a pure function of the facts.

No asyncio, no I/O, no clock of its own: an announcement of the engine (or a step of the policy
falling due) and the :class:`~alarms.escalation.state.Track` it concerns come in, with the time
and the policy; a :class:`Decision` comes out: the track after it (a new object, the one given
is left as it was) and the actions to carry out, in order. The escalator
(:mod:`alarms.escalation.escalator`) carries them out, :mod:`alarms.escalation.paging` turns a
:class:`Page` or a :class:`Tell` into notifications.

Per alarm occurrence (alarm code):

- ``raised`` / ``late-found``: tier 1 now, then each step of the policy at its time.
- acknowledged: paging stops (pages still retrying are cancelled); everyone paged is told.
- ``re-alarm`` (the engine's acknowledgement timeout, ``realarm_after``, default 60 min) or
  ``severity-raised`` after an acknowledgement: escalation starts again at tier 1.
- ``severity-raised`` while nobody has acknowledged: the current tier is paged again at once
  with the new severity, and the escalation keeps its timing (it never goes back a tier).
- returned to normal before anyone acknowledged: paging stops and everyone paged is told; the
  alarm stays RTN_UNACK. If it recurs, escalation carries on from the tier it had reached.
  A *latched* alarm keeps being paged after its condition clears, until acknowledged: that is
  what latching is for.
- shelved, suppressed, out of service, retired, reset: paging stops.
- chattering (the alarm activated ``chattering.count`` times within ``chattering.window``):
  everyone paged is told once when it starts; while it chatters its returns to normal are not
  told and do not pause the escalation, its recurrences do not page again, and the call tree
  keeps its timing and climbs until someone acknowledges. When it stops (a whole window without
  an activation), if it is back to normal and unacknowledged everyone paged is told so, once,
  and the escalation pauses as for any return; if it is in alarm the escalation goes on. An
  acknowledged occurrence that returns while chattering closes without telling anyone.
- a *pulse* (an event with no "ok" to follow: a monitoring gap, a clock step) is back to normal
  the moment it is raised: unless it is critical or latching, its first tier is paged once and
  the escalation stops there (``once``), the alarm waiting in RTN_UNACK for an acknowledgement.
  A critical pulse climbs like any critical alarm: it never goes quiet while unacknowledged.

A step that reaches nobody moves on to the next at once: paging knows who was reached, so that
rule is :class:`Page`'s ``climbing`` (see :mod:`alarms.escalation.paging`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alarms.escalation.policy import Policy, Step
from alarms.escalation.state import Track
from alarms.model import ATTENTION_KINDS, AlarmState, AlarmView, Announcement, AnnouncementKind
from alarms.notify.message import Kind

_CHATTER_KINDS = frozenset({AnnouncementKind.CHATTERING, AnnouncementKind.CHATTERING_ENDED})

#: States in which an alarm is not paged: it is hidden from the operators on purpose.
HIDDEN = frozenset({AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})


@dataclass(frozen=True)
class Record:
    """Append a row with the track as it is now: ``action`` says what happened."""

    action: str
    closed: bool = False
    detail: str | None = None


@dataclass(frozen=True)
class Page:
    """Page the tier of ``step``, saying ``kind`` (a ``paged`` row first). ``climbing``: the
    step fell due; if it reaches nobody, the next step is due at once (unless the policy's
    repeats are spent and the last tier keeps its interval)."""

    kind: Kind
    step: Step
    climbing: bool = False


@dataclass(frozen=True)
class Tell:
    """Tell everyone paged (but whoever acknowledged) what happened, on all their channels
    but the ones skipped for updates (voice calls)."""

    kind: Kind


@dataclass(frozen=True)
class CancelPages:
    """Cancel the pages of the track still being sent (they stay ``pending`` in the log)."""


@dataclass(frozen=True)
class FloodChanged:
    """An alarm flood began or ended (ended: the held bundles go out now)."""

    active: bool


Action = Record | Page | Tell | CancelPages | FloodChanged


@dataclass(frozen=True)
class Decision:
    """The track after the decision (None: nothing is followed or changed) and what to do."""

    track: Track | None
    actions: tuple[Action, ...] = ()

    @property
    def closed(self) -> bool:
        """The escalation ends: the track is no longer followed."""
        return self.track is not None and self.track.status == "closed"


def decide(
    announcement: Announcement,
    track: Track | None,
    *,
    now: datetime,
    policy: Policy | None,
    late_after: float,
    once: bool = False,
) -> Decision:
    """What ``announcement`` does to ``track`` (the open escalation of its alarm code, if
    any). ``policy`` is the one the routes choose for the alarm now: needed only when the
    announcement asks for attention (:data:`~alarms.model.ATTENTION_KINDS`). An event that
    happened more than ``late_after`` seconds before ``now`` opens a track marked late.
    ``once``: the alarm is a non-critical pulse (:meth:`~alarms.escalation.setup.Setup.
    pages_once`); a track it opens pages each step once, climbing only past a tier that
    reaches nobody."""
    kind = announcement.kind
    if kind is AnnouncementKind.FLOOD_STARTED:
        return Decision(None, (FloodChanged(True),))
    if kind is AnnouncementKind.FLOOD_ENDED:
        return Decision(None, (FloodChanged(False),))
    view = announcement.alarm
    if view is None or view.code is None:
        return Decision(None)
    if kind in ATTENTION_KINDS:
        if policy is None:
            raise ValueError(f"a {kind.value} announcement needs the policy of its alarm")
        if track is None:
            return _open(announcement, view, now, policy, late_after, once)
        return _attention(announcement, changed(track, view=view), now, policy)
    if track is None:
        return Decision(None)
    track = changed(track, view=view)
    if kind is AnnouncementKind.ACKNOWLEDGED:
        return _acknowledged(track)
    if kind is AnnouncementKind.RETURNED_TO_NORMAL and not view.chattering:
        return _returned(track)
    if kind is AnnouncementKind.RETURNED_TO_NORMAL:
        return _returned_while_chattering(track)
    if kind in _CHATTER_KINDS:
        return _chattering_changed(kind, track)
    if kind is AnnouncementKind.SILENCED:  # shelved, suppressed, out of service
        return closing(track, kind.value, tell="silenced")  # those paged are told
    if kind in (AnnouncementKind.RETIRED, AnnouncementKind.RESET):
        return closing(track, kind.value)
    return Decision(None)


def decide_due(track: Track, *, now: datetime, policy: Policy) -> Decision:
    """The next step of ``policy`` (the track's) is due at ``now``."""
    track = changed(track, policy=policy.id)
    step = policy.step(track.step + 1)
    if step is None:  # keep_paging: false, never for critical alarms (check_paging)
        track.due = None
        return Decision(track, (Record("stopped", detail="the policy's repeats are spent"),))
    track.step = step.index
    track.due = None if track.once else now + timedelta(seconds=step.wait)
    kind: Kind = "escalated"
    if step.index == 0:
        kind = "raised" if track.first_kind == "raised" else "re-alarm"
    if track.once:
        note = "a pulse, back to normal when raised: paged once, waits for an acknowledgement"
        return Decision(track, (Page(kind, step, climbing=True), Record("stopped", detail=note)))
    return Decision(track, (Page(kind, step, climbing=True),))


def closing(track: Track, action: str, tell: Kind | None = None) -> Decision:
    """The escalation of ``track`` ends (``action`` recorded); with ``tell``, everyone paged
    is told so."""
    track = changed(track, status="closed", due=None)
    actions: list[Action] = [CancelPages(), Record(action, closed=True)]
    if tell is not None:
        actions.append(Tell(tell))
    return Decision(track, tuple(actions))


def _open(
    announcement: Announcement,
    view: AlarmView,
    now: datetime,
    policy: Policy,
    late_after: float,
    once: bool,
) -> Decision:
    code = view.code
    assert code is not None
    late = announcement.late or (now - announcement.at).total_seconds() > late_after
    raised = announcement.kind in (AnnouncementKind.RAISED, AnnouncementKind.LATE_FOUND)
    track = Track(
        announcement.event_id,
        code,
        view.key,
        policy.id,
        view,
        now,
        due=now,
        first_kind="raised" if raised else "re-alarm",
        late=late,
        once=once,
    )
    return Decision(track, (Record("opened"),))


def _attention(announcement: Announcement, track: Track, now: datetime, policy: Policy) -> Decision:
    """An alarm already followed asks for attention again."""
    kind = announcement.kind
    if track.status == "running":
        if kind in (AnnouncementKind.SEVERITY_RAISED, AnnouncementKind.REALARM) and track.step >= 0:
            track.policy = policy.id
            return _page_again(track, policy)
        return Decision(track, (Record("updated"),))
    if track.status == "paused":
        track.status, track.policy = "running", policy.id
        if track.step < 0:
            track.due = now
            return Decision(track, (Record("resumed"),))
        step = policy.step(track.step)
        track.due = now + timedelta(seconds=step.wait) if step and not track.once else None
        if track.view.chattering:  # told once that it chatters: no page per recurrence
            return Decision(track, (Record("resumed", detail="chattering"),))
        return _page_again(track, policy)
    # acknowledged before: an acknowledgement resets the call tree
    track.status, track.policy = "running", policy.id
    track.cycle += 1
    track.step, track.due, track.first_kind = -1, now, "re-alarm"
    track.late = announcement.late
    return Decision(track, (Record("restarted"),))


def _page_again(track: Track, policy: Policy) -> Decision:
    """Page the tier the track has reached again, now, as a re-alarm (its timing unchanged)."""
    step = policy.step(max(track.step, 0))
    if step is None:
        return Decision(track)
    return Decision(track, (Page("re-alarm", step),))


def _acknowledged(track: Track) -> Decision:
    track.due = None
    if track.view.base_state is AlarmState.NORMAL:
        return closing(track, "acknowledged", tell="acknowledged")
    track.status = "acked"
    return Decision(track, (CancelPages(), Record("acknowledged"), Tell("acknowledged")))


def _returned(track: Track) -> Decision:
    view = track.view
    if view.base_state is AlarmState.LATCHED_UNACK:
        return Decision(track, (Record("updated"),))  # latched: paged until acknowledged
    track.due = None
    if track.status in ("running", "paused") and view.needs_ack:
        track.status = "paused"
        return Decision(track, (CancelPages(), Record("paused"), Tell("returned-to-normal")))
    return closing(track, "returned-to-normal", tell="returned-to-normal")


def changed(track: Track, **changes: Any) -> Track:
    """A new track with ``changes``; its lists are copies, so that paging the new one leaves
    the old one as it was."""
    return replace(track, paged=list(track.paged), last_people=list(track.last_people), **changes)


# --- a chattering alarm (see the module docstring) -------------------------------------------

#: Escalations a chattering alarm's announcements change (acked and closed ones: nothing).
_FOLLOWED = ("running", "paused")


def _chattering_changed(kind: AnnouncementKind, track: Track) -> Decision:
    """``kind``: CHATTERING or CHATTERING_ENDED, for ``track`` (with the view after it)."""
    if track.status not in _FOLLOWED:
        return Decision(track, (Record("updated"),))
    if kind is AnnouncementKind.CHATTERING:
        return Decision(track, (Record("chattering"), Tell("chattering")))
    view = track.view
    if view.active or view.base_state is AlarmState.LATCHED_UNACK:
        return Decision(track, (Record("chattering-ended"),))
    if not view.needs_ack:
        return closing(track, "returned-to-normal", tell="returned-to-normal")
    track.status, track.due = "paused", None
    return Decision(
        track,
        (CancelPages(), Record("paused", detail="stopped chattering"), Tell("returned-to-normal")),
    )


def _returned_while_chattering(track: Track) -> Decision:
    """A return to normal while chattering: not told; an unacknowledged escalation goes on,
    an acknowledged one closes quietly."""
    if track.status in _FOLLOWED and track.view.needs_ack:
        return Decision(track, (Record("updated", detail="returned to normal, chattering"),))
    return closing(track, "returned-to-normal")
