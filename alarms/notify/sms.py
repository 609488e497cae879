"""SMS text: GSM-7 only, at most two segments, the essentials never cut.

Why GSM-7: one character outside the GSM 03.38 alphabet (a degree sign, a curly quote from a
word-processed SOP) switches the whole message to UCS-2, where a segment holds 70 characters
instead of 160: a page that fitted two segments becomes five, costs more and may arrive out of
order. So every character is transliterated (``°C`` -> ``C``, an en dash -> ``-``, ``é`` stays,
``ê`` -> ``e``) and anything else becomes ``?``.

Length: a single SMS holds 160 septets; a concatenated one 153 per segment. Characters of the
extension table (``^{}\\[~]|€``) take two septets and an escape pair is never split between
segments. The text is built from pieces: the short code, the value, the limit and how to
acknowledge are never cut; the equipment, the SOP's first sentence, the channel, the time and
the condition share what is left, in that order of importance.

A flood bundle (one page for several alarms, :func:`alarms.escalation.messages.bundle`) is laid
out on its own: ``ALARM FLOOD, 5 alarms: <a few words on each>. Reply ACK A1023 A1007 A1015
A1031 A1049 <PIN> <comment>``. The reply line, with every code, is what is never cut: it is
exactly what to send to acknowledge them all. Only when even the codes do not fit (some 40
alarms in two segments) does it list the first ones and say how many more there are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from alarms.notify.message import ACTION_KINDS, Notification, quantity

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
assert len(GSM_BASIC) == 128

#: What a message may contain: the escape and the form feed are never written on their own.
ALLOWED = frozenset(GSM_BASIC + GSM_EXTENSION) - {"\x1b", "\f"}
_DOUBLE = frozenset(GSM_EXTENSION)

SINGLE_SEGMENT = 160
MULTI_SEGMENT = 153
MAX_SEGMENTS = 2
MAX_SEPTETS = MAX_SEGMENTS * MULTI_SEGMENT  # 306

_MAP: dict[str, str] = {
    # written as escapes: most of these look like the ASCII character they become
    "\u2103": "C",  # degree Celsius sign
    "\u2109": "F",  # degree Fahrenheit sign
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u0060\u00b4\u2039\u203a", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),  # dashes, minus
    "\u2026": "...",
    "\u00b5": "u",  # micro sign
    "\u03bc": "u",  # Greek mu
    "\u00b1": "+/-",
    "\u00d7": "x",
    "\u00f7": "/",
    "\u2044": "/",  # fraction slash (from 1/2 and friends)
    "\u2215": "/",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u2248": "~",
    "\u2192": "->",
    "\u2190": "<-",
    "\u21d2": "=>",
    "\u2022": "*",  # bullet
    "\u00b7": ".",  # middle dot
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u00a2": "c",
    "\u2030": " per mille",
    "\u00e7": "c",  # GSM-7 has only the capital C cedilla
    "\t": " ",
}
_DEGREE_UNIT = re.compile(r"°\s?(?=[A-Za-z])")
_DEGREE = re.compile(r"\s?°")


def to_gsm7(text: str) -> str:
    """Transliterate to characters a GSM-7 SMS can carry (see the module docstring)."""
    text = _DEGREE.sub(" deg", _DEGREE_UNIT.sub("", text))
    return "".join(_char(ch) for ch in text)


def _char(ch: str) -> str:
    if ch in ALLOWED:
        return ch
    mapped = _MAP.get(ch)
    if mapped is not None:
        return mapped
    category = unicodedata.category(ch)
    if category.startswith("Z"):
        return " "
    if category in ("Cc", "Cf") or category.startswith("M"):
        return ""  # control characters, zero-width marks, combining accents
    decomposed = unicodedata.normalize("NFKD", ch)
    if decomposed != ch:
        return "".join(_char(c) for c in decomposed)
    return "?"


def septets(text: str) -> int:
    """Length in septets: extension-table characters count twice."""
    return sum(2 if ch in _DOUBLE else 1 for ch in text)


def segments(text: str) -> int:
    """Segments needed to send ``text`` (already GSM-7), escape pairs never split."""
    if septets(text) <= SINGLE_SEGMENT:
        return 1
    count, used = 1, 0
    for ch in text:
        width = 2 if ch in _DOUBLE else 1
        if used + width > MULTI_SEGMENT:
            count += 1
            used = 0
        used += width
    return count


def is_gsm7(text: str) -> bool:
    return all(ch in ALLOWED for ch in text)


def truncate(text: str, limit: int, ellipsis: str = "...") -> str:
    """Cut to ``limit`` septets, at a word boundary when one is near, marked with ``...``."""
    if septets(text) <= limit:
        return text
    room = limit - len(ellipsis)
    if room <= 0:
        return _cut(text, limit)
    cut = _cut(text, room)
    space = cut.rfind(" ")
    if text[len(cut)] != " " and space >= max(1, room - 12):  # not already at a word's end
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + ellipsis


def _cut(text: str, limit: int) -> str:
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ch in _DOUBLE else 1
        if used > limit:
            return text[:i]
    return text


def _clean(text: str) -> str:
    return to_gsm7(" ".join(text.split()))


@dataclass(frozen=True)
class _Piece:
    prefix: str
    content: str
    suffix: str = ""
    rank: int = 0
    """0: essential, never cut; 1, 2, ...: order in which the remaining room is shared."""
    minimum: int = 8
    """Shorter than this, an optional piece is dropped rather than cut."""
    cap: int = MAX_SEPTETS
    """Never longer than this, so that one long name cannot crowd out the SOP."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "content", truncate(self.content, self.cap))

    def full(self) -> str:
        return self.prefix + self.content + self.suffix


def _pieces(n: Notification) -> list[_Piece]:
    flags = ("REPEAT? " if n.possible_duplicate else "") + ("LATE " if n.late else "")
    head = f"{flags}{n.alarm_id} {truncate(_clean(n.priority.upper()), 12)} {n.title}"
    if n.kind == "escalated":
        head += f" tier {n.tier}"
    pieces = [_Piece("", _clean(head))]
    if n.kind in ACTION_KINDS and n.acknowledged_by:
        pieces.append(_Piece(" by ", _clean(n.acknowledged_by), rank=3, minimum=4, cap=40))
    pieces += _what(n)
    # an active alarm: since when it is active; otherwise when it was dealt with
    when = n.local(n.raised_at if n.active else n.event_at).strftime("%d %b %H:%M %Z")
    if not (n.shape in _SAYS_SINCE and n.active):  # those say since when in their sentence
        pieces.append(_Piece(" since " if n.active else " at ", _clean(when), rank=5, minimum=99))
    if n.kind in ACTION_KINDS and n.comment:
        pieces.append(_Piece('. "', _clean(n.comment), '"', rank=7))
    sop = n.sop_first_sentence().rstrip(".!? ")
    if sop:
        pieces.append(_Piece(". SOP: ", _clean(sop), rank=2, minimum=10))
    if n.needs_ack:
        pieces.append(_Piece(". Reply ACK ", f"{n.alarm_id} <PIN> <comment>"))
    return pieces


#: Shapes whose sentence says since when the alarm is active (:meth:`Notification.headline`).
_SAYS_SINCE = frozenset({"comm_loss", "calibration"})


def _what(n: Notification) -> list[_Piece]:
    """What is wrong, in the alarm's sentence shape (:meth:`Notification.headline`): what
    identifies the problem is never cut, names are cut as room requires."""
    equipment = _Piece(": ", _clean(n.equipment), rank=1, minimum=6, cap=60)
    channel = [_Piece(", ", _clean(n.channel), rank=4, minimum=6, cap=40)] if n.channel else []
    since = _clean(n.since_text())
    if n.shape == "system":
        return [_Piece(": ", "coldwatch: " + truncate(_clean(n.condition or "a check failed"), 60))]
    if n.shape == "comm_loss":
        source = truncate(_clean(n.source or "the device"), 60)
        tail = f" since {since}" if n.active else ""
        return [equipment, _Piece(": no data from ", source + tail)]
    if n.shape == "calibration":
        tail = f" since {since}" if n.active else ""
        return [equipment, *channel, _Piece(": ", "calibration due" + tail)]
    if n.shape == "state":
        out = [equipment, *channel, _Piece(": ", truncate(_clean(n.condition or "alarm"), 40))]
        if n.value is not None:
            out.append(_Piece(" (", _reading(n.value, n.unit), ")", rank=6, minimum=1))
        return out
    limit = _reading(n.limit, n.unit) if n.limit is not None else "none"
    out = [equipment, *channel, _Piece(" ", _reading(n.value, n.unit))]
    side = n.side
    if side is not None:  # "above high-high limit -60 C"; the level's name is cut first
        condition = _Piece(" ", _clean(n.condition), rank=6, minimum=3, cap=12)
        return [*out, _Piece(f" {side}", ""), condition, _Piece(" limit ", limit)]
    out.append(_Piece(" (limit ", limit))
    if n.condition:
        out.append(_Piece(", ", _clean(n.condition), rank=6, minimum=3))
    return [*out, _Piece("", ")")]


def _reading(value: float | str | None, unit: str) -> str:
    """The number is never cut; a unit or a state word that transliterates to something
    absurdly long is, so that the essentials always fit."""
    if value is None:
        return "no value"
    if isinstance(value, str):
        return truncate(_clean(value), 24)
    return quantity(value, truncate(_clean(unit), 10)).strip()


def _fit(pieces: list[_Piece], budget: int) -> str:
    room = budget - sum(septets(p.full()) for p in pieces if p.rank == 0)
    chosen: dict[int, str] = {}
    for index, piece in sorted(enumerate(pieces), key=lambda ip: ip[1].rank):
        if piece.rank == 0:
            chosen[index] = piece.full()
            continue
        full = septets(piece.full())
        if full <= room:
            chosen[index] = piece.full()
            room -= full
            continue
        frame = septets(piece.prefix) + septets(piece.suffix)
        if room - frame >= min(piece.minimum, septets(piece.content)):
            chosen[index] = piece.prefix + truncate(piece.content, room - frame) + piece.suffix
            room -= septets(chosen[index])
    text = ""
    for index in sorted(chosen):
        part = chosen[index]
        if text.endswith("...") and part.startswith("."):
            part = part[1:]  # "cut here..." then ". Reply", not "here.... Reply"
        text += part
    return text


# --- flood bundles ----------------------------------------------------------------------------

_FLOOD = re.compile(
    r"^ALARM FLOOD, (?P<count>\d+) alarms: (?P<codes>A\d+(?:, A\d+)*)(?:; (?P<items>.*))?$"
)


def flood_sentence(codes: Sequence[str], items: Sequence[str]) -> str:
    """The first line of a flood bundle's SOP text: ``ALARM FLOOD, 3 alarms: A1023, A1007,
    A1015; A1023 critical ULT-03 ...; A1007 ...``. ``items`` (one per alarm, each starting
    with its code) must hold no ``; `` and no sentence end: :func:`flood_codes` reads it back."""
    text = f"ALARM FLOOD, {len(codes)} alarms: {', '.join(codes)}"
    return f"{text}; {'; '.join(items)}" if items else text


def flood_codes(n: Notification) -> tuple[str, ...]:
    """The codes of the alarms a flood bundle pages about, its head first; ``()`` for the page
    of one alarm (:attr:`Notification.bundled`, set by the escalator's ``bundle``)."""
    codes = n.bundled
    if len(codes) < 2 or codes[0] != n.alarm_id or len(set(codes)) != len(codes):
        return ()
    return codes


def flood_items(n: Notification) -> dict[str, str]:
    """What a flood bundle says about each alarm (``critical ULT-03 high-high -61.5 °C``), by
    code; empty for the page of one alarm."""
    codes = flood_codes(n)
    found = _FLOOD.match(n.sop.split("\n", 1)[0])
    if not codes or found is None or not found.group("items"):
        return {}
    out: dict[str, str] = {}
    for item in found.group("items").split("; "):
        code, _, words = item.partition(" ")
        if code in codes and code not in out:
            out[code] = words.strip()
    return out


def reply_line(codes: Sequence[str]) -> str:
    """``ACK A1023 A1007 <PIN> <comment>``: what to send to acknowledge ``codes``."""
    return f"ACK {' '.join(codes)} <PIN> <comment>"


def _bundle_pieces(n: Notification, codes: Sequence[str], listed: int) -> list[_Piece]:
    """A flood bundle: the count and kind, each alarm in a few words (the head first, as room
    allows), then the reply line with the first ``listed`` codes (all of them if they fit)."""
    flags = ("REPEAT? " if n.possible_duplicate else "") + ("LATE " if n.late else "")
    head = f"{flags}ALARM FLOOD, {len(codes)} alarms"
    if n.kind != "raised":
        head += f", {n.title}" + (f" tier {n.tier}" if n.kind == "escalated" else "")
    pieces = [_Piece("", _clean(head))]
    items = flood_items(n)
    for rank, code in enumerate(codes, start=1):
        words = items.get(code, "")
        pieces.append(
            _Piece(": " if rank == 1 else "; ", _clean(f"{code} {words}".strip()), rank=rank)
        )
    more = len(codes) - listed
    tail = f" (+{more} more alarms not listed: see the console)" if more > 0 else ""
    pieces.append(_Piece(". Reply ", reply_line(codes[:listed]) + tail, cap=MAX_SEPTETS))
    return pieces


def _essential(pieces: list[_Piece]) -> int:
    return sum(septets(p.full()) for p in pieces if p.rank == 0)


def compose_sms(n: Notification, max_segments: int = MAX_SEGMENTS) -> str:
    """The page as one GSM-7 text of at most ``max_segments`` segments."""
    budget = SINGLE_SEGMENT if max_segments == 1 else max_segments * MULTI_SEGMENT
    codes = flood_codes(n) if n.needs_ack else ()
    if codes:
        listed = len(codes)
        pieces = _bundle_pieces(n, codes, listed)
        while listed > 1 and _essential(pieces) > budget - 4:  # room for an escape on a boundary
            listed -= 1
            pieces = _bundle_pieces(n, codes, listed)
    else:
        pieces = _pieces(n)
    text = _fit(pieces, budget)
    while segments(text) > max_segments and budget > 0:  # an escape pair on a boundary
        budget -= 1
        text = _fit(pieces, budget)
    if segments(text) > max_segments:  # only with max_segments 1 and absurd field lengths
        # 153 * n - (n - 1) septets fit in n segments however escape pairs fall
        limit = SINGLE_SEGMENT if max_segments == 1 else 152 * max_segments + 1
        text = truncate(text, limit)
    return text
