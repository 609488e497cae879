"""From a message payload to one channel value: plain text or JSON, a field path, strict
number parsing, a text->number map, scale and offset.

Every way a payload can be wrong ends in :class:`PayloadError` (never another exception), so
that one bad message can only ever make one bad reading. Its ``kind`` names the counter.
:class:`DeviceFault` is the device itself saying it has no value (NaN, Infinity, null): the
reading becomes ``sensor_fault``, not ``comm_error``.

Numbers are parsed strictly (ASCII decimal with optional exponent), because Python's
``float()`` also takes ``"1_000"``, ``"١٢"`` and ``" nan "``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from monitor.core.numbers import scale_decimal

Step = str | int
JsonPath = tuple[Step, ...]
ValueType = Literal["number", "text"]
TimestampFormat = Literal["iso8601", "epoch_s", "epoch_ms"]

MAX_TEXT_CHARS = 1024
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_NON_FINITE = frozenset(
    f"{sign}{word}" for sign in ("", "+", "-") for word in ("nan", "inf", "infinity")
)
_UNSET: Any = object()
_NAME = re.compile(r"[^.\[\]]+")
_INDEX = re.compile(r"\[(\d{1,9})\]")


class PayloadError(Exception):
    """A payload that cannot give a value. ``kind`` is a short counter name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class DeviceFault(PayloadError):
    """The device reports that it has no value (NaN, Infinity, null)."""


def excerpt(value: object, limit: int = 40) -> str:
    """A short quotable form of a bad value, for logs and reading details."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:limit] + "...") if len(text) > limit else repr(text)


# --- field paths ---------------------------------------------------------------------------


def parse_path(text: str) -> JsonPath:
    """``DS18B20.Temperature`` -> ("DS18B20", "Temperature"); ``sensors[0].value`` ->
    ("sensors", 0, "value"); ``[2]`` -> (2,). Raise ValueError saying what is wrong."""
    if not text:
        raise ValueError("a field path must not be empty")
    steps: list[Step] = []
    pos = 0
    need_name = False  # right after a '.'
    while pos < len(text):
        char = text[pos]
        if char == ".":
            if not steps or need_name:
                raise ValueError(f"field path '{text}': empty name before '.' at {pos}")
            need_name = True
            pos += 1
        elif char == "[":
            index = _INDEX.match(text, pos)
            if index is None:
                raise ValueError(
                    f"field path '{text}': '[' at {pos} must enclose an index, e.g. [0]"
                )
            if need_name:
                raise ValueError(f"field path '{text}': a name must follow '.' at {pos - 1}")
            steps.append(int(index.group(1)))
            pos = index.end()
        elif char == "]":
            raise ValueError(f"field path '{text}': unmatched ']' at {pos}")
        else:
            name = _NAME.match(text, pos)
            assert name is not None  # any other character starts a name
            if steps and not need_name:
                raise ValueError(f"field path '{text}': '.' missing before '{name.group()}'")
            steps.append(name.group())
            need_name = False
            pos = name.end()
    if need_name:
        raise ValueError(f"field path '{text}' must not end with '.'")
    return tuple(steps)


def extract(doc: Any, path: JsonPath, path_text: str) -> Any:
    """The value at ``path`` in a decoded JSON document."""
    node = doc
    for step in path:
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise PayloadError(
                    "missing_field", f"field '{path_text}' missing: no object holds '{step}'"
                )
            if step not in node:
                raise PayloadError("missing_field", f"field '{path_text}' missing")
            node = node[step]
        else:
            if not isinstance(node, list) or step >= len(node):
                raise PayloadError(
                    "missing_field", f"field '{path_text}' missing: no list item [{step}]"
                )
            node = node[step]
    return node


# --- values --------------------------------------------------------------------------------


def parse_number(text: str) -> float:
    """A finite float from decimal text; DeviceFault for NaN/Infinity words."""
    token = text.strip()
    if _NUMBER.fullmatch(token):
        value = float(token)
        if not math.isfinite(value):
            raise PayloadError("not_a_number", f"number {excerpt(token)} is out of range")
        return value
    if token.lower() in _NON_FINITE:
        raise DeviceFault("non_finite", f"device reported {token}")
    raise PayloadError("not_a_number", f"not a number: {excerpt(token)}")


def to_number(raw: Any, mapping: Mapping[str, float] | None = None) -> float:
    """A finite float from a decoded JSON scalar or a text payload."""
    if mapping is not None:
        key = ("true" if raw else "false") if isinstance(raw, bool) else raw
        if isinstance(key, str):
            mapped = mapping.get(key.strip())
            if mapped is not None:
                return mapped
            if not _NUMBER.fullmatch(key.strip()):
                raise PayloadError(
                    "unmapped", f"{excerpt(key)} is not one of {', '.join(sorted(mapping))}"
                )
    if raw is None:
        raise DeviceFault("null", "device reported null")
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int):
        try:
            return float(raw)
        except OverflowError:
            raise PayloadError("not_a_number", f"number {excerpt(raw)} is out of range") from None
    if isinstance(raw, float):
        if math.isnan(raw) or math.isinf(raw):
            raise DeviceFault("non_finite", f"device reported {raw}")
        return raw
    if isinstance(raw, str):
        return parse_number(raw)
    what = "an object" if isinstance(raw, dict) else "a list" if isinstance(raw, list) else "?"
    raise PayloadError("not_a_number", f"{what} where a number belongs: {excerpt(raw)}")


def to_text(raw: Any) -> str:
    if raw is None:
        raise DeviceFault("null", "device reported null")
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, bool | int | float):
        text = json.dumps(raw)
    else:
        raise PayloadError("not_text", f"{excerpt(raw)} where text belongs")
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadError(
            "text_too_long", f"text of {len(text)} characters (max {MAX_TEXT_CHARS})"
        )
    return text


# --- timestamps ----------------------------------------------------------------------------


def parse_timestamp(raw: Any, fmt: TimestampFormat, zone: tzinfo | None = None) -> datetime:
    """A timezone-aware UTC datetime from a payload field; PayloadError when it is not one."""
    if fmt == "iso8601":
        if not isinstance(raw, str):
            raise PayloadError("bad_timestamp", f"timestamp {excerpt(raw)} is not ISO 8601 text")
        try:
            ts = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise PayloadError(
                "bad_timestamp", f"timestamp {excerpt(raw)} is not ISO 8601"
            ) from None
        if ts.tzinfo is None:
            if zone is None:
                raise PayloadError(
                    "bad_timestamp",
                    f"timestamp {excerpt(raw)} has no UTC offset (set timestamp_timezone)",
                )
            ts = ts.replace(tzinfo=zone)
        try:
            return ts.astimezone(UTC)
        except (OverflowError, ValueError):
            raise PayloadError(
                "bad_timestamp", f"timestamp {excerpt(raw)} is out of range"
            ) from None
    seconds = _epoch_number(raw)
    if fmt == "epoch_ms":
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError("bad_timestamp", f"timestamp {excerpt(raw)} is out of range") from None


def _epoch_number(raw: Any) -> float:
    if isinstance(raw, bool) or raw is None:
        raise PayloadError("bad_timestamp", f"timestamp {excerpt(raw)} is not a number")
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            value = math.inf
    elif isinstance(raw, str):
        try:
            value = parse_number(raw)
        except PayloadError:
            raise PayloadError(
                "bad_timestamp", f"timestamp {excerpt(raw)} is not a number"
            ) from None
    else:
        raise PayloadError("bad_timestamp", f"timestamp {excerpt(raw)} is not a number")
    if not math.isfinite(value):
        raise PayloadError("bad_timestamp", f"timestamp {excerpt(raw)} is out of range")
    return value


# --- one message ---------------------------------------------------------------------------


class Payload:
    """One message's bytes, decoded at most once as text and once as JSON, however many
    channels read it."""

    __slots__ = ("_doc", "_error", "_text", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._text: str | None = None
        self._doc: Any = _UNSET
        self._error: PayloadError | None = None

    def text(self) -> str:
        if self._text is None:
            try:
                self._text = self.raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise PayloadError("not_utf8", "payload is not UTF-8 text") from None
        if not self._text:
            raise PayloadError("empty", "empty payload")
        return self._text

    def json(self) -> Any:
        if self._error is not None:
            raise PayloadError(self._error.kind, str(self._error))
        if self._doc is _UNSET:
            try:
                self._doc = _decode_json(self.raw)
            except PayloadError as exc:
                self._error = exc
                raise
        return self._doc


def _decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise PayloadError("empty", "empty payload")
    try:
        return json.loads(raw)
    except RecursionError:
        raise PayloadError("invalid_json", "invalid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise PayloadError("not_utf8", "payload is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, or an integer with too many digits
        raise PayloadError("invalid_json", f"invalid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Extractor:
    """How one channel (or one mapped subscription) gets its value out of a payload."""

    field: str | None = None
    type: ValueType = "number"
    scale: float = 1.0
    offset: float = 0.0
    mapping: Mapping[str, float] | None = None
    timestamp_field: str | None = None
    timestamp_format: TimestampFormat = "iso8601"
    timestamp_zone: tzinfo | None = None
    path: JsonPath | None = None
    timestamp_path: JsonPath | None = None

    @staticmethod
    def build(
        field: str | None = None,
        type: ValueType = "number",
        scale: float = 1.0,
        offset: float = 0.0,
        mapping: Mapping[str, float] | None = None,
        timestamp_field: str | None = None,
        timestamp_format: TimestampFormat = "iso8601",
        timestamp_zone: tzinfo | None = None,
    ) -> Extractor:
        return Extractor(
            field,
            type,
            scale,
            offset,
            dict(mapping) if mapping is not None else None,
            timestamp_field,
            timestamp_format,
            timestamp_zone,
            parse_path(field) if field else None,
            parse_path(timestamp_field) if timestamp_field else None,
        )

    @property
    def json(self) -> bool:
        return self.path is not None or self.timestamp_path is not None

    def timestamp(self, payload: Payload) -> datetime | None:
        """The device's own timestamp, when the channel has one."""
        if self.timestamp_path is None or self.timestamp_field is None:
            return None
        raw = extract(payload.json(), self.timestamp_path, self.timestamp_field)
        return parse_timestamp(raw, self.timestamp_format, self.timestamp_zone)

    def value(self, payload: Payload) -> float | str:
        if self.json:
            doc = payload.json()
            raw = doc if self.path is None else extract(doc, self.path, self.field or "")
        else:
            raw = payload.text()
        if self.type == "text":
            return to_text(raw)
        number = to_number(raw, self.mapping)
        if self.scale != 1.0 or self.offset != 0.0:
            number = scale_decimal(number, self.scale, self.offset)
            if not math.isfinite(number):
                raise PayloadError("not_a_number", "value out of range after scale and offset")
        return number
