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
