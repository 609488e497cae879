"""A site power failure does not silence a freezer limit alarm that starts after it: through
the real alarm engine and the escalator (FakeClock), the freezer's warm alarm raised during the
outage is paged and climbs the call tree, while the comm-loss, stale and status alarms the
outage causes on the same equipment are suppressed, recorded and never paged.

tests/alarms/test_inhibit.py shows the engine's side (states, first-out, hold); this is what
reaches people."""

from __future__ import annotations

from alarms.escalation.state import MemoryEscalationLog
from alarms.model import AlarmState
from monitor.core.clock import FakeClock
from tests.support.alarm_engine import PARENT, Factory, Harness, site
from tests.support.escalation import Rig

S = AlarmState
WARM = "fr.temp/warm"  # ult_freezer template: high -65 C, high-high -60 C, 5 min on-delay
WARNING = "fr.temp/warm_warning"  # high -70 C, 10 min on-delay, priority low
CHILDREN = ("dev/comm_loss", "fr.temp/no_data", "fr.status/status")


def code(h: Harness, key: str) -> str:
    found = h.engine.get(key).code
    assert found is not None, key
    return found


async def test_a_freezer_warming_during_a_power_failure_is_paged(
    engine_factory: Factory, clock: FakeClock
) -> None:
    h = await engine_factory(**site())
    record = MemoryEscalationLog()
    rig = await Rig(clock, h.engine, record=record).start()  # alice on call; sam; QA
    try:
        await h.push("fr.temp", -80.0)
        await rig.at(1)
        await h.push("ups-room.mains", 1.0)  # site power failure
        await rig.at(1.5)
        await h.device_down("dev")  # the freezer's gateway goes down with it
        await h.push("fr.status", 4.0)  # and the controller reports a fault
        await rig.at(4)  # no good temperature since minute 0: stale after 2 min
        for key in CHILDREN:
            assert h.view(key).active, key
            assert h.state(key) is S.SUPPRESSED, key
            assert h.view(key).suppressed_by == (PARENT,), key
        assert h.state(WARM) is S.NORMAL
        # the gateway comes back on its UPS; the freezer, without mains, warms
        await h.device_up("dev")
        for minute in (5, 7, 9, 10):
            await rig.at(minute)
            await h.push("fr.temp", -64.0)
        await rig.at(10.5)
        warm = h.view(WARM)
        assert warm.state is S.UNACK and warm.suppressed_by == ()  # started after the parent
        assert h.state(PARENT) is S.UNACK  # the inhibit is still in force
        assert h.state("fr.status/status") is S.SUPPRESSED
        await rig.at(27)
        parent_code, warm_code = code(h, PARENT), code(h, WARM)
        warning_code = code(h, WARNING)
        assert by_code(rig) == {
            parent_code: [(1, "alice", "raised", 1), (16, "sam", "escalated", 2)],
            # raised when its 5-minute on-delay ended (readings 5 ... 10), escalated 15 min on
            warm_code: [(10, "alice", "raised", 1), (25, "sam", "escalated", 2)],
            # the -70 C warning's 10-minute on-delay ends at minute 15 on the clock, the
            # newest reading (minute 10) still above it
            warning_code: [(15, "alice", "raised", 1)],
        }
        first = next(p for p in rig.pages(("raised",)) if p.code == warm_code).notification
        assert (first.value, first.limit, first.priority) == (-64.0, -65.0, "high")
        # the suppressed alarms have no escalation at all, but every change is on the record
        tracked = {r.alarm_key for r in record.rows if r.alarm_key is not None}
        assert tracked == {PARENT, WARM, WARNING}
        for key in CHILDREN:
            records = h.store.alarm_records(key=key)
            assert records[0].action == "suppressed", key
            assert "raised" in [r.action for r in records], key  # its activation, recorded
            assert all(r.state == "SUPPRESSED" and r.announce is None for r in records), key
        # acknowledging the power failure does not stop the freezer's escalation
        h.engine.acknowledge(parent_code, "sam", "facilities on it, generator starting", via="sms")
        await rig.at(41)
        pages = by_code(rig)
        assert pages[parent_code][-1] == (16, "sam", "escalated", 2)  # stopped by the ack
        assert pages[warm_code][2:] == [
            (40, "quinn", "escalated", 3),
            (40, "rita", "escalated", 3),
        ]
    finally:
        await rig.stop()


async def test_a_consequence_paged_before_the_power_failure_stops_paging(
    engine_factory: Factory, clock: FakeClock
) -> None:
    """The gateway often notices before the UPS reports: its comm-loss is paged, then the power
    failure suppresses it (first-out names it) and its escalation ends; the parent pages on."""
    h = await engine_factory(**site())
    record = MemoryEscalationLog()
    rig = await Rig(clock, h.engine, record=record).start()
    try:
        await h.device_down("dev")
        await rig.at(1)
        comm_code = code(h, "dev/comm_loss")
        await h.push("ups-room.mains", 1.0)
        await rig.at(31)
        assert h.state("dev/comm_loss") is S.SUPPRESSED
        assert h.view(PARENT).first_out == "dev/comm_loss"
        pages = by_code(rig)
        assert pages[comm_code] == [(0, "alice", "raised", 1)]  # never escalated
        assert pages[code(h, PARENT)] == [
            (1, "alice", "raised", 1),
            (16, "sam", "escalated", 2),
            (31, "quinn", "escalated", 3),
            (31, "rita", "escalated", 3),
        ]
        actions = [r.action for r in record.rows if r.code == comm_code]
        assert actions[0] == "opened" and actions[-1] == "silenced"
    finally:
        await rig.stop()


def by_code(rig: Rig) -> dict[str, list[tuple[float, str, str, int]]]:
    """Every page that asks for attention, per alarm code."""
    out: dict[str, list[tuple[float, str, str, int]]] = {}
    for page in rig.pages(("raised", "escalated", "re-alarm")):
        out.setdefault(page.code, []).append(page.brief)
    return out
