"""Request planning (drivers/modbus/plan.py): contiguous fields make one request, shared registers
are read once, holes, kinds and limits split requests."""

from __future__ import annotations

from typing import Any

from drivers.modbus.config import ModbusPoint
from drivers.modbus.plan import Span, plan_requests, split
from tests.support.modbus_points import point


def plan(points: list[ModbusPoint], **kw: Any) -> list[tuple[str, int, int]]:
    options = {"max_registers": 125, "max_bits": 2000, **kw}
    return [(r.span.kind, r.span.address, r.span.count) for r in plan_requests(points, **options)]


def test_contiguous_fields_make_one_request() -> None:
    six = [point(type="int16", address=a) for a in range(10, 16)]
    assert plan(six) == [("holding", 10, 6)]
    assert plan(six, one_per_field=True) == [("holding", a, 1) for a in range(10, 16)]
    assert plan(six, max_registers=4) == [("holding", 10, 4), ("holding", 14, 2)]


def test_fields_sharing_a_register_are_read_once() -> None:
    bits = [point(type="uint16", address=0x674, bit=b) for b in (9, 10, 11)]
    assert plan(bits) == [("holding", 0x674, 1)]
    assert plan(bits, one_per_field=True) == [("holding", 0x674, 1)]
    overlapping = [point(type="uint32", address=0), point(type="uint16", address=1)]
    (request,) = plan_requests(overlapping, max_registers=125, max_bits=2000)
    assert request.span == Span("holding", 0, 2)
    assert request.parts == (Span("holding", 0, 2), Span("holding", 1, 1))
    assert [r.span for r in split(request)] == list(request.parts)


def test_holes_kinds_and_limits() -> None:
    tsx = [point(type="uint16", address=0x671, bit=1), point(type="uint16", address=0x674, bit=9)]
    assert plan(tsx) == [("holding", 0x671, 1), ("holding", 0x674, 1)]
    assert plan(tsx, gap=2) == [("holding", 0x671, 4)]
    mixed = [
        point(type="int16", address=5),
        ModbusPoint.model_validate({"register": "input", "address": 5, "type": "int16"}),
        ModbusPoint.model_validate({"register": "coil", "address": 5}),
        ModbusPoint.model_validate({"register": "coil", "address": 6}),
        ModbusPoint.model_validate({"register": "coil", "address": 100}),
    ]
    assert plan(mixed) == [
        ("coil", 5, 2),
        ("coil", 100, 1),
        ("holding", 5, 1),
        ("input", 5, 1),
    ]
    assert plan(mixed[2:], max_bits=1) == [("coil", 5, 1), ("coil", 6, 1), ("coil", 100, 1)]
    long_string = [point(type="string", address=0, length=10)]
    assert plan(long_string, max_registers=4) == [("holding", 0, 10)]  # check() reports it
