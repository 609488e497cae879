"""Builders and fakes shared by the escalation tests (no tests here).

``FakeSource`` stands in for the alarm engine: it announces what a test tells it to, keeps the
announcements for replay and the open alarms for the start-up check. ``Rig`` is one escalator
with scripted notifiers on a FakeClock; ``rig.pages()`` lists what was sent, at which virtual
minute, to whom, of which kind and tier.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from alarms.escalation.config import PagingConfig
from alarms.escalation.state import EscalationLog, MemoryEscalationLog
from alarms.escalator_builder import build_escalator
from alarms.model import (
    AlarmState,
    AlarmView,
    Announcement,
    AnnouncementKind,
    ConditionKind,
    FloodStatus,
    Level,
    Priority,
)
from alarms.notify.delivery import Delivery, RetryPolicy
from alarms.notify.message import Notification
from alarms.notify.notification_log import MemoryLog, NotificationLog
from monitor.core.clock import FakeClock
from tests.support.notify import ScriptedNotifier

K = AnnouncementKind
S = AlarmState
SOP = (
    "SOP-CC-012: keep the door shut; if the cabinet reaches -60 C, move the CAR-T "
    "intermediates to backup freezer 09 and record the transfer on form F-12."
)
MINUTE = 60.0

PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Meyer", "phone": "+4915100000001", "channels": ["phone", "sms"]},
    {"id": "bob", "name": "Bob Okafor", "phone": "+4915100000002", "channels": ["sms"]},
    {"id": "sam", "name": "Sam Weber", "phone": "+4915100000003", "channels": ["sms", "phone"]},
    {"id": "quinn", "name": "Quinn Roth", "phone": "+4915100000004", "channels": ["sms"]},
    {"id": "rita", "name": "Rita Lang", "phone": "+4915100000005", "channels": ["sms"]},
    {"id": "lab-horn", "name": "Room 101 horn", "channels": ["horn"]},
]
TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "not-a-real-token",
    "from_number": "+15005550006",
}


def paging_data(**escalation: Any) -> dict[str, Any]:
    """Alice is on call (an override over a rotation with Bob); tiers: on-call technician,
    supervisor Sam, QA group (Quinn, Rita); each waits 15 min; the whole policy runs twice."""
    policy: dict[str, Any] = {
        "name": "Cold chain",
        "tiers": [
            {"name": "on call", "notify": ["schedule:techs"], "wait": "15m"},
            {"name": "supervisor", "notify": ["person:sam"], "wait": "15m"},
            {"name": "QA", "notify": ["group:qa"], "wait": "15m"},
        ],
        "repeat": 1,
    }
    esc: dict[str, Any] = {"policies": {"cold": policy}, "default_policy": "cold"}
    esc.update(escalation)
    return copy.deepcopy(
        {
            "notifiers": {
                "sms": {"type": "twilio_sms", **TWILIO},
                "phone": {
                    "type": "twilio_voice",
                    **TWILIO,
                    "public_base_url": "https://coldwatch.example.org",
                },
                "horn": {"type": "horn", "host": "10.0.4.20", "coil": 0},
            },
            "people": PEOPLE,
            "groups": [{"id": "qa", "name": "QA", "members": ["quinn", "rita"]}],
            "schedules": {
                "techs": {
                    "timezone": "Europe/Berlin",
                    "layers": [
                        {
                            "people": ["bob", "alice"],
                            "rotation": "weekly",
                            "handoff": "08:00",
                            "start": date(2026, 1, 5),
                        }
                    ],
                    "overrides": [
                        {"person": "alice", "start": "2026-02-01 00:00", "end": "2026-04-01 00:00"}
                    ],
                }
            },
            "escalation": esc,
        }
    )


def paging(**escalation: Any) -> PagingConfig:
    return PagingConfig.of(paging_data(**escalation))


def view(
    code: str = "A1007",
    state: AlarmState = S.UNACK,
    *,
    priority: Priority = Priority.CRITICAL,
    key: str = "freezer-07.cabinet_temp/warm",
    level: Level | None = Level.HIGH_HIGH,
    value: float | str | None = -58.5,
    raised_at: datetime | None = None,
    **changes: Any,
) -> AlarmView:
    base = AlarmView(
        key=key,
        code=code,
        rule=key.rsplit("/", 1)[-1],
        condition=ConditionKind.LIMIT,
        state=state,
        base_state=state if state not in (S.SHELVED, S.SUPPRESSED, S.OUT_OF_SERVICE) else S.UNACK,
        active=state in (S.UNACK, S.ACKED),
        priority=priority,
        level=level,
        equipment="freezer-07",
        equipment_name="TSX -80 C freezer 07",
        source="freezer-07.cabinet_temp",
        source_name="cabinet temperature",
        value=value,
        unit="C",
        limit=-60.0,
        condition_text=level.text if level else "warm",
        message="freezer-07 cabinet warm",
        contingency=SOP,
        raised_at=raised_at,
    )
    return replace(base, **changes)


class FakeSource:
    """The engine's side of the contract: subscribe, announcements(after_seq), active(),
    flood. ``emit`` records an announcement (with the next seq) and hands it to subscribers."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.log: list[Announcement] = []
        self.subscribers: list[Callable[[Announcement], None]] = []
        self.views: dict[str, AlarmView] = {}
        self.flooding = False
        self.latched: set[str] = set()

    def subscribe(self, subscriber: Callable[[Announcement], None]) -> Callable[[], None]:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def announcements(self, after_seq: int = 0, limit: int | None = None) -> list[Announcement]:
        out = [a for a in self.log if a.seq is not None and a.seq > after_seq]
        return out[:limit] if limit is not None else out

    def active(self) -> list[AlarmView]:
        return [v for v in self.views.values() if v.state is not S.NORMAL]

    @property
    def flood(self) -> FloodStatus:
        return FloodStatus(self.flooding, None, 0)

    def emit(
        self,
        kind: AnnouncementKind,
        alarm: AlarmView | None = None,
        *,
        person: str | None = None,
        comment: str | None = None,
        late: bool = False,
        at: datetime | None = None,
    ) -> Announcement:
        seq = len(self.log) + 1
        now = self.clock.now()
        if alarm is not None and alarm.raised_at is None:
            earlier = self.views.get(alarm.code or "")
            alarm = replace(alarm, raised_at=earlier.raised_at if earlier else now)
        announcement = Announcement(
            event_id=f"h{seq}",
            seq=seq,
            kind=kind,
            at=at or now,
            recorded_at=now,
            alarm=alarm,
            late=late,
            person=person,
            comment=comment,
            flood=self.flooding,
        )
        self.log.append(announcement)
        if kind is K.FLOOD_STARTED:
            self.flooding = True
        elif kind is K.FLOOD_ENDED:
            self.flooding = False
        if alarm is not None and alarm.code is not None:
            if alarm.state is S.NORMAL:
                self.views.pop(alarm.code, None)
            else:
                self.views[alarm.code] = alarm
        for subscriber in list(self.subscribers):
            subscriber(announcement)
        return announcement

    # the engine's transitions, in words
    def raise_(self, code: str = "A1007", **kw: Any) -> Announcement:
        return self.emit(K.RAISED, view(code, S.UNACK, **kw))

    def ack(self, code: str = "A1007", person: str = "sam", comment: str = "on it") -> None:
        old = self.views[code]
        state = {S.UNACK: S.ACKED, S.RTN_UNACK: S.NORMAL, S.LATCHED_UNACK: S.LATCHED_ACKED}[
            old.base_state
        ]
        new = replace(old, state=state, base_state=state, acked_by=person)
        self.emit(K.ACKNOWLEDGED, new, person=person, comment=comment)

    def rtn(self, code: str = "A1007") -> None:
        old = self.views[code]
        state = S.NORMAL if old.base_state is S.ACKED else S.RTN_UNACK
        if old.base_state is S.UNACK and code in self.latched:
            state = S.LATCHED_UNACK
        new = replace(old, state=state, base_state=state, active=False, value=-75.0)
        self.emit(K.RETURNED_TO_NORMAL, new)

    def realarm(self, code: str = "A1007") -> None:
        old = self.views[code]
        self.emit(K.REALARM, replace(old, state=S.UNACK, base_state=S.UNACK, active=True))

    def recur(self, code: str = "A1007") -> None:
        old = self.views[code]
        self.emit(K.RAISED, replace(old, state=S.UNACK, base_state=S.UNACK, active=True))

    def shelve(self, code: str = "A1007") -> None:
        old = self.views[code]
        self.emit(K.SILENCED, replace(old, state=S.SHELVED), person="sam", comment="defrost")


@dataclass(frozen=True)
class Page:
    minute: float
    person: str
    kind: str
    tier: int
    code: str
    channel: str
    notification: Notification

    @property
    def brief(self) -> tuple[float, str, str, int]:
        return (self.minute, self.person, self.kind, self.tier)


POLICY = RetryPolicy(attempts=1, initial_backoff=1, timeout=30)


class Rig:
    """One escalator on ``clock`` with scripted ``sms``/``phone``/``horn`` notifiers."""

    def __init__(
        self,
        clock: FakeClock,
        source: Any = None,
        *,
        paging_config: PagingConfig | None = None,
        record: EscalationLog | None = None,
        log: NotificationLog | None = None,
        notifiers: dict[str, ScriptedNotifier] | None = None,
        t0: float | None = None,
        config: Any = None,
    ) -> None:
        """``config``: the site whose compiled rules the router knows (a real engine's;
        needed for what depends on the rule, e.g. a pulse paging once)."""
        self.clock = clock
        self.t0 = clock.monotonic() if t0 is None else t0
        self.source: FakeSource = source or FakeSource(clock)  # or a real AlarmEngine
        self.notifiers = notifiers or {n: ScriptedNotifier(clock) for n in ("sms", "phone", "horn")}
        self.log = log or MemoryLog()
        self.record = record or MemoryEscalationLog()
        self.delivery = Delivery(self.notifiers, self.log, clock, policy=POLICY)
        self.escalator = build_escalator(
            self.source,
            paging_config or paging(),
            config,
            clock,
            None,
            self.delivery,
            record=self.record,
        )
        self.setup = self.escalator.setup

    async def start(self) -> Rig:
        await self.escalator.start()
        await self.clock.settle()
        return self

    async def at(self, minute: float) -> None:
        """Move virtual time to ``minute`` after t0, waking timers on the way."""
        target = self.t0 + minute * MINUTE
        now = self.clock.monotonic()
        if target > now:
            await self.clock.advance(target - now)
        await self.clock.settle()

    def pages(self, kinds: tuple[str, ...] | None = None) -> list[Page]:
        out = [
            Page(
                round((t - self.t0) / MINUTE, 3),
                who,
                n.kind,
                n.tier,
                n.alarm_id,
                channel,
                n,
            )
            for channel, notifier in self.notifiers.items()
            for t, n, who in notifier.calls
        ]
        out.sort(key=lambda p: (p.minute, p.person, p.kind))
        return [p for p in out if kinds is None or p.kind in kinds]

    def briefs(self, kinds: tuple[str, ...] = ("raised", "escalated", "re-alarm")) -> list[Any]:
        return [p.brief for p in self.pages(kinds)]

    def crash(self) -> None:
        """Drop the escalator without stopping it: its task and pages are cancelled, nothing
        is flushed or closed (the record and the logs stay as they were)."""
        esc = self.escalator
        if esc._task is not None:
            esc._task.cancel()
            esc._task = None
        for job in list(esc._jobs.all):
            job.cancel()
        if esc._unsubscribe is not None:
            esc._unsubscribe()

    async def stop(self) -> None:
        await self.escalator.stop()
        await asyncio.sleep(0)
