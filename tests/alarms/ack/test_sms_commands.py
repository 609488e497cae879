"""The SMS grammar: lenient about form, strict about the code's check digit, the PIN and the
comment."""

from __future__ import annotations

import pytest

from alarms.ack.refusals import Reason
from alarms.ack.sms_commands import SmsAck, SmsSyntaxError, parse_sms


@pytest.mark.parametrize(
    "body",
    [
        "ACK A1007 4711 moved to BF-02",
        "ack a1007 4711 moved to BF-02",
        "Ack A1007 4711 moved to BF-02",
        "  ACK   A1007    4711   moved   to BF-02  ",
        "ACK #A1007 4711# moved to BF-02",
        "ACK A1007# 4711 moved to BF-02",
        "ACK 1007 4711 moved to BF-02",
        "ACK: A1007 4711: moved to BF-02",
        "ACK A1007 4711 - moved to BF-02",
        "ACK A1007#4711#moved to BF-02",
        "Acknowledge A1007 4711 moved to BF-02",
        "ACK\nA1007\n4711\nmoved to\nBF-02",
    ],
)
def test_lenient_forms(body: str) -> None:
    assert parse_sms(body) == SmsAck("A1007", "4711", "moved to BF-02")


def test_a_comment_may_start_with_digits() -> None:
    assert parse_sms("ACK A1007 4711 2 boxes to BF-02").comment == "2 boxes to BF-02"


@pytest.mark.parametrize(
    ("body", "reason", "code"),
    [
        ("ACK A1007 4711", Reason.NO_COMMENT, "A1007"),
        ("ACK A1007 4711 #", Reason.NO_COMMENT, "A1007"),
        ("ACK A1007 4711 - ", Reason.NO_COMMENT, "A1007"),
        ("ACK A1007 moved to BF-02", Reason.MALFORMED, "A1007"),
        ("ACK A1070 4711 moved", Reason.UNKNOWN_ALARM, None),  # neighbours swapped
        ("ACK A1008 4711 moved", Reason.UNKNOWN_ALARM, None),  # one digit wrong
        ("ACK", Reason.MALFORMED, None),
        ("ACK please", Reason.MALFORMED, None),
        ("ACKA1007 4711 moved", Reason.MALFORMED, None),
        ("yes A1007 4711 moved", Reason.MALFORMED, None),
        ("", Reason.MALFORMED, None),
        ("ACKNOWLEDGING", Reason.MALFORMED, None),
    ],
)
def test_refused_forms(body: str, reason: Reason, code: str | None) -> None:
    with pytest.raises(SmsSyntaxError) as info:
        parse_sms(body)
    assert info.value.reason is reason and info.value.code == code
    assert "ACK" in str(info.value)  # every refusal says how to write it


@pytest.mark.parametrize(
    "body",
    [
        "ACK A1007 A1010 A1029 4711 moved to BF-02",
        "ack a1007 a1010 a1029 4711 moved to BF-02",
        "ACK A1007, A1010, A1029 4711 moved to BF-02",
        "ACK A1007,A1010;A1029 4711: moved to BF-02",
        "ACK #A1007 #A1010 #A1029 4711# moved to BF-02",
        "ACK 1007 A1010 A1029 4711 moved to BF-02",
        "ACK A1007 A1010 A1007 A1029 A1010 4711 moved to BF-02",  # repeats read once
        "ACK\nA1007\nA1010\nA1029\n4711\nmoved to BF-02",
    ],
)
def test_several_codes(body: str) -> None:
    command = parse_sms(body)
    assert command == SmsAck("A1007", "4711", "moved to BF-02", ("A1010", "A1029"))
    assert command.codes == ("A1007", "A1010", "A1029")


def test_a_code_after_the_first_needs_its_a_or_it_is_the_pin() -> None:
    command = parse_sms("ACK A1007 1010 4711 moved")
    assert (command.codes, command.pin, command.comment) == (("A1007",), "1010", "4711 moved")


def test_a_mistyped_code_among_several_is_reported_not_guessed() -> None:
    command = parse_sms("ACK A1007 A1001 A1029 4711 moved")  # A1010 with 1 and 0 swapped
    assert command.codes == ("A1007", "A1029") and command.invalid == ("A1001",)
    assert command.named == ("A1007", "A1029", "A1001")
    first = parse_sms("ACK 1070 A1010 4711 moved")
    assert first.code == "A1010" and first.invalid == ("A1070",)


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (
            "ACK A1001 A1070 4711 moved",
            Reason.UNKNOWN_ALARM,
            "A1001, A1070 are not valid alarm codes (check digit). Reply ACK <code>",
        ),
        (
            "ACK A1007 A1010 4711",
            Reason.NO_COMMENT,
            "A comment is required. Reply ACK A1007 A1010 <PIN> <what you did>",
        ),
        (
            "ACK A1007 A1001 4711",
            Reason.NO_COMMENT,
            "A1001 is not a valid alarm code (check digit). A comment is required. Reply ACK "
            "A1007 <PIN>",
        ),
        (
            "ACK A1007 A1010 moved",
            Reason.MALFORMED,
            "The PIN is missing. Reply ACK A1007 A1010 <PIN> <comment>",
        ),
        ("ACK ALL 4711 moved", Reason.MALFORMED, "Name each alarm: reply ACK <code> <code>"),
        ("ACK " + "A1007 " * 61 + "4711 x", Reason.MALFORMED, "At most 60 alarm codes"),
    ],
)
def test_refused_forms_of_several(body: str, reason: Reason, message: str) -> None:
    with pytest.raises(SmsSyntaxError) as info:
        parse_sms(body)
    assert info.value.reason is reason and str(info.value).startswith(message)
