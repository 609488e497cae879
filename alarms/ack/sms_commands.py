"""The SMS reply grammar: ``ACK A1007 <PIN> <comment>``, read leniently.

People answer at 3 a.m. on a phone keyboard: any case, extra spaces, a ``#`` before the code
or after the PIN, a ``:`` or ``-`` before the comment, and a code without its ``A`` are all
accepted. What is never guessed: the code's check digit (a mistyped code is refused rather than
acknowledging another alarm), the PIN, and the comment (required: it is the record of what was
done). Pure: no I/O, no engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alarms.ack.refusals import Reason
from alarms.codes import parse_code

USAGE = "Reply ACK <code> <PIN> <comment>, e.g. ACK A1007 1234 moved to BF-02"

_ACK = re.compile(
    r"^\s*ack(?:nowledged?)?(?![a-z])[\s:#,.]*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL
)
_CODE = re.compile(
    r"^#?\s*(?P<code>a?\d+)(?:\s*#\s*|\s+|$)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL
)
_PIN = re.compile(r"^\s*(?P<pin>\d+)\s*#?(?P<rest>.*)$", re.DOTALL)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SmsAck:
    """A well-formed acknowledgement; ``code`` is canonical (``A1007``)."""

    code: str
    pin: str
    comment: str


class SmsSyntaxError(Exception):
    """Not a usable acknowledgement; the message says how to write one. ``code`` is the
    canonical code when one was read."""

    def __init__(self, reason: Reason, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code


def parse_sms(body: str) -> SmsAck:
    """Read an SMS reply; raise :class:`SmsSyntaxError` (MALFORMED, NO_COMMENT or
    UNKNOWN_ALARM for a code whose check digit is wrong)."""
    text = _SPACES.sub(" ", body or "").strip()
    ack = _ACK.match(text)
    if ack is None:
        raise SmsSyntaxError(Reason.MALFORMED, f"Not understood. {USAGE}")
    code_match = _CODE.match(ack.group("rest"))
    if code_match is None:
        raise SmsSyntaxError(Reason.MALFORMED, f"The alarm code is missing. {USAGE}")
    typed = code_match.group("code").upper()
    code = parse_code(typed)
    if code is None:
        typed = typed if typed.startswith("A") else "A" + typed
        raise SmsSyntaxError(
            Reason.UNKNOWN_ALARM, f"{typed} is not a valid alarm code (check digit). {USAGE}"
        )
    pin_match = _PIN.match(code_match.group("rest"))
    if pin_match is None:
        raise SmsSyntaxError(
            Reason.MALFORMED, f"The PIN is missing. Reply ACK {code} <PIN> <comment>", code
        )
    comment = pin_match.group("rest").strip().lstrip(":-,.;").strip()
    if not comment:
        raise SmsSyntaxError(
            Reason.NO_COMMENT,
            f"A comment is required. Reply ACK {code} <PIN> <what you did>",
            code,
        )
    return SmsAck(code, pin_match.group("pin"), comment)
