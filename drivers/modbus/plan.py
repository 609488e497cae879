"""Grouping fields into as few Modbus requests as the device allows.

A *span* is what one field occupies (register kind, first address, count); a *request* covers
one or more spans of the same kind. Fields that share a span (bits of one status word) are read
once. Spans are merged when they overlap, touch, or leave a hole of at most ``gap`` unread
addresses, as long as the request stays within the device's per-request limit; a field too long
for the limit still gets a request of its own (``ModbusDriver.check`` reports it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.modbus.config import BIT_KINDS, ModbusPoint, RegisterKind


@dataclass(frozen=True, slots=True, order=True)
class Span:
    kind: RegisterKind
    address: int
    count: int

    @property
    def end(self) -> int:
        """One past the last address."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class Request:
    """One read on the wire and the distinct field spans it serves, in address order."""

    span: Span
    parts: tuple[Span, ...]

    def slice_of(self, part: Span) -> slice:
        start = part.address - self.span.address
        return slice(start, start + part.count)


def span_of(point: ModbusPoint) -> Span:
    return Span(point.kind, point.address, point.count)


def plan_requests(
    points: Iterable[ModbusPoint],
    *,
    max_registers: int,
    max_bits: int,
    gap: int = 0,
    one_per_field: bool = False,
) -> list[Request]:
    """Requests covering every point, kind by kind in address order."""
    spans = sorted({span_of(p) for p in points})
    requests: list[Request] = []
    current: list[Span] = []
    for span in spans:
        if current and _fits(current, span, max_registers, max_bits, gap, one_per_field):
            current.append(span)
            continue
        if current:
            requests.append(_request(current))
        current = [span]
    if current:
        requests.append(_request(current))
    return requests


def split(request: Request) -> list[Request]:
    """One request per field span: the fallback when a merged request is refused."""
    return [Request(part, (part,)) for part in request.parts]


def _fits(
    current: list[Span],
    span: Span,
    max_registers: int,
    max_bits: int,
    gap: int,
    one_per_field: bool,
) -> bool:
    first = current[0]
    if span.kind != first.kind or one_per_field:
        return False
    end = max(s.end for s in current)
    if span.address > end + gap:
        return False
    limit = max_bits if first.kind in BIT_KINDS else max_registers
    return max(end, span.end) - first.address <= limit


def _request(spans: list[Span]) -> Request:
    first = spans[0]
    end = max(s.end for s in spans)
    return Request(Span(first.kind, first.address, end - first.address), tuple(spans))
