"""What a poll's answers say about each field: a request's outcome, checked against the request,
and the readings made from them.

The layout of fields over requests is worked out once per driver (:class:`Layout`): on every
poll each answer is sliced and decoded straight into its fields' readings, with no lookups.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from drivers.base import Point
from drivers.modbus.codec import SensorFault, decode_bits, make_decoder, make_field_reader
from drivers.modbus.config import BIT_KINDS, ModbusPoint
from drivers.modbus.plan import Request, Span, span_of
from monitor.core.model import Quality, Reading

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
#: Exception codes that speak for the whole device, not for the registers asked for.
GATEWAY_CODES = frozenset({10, 11})


@dataclass(slots=True)
class Answer:
    """A request's answer: its values, checked against the request."""

    values: Sequence[int] | Sequence[bool]
    # not frozen: one is built per request of every poll, and a frozen dataclass' __init__
    # costs twice a plain one's (nothing changes an answer once checked)


@dataclass(frozen=True, slots=True)
class Refused:
    """A Modbus exception response."""

    code: int

    @property
    def detail(self) -> str:
        name = EXCEPTION_NAMES.get(self.code, "unknown")
        return f"modbus exception {self.code} ({name})"


@dataclass(frozen=True, slots=True)
class Failed:
    """No usable answer: none in time, or one that does not fit the request."""

    detail: str
    silent: bool


Outcome = Answer | Refused | Failed
#: A request's outcome, or (a merged request refused and retried field by field) each part's.
RequestOutcome = Outcome | dict[Span, Outcome]


def check(response: Any, span: Span, unit: int, function: int) -> Outcome:
    """The answer's values if it is the answer to this request; why not otherwise."""
    dev_id = getattr(response, "dev_id", None)
    if unit and dev_id != unit:
        return Failed(f"answer from unit {dev_id} to a request for unit {unit}", silent=False)
    code = getattr(response, "function_code", None)
    if response.isError():
        if code != function | 0x80:
            return Failed(f"exception answer for function {code}, asked {function}", False)
        return Refused(int(getattr(response, "exception_code", 0)))
    if code != function:
        return Failed(f"answer for function {code} to a function {function} request", False)
    if span.kind in BIT_KINDS:
        bits = list(response.bits)
        if len(bits) < span.count or len(bits) > span.count + 7:
            return Failed(f"asked {span.count} bits, got {len(bits)}", silent=False)
        return Answer(bits[: span.count])
    registers = list(response.registers)
    if len(registers) != span.count:
        return Failed(f"asked {span.count} registers, got {len(registers)}", silent=False)
    return Answer(registers)


def describe(span: Span) -> str:
    return f"{span.kind} {span.address:#06x}+{span.count}"


class Slot(NamedTuple):
    """One field within its request: where its reading goes, which part of the answer it is
    and how it is decoded."""

    position: int
    channel: str
    part: Span
    cut: slice
    decode: Callable[[Any], float | str]
    type: str
    octets: slice
    """The field's bytes within the whole answer packed big-endian."""
    read: Callable[[bytes], float | str] | None
    """The value from those bytes (as ``decode`` gives it), None if the field's byte order
    needs its registers."""


class Layout:
    """Each request of a device's plan with the fields it serves."""

    def __init__(self, requests: Sequence[Request], points: Sequence[Point[ModbusPoint]]) -> None:
        self.count = len(points)
        self.requests = tuple(
            (request, tuple(_slots(request, points)), _packer(request)) for request in requests
        )
        self._direct = _direct_plan(self.requests)

    def readings(self, outcomes: Sequence[RequestOutcome], ts: datetime) -> list[Reading]:
        """One reading per field, in the order of the points, from each request's outcome."""
        if self._direct is not None:
            try:
                return self._all_answered(self._direct, outcomes, ts)
            except Exception:  # a refusal, a failure, a bad value: the careful path says which
                pass  # (not contextlib.suppress: a with-block costs two calls)
        return self._field_by_field(outcomes, ts)

    def _all_answered(
        self,
        direct: _DirectPlan,
        outcomes: Sequence[RequestOutcome],
        ts: datetime,
    ) -> list[Reading]:
        """The usual poll, every request answered and every value sound, with nothing but
        the reads (half the work of the careful path); raises on anything else."""
        out: list[Reading | None] = [None] * self.count
        good = Quality.GOOD
        for (pack, fields), outcome in zip(direct, outcomes, strict=True):
            if outcome.__class__ is not Answer:
                raise _NotAnswered
            raw = pack(*outcome.values)
            for index, channel, octets, read in fields:
                out[index] = Reading(channel, ts, read(raw[octets]), good, 0)
        return out  # type: ignore[return-value]  # every index is filled: see __init__

    def _field_by_field(self, outcomes: Sequence[RequestOutcome], ts: datetime) -> list[Reading]:
        """Each field on its own: a refusal, a failure or a bad value fails that field only."""
        out: list[Reading | None] = [None] * self.count
        good = Quality.GOOD
        for (_, slots, pack), outcome in zip(self.requests, outcomes, strict=True):
            # a request retried field by field has an answer per part, each the part alone
            per_part = outcome.__class__ is dict
            # a register answer is packed once and each field read from its bytes; if a value
            # is not a 16-bit word, each field's decoder says which (as for a bit answer)
            raw = None
            if pack is not None and outcome.__class__ is Answer:
                try:
                    raw = pack(*outcome.values)
                except struct.error:
                    raw = None  # (not contextlib.suppress: a with-block costs two calls)
            for slot in slots:
                index, channel, part, cut, decode, _, octets, read = slot
                result = outcome[part] if per_part else outcome  # type: ignore[index]
                if result.__class__ is Answer:
                    try:
                        if raw is not None and read is not None:
                            value = read(raw[octets])
                        else:
                            value = decode(result.values if per_part else result.values[cut])
                    except Exception as exc:
                        out[index] = _undecodable(slot, exc, ts)
                    else:
                        out[index] = Reading(channel, ts, value, good, 0)
                else:
                    out[index] = _failed(slot, result, ts)  # type: ignore[arg-type]
        return out  # type: ignore[return-value]  # every index is filled: see __init__


class _NotAnswered(Exception):
    """A request of the poll has no answer: the careful path makes its fields' readings."""


#: A field read straight from its bytes: its position, channel, bytes and reader.
_Direct = tuple[int, str, slice, Callable[[bytes], float | str]]
_DirectPlan = tuple[tuple[Callable[..., bytes], tuple[_Direct, ...]], ...]


def _direct_plan(
    requests: Sequence[tuple[Request, tuple[Slot, ...], Callable[..., bytes] | None]],
) -> _DirectPlan | None:
    """Each request's packer and fields, if every field can be read from the answer's bytes
    (register requests in a byte order that keeps words whole: the usual plan)."""
    plan = []
    for _, slots, pack in requests:
        if pack is None:
            return None
        fields = []
        for slot in slots:
            if slot.read is None:
                return None
            fields.append((slot.position, slot.channel, slot.octets, slot.read))
        plan.append((pack, tuple(fields)))
    return tuple(plan)


def _packer(request: Request) -> Callable[..., bytes] | None:
    """Packs a register request's answer (``span.count`` words) into its bytes."""
    if request.span.kind in BIT_KINDS:
        return None
    return struct.Struct(f">{request.span.count}H").pack


def _slots(request: Request, points: Sequence[Point[ModbusPoint]]) -> list[Slot]:
    slots = []
    for index, point in enumerate(points):
        span = span_of(point.settings)
        if span in request.parts:
            cut = request.slice_of(span)
            bits = point.settings.kind in BIT_KINDS
            slots.append(
                Slot(
                    index,
                    point.channel,
                    span,
                    cut,
                    _decoder(point.settings),
                    point.settings.type,
                    slice(2 * cut.start, 2 * cut.stop),
                    None if bits else make_field_reader(point.settings),
                )
            )
    return slots


def _decoder(point: ModbusPoint) -> Callable[[Any], float | str]:
    if point.kind in BIT_KINDS:
        return lambda bits: decode_bits([bool(b) for b in bits], point)
    return make_decoder(point)


def _undecodable(slot: Slot, exc: Exception, ts: datetime) -> Reading:
    if isinstance(exc, SensorFault):
        return Reading.bad(slot.channel, ts, Quality.SENSOR_FAULT, str(exc))
    # DecodeError, and anything else a garbled field may raise
    return Reading.bad(slot.channel, ts, Quality.COMM_ERROR, f"cannot decode {slot.type}: {exc}")


def _failed(slot: Slot, outcome: Refused | Failed, ts: datetime) -> Reading:
    if isinstance(outcome, Refused):
        detail = f"{outcome.detail} at {describe(slot.part)}"
    else:
        detail = outcome.detail
    return Reading.bad(slot.channel, ts, Quality.COMM_ERROR, detail)
