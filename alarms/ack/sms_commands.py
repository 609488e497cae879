"""The SMS reply grammar: ``ACK A1007 <PIN> <comment>``, or for several alarms at once (a flood
bundle's page lists them) ``ACK A1007 A1015 A1023 <PIN> <comment>``, read leniently.

People answer at 3 a.m. on a phone keyboard: any case, extra spaces, a ``#`` before the code or
after the PIN, a ``:`` or ``-`` before the comment, and a first code without its ``A`` are all
accepted; several codes may be separated by spaces, commas, ``;`` or ``#``. Every code after the
first must keep its ``A``: that is what tells it from the PIN. What is never guessed: a code's
check digit (a mistyped code is refused rather than acknowledging another alarm), the PIN, and
the comment (required: it is the record of what was done). Pure: no I/O, no engine.

Several codes, one of them mistyped: the others are well formed and read; the mistyped one is
reported in :attr:`SmsAck.invalid` and refused on its own (see ``docs/acknowledgement.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alarms.ack.refusals import Reason
from alarms.codes import parse_code

USAGE = "Reply ACK <code> <PIN> <comment>, e.g. ACK A1007 1234 moved to BF-02"
#: Codes one reply may name (a two-segment page lists at most some 40).
MAX_CODES = 60

_ACK = re.compile(
    r"^\s*ack(?:nowledged?)?(?![a-z])[\s:#,.]*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL
)
_SEP = r"(?:\s*[#,;]\s*|\s+|$)"
_CODE = re.compile(rf"^#?\s*(?P<code>a?\d+){_SEP}(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_MORE = re.compile(rf"^[\s#,;]*(?P<code>a\d+){_SEP}(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
_ALL = re.compile(r"^#?\s*(?:all|every|everything|bundle)(?![a-z])", re.IGNORECASE)
_PIN = re.compile(r"^[\s,;]*(?P<pin>\d+)\s*#?(?P<rest>.*)$", re.DOTALL)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class SmsAck:
    """A well-formed acknowledgement; ``code`` is the first well-formed code (canonical,
    ``A1007``), ``more`` the other well-formed ones (in the order typed, without repeats) and
    ``invalid`` the codes whose check digit is wrong, as typed (with their ``A``)."""

    code: str
    pin: str
    comment: str
    more: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        """Every well-formed code named."""
        return (self.code, *self.more)

    @property
    def named(self) -> tuple[str, ...]:
        """Every code named, well formed or not (for the record of a refusal)."""
        return (*self.codes, *self.invalid)


class SmsSyntaxError(Exception):
    """Not a usable acknowledgement; the message says how to write one. ``code`` is the
    canonical code when one was read; ``codes`` every well-formed code read."""

    def __init__(
        self, reason: Reason, message: str, code: str | None = None, codes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.codes = codes or ((code,) if code else ())


def parse_sms(body: str) -> SmsAck:
    """Read an SMS reply; raise :class:`SmsSyntaxError` (MALFORMED, NO_COMMENT or
    UNKNOWN_ALARM when no code named has a right check digit)."""
    text = _SPACES.sub(" ", body or "").strip()
    ack = _ACK.match(text)
    if ack is None:
        raise SmsSyntaxError(Reason.MALFORMED, f"Not understood. {USAGE}")
    rest = ack.group("rest")
    if _ALL.match(rest):
        raise SmsSyntaxError(
            Reason.MALFORMED,
            "Name each alarm: reply ACK <code> <code> ... <PIN> <comment>, "
            "e.g. ACK A1007 A1010 1234 moved to BF-02",
        )
    found = _CODE.match(rest)
    if found is None:
        raise SmsSyntaxError(Reason.MALFORMED, f"The alarm code is missing. {USAGE}")
    typed = [found.group("code").upper()]
    rest = found.group("rest")
    while (more := _MORE.match(rest)) is not None:
        typed.append(more.group("code").upper())
        rest = more.group("rest")
        if len(typed) > MAX_CODES:
            raise SmsSyntaxError(
                Reason.MALFORMED, f"At most {MAX_CODES} alarm codes in one reply. {USAGE}"
            )
    codes: list[str] = []
    invalid: list[str] = []
    for word in typed:
        code = parse_code(word)
        if code is None:
            shown = word if word.startswith("A") else "A" + word
            if shown not in invalid:
                invalid.append(shown)
        elif code not in codes:
            codes.append(code)
    if not codes:
        raise SmsSyntaxError(Reason.UNKNOWN_ALARM, f"{_not_codes(invalid)}. {USAGE}")
    note = f"{_not_codes(invalid)}. " if invalid else ""
    named = " ".join(codes)
    pin = _PIN.match(rest)
    if pin is None:
        raise SmsSyntaxError(
            Reason.MALFORMED,
            f"{note}The PIN is missing. Reply ACK {named} <PIN> <comment>",
            codes[0],
            tuple(codes),
        )
    comment = pin.group("rest").strip().lstrip(":-,.;").strip()
    if not comment:
        raise SmsSyntaxError(
            Reason.NO_COMMENT,
            f"{note}A comment is required. Reply ACK {named} <PIN> <what you did>",
            codes[0],
            tuple(codes),
        )
    return SmsAck(codes[0], pin.group("pin"), comment, tuple(codes[1:]), tuple(invalid))


def _not_codes(invalid: list[str]) -> str:
    if len(invalid) == 1:
        return f"{invalid[0]} is not a valid alarm code (check digit)"
    return f"{', '.join(invalid)} are not valid alarm codes (check digit)"
