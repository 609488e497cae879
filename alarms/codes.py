"""Alarm codes people type in an SMS: ``A`` + a sequence number + a Damm check digit.

The check digit (Damm's algorithm) catches every single wrong digit and every swap of two
neighbouring digits, so "ACK A1043" typed as "ACK A1034" is refused instead of acknowledging
somebody else's alarm. Codes are never reused: the sequence continues across restarts.
"""

from __future__ import annotations

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

#: The first sequence number: codes start at four characters ("A1007").
FIRST = 100


def _damm(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def make_code(number: int) -> str:
    digits = str(number)
    return f"A{digits}{_damm(digits)}"


def number_of(code: str) -> int:
    """The sequence number of a well-formed code."""
    return int(code[1:-1])


def parse_code(text: str) -> str | None:
    """The canonical code for what a person typed ("a1007", "1007", " A1007 "), or None
    when it is not a code or its check digit is wrong."""
    cleaned = text.strip().upper().removeprefix("A")
    if len(cleaned) < 2 or not cleaned.isascii() or not cleaned.isdigit():
        return None
    if _damm(cleaned) != 0:
        return None
    return "A" + cleaned
