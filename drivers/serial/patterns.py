"""Frames to values, faults and device events, by configured regular expressions.

Pure functions of the text, so that they can be tested on any input: nothing here raises on
what a device sends, however garbled. A channel's parser answers one of

* ``None``: the value pattern does not match (in push mode: the frame is not for this
  channel; in query mode the driver turns it into a garbled-answer ``comm_error``). Without a
  configured ``pattern`` the whole answer, trimmed, must be one number: ``+1 2`` or ``\0 3``
  is not a reading of 1 or 3;
* ``comm_error`` when the frame has control or non-ASCII characters outside what the pattern
  matched: line noise is never read as a value;
* ``sensor_fault`` when a fault pattern matches (``T_ERR``: the probe is broken);
* ``comm_error`` when an error pattern matches, or the matched text is not a number / not in
  the map;
* a good value, ``value * scale + offset``, or the map's number, or the text itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from drivers.serial.config import EventRule, SerialPoint
from monitor.core.model import Quality, Value
from monitor.core.numbers import scale_decimal

#: Characters of device text quoted in a reading's detail or an event's message.
SHOWN = 60
MESSAGE = 200
#: Characters a clean ASCII frame may hold besides the printable ones.
_CLEAN_CONTROLS = frozenset("\t\r\n")


def is_noise(char: str) -> bool:
    """A control or non-ASCII character (what line noise or a wrong baud rate produce)."""
    code = ord(char)
    return (code < 0x20 and char not in _CLEAN_CONTROLS) or code >= 0x7F


def noise_outside(text: str, start: int, end: int) -> bool:
    return any(is_noise(char) for char in text[:start]) or any(
        is_noise(char) for char in text[end:]
    )


def show(text: str, limit: int = SHOWN) -> str:
    """Device text for a message: quoted, control characters escaped, at most ``limit``
    characters shown (after escaping, so that binary noise stays short too)."""
    out: list[str] = []
    size = 0
    for char in text:
        piece = ascii(char)[1:-1]
        if size + len(piece) > limit:
            return "'" + "".join(out) + f"'... ({len(text)} characters)"
        out.append(piece)
        size += len(piece)
    return "'" + "".join(out) + "'"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a frame says about one channel (the driver stamps it into a Reading)."""

    quality: Quality
    value: Value | None = None
    detail: str | None = None


class ChannelParser:
    """One channel's compiled patterns (compiled once, applied to every frame)."""

    def __init__(self, point: SerialPoint) -> None:
        self.point = point
        self._value = re.compile(point.value_pattern)
        self._whole_answer = point.pattern is None
        self._faults = tuple(re.compile(p) for p in point.fault_patterns)
        self._errors = tuple(re.compile(p) for p in point.error_patterns)

    def parse(self, text: str) -> Outcome | None:
        for fault in self._faults:
            if fault.search(text):
                return Outcome(Quality.SENSOR_FAULT, detail=f"sensor fault reported: {show(text)}")
        for error in self._errors:
            if error.search(text):
                return Outcome(Quality.COMM_ERROR, detail=f"device reports an error: {show(text)}")
        if self._whole_answer:
            match = self._value.fullmatch(text.strip())
        else:
            match = self._value.search(text)
        if match is None:
            return None
        if not self._whole_answer and noise_outside(text, *match.span()):
            return Outcome(
                Quality.COMM_ERROR,
                detail=f"control or non-ASCII characters outside the pattern: {show(text)}",
            )
        raw = match.group("value")
        return self.convert("" if raw is None else raw.strip())

    def convert(self, raw: str) -> Outcome:
        """The matched text as this channel's value."""
        p = self.point
        if p.type == "text":
            return Outcome(Quality.GOOD, raw)
        if p.map is not None:
            if raw not in p.map:
                known = ", ".join(repr(k) for k in p.map)
                return Outcome(
                    Quality.COMM_ERROR, detail=f"{show(raw)} is not one of the mapped ({known})"
                )
            return Outcome(Quality.GOOD, float(p.map[raw]))
        try:
            number = float(raw)
        except ValueError:
            return Outcome(Quality.COMM_ERROR, detail=f"{show(raw)} is not a number")
        if not math.isfinite(number):
            return Outcome(Quality.SENSOR_FAULT, detail=f"device reports {raw!r}")
        value = scale_decimal(number, p.scale, p.offset)
        if not math.isfinite(value):
            return Outcome(
                Quality.COMM_ERROR,
                detail=f"{number:g} * {p.scale:g} + {p.offset:g} is not a finite number",
            )
        return Outcome(Quality.GOOD, value)


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    kind: str
    message: str
    data: dict[str, str] = field(default_factory=dict)


class EventMatcher:
    """A device's event rules, and which of them matched the previous frame (for
    ``suppress_repeats``)."""

    def __init__(self, rules: Sequence[EventRule]) -> None:
        self._rules = tuple((rule, re.compile(rule.pattern)) for rule in rules)
        self._active: set[int] = set()

    def reset(self) -> None:
        """Start afresh (after a reconnect, the first matching frame is news again)."""
        self._active.clear()

    def match(self, text: str) -> tuple[list[DeviceEvent], bool]:
        """The events this frame raises, and whether any rule matched at all."""
        fired: list[DeviceEvent] = []
        matched = False
        for index, (rule, pattern) in enumerate(self._rules):
            found = pattern.search(text)
            if found is None:
                self._active.discard(index)
                continue
            matched = True
            if rule.suppress_repeats and index in self._active:
                continue
            self._active.add(index)
            data = {k: v for k, v in found.groupdict().items() if v is not None}
            fired.append(DeviceEvent(rule.kind, text[:MESSAGE], data))
        return fired, matched
