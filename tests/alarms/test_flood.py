"""Chattering (3 activations in a minute) and floods (more than 10 alarms in 10 minutes, until
fewer than 5): recorded, and exposed for the notification layer."""

from __future__ import annotations

from alarms.model import AlarmState
from tests.support.alarm_engine import Factory, at

S = AlarmState
CHANNELS = [f"c{i}" for i in range(1, 13)]


def many() -> dict[str, object]:
    return {
        "alarms": {
            "equipment": {
                "box": {
                    "rules": {"hot": {"condition": "limit", "channel": CHANNELS, "high": 10}},
                }
            }
        },
        "equipment": [
            {
                "id": "box",
                "kind": "other",
                "channels": [
                    {"id": c, "quantity": "temperature", "unit": "C", "source": {"device": "dev"}}
                    for c in CHANNELS
                ],
            }
        ],
    }


async def test_flood_starts_above_ten_and_ends_below_five(engine_factory: Factory) -> None:
    h = await engine_factory(**many())
    for i, channel in enumerate(CHANNELS):
        await h.push(f"box.{channel}", 11.0, i * 10)
        flood = h.engine.flood
        assert flood.active is (i >= 10), i
    kinds = h.kinds()
    assert kinds[:10] == ["raised"] * 10
    assert kinds[10:] == ["raised", "flood-started", "raised"]
    assert [a.flood for a in h.announced if a.kind.value == "raised"] == [False] * 11 + [True]
    assert h.engine.flood.since == at(100)
    await h.to(669)
    assert h.engine.flood.active
    await h.to(670)  # only the raises at 80..110 s are still within the 10 minutes
    assert not h.engine.flood.active
    assert h.kinds()[-1] == "flood-ended"
    rows = h.store.alarm_records(key="coldwatch/flood")
    assert [r.action for r in rows] == ["flood_started", "flood_ended"]


async def test_flood_state_survives_a_restart(engine_factory: Factory) -> None:
    h = await engine_factory(**many())
    for i, channel in enumerate(CHANNELS):
        await h.push(f"box.{channel}", 11.0, i * 10)
    await h.to(200)
    h2 = await engine_factory(restart=True, **many())
    assert h2.engine.flood.active and h2.engine.flood.count == 12
    await h2.to(670)
    assert not h2.engine.flood.active


async def test_chattering_is_detected_and_ends(engine_factory: Factory) -> None:
    h = await engine_factory(
        **{
            "alarms": {
                "equipment": {
                    "box": {"rules": {"door": {"condition": "discrete", "channel": "door"}}}
                }
            },
            "equipment": [
                {
                    "id": "box",
                    "kind": "other",
                    "channels": [
                        {
                            "id": "door",
                            "quantity": "door_open",
                            "unit": "bool",
                            "source": {"device": "dev"},
                        }
                    ],
                }
            ],
        }
    )
    key = "box.door/door"
    for t, value in ((0, 1.0), (10, 0.0), (20, 1.0), (30, 0.0)):
        await h.push("box.door", value, t)
    assert not h.view(key).chattering
    await h.push("box.door", 1.0, 40)  # the third activation within a minute
    assert h.view(key).chattering
    await h.push("box.door", 0.0, 50)
    await h.to(99)
    assert h.view(key).chattering
    await h.to(100)  # a whole minute since the last activation
    assert not h.view(key).chattering
    actions = [r.action for r in h.store.alarm_records(key=key)]
    assert "chattering" in actions and actions[-1] == "chattering_ended"


async def test_one_alarm_recurring_is_one_alarm_for_the_flood(engine_factory: Factory) -> None:
    """A flood counts distinct alarms (rule and source), not re-occurrences: one unit toggling
    across its limit 20 times in 10 minutes is one alarm (and chatters), never a flood."""
    h = await engine_factory(**many())
    for cycle in range(20):
        await h.push("box.c1", 11.0, cycle * 20)
        await h.push("box.c1", 9.0, cycle * 20 + 10)
    assert h.kinds("box.c1/hot").count("raised") == 20
    assert not h.engine.flood.active and h.engine.flood.count == 1
    assert "flood-started" not in h.kinds()
    # ten more distinct alarms: eleven in all, above ten, a flood
    for i, channel in enumerate(CHANNELS[1:10]):
        await h.push(f"box.{channel}", 11.0, 400 + i)
    assert not h.engine.flood.active and h.engine.flood.count == 10
    await h.push("box.c1", 11.0, 420)  # c1 again: still ten alarms
    assert not h.engine.flood.active
    await h.push("box.c11", 11.0, 421)
    assert h.engine.flood.active and h.engine.flood.count == 11


async def test_the_flood_window_restored_after_a_restart_counts_alarms(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**many())
    for cycle in range(12):
        await h.push("box.c1", 11.0, cycle * 20)
        await h.push("box.c1", 9.0, cycle * 20 + 10)
    await h.to(250)
    h2 = await engine_factory(restart=True, **many())
    assert not h2.engine.flood.active and h2.engine.flood.count == 1
