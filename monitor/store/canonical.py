"""The canonical serialization of a batch and its hash: the links of the store's hash chain.

The hash chain (canonical serialization, format 1)
    ``hash = SHA-256(b"coldwatch-batch-v1\\n" || prev_hash || header || R || E)`` in lower-case
    hex. ``prev_hash`` is the previous batch's hash as 64 ASCII hex digits (64 zeros before
    batch 1; after a retention purge, the purge's anchor). Integers are little-endian signed
    64-bit (``i64``), reals little-endian IEEE-754 doubles (``f64``).

    * ``header`` = 8 i64: seq, committed_at (µs), readings count, first reading id, last reading
      id, events count, first event id, last event id (0 for the ids of an empty part).
    * ``R`` (empty without readings) = i64[ts µs] || i64[flags] || text(channel) ||
      text(quality) || opttext(detail) || val(value), each over the batch's readings in id order.
    * ``E`` (empty without events) = i64[ts µs] || text(kind) || text(source) || text(message) ||
      text(data) || opttext(person), over its events in id order; ``data`` is the stored JSON.
    * ``text(xs)`` = 0x00 || UTF-8 of the values each followed by a NUL, when none contains a
      NUL; otherwise 0x01 || i64[length of each in code points] || i64[byte length] || UTF-8 of
      their concatenation.
    * ``opttext(xs)`` = one byte per value (1 NULL, 0 not) || text(the non-NULL values).
    * ``val(xs)`` = one tag byte per value (``n`` NULL, ``f`` REAL, ``i`` INTEGER, ``s`` TEXT)
      || f64[the REALs] || i64[the INTEGERs] || text(the TEXTs).

    Row ids and batch numbers are not repeated per row: the k-th reading of a batch must have
    id ``first + k`` and ``batch = seq``, which :meth:`SQLiteStore.verify` checks, and the header
    (hashed) carries ``first``; so a swapped, moved or renumbered row is detected. Everything
    hashed is a stored column value, so verify rebuilds the same bytes from the rows.

    The form is columnar because building it takes a few C-level passes per batch (``join``,
    ``struct.pack``, ``bytes.translate``) rather than Python work per row: that keeps
    ``append`` close to a bare ``executemany`` (``bench/bench_store.py``).

This module only builds bytes and hashes; :mod:`monitor.store.chain` walks the stored chain
and :mod:`monitor.store.sqlite` writes it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import is_
from typing import Any, Final, cast

from monitor.core.model import Event, Quality, Reading

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND: Final = timedelta(microseconds=1)
GENESIS_HASH: Final = "0" * 64
HASH_FORMAT: Final = 1

_HASH_PREFIX: Final = b"coldwatch-batch-v1\n"
_HEADER: Final = struct.Struct("<8q")

_QUALITY_TEXT: Final[dict[Quality, str]] = {q: q.value for q in Quality}

_NUL: Final = "\x00"
_TEXT_JOINED: Final = b"\x00"  # text(): each value followed by a NUL
_TEXT_LENGTHS: Final = b"\x01"  # text(): lengths, then the concatenation

_TAG_NULL, _TAG_REAL, _TAG_INTEGER, _TAG_TEXT = b"n", b"f", b"i", b"s"
_VALUE_TAGS: Final[dict[type, int]] = {
    type(None): _TAG_NULL[0],
    float: _TAG_REAL[0],
    int: _TAG_INTEGER[0],
    str: _TAG_TEXT[0],
}
_ONLY_REAL: Final = frozenset({float})
_REAL_OR_NULL: Final = frozenset({float, type(None)})


def _translation(mapping: dict[int, int]) -> bytes:
    """A ``bytes.translate`` table: the given bytes mapped, every other byte to 0."""
    table = bytearray(256)
    for source, target in mapping.items():
        table[source] = target
    return bytes(table)


_SELECT_REAL: Final = _translation({_TAG_REAL[0]: 1})
_SELECT_INTEGER: Final = _translation({_TAG_INTEGER[0]: 1})
_SELECT_TEXT: Final = _translation({_TAG_TEXT[0]: 1})
_NULL_MASK_TO_TAGS: Final = _translation({0: _TAG_REAL[0], 1: _TAG_NULL[0]})
_NOT: Final = _translation({0: 1})


# --- conversions -----------------------------------------------------------------------------


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime; exact."""
    try:
        return (ts - EPOCH) // ONE_MICROSECOND
    except TypeError:
        raise ValueError(f"not a timezone-aware datetime: {ts!r}") from None


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _i64(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def _f64(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _text(values: Sequence[str]) -> bytes:
    joined = _NUL.join(values)
    if values and joined.count(_NUL) == len(values) - 1:
        return _TEXT_JOINED + joined.encode("utf-8") + b"\x00"
    whole = "".join(values).encode("utf-8")
    lengths = [len(v) for v in values]
    return _TEXT_LENGTHS + _i64(lengths) + _i64((len(whole),)) + whole


_NO_TEXT: Final = _text(())
_NO_INTEGERS_NO_TEXT: Final = _i64(()) + _NO_TEXT


def _optional_text(values: Sequence[str | None]) -> bytes:
    count = len(values)
    nulls = values.count(None)
    if nulls == count:
        return b"\x01" * count + _NO_TEXT
    if nulls == 0:
        return bytes(count) + _text(cast("Sequence[str]", values))
    mask = bytes(map(is_, values, repeat(None)))
    return mask + _text(list(compress(values, mask.translate(_NOT))))  # type: ignore[arg-type]


def value_tags(values: Sequence[Any]) -> bytes:
    """One tag byte per value; KeyError for a type that SQLite would not give back as is."""
    kinds = set(map(type, values))
    if kinds == _ONLY_REAL:
        return _TAG_REAL * len(values)
    if kinds == _REAL_OR_NULL:
        return bytes(map(is_, values, repeat(None))).translate(_NULL_MASK_TO_TAGS)
    return bytes(map(_VALUE_TAGS.__getitem__, map(type, values)))


def _values(values: Sequence[Any], tags: bytes) -> bytes:
    count = len(values)
    reals_count = tags.count(_TAG_REAL)
    if reals_count == count:
        reals: Sequence[float] = values
        rest = _NO_INTEGERS_NO_TEXT
    elif reals_count + tags.count(_TAG_NULL) == count:
        reals = [v for v in values if v is not None]
        rest = _NO_INTEGERS_NO_TEXT
    else:
        reals = list(compress(values, tags.translate(_SELECT_REAL)))
        integers = list(compress(values, tags.translate(_SELECT_INTEGER)))
        texts = list(compress(values, tags.translate(_SELECT_TEXT)))
        rest = _i64(integers) + _text(texts)
    total = sum(reals)
    if total != total and any(v != v for v in reals):  # NaN (or inf - inf: then look closer)
        raise ValueError("a reading value is NaN, which SQLite cannot store (use a bad quality)")
    return tags + _f64(reals) + rest


def _normalized_value(value: Any) -> float | int | str | None:
    """What SQLite gives back for a value of an unusual type (bool, a float or str subclass)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise ValueError(f"reading value {value!r}: a number or a string was expected")


def readings_bytes(
    ts: Sequence[int],
    flags: Sequence[int],
    channels: Sequence[str],
    qualities: Sequence[str],
    details: Sequence[str | None],
    values: Sequence[Any],
    tags: bytes,
) -> bytes:
    """``R`` of the canonical serialization (see the module docstring)."""
    count = len(ts)
    return b"".join(
        (
            _i64(ts),
            bytes(8 * count) if flags.count(0) == count else _i64(flags),
            _text(channels),
            _text(qualities),
            _optional_text(details),
            _values(values, tags),
        )
    )


def events_bytes(
    ts: Sequence[int],
    kinds: Sequence[str],
    sources: Sequence[str],
    messages: Sequence[str],
    data: Sequence[str],
    persons: Sequence[str | None],
) -> bytes:
    """``E`` of the canonical serialization (see the module docstring)."""
    return b"".join(
        (
            _i64(ts),
            _text(kinds),
            _text(sources),
            _text(messages),
            _text(data),
            _optional_text(persons),
        )
    )


def batch_hash(prev_hash: str, header: tuple[int, ...], readings: bytes, events: bytes) -> str:
    digest = hashlib.sha256(_HASH_PREFIX)
    digest.update(prev_hash.encode("ascii"))
    digest.update(_HEADER.pack(*header))
    digest.update(readings)
    digest.update(events)
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    """Event data as stored: sorted keys, no spaces, UTF-8; non-JSON values as their str()."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


ENCODING_ERRORS: Final = (TypeError, ValueError, KeyError, OverflowError, struct.error)


@dataclass(slots=True)
class ReadingColumns:
    """A batch of readings as the columns that are bound, and their canonical bytes."""

    ts: list[int]
    channels: list[str]
    values: list[Any]
    qualities: list[str]
    flags: list[int]
    details: list[str | None]
    hashed: bytes

    @staticmethod
    def of(readings: Sequence[Reading]) -> ReadingColumns:
        try:
            ts = [(r.ts - EPOCH) // ONE_MICROSECOND for r in readings]
        except TypeError:
            bad = next((r.channel for r in readings if not _is_aware(r.ts)), "?")
            raise ValueError(f"reading of {bad}: ts must be a timezone-aware datetime") from None
        channels = [r.channel for r in readings]
        values = [r.value for r in readings]
        try:
            qualities = [_QUALITY_TEXT[r.quality] for r in readings]
        except KeyError as exc:
            raise ValueError(f"not a Quality: {exc.args[0]!r}") from None
        flags = [r.flags for r in readings]
        details = [r.detail for r in readings]
        try:
            tags = value_tags(values)
        except KeyError:
            values = [_normalized_value(v) for v in values]
            tags = value_tags(values)
        try:
            hashed = readings_bytes(ts, flags, channels, qualities, details, values, tags)
        except ENCODING_ERRORS as exc:
            raise ValueError(f"a reading cannot be stored as it is: {exc}") from None
        return ReadingColumns(ts, channels, values, qualities, flags, details, hashed)


def _is_aware(ts: Any) -> bool:
    return isinstance(ts, datetime) and ts.utcoffset() is not None


@dataclass(slots=True)
class EventColumns:
    ts: list[int]
    kinds: list[str]
    sources: list[str]
    messages: list[str]
    data: list[str]
    persons: list[str | None]
    hashed: bytes = b""

    @staticmethod
    def of(events: Sequence[Event]) -> EventColumns:
        columns = EventColumns([], [], [], [], [], [])
        for event in events:
            if not _is_aware(event.ts):
                raise ValueError(f"event {event.kind}: ts must be a timezone-aware datetime")
            columns.ts.append(to_us(event.ts))
            columns.kinds.append(str(event.kind))
            columns.sources.append(str(event.source))
            columns.messages.append(str(event.message))
            try:
                columns.data.append(canonical_json(event.data))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"event {event.kind}: data is not JSON: {exc}") from None
            columns.persons.append(None if event.person is None else str(event.person))
        try:
            columns.hashed = events_bytes(
                columns.ts,
                columns.kinds,
                columns.sources,
                columns.messages,
                columns.data,
                columns.persons,
            )
        except ENCODING_ERRORS as exc:
            raise ValueError(f"an event cannot be stored as it is: {exc}") from None
        return columns
