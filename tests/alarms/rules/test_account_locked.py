"""The ``account_locked`` system alarm: an account locked after failed sign-ins pages once and
waits for a person to acknowledge it (21 CFR 11.300(d))."""

from __future__ import annotations

from alarms.model import AlarmState, Priority
from monitor.core.model import EventKind
from tests.support.alarm_engine import Factory


async def test_an_account_lock_raises_a_high_alarm_that_waits_for_an_ack(
    engine_factory: Factory,
) -> None:
    h = await engine_factory()
    assert h.state("coldwatch/account_locked") is AlarmState.NORMAL
    await h.event(EventKind.ACCOUNT_LOCKED, "coldwatch", 10)
    view = h.view("coldwatch/account_locked")
    assert view.state is AlarmState.RTN_UNACK and not view.active
    assert view.priority is Priority.HIGH
    assert "break in" in view.contingency
    await h.event(EventKind.ACCOUNT_LOCKED, "coldwatch", 20)  # another lock: raised anew
    assert h.kinds("coldwatch/account_locked") == ["raised", "raised"]
    assert h.state("coldwatch/account_locked") is AlarmState.RTN_UNACK
