"""Each kind of alarm has its own sentence shape (equipment limit, comm loss, system check,
calibration, state), in the SMS (within its two segments), the e-mail and the call: built from
the real engine's alarm views, never "coldwatch no value (limit none, clock not synchronised)".
"""

from __future__ import annotations

from typing import Any

import pytest

from alarms.escalation.messages import notification_for
from alarms.model import AlarmView
from alarms.notify.email import body, subject
from alarms.notify.message import Notification
from alarms.notify.sms import compose_sms, is_gsm7, segments
from alarms.notify.twiml import speech
from monitor.core.model import FLAG_CALIBRATION_OVERDUE, EventKind
from tests.support.alarm_engine import ULT_CHANNELS, Factory
from tests.support.notify import notification

CHANNELS = [
    {**ULT_CHANNELS[0], "sensor": {"serial": "PT100-1", "calibration_due": "2026-02-15"}},
    *ULT_CHANNELS[1:],
]
EQUIPMENT = [{"id": "fr", "kind": "ult_freezer", "name": "Freezer F1", "channels": CHANNELS}]


def paged(view: AlarmView, kind: Any = "raised") -> Notification:
    found = notification_for(
        view, kind=kind, key="k", at=view.changed_at or view.raised_at, timezone="Europe/Berlin"
    )
    assert found is not None
    return found


@pytest.fixture
async def views(engine_factory: Factory) -> dict[str, AlarmView]:
    """One alarm of each kind, raised by the real engine."""
    h = await engine_factory(equipment=EQUIPMENT)
    await h.push("fr.temp", -62.1, 0)
    await h.push("fr.temp", -62.1, 300)  # the warm alarm's 5 min on-delay
    await h.device_down("dev", 310)
    await h.event(EventKind.CLOCK_UNSYNCHRONISED, "coldwatch", 320)
    await h.push("fr.temp", -62.1, 330, flags=FLAG_CALIBRATION_OVERDUE)
    await h.push("fr.door", 1.0, 340)
    await h.to(900)  # the door's 3 min on-delay
    keys = {
        "limit": "fr.temp/warm",
        "comm_loss": "dev/comm_loss",
        "system": "coldwatch/clock_unsynchronised",
        "calibration": "fr.temp/calibration_due",
        "state": "fr.door/door_open",
    }
    return {shape: h.view(key) for shape, key in keys.items()}


def test_each_kind_of_alarm_has_its_own_sms(views: dict[str, AlarmView]) -> None:
    texts = {shape: compose_sms(paged(view)) for shape, view in views.items()}
    for text in texts.values():
        assert is_gsm7(text) and segments(text) <= 2
        assert "no value (limit none" not in text
    assert texts["limit"] == (
        "A1007 HIGH ALARM: Freezer F1, temp -62.1 C above high limit -65 C since "
        "01 Mar 13:05 CET. SOP: Keep the door shut. Reply ACK A1007 <PIN> <comment>"
    )
    assert (
        ": no data from device dev since 01 Mar 13:05 CET. SOP: The device does not answer"
        in (texts["comm_loss"])
    )
    system = " LOW ALARM: coldwatch: clock not synchronised since 01 Mar 13:05 CET. SOP: Check NTP"
    assert system in texts["system"]
    assert (
        "Freezer F1, temp: calibration due since 01 Mar 13:05 CET. SOP: The sensor"
        in (texts["calibration"])
    )
    assert "Freezer F1, door: door open" in texts["state"]
    for shape in ("comm_loss", "system", "calibration", "state"):
        assert "(limit" not in texts[shape], shape
        assert texts[shape].endswith("<PIN> <comment>"), shape


def test_each_kind_of_alarm_has_its_own_email(views: dict[str, AlarmView]) -> None:
    subjects = {shape: subject(paged(view), "[coldwatch]") for shape, view in views.items()}
    assert subjects["limit"].endswith(": Freezer F1, temp -62.1 C above high limit -65 C")
    assert subjects["comm_loss"].endswith(
        ": Freezer F1: no data from device dev since 01 Mar 13:05 CET"
    )
    assert subjects["system"].endswith("LOW ALARM: coldwatch: clock not synchronised")
    assert subjects["calibration"].endswith(
        ": Freezer F1, temp: calibration due since 01 Mar 13:05 CET"
    )
    assert subjects["state"].endswith(": Freezer F1, door: door open (1)")
    system = body(paged(views["system"]))
    assert "Problem:     coldwatch: clock not synchronised" in system
    assert "Value:" not in system and "Limit:" not in system
    limit = body(paged(views["limit"]))
    assert "Value:       -62.1 C" in limit and "Limit:       -65 C (high)" in limit


def test_each_kind_of_alarm_has_its_own_call(views: dict[str, AlarmView]) -> None:
    said = {shape: speech(paged(view)) for shape, view in views.items()}
    assert (
        "The temp is minus 62.1 degrees Celsius, above the high limit of minus 65 "
        "degrees Celsius. Since 13:05 CET." in said["limit"]
    )
    assert "No data from device dev since 13:05 CET." in said["comm_loss"]
    assert "coldwatch reports: clock not synchronised. Since" in said["system"]
    assert "The temp is past its calibration due date." in said["calibration"]
    assert "The door reports door open, 1." in said["state"]
    for shape in ("comm_loss", "system", "calibration"):
        assert "no value" not in said[shape] and "limit" not in said[shape], shape


def test_a_limit_alarm_back_inside_is_not_said_to_be_above_it() -> None:
    back = notification(kind="returned-to-normal", state="RTN_UNACK", value=-70.2)
    assert "(limit -65 C, high)" in compose_sms(back) and "above" not in compose_sms(back)
    assert "has returned to normal" in speech(back) and "above the" not in speech(back)
    low = notification(value=2.1, limit=2.5, condition="low", unit="%")
    assert "2.1% below low limit 2.5%" in compose_sms(low)


def test_sms_length_limits_hold_for_every_shape() -> None:
    """The two-segment limit with the longest names and texts: what identifies the alarm and
    how to acknowledge it are never cut."""
    for shape in ("limit", "comm_loss", "system", "calibration", "state"):
        n = notification(
            shape=shape,
            equipment="E" * 200,
            channel="C" * 200,
            condition="x" * 60,
            source="device " + "d" * 150,
            sop="S" * 3000,
            kind="escalated",
            possible_duplicate=True,
            late=True,
        )
        for segments_allowed in (1, 2):
            text = compose_sms(n, max_segments=segments_allowed)
            assert segments(text) <= segments_allowed, (shape, segments_allowed)
            assert text.startswith("REPEAT? LATE A1007"), shape
        text = compose_sms(n)
        assert text.endswith("Reply ACK A1007 <PIN> <comment>"), shape
        essential = {
            "limit": "-61.5 C",
            "comm_loss": "no data from device ddd",
            "system": "coldwatch: xxx",
            "calibration": "calibration due",
            "state": ": xxx",
        }[shape]
        assert essential in text, (shape, text)


def test_chattering_is_told_in_every_channel() -> None:
    n = notification(kind="chattering")
    assert compose_sms(n).startswith("A1007 CRITICAL CHATTERING: ULT-03 -80 freezer")
    assert "is chattering: it keeps going into alarm and back since 03:12 CET" in speech(n)
    assert "Its returns and recurrences are not paged while it chatters" in body(n)
