"""From the engine's :class:`AlarmView` to the :class:`Notification` every channel renders.

Every page carries what the person at 3 a.m. needs without opening anything: the short code to
acknowledge with, the equipment, the value, limit and unit, the condition, the priority and
state, the escalation tier and the rule's SOP contingency text. Fields are clipped to what
:class:`Notification` accepts rather than dropped: a page with a clipped equipment name still
goes out, a page refused by validation would not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from alarms.model import AlarmView, ConditionKind
from alarms.notify.message import Kind, Notification, Shape
from alarms.notify.sms import flood_sentence

log = logging.getLogger(__name__)

_RANK = {"critical": 3, "high": 2, "low": 1}
_KIND_RANK = {"escalated": 3, "re-alarm": 2, "raised": 1}


def equipment_text(view: AlarmView) -> str:
    return view.equipment_name or view.equipment or view.source_name or view.source or view.key


def channel_text(view: AlarmView) -> str:
    """The measured quantity's name, or the channel id of ``<equipment>.<channel>``."""
    if view.source_name:
        return view.source_name
    if view.equipment and view.source.startswith(f"{view.equipment}."):
        return view.source[len(view.equipment) + 1 :]
    return ""


#: The sentence shape of each kind of condition (see :meth:`Notification.headline`).
SHAPES: dict[ConditionKind, Shape] = {
    ConditionKind.LIMIT: "limit",
    ConditionKind.RATE: "limit",
    ConditionKind.DEVIATION: "limit",
    ConditionKind.COMM_LOSS: "comm_loss",
    ConditionKind.STALE: "comm_loss",
    ConditionKind.SYSTEM: "system",
    ConditionKind.CALIBRATION: "calibration",
    ConditionKind.DISCRETE: "state",
    ConditionKind.STATUS: "state",
    ConditionKind.QUALITY: "state",
}


def source_text(view: AlarmView) -> str:
    """Where data stopped coming from, in words: ``device tsx-03``, ``channel chamber
    temperature``; empty for the other kinds of alarm."""
    if view.condition is ConditionKind.COMM_LOSS:
        return f"device {view.source_name or view.source}"
    if view.condition is ConditionKind.STALE:
        return f"channel {channel_text(view) or view.source}"
    return ""


def _value(value: float | str | None) -> float | str | None:
    if isinstance(value, str):
        return value[:40]
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def notification_for(
    view: AlarmView,
    *,
    kind: Kind,
    key: str,
    at: datetime,
    tier: int = 1,
    timezone: str = "UTC",
    site: str | None = None,
    late: bool = False,
    acknowledged_by: str | None = None,
    comment: str | None = None,
) -> Notification | None:
    """The notification of one event of one alarm; None (logged) if the alarm has no code."""
    if view.code is None:
        log.error("alarm %s has no code: it cannot be paged", view.key)
        return None
    limit = view.limit if view.limit is not None and math.isfinite(view.limit) else None
    try:
        return Notification(
            alarm_id=view.code,
            kind=kind,
            equipment=equipment_text(view)[:200],
            channel=channel_text(view)[:200],
            value=_value(view.value),
            unit=view.unit[:16],
            limit=limit,
            condition=view.condition_text[:60],
            priority=view.priority.value,
            state=view.state.value,
            tier=max(0, min(tier, 99)),
            sop=view.contingency[:4000],
            raised_at=view.raised_at or view.since or at,
            event_at=at,
            timezone=timezone,
            late=late or view.late,
            acknowledged_by=acknowledged_by[:100] if acknowledged_by else None,
            comment=comment[:500] if comment else None,
            site=site[:100] if site else None,
            event_id=key,
            shape=SHAPES.get(view.condition, "limit"),
            source=source_text(view)[:200],
        )
    except ValidationError as exc:  # a bug, not a configuration: never page nothing silently
        log.error("cannot build the notification of %s: %s", view.code, exc)
        return None


def lead(notifications: Sequence[Notification]) -> Notification:
    """The one a bundle is headed by: highest priority, then most escalated, then oldest."""
    return max(
        notifications,
        key=lambda notification: (
            _RANK.get(notification.priority, 0),
            _KIND_RANK.get(notification.kind, 0),
            notification.tier,
            -notification.raised_at.timestamp(),
        ),
    )


def bundle(notifications: Sequence[Notification], key: str, at: datetime) -> Notification:
    """One page for several alarms (during a flood): headed by the most urgent alarm, whose
    code, value and limit it shows, with every alarm listed in the SOP text's first sentence
    (:func:`alarms.notify.sms.flood_sentence`: the codes first, then each alarm in a few words)
    and each alarm's own SOP after it (what e-mail and chat show in full).

    The codes are also in ``bundled`` (:func:`alarms.notify.sms.flood_codes`): the SMS ends
    with ``Reply ACK <every code> <PIN> <comment>``, and a key press + PIN on the call
    acknowledges every alarm it announced. Several pages of one alarm (a raise and a re-alarm
    held in the same window) are not a bundle: the most urgent goes out as that alarm's page.
    """
    head = lead(notifications)
    others = [notification for notification in notifications if notification is not head]
    ordered = [head, *others]
    unique: list[Notification] = []  # the same alarm held twice (a re-alarm): listed once
    for notification in ordered:
        if all(listed.alarm_id != notification.alarm_id for listed in unique):
            unique.append(notification)
    late = any(notification.late for notification in ordered)
    if len(unique) == 1:  # one alarm, paged more than once in the window: its own page
        return head.model_copy(
            update={"event_at": at, "event_id": key, "late": late, "possible_duplicate": False}
        )
    # the codes first: what an SMS must not lose
    codes = [notification.alarm_id for notification in unique]
    sop_lines = [flood_sentence(codes, [_line(notification) for notification in unique])]
    sop_lines += [
        f"{notification.alarm_id}: {notification.sop}"
        for notification in unique
        if notification.sop
    ]
    more = len(unique) - 1  # at least one: never "+0 more"
    equipment = f"{head.equipment} +{more} more alarm{'s' if more != 1 else ''}"
    return head.model_copy(
        update={
            "equipment": equipment[:200],
            "sop": "\n".join(sop_lines)[:4000],
            "event_at": at,
            "event_id": key,
            "late": late,
            "possible_duplicate": False,
            "bundled": tuple(codes),
        }
    )


def _line(notification: Notification) -> str:
    """``A1007 critical ULT-03 high-high -61.5 °C``; never a sentence end, a ``;`` or a line
    break: an SMS carries the SOP's first sentence, this list should be all of it, and
    :func:`alarms.notify.sms.flood_items` splits it at ``; ``."""
    parts = [
        notification.alarm_id,
        notification.priority,
        notification.equipment[:40],
        notification.condition,
        notification.reading_text(),
    ]
    text = " ".join(" ".join(part.split()) for part in parts if part)
    for end in ".!?;":
        text = text.replace(f"{end} ", ", ")
    return text.replace(";", ",")
