"""The escalator on the real alarm engine and store: readings raise an alarm, the engine's
commands acknowledge and shelve it, the engine's re-alarm re-opens escalation, and both are
restarted together mid-escalation on the same database file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from alarms.escalation.config import PagingConfig
from alarms.escalator_builder import build_escalator
from alarms.model import AlarmState
from alarms.records.escalation_record import SQLiteEscalationLog
from alarms.records.notification_log import SQLiteLog
from monitor.core.clock import FakeClock
from tests.support.alarm_engine import Factory, Harness, make_config
from tests.support.escalation import SOP, Rig

S = AlarmState
KEY = "box.t/warm"


def cfg() -> dict[str, Any]:
    rule = {"condition": "limit", "channel": "t", "high": -60, "priority": "critical"}
    return {
        "alarms": {"equipment": {"box": {"rules": {"warm": {**rule, "contingency": SOP}}}}},
        "equipment": [
            {
                "id": "box",
                "kind": "other",
                "name": "TSX -80 C freezer 07",
                "channels": [
                    {"id": "t", "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
                ],
            }
        ],
    }


async def warm_until(h: Harness, rig: Rig, minute: float, value: float = -55.0) -> None:
    """A reading every 5 minutes up to ``minute`` (the clock moves with them)."""
    start = int(rig.clock.monotonic() - rig.t0) // 300 + 1
    for t in range(start * 300, int(minute * 60) + 1, 300):
        await rig.at(t / 60)
        await h.push("box.t", value)
    await rig.at(minute)


def code_of(h: Harness) -> str:
    code = h.engine.get(KEY).code
    assert code is not None
    return code


async def test_engine_raise_ack_and_realarm(engine_factory: Factory, clock: FakeClock) -> None:
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await h.push("box.t", -55.0)
    await rig.at(0)
    first = rig.pages()
    assert [p.brief for p in first] == [(0, "alice", "raised", 1)]
    n = first[0].notification
    assert (n.alarm_id, n.value, n.limit, n.sop) == (code_of(h), -55.0, -60.0, SOP)
    assert n.equipment == "TSX -80 C freezer 07" and n.priority == "critical"
    await warm_until(h, rig, 20)
    h.engine.acknowledge(code_of(h), "sam", "moving to freezer 09", via="sms")
    await warm_until(h, rig, 95)
    assert rig.briefs() == [
        (0, "alice", "raised", 1),
        (15, "sam", "escalated", 2),
        (80, "alice", "re-alarm", 1),  # acknowledged at 20, still warm at 80
        (95, "sam", "escalated", 2),
    ]
    assert [(p.minute, p.person) for p in rig.pages(("acknowledged",))] == [(20, "alice")]
    await rig.stop()


async def test_engine_return_to_normal_and_shelve(
    engine_factory: Factory, clock: FakeClock
) -> None:
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await h.push("box.t", -55.0)
    await rig.at(10)
    await h.push("box.t", -75.0)
    await rig.at(11)
    assert h.engine.get(KEY).state is S.RTN_UNACK
    assert [(p.minute, p.person) for p in rig.pages(("returned-to-normal",))] == [(10, "alice")]
    await h.push("box.t", -55.0)  # recurs: carries on at tier 1, tier 2 when due
    await rig.at(12)
    h.engine.shelve(KEY, "sam", "defrost", timedelta(hours=1))
    await warm_until(h, rig, 50)
    assert rig.briefs() == [(0, "alice", "raised", 1), (11, "alice", "re-alarm", 1)]
    await rig.stop()


async def test_engine_and_escalator_restart_together(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    db = tmp_path / "cw.db"
    h = await engine_factory(**cfg())
    opened: list[Any] = [SQLiteEscalationLog(db), SQLiteLog(db)]
    rig = await Rig(clock, h.engine, record=opened[0], log=opened[1]).start()
    await h.push("box.t", -55.0)
    await rig.at(5)
    rig.crash()
    h2 = await engine_factory(restart=True, **cfg())
    opened += [SQLiteEscalationLog(db), SQLiteLog(db)]
    rig2 = Rig(
        clock, h2.engine, record=opened[2], log=opened[3], notifiers=rig.notifiers, t0=rig.t0
    )
    await rig2.start()
    await warm_until(h2, rig2, 30)
    assert rig2.briefs() == [
        (0, "alice", "raised", 1),
        (15, "sam", "escalated", 2),
        (30, "quinn", "escalated", 3),
        (30, "rita", "escalated", 3),
    ]
    await rig2.stop()
    for item in opened:
        item.close()


async def test_the_daemon_builder_pages_through_configured_notifiers(
    engine_factory: Factory, clock: FakeClock, tmp_path: Path
) -> None:
    h = await engine_factory(**cfg())
    outbox = tmp_path / "outbox.jsonl"
    paging = PagingConfig.of(
        {
            "notifiers": {"outbox": {"type": "outbox", "path": str(outbox), "stderr": False}},
            "people": [{"id": "op", "name": "Operator", "channels": ["outbox"]}],
            "escalation": {
                "policies": {"p": {"tiers": [{"notify": "person:op", "wait": "1m"}]}},
                "default_policy": "p",
            },
        }
    )
    config = make_config(tmp_path, **cfg())
    escalator = build_escalator(h.engine, paging, config, clock, tmp_path / "cw.db")
    await escalator.start()
    await h.push("box.t", -55.0)
    await clock.advance(150)
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(x["notification"]["kind"], x["notification"]["tier"]) for x in lines] == [
        ("raised", 1),
        ("escalated", 1),  # the only tier, again each minute: repeats, then keeps paging
        ("escalated", 1),
    ]
    assert lines[0]["text"].startswith(code_of(h) + " CRITICAL ALARM: TSX -80 C freezer 07")
    assert "SOP: SOP-CC-012" in lines[0]["text"]
    assert escalator.setup.timezone == "UTC" and escalator.setup.site == "Test site"
    await escalator.stop()
    rows = SQLiteEscalationLog(tmp_path / "cw.db")
    try:
        actions = [r.action for r in rows.for_code(code_of(h)) if r.action != "updated"]
        assert actions == ["opened", *["paged"] * 3]
    finally:
        rows.close()


async def test_acknowledging_after_return_to_normal_ends_the_escalation(
    engine_factory: Factory, clock: FakeClock
) -> None:
    """The acknowledgement closes the alarm (RTN_UNACK -> NORMAL); its announcement still
    names the alarm's code, so the escalation ends and those paged are told."""
    h = await engine_factory(**cfg())
    rig = await Rig(clock, h.engine).start()
    await h.push("box.t", -55.0)
    await rig.at(1)
    code = code_of(h)
    await h.push("box.t", -75.0)
    await rig.at(2)
    assert [t.status for t in rig.escalator.tracks()] == ["paused"]
    h.engine.acknowledge(code, "sam", "door left open during restock; product checked")
    await rig.at(3)
    assert rig.escalator.tracks() == []
    acked = rig.pages(("acknowledged",))
    assert [(p.minute, p.person, p.code) for p in acked] == [(2, "alice", code)]
    assert acked[0].notification.comment == "door left open during restock; product checked"
    await warm_until(h, rig, 40, value=-75.0)
    assert rig.briefs() == [(0, "alice", "raised", 1)]  # nothing paged after the ack
    await rig.stop()
