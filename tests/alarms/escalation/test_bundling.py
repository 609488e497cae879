"""Flood bundling (issue 5 item 11): while the engine reports a flood, pages for one person
within the window go out as one message listing every alarm; horns still get each alarm (they
count alarms by code); an alarm acknowledged meanwhile drops out; the flood's end flushes.
Acknowledging a bundle with one reply or key press: ``test_ack_bundle.py``."""

from __future__ import annotations

from alarms.escalation.messages import bundle
from alarms.model import AnnouncementKind, Priority
from alarms.notify.message import first_sentence
from alarms.notify.sms import compose_sms, flood_codes
from monitor.core.clock import FakeClock
from tests.support.escalation import Rig, paging, paging_data

K = AnnouncementKind
CODES = ["A1007", "A1015", "A1023", "A1031", "A1049"]


def horn_paging() -> object:
    data = paging_data()
    tiers = data["escalation"]["policies"]["cold"]["tiers"]
    tiers[0]["notify"] = ["schedule:techs", "person:lab-horn"]
    return type(paging()).model_validate(data)


async def flood(rig: Rig, codes: list[str] = CODES) -> None:
    rig.source.emit(K.FLOOD_STARTED)
    for i, code in enumerate(codes):
        priority = Priority.CRITICAL if i == 2 else Priority.HIGH
        rig.source.raise_(code, key=f"freezer-{i:02d}.cabinet_temp/warm", priority=priority)
        await rig.at((i + 1) / 60)  # one a second


async def test_pages_for_one_person_are_bundled_during_a_flood(clock: FakeClock) -> None:
    rig = await Rig(clock, paging_config=horn_paging()).start()  # type: ignore[arg-type]
    await flood(rig)
    alice = [p for p in rig.pages() if p.person == "alice"]
    assert alice == []  # held for the window
    horn = [p for p in rig.pages() if p.person == "lab-horn"]
    assert [p.code for p in horn] == CODES  # a horn counts alarms: never bundled
    await rig.at(0.5)
    alice = [p for p in rig.pages() if p.person == "alice"]
    assert len(alice) == 1 and alice[0].minute == 0.5
    n = alice[0].notification
    assert n.alarm_id == "A1023"  # the critical one heads the bundle
    assert n.key.startswith("esc/bundle/alice/")
    assert n.equipment.endswith("+4 more alarms")
    listing = first_sentence(n.sop)
    assert listing.startswith("ALARM FLOOD, 5 alarms: A1023, A1007, A1015, A1031, A1049; A1023 ")
    assert all(code in listing for code in CODES)
    assert n.sop.count("SOP-CC-012") == 5  # each alarm's own SOP after the list
    sms = compose_sms(n)  # says exactly what to send to acknowledge all five
    assert sms.startswith("ALARM FLOOD, 5 alarms: A1023 critical ")
    assert sms.endswith("Reply ACK A1023 A1007 A1015 A1031 A1049 <PIN> <comment>")
    assert flood_codes(n) == ("A1023", "A1007", "A1015", "A1031", "A1049")
    rows = [r for r in rig.record.rows if r.action == "bundled"]  # type: ignore[attr-defined]
    assert len(rows) == 1 and sorted(rows[0].data["codes"]) == CODES
    await rig.stop()


async def test_escalations_keep_their_own_timing_during_a_flood(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    await flood(rig, CODES[:3])
    await rig.at(15.5)
    sam = [p for p in rig.pages() if p.person == "sam"]
    assert len(sam) == 1 and sam[0].minute == 15.5  # tier 2 of all three, in one message
    assert sam[0].notification.kind == "escalated" and "3 alarms" in sam[0].notification.sop
    await rig.stop()


async def test_an_alarm_acknowledged_in_the_window_drops_out(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    await flood(rig, CODES[:3])
    rig.source.ack("A1015", person="bob")
    await rig.at(1)
    (alice,) = [p for p in rig.pages() if p.person == "alice" and p.kind == "raised"]
    assert "2 alarms" in alice.notification.sop and "A1015" not in alice.notification.sop
    await rig.stop()


async def test_a_bundle_of_one_is_the_ordinary_page(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    await flood(rig, CODES[:1])
    await rig.at(1)
    (alice,) = [p for p in rig.pages() if p.person == "alice"]
    assert alice.notification.key == "esc/h2/p1" and "FLOOD" not in alice.notification.sop
    await rig.stop()


async def test_the_end_of_the_flood_flushes_and_stops_bundling(clock: FakeClock) -> None:
    rig = await Rig(clock).start()
    await flood(rig, CODES[:2])
    rig.source.emit(K.FLOOD_ENDED)  # at second 2, before the window ends
    await rig.at(3 / 60)
    (bundled,) = [p for p in rig.pages() if p.person == "alice"]
    assert bundled.minute == round(2 / 60, 3) and "2 alarms" in bundled.notification.sop
    rig.source.raise_("A1057", key="freezer-09.cabinet_temp/warm")
    await rig.at(4 / 60)
    last = [p for p in rig.pages() if p.person == "alice"][-1]
    assert last.code == "A1057" and last.notification.key.startswith("esc/h")
    await rig.stop()


def test_bundle_text_never_ends_its_first_sentence_early() -> None:
    from tests.support.notify import notification

    a = notification(alarm_id="A1007", equipment="Freezer no. 7. Room 2")
    b = notification(alarm_id="A1015", priority="high")
    merged = bundle([b, a], "esc/bundle/x", a.event_at)
    listing = first_sentence(merged.sop)
    assert "Room 2" in listing and listing.count("A1007") == listing.count("A1015") == 2


def test_bundle_items_never_hold_the_separator() -> None:
    from tests.support.notify import notification

    a = notification(alarm_id="A1007", equipment="ULT-03; room 2;shelf 4")
    b = notification(alarm_id="A1015", condition="high; door")
    merged = bundle([a, b], "esc/bundle/x", a.event_at)
    assert flood_codes(merged) == ("A1007", "A1015")
    sms = compose_sms(merged)
    assert "ULT-03, room 2,shelf 4" in sms and sms.count(";") == 1  # one between the two


def test_an_alarm_held_twice_is_listed_once_head_first() -> None:
    from tests.support.notify import notification

    a = notification(alarm_id="A1007", priority="high")
    b = notification(alarm_id="A1010", priority="critical")
    merged = bundle([a, b, a.model_copy(update={"kind": "escalated"})], "esc/bundle/x", a.event_at)
    assert flood_codes(merged) == ("A1010", "A1007")
    assert merged.equipment.endswith("+1 more alarm")


async def test_one_alarm_paged_twice_in_the_window_is_never_a_bundle_of_one(
    clock: FakeClock,
) -> None:
    """A raise and a severity raise of the same alarm held in one window: one page of that
    alarm, never "<unit> +0 more alarms"."""
    rig = await Rig(clock).start()
    rig.source.emit(K.FLOOD_STARTED)
    rig.source.raise_("A1007", key="freezer-00.cabinet_temp/warm")
    await rig.at(1 / 60)
    rig.source.emit(
        K.SEVERITY_RAISED, rig.source.views["A1007"]
    )  # paged again at once as a re-alarm
    await rig.at(0.5)
    alice = [p for p in rig.pages() if p.person == "alice"]
    assert len(alice) == 1
    n = alice[0].notification
    assert n.alarm_id == "A1007" and "more alarm" not in n.equipment
    assert n.equipment == "TSX -80 C freezer 07"
    assert flood_codes(n) == () and "ALARM FLOOD" not in compose_sms(n)
    assert compose_sms(n).endswith("Reply ACK A1007 <PIN> <comment>")
    await rig.stop()


def test_bundle_text_counts_other_alarms_only() -> None:
    from tests.support.notify import T0, notification

    one = notification(alarm_id="A1007")
    again = notification(alarm_id="A1007", kind="re-alarm")
    other = notification(alarm_id="A1015", equipment="ULT-04")
    assert bundle([one, again], "k", T0).equipment == "ULT-03 -80 freezer"
    assert bundle([one, again, other], "k", T0).equipment == "ULT-03 -80 freezer +1 more alarm"
