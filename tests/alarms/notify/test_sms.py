"""SMS text: GSM-7 transliteration, segment arithmetic, smart truncation; property tests."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alarms.notify.message import Notification, first_sentence, number
from alarms.notify.sms import (
    ALLOWED,
    GSM_EXTENSION,
    compose_sms,
    is_gsm7,
    segments,
    septets,
    to_gsm7,
    truncate,
)
from tests.support.notify import T0, notification


def test_transliteration_keeps_gsm_and_replaces_the_rest() -> None:
    assert to_gsm7("-61.5 °C") == "-61.5 C"
    assert to_gsm7("45°") == "45 deg"
    assert to_gsm7("“Move” \u2013 now…") == '"Move" - now...'  # en dash
    assert (
        to_gsm7("é è ù ì ò Ç Ø Å Ä Ö Ñ Ü ß à ä ö ñ ü É Æ")
        == "é è ù ì ò Ç Ø Å Ä Ö Ñ Ü ß à ä ö ñ ü É Æ"
    )
    assert to_gsm7("ê ç ô î ñ") == "e c o i ñ"
    assert to_gsm7("5 µL ± 2 ≤ 3") == "5 uL +/- 2 <= 3"
    assert to_gsm7("ﬁle ½") == "file 1/2"
    assert to_gsm7("tab\there\u00a0nbsp\u200bzw") == "tab here nbspzw"
    assert to_gsm7("€ [x] {y} ~ | ^ \\") == "€ [x] {y} ~ | ^ \\"
    assert to_gsm7("\x1b\f") == ""  # the escape and form feed are never written alone
    assert to_gsm7("温度 😀") == "?? ?"


def test_every_replacement_is_itself_gsm7() -> None:
    from alarms.notify.sms import _MAP

    assert all(is_gsm7(v) for v in _MAP.values())


def test_septets_count_extension_characters_twice() -> None:
    assert septets("abc") == 3
    assert septets("€[]") == 6
    assert all(septets(c) == 2 for c in GSM_EXTENSION)


def test_segments_single_and_concatenated() -> None:
    assert segments("x" * 160) == 1
    assert segments("x" * 161) == 2
    assert segments("x" * 306) == 2
    assert segments("x" * 307) == 3
    assert segments("€" * 80) == 1  # 160 septets
    # 306 septets either way; an escape pair never straddles a segment boundary, so with
    # the "€" at septets 153-154 the first segment holds 152 and the rest needs two more
    assert segments("x" * 152 + "€" + "x" * 152) == 3
    assert segments("x" * 151 + "€" + "x" * 153) == 2


def test_truncate_cuts_at_a_word_and_marks_it() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("move all material to the backup", 20) == "move all material..."
    assert septets(truncate("€" * 50, 11)) <= 11


def test_first_sentence_ignores_decimal_points() -> None:
    assert first_sentence("Keep below -65.5 C. Then call QA.") == "Keep below -65.5 C."
    assert first_sentence("Line one\nline two") == "Line one"
    assert first_sentence("") == ""


def test_typical_page() -> None:
    text = compose_sms(notification())
    assert text == (
        "A1007 CRITICAL ALARM: ULT-03 -80 freezer, chamber temperature -61.5 C "
        "above high limit -65 C since 01 Mar 03:12 CET. SOP: Move all material to backup freezer "
        "ULT-07 within 30 minutes. Reply ACK A1007 <PIN> <comment>"
    )
    assert is_gsm7(text) and segments(text) == 2


def test_flags_escalation_and_acknowledgement() -> None:
    text = compose_sms(notification(kind="escalated", tier=2, possible_duplicate=True, late=True))
    assert text.startswith("REPEAT? LATE A1007 CRITICAL ESCALATED tier 2: ULT-03")
    acked = compose_sms(
        notification(
            kind="acknowledged",
            state="ACKED",
            acknowledged_by="Jörg Weiß",
            comment="moved to ULT-07 ✓",
            event_at=T0 + timedelta(minutes=9),
        )
    )
    assert acked.startswith("A1007 CRITICAL ACKNOWLEDGED by Jörg Weiß: ULT-03")
    assert '"moved to ULT-07 ?"' in acked
    assert " at 01 Mar 03:21 CET" in acked  # when it was acknowledged, not since when active
    assert "Reply ACK" not in acked  # nothing left to acknowledge
    rtn = compose_sms(notification(kind="returned-to-normal", state="RTN_UNACK", value=-70.2))
    assert "BACK TO NORMAL, NOT ACKED" in rtn and "Reply ACK A1007" in rtn


def test_essentials_survive_huge_fields() -> None:
    n = notification(
        equipment="E" * 200,
        channel="C" * 200,
        sop="S" * 3000,
        condition="x" * 60,
        priority="p" * 20,
        unit="{{{{{",  # 10 septets: the most a unit keeps
        value=-123456.789,
        limit=-1e300,
        possible_duplicate=True,
        late=True,
        kind="escalated",
    )
    text = compose_sms(n)
    assert segments(text) <= 2 and is_gsm7(text)
    assert "A1007" in text
    assert "-123457 {{{{{" in text
    assert "(limit -1e+300 {{{{{" in text
    assert text.endswith("Reply ACK A1007 <PIN> <comment>")
    assert ": EEEEEE" in text  # the equipment is cut, not dropped


def test_sop_gets_room_before_the_channel() -> None:
    n = notification(sop="Do " + "this and " * 40 + "that.", channel="chamber temperature probe 2")
    text = compose_sms(n)
    assert "SOP: Do this and" in text
    assert segments(text) <= 2


def test_communication_loss_without_value() -> None:
    text = compose_sms(notification(value=None, limit=None, condition="comm loss"))
    assert "no value (limit none, comm loss)" in text


# --- property tests ----------------------------------------------------------------------

#: characters that take two septets, or that transliterate to several characters
_awkward = st.sampled_from([*GSM_EXTENSION, "°", "\u2030", "\u2026", "\u00b1", "\ufb01", "\u00bd"])
_chars = st.characters(blacklist_categories=("Cs",)) | _awkward
_text = st.text(_chars, max_size=300)
_short = st.text(_chars, max_size=20)


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    return notification(
        alarm_id=draw(st.from_regex(r"A[0-9]{1,11}", fullmatch=True)),
        kind=draw(
            st.sampled_from(
                ["raised", "escalated", "re-alarm", "returned-to-normal", "acknowledged"]
            )
        ),
        equipment=draw(st.text(_chars, min_size=1, max_size=200)),
        channel=draw(_text.map(lambda s: s[:200])),
        value=draw(
            st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
        ),
        unit=draw(st.text(_chars, max_size=16)),
        limit=draw(st.none() | st.floats(allow_nan=False, allow_infinity=False)),
        condition=draw(_text.map(lambda s: s[:60])),
        priority=draw(st.text(_chars, min_size=1, max_size=20)),
        state=draw(st.sampled_from(["UNACK", "ACKED", "RTN_UNACK", "NORMAL"])),
        tier=draw(st.integers(0, 99)),
        sop=draw(_text),
        possible_duplicate=draw(st.booleans()),
        late=draw(st.booleans()),
        acknowledged_by=draw(st.none() | _short),
        comment=draw(st.none() | _text),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notifications())
def test_any_notification_is_gsm7_in_two_segments(n: Notification) -> None:
    text = compose_sms(n)
    assert all(ch in ALLOWED for ch in text)
    assert septets(text) <= 306
    assert segments(text) <= 2
    assert text.count(n.alarm_id) >= 1
    for quantity in (n.value, n.limit):
        if isinstance(quantity, float):
            assert f" {number(quantity)}" in text  # numbers are never cut
    if n.needs_ack:
        assert text.endswith(f"Reply ACK {n.alarm_id} <PIN> <comment>")
    short = compose_sms(n, max_segments=1)
    assert is_gsm7(short) and segments(short) == 1


@settings(max_examples=300, deadline=None)
@given(_text)
def test_transliteration_of_any_text_is_gsm7(text: str) -> None:
    assert is_gsm7(to_gsm7(text))


@settings(max_examples=300, deadline=None)
@given(_text, st.integers(0, 320))
def test_truncate_never_exceeds_the_limit(text: str, limit: int) -> None:
    clean = to_gsm7(text)
    assert septets(truncate(clean, limit)) <= limit
