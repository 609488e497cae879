"""Suppression by design: a site power failure hides the comm-loss, stale and status alarms it
causes, never a limit alarm; the record says which alarm came first."""

from __future__ import annotations

from alarms.model import AlarmState
from monitor.core.model import Quality
from tests.support.alarm_engine import PARENT, Factory, site

S = AlarmState


async def test_a_power_failure_suppresses_what_it_causes_but_not_a_warming_freezer(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**site())
    await h.push("fr.temp", -80.0, 0)
    await h.push("ups-room.mains", 1.0, 10)
    assert h.state(PARENT) is S.UNACK
    for key in ("dev/comm_loss", "fr.temp/no_data", "fr.status/status"):
        assert h.state(key) is S.SUPPRESSED, key
    assert h.state("fr.temp/warm") is S.NORMAL  # limits are never suppressed
    await h.device_down("dev", 15)
    await h.push("fr.status", 4.0, 20)
    await h.push("fr.status", 4.0, 80)
    await h.to(200)  # no data for 2 min: stale, suppressed too
    assert h.view("dev/comm_loss").active and h.view("fr.status/status").active
    assert h.view("fr.temp/no_data").active
    assert h.state("dev/comm_loss") is S.SUPPRESSED
    # the freezer warms during the outage: its limit alarm still pages
    await h.push("fr.temp", -64.0, 300)
    await h.push("fr.temp", -64.0, 600)
    assert h.state("fr.temp/warm") is S.UNACK
    assert h.take() == [("raised", PARENT), ("raised", "fr.temp/warm")]
    # power is back; devices take a while: the suppression holds 5 minutes
    await h.push("ups-room.mains", 0.0, 700)
    await h.push("fr.status", 0.0, 710)
    await h.to(999)
    assert h.state("dev/comm_loss") is S.SUPPRESSED
    await h.to(1000)
    assert h.state("dev/comm_loss") is S.UNACK  # still down after the hold: a real problem
    assert h.state("fr.status/status") is S.NORMAL  # recovered meanwhile: nothing to say
    assert h.state("fr.temp/no_data") is S.UNACK
    assert sorted(h.take()) == sorted(
        [
            ("raised", "fr.temp/warm_warning"),  # its 10 min on-delay ended at 900 s
            ("returned-to-normal", PARENT),
            ("raised", "dev/comm_loss"),
            ("raised", "fr.temp/no_data"),
        ]
    )


async def test_first_out_names_what_came_first(engine_factory: Factory) -> None:
    h = await engine_factory(**site())
    await h.device_down("dev", 0)  # the gateway noticed before the UPS reported
    assert h.state("dev/comm_loss") is S.UNACK
    await h.push("ups-room.mains", 1.0, 20)
    view = h.view("dev/comm_loss")
    assert view.state is S.SUPPRESSED and view.suppressed_by == (PARENT,)
    assert view.first_out == "dev/comm_loss"
    assert h.view(PARENT).first_out == "dev/comm_loss"
    assert h.kinds("dev/comm_loss") == ["raised", "silenced"]  # escalation stops
    group = h.store.alarm_records(key="inhibit/site-power")[-1]
    assert group.action == "inhibit_engaged" and group.data["first_out"] == "dev/comm_loss"


async def test_an_old_child_alarm_is_not_first_out(engine_factory: Factory) -> None:
    h = await engine_factory(**site(first_out_window="1m"))
    await h.device_down("dev", 0)
    await h.push("ups-room.mains", 1.0, 300)
    assert h.view(PARENT).first_out == PARENT


async def test_hold_zero_releases_at_once(engine_factory: Factory) -> None:
    h = await engine_factory(**site(hold=0))
    await h.push("ups-room.mains", 1.0, 0)
    await h.device_down("dev", 5)
    await h.push("ups-room.mains", 0.0, 60)
    assert h.state("dev/comm_loss") is S.UNACK


async def test_suppression_survives_a_restart(engine_factory: Factory) -> None:
    h = await engine_factory(**site())
    await h.push("ups-room.mains", 1.0, 0)
    await h.device_down("dev", 5)
    await h.push("ups-room.mains", 0.0, 60)
    await h.to(100)  # holding until 360
    h2 = await engine_factory(restart=True, **site())
    assert h2.state("dev/comm_loss") is S.SUPPRESSED
    await h2.to(360)
    assert h2.state("dev/comm_loss") is S.UNACK
    assert h2.kinds("dev/comm_loss") == ["raised"]
    assert h2.kinds("fr.temp/no_data") == ["raised"]  # no data since the restart either


async def test_bad_data_during_the_outage_is_not_a_probe_alarm_either(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**site(suppress={"equipment": ["fr"], "conditions": ["quality"]}))
    await h.push("ups-room.mains", 1.0, 0)
    for t in range(10, 200, 10):
        await h.push("fr.temp", None, t, Quality.SENSOR_FAULT)
    assert h.view("fr.temp/probe_fault").active
    assert h.state("fr.temp/probe_fault") is S.SUPPRESSED
