"""The Modbus driver against a real pymodbus server on 127.0.0.1 (TCP, and RTU/ASCII framing
over ``socket://``, as through a serial-to-Ethernet gateway); at the end, without a server, how
an answer is checked against its request."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from drivers.base import DriverContext, DriverError, Point
from drivers.modbus.config import ModbusPoint, ModbusSettings
from drivers.modbus.driver import Answer, Failed, ModbusDriver, Refused, _check
from drivers.modbus.plan import Span
from monitor.core.clock import SystemClock
from monitor.core.model import Quality, Reading
from tests.support.modbus_server import Unit, at, encode, modbus_server
from tests.support.ports import ClosedPorts, free_port

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
VALUES: dict[str, float] = {
    "int16": -12345,
    "uint16": 54321,
    "int32": -123456789,
    "uint32": 3_123_456_789,
    "int64": -1_234_567_890_123_456,
    "uint64": 12_345_678_901_234_567_890,
    "float32": 465.66,
    "float64": -80.123456789,
}


def driver(
    settings: dict[str, Any],
    sources: dict[str, dict[str, Any]],
    *,
    shared: dict[str, Any] | None = None,
    device_id: str = "dev",
) -> ModbusDriver:
    points = [Point(ch, ModbusPoint.model_validate(src)) for ch, src in sources.items()]
    context = DriverContext(SystemClock(), logging.getLogger("test.modbus"))
    if shared is not None:
        context.shared = shared
    return ModbusDriver(device_id, ModbusSettings.model_validate(settings), points, context)


def tcp(port: int, **kw: Any) -> dict[str, Any]:
    return {"transport": "tcp", "host": "127.0.0.1", "port": port, "request_timeout": 1, **kw}


def serial(url: str, framing: str = "rtu", **kw: Any) -> dict[str, Any]:
    return {"transport": framing, "serial_port": url, "request_timeout": 1, **kw}


def hr(address: int, data_type: str, **kw: Any) -> dict[str, Any]:
    return {"register": "holding", "address": address, "type": data_type, **kw}


async def read_once(drv: ModbusDriver) -> dict[str, Reading]:
    try:
        await drv.connect()
        return {r.channel: r for r in await drv.read(TS)}
    finally:
        await drv.close()


def good(readings: dict[str, Reading]) -> dict[str, float | str | None]:
    assert all(r.quality is Quality.GOOD for r in readings.values()), readings
    assert all(r.ts == TS for r in readings.values())
    return {ch: r.value for ch, r in readings.items()}


# --- values ------------------------------------------------------------------------------


async def test_every_type_and_byte_order(port: int) -> None:
    image: dict[int, int] = {}
    sources: dict[str, dict[str, Any]] = {}
    address = 0
    for data_type, value in VALUES.items():
        for order in ORDERS:
            regs = encode(value, data_type, order)
            image |= at(address, regs)
            sources[f"x.{data_type}_{order}"] = hr(address, data_type, byte_order=order)
            address += len(regs) + 1  # a hole between fields: separate requests
    image |= at(200, encode("TSX60086 rev B  ", "string")) | at(
        210, encode("ABCDEF", "string", "BADC")
    )
    sources["x.label"] = hr(200, "string", length=8)
    sources["x.label_swapped"] = hr(210, "string", length=3, byte_order="BADC")
    sources["x.scaled"] = hr(0, "int16", scale=0.5, offset=-10)

    async with modbus_server(port, Unit(holding=image)) as server:
        values = good(await read_once(driver(tcp(port), sources)))
    for data_type, value in VALUES.items():
        for order in ORDERS:
            got = values[f"x.{data_type}_{order}"]
            assert got == float(value)  # exact: FLOAT32 as its shortest decimal
    assert values["x.label"] == "TSX60086 rev B"
    assert values["x.label_swapped"] == "ABCDEF"
    assert values["x.scaled"] == -12345 * 0.5 - 10
    assert len(server.requests) == len(VALUES) * len(ORDERS) + 2  # the shared one is merged


async def test_thermo_tsx_map_over_modbus_ascii() -> None:
    """TSX: INT32 /10 set points and cabinet probe, status bits; ASCII 7E1, unit 0x19."""
    port = free_port()
    unit = Unit(
        holding={
            **at(0x530, [0xFFFF, 0xFCE0]),  # cabinet set point -80.0
            **at(0x538, encode(-700, "int32")),  # warm alarm set point
            **at(0x540, encode(-794, "int32")),  # cabinet probe (simulator's own register)
            **at(0x4CC, encode(-79.25, "float32")),  # TC2
            **at(0x671, [1 << 1]),  # power failure
            **at(0x674, [1 << 9]),  # door 1 open, door 2 closed
        }
    )
    sources = {
        "f.setpoint": hr(0x530, "int32", scale=0.1),
        "f.warm_alarm": hr(0x538, "int32", scale=0.1),
        "f.cabinet_temp": hr(0x540, "int32", scale=0.1),
        "f.tc2": hr(0x4CC, "float32"),
        "f.power_failure": hr(0x671, "uint16", bit=1),
        "f.power_ok": hr(0x671, "uint16", bit=1, scale=-1, offset=1),
        "f.door1": hr(0x674, "uint16", bit=9),
        "f.door2": hr(0x674, "uint16", bit=10),
    }
    settings = serial("", "ascii", bytesize=7, parity="E", unit=0x19)
    async with modbus_server(port, {0x19: unit}, framing="ascii") as server:
        settings["serial_port"] = server.url
        values = good(await read_once(driver(settings, sources)))
    assert values == {
        "f.setpoint": -80.0,
        "f.warm_alarm": -70.0,
        "f.cabinet_temp": -79.4,
        "f.tc2": -79.25,
        "f.power_failure": 1.0,
        "f.power_ok": 0.0,
        "f.door1": 1.0,
        "f.door2": 0.0,
    }
    # the two status bits of each word cost one request each
    assert sorted((r.address, r.count) for r in server.requests) == [
        (0x4CC, 2),
        (0x530, 2),
        (0x538, 2),
        (0x540, 2),
        (0x671, 1),
        (0x674, 1),
    ]


async def test_vaisala_map_over_modbus_rtu_and_nan_is_a_sensor_fault(port: int) -> None:
    unit = Unit(
        holding={
            **at(0x0000, [0xD47A, 0x43E8]),  # CO2 465.66 ppm, CDAB
            **at(0x0100, [466]),
            **at(0x0800, [0, 0]),
        }
    )
    sources = {
        "i.co2_ppm": hr(0x0000, "float32", byte_order="CDAB"),
        "i.co2_pct": hr(0x0000, "float32", byte_order="CDAB", scale=1e-4),
        "i.co2_int": hr(0x0100, "int16"),
        "i.status": hr(0x0800, "uint16"),
        "i.co2_status": hr(0x0801, "uint16"),
    }
    async with modbus_server(port, {240: unit}, framing="rtu") as server:
        drv = driver(serial(server.url, unit=240, stopbits=2), sources)
        values = good(await read_once(drv))
        assert values["i.co2_ppm"] == 465.65997  # the manual rounds it to 465.66
        assert values["i.co2_pct"] == 0.046565997
        assert (values["i.co2_int"], values["i.status"], values["i.co2_status"]) == (466, 0, 0)

        await server.write(240, "holding", 0x0000, encode(math.nan, "float32", "CDAB"))
        await server.write(240, "holding", 0x0801, [256])  # not ready
        readings = await read_once(drv)
    for ch in ("i.co2_ppm", "i.co2_pct"):
        assert readings[ch].quality is Quality.SENSOR_FAULT and readings[ch].value is None
        assert "nan" in (readings[ch].detail or "")
    assert readings["i.co2_int"].value == 466 and readings["i.co2_status"].value == 256
    assert [(r.address, r.count) for r in server.requests[:3]] == [(0, 2), (0x100, 1), (0x800, 2)]


async def test_coils_and_discrete_inputs(port: int) -> None:
    unit = Unit(
        coils={0: True, 1: False, 2: True, 40: True},
        discrete={7: True, 8: False},
        input={5: 1234},
    )
    sources = {
        "d.fill_valve": {"register": "coil", "address": 0},
        "d.alarm_relay": {"register": "coil", "address": 1, "type": "bool"},
        "d.buzzer": {"register": "coil", "address": 2},
        "d.far": {"register": "coil", "address": 40},
        "d.lid_open": {"register": "discrete", "address": 7},
        "d.lid_closed": {"register": "discrete", "address": 7, "scale": -1, "offset": 1},
        "d.door": {"register": "discrete", "address": 8},
        "d.level": {"register": "input", "address": 5, "type": "uint16", "scale": 0.1},
    }
    async with modbus_server(port, unit) as server:
        values = good(await read_once(driver(tcp(port), sources)))
    assert values == {
        "d.fill_valve": 1.0,
        "d.alarm_relay": 0.0,
        "d.buzzer": 1.0,
        "d.far": 1.0,
        "d.lid_open": 1.0,
        "d.lid_closed": 0.0,
        "d.door": 0.0,
        "d.level": pytest.approx(123.4),
    }
    assert sorted((r.kind, r.address, r.count) for r in server.requests) == [
        ("coil", 0, 3),
        ("coil", 40, 1),
        ("discrete", 7, 2),
        ("input", 5, 1),
    ]


# --- requests ----------------------------------------------------------------------------


SIX = {f"m.f{i}": hr(0x10 + i, "int16") for i in range(6)}
SIX_IMAGE = at(0x10, [100, 101, 102, 103, 104, 105])


@pytest.mark.parametrize(
    ("workarounds", "expected"),
    [
        ({}, [(0x10, 6)]),
        ({"one_request_per_field": True}, [(0x10 + i, 1) for i in range(6)]),
        ({"max_registers_per_request": 4}, [(0x10, 4), (0x14, 2)]),
    ],
)
async def test_contiguous_fields_are_merged(
    port: int, workarounds: dict[str, Any], expected: list[tuple[int, int]]
) -> None:
    async with modbus_server(port, Unit(holding=SIX_IMAGE)) as server:
        values = good(await read_once(driver(tcp(port, **workarounds), SIX)))
    assert values == {f"m.f{i}": 100 + i for i in range(6)}
    assert [(r.address, r.count) for r in server.requests] == expected


async def test_an_exception_in_a_merged_block_fails_only_its_field(port: int) -> None:
    unit = Unit(holding=SIX_IMAGE, refuse={("holding", 0x13): 4})
    async with modbus_server(port, unit) as server:
        readings = await read_once(driver(tcp(port), SIX))
    bad = readings.pop("m.f3")
    assert bad.quality is Quality.COMM_ERROR and bad.value is None
    assert bad.detail == "modbus exception 4 (server device failure) at holding 0x0013+1"
    assert good(readings) == {f"m.f{i}": 100 + i for i in (0, 1, 2, 4, 5)}
    # one merged request, then one per field
    assert [(r.address, r.count) for r in server.requests] == [(0x10, 6)] + [
        (0x10 + i, 1) for i in range(6)
    ]


async def test_an_undefined_register_is_an_exception_for_that_field_only(port: int) -> None:
    sources = {"a.ok": hr(0, "uint16"), "a.missing": hr(50, "uint32"), "a.beyond": hr(2, "int16")}
    async with modbus_server(port, Unit(holding=at(0, [7, 8]))) as server:
        readings = await read_once(driver(tcp(port), sources))
    assert readings["a.ok"].value == 7
    for ch in ("a.missing", "a.beyond"):
        assert readings[ch].quality is Quality.COMM_ERROR
        assert "modbus exception 2 (illegal data address)" in (readings[ch].detail or "")
    assert len(server.requests) == 3


async def test_pause_between_requests(port: int) -> None:
    sources = {"p.a": hr(0, "uint16"), "p.b": hr(2, "uint16"), "p.c": hr(4, "uint16")}
    image = at(0, [1, 0, 2, 0, 3])
    async with modbus_server(port, Unit(holding=image)):
        drv = driver(tcp(port, pause_between_requests="150ms"), sources)
        await drv.connect()
        try:
            start = time.monotonic()
            good({r.channel: r for r in await drv.read(TS)})
            assert time.monotonic() - start >= 0.29  # two pauses between three requests
        finally:
            await drv.close()


# --- whole-device failures -----------------------------------------------------------------


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_no_server_is_a_driver_error(closed_port: ClosedPorts, framing: str) -> None:
    port = closed_port()
    settings = tcp(port) if framing == "tcp" else serial(f"socket://127.0.0.1:{port}")
    drv = driver(settings, {"x.t": hr(0, "int16")})
    with pytest.raises(DriverError, match=f"127.0.0.1:{port}"):
        await drv.connect()
    await drv.close()  # safe after a failed connect
    await drv.close()
    with pytest.raises(DriverError):
        await drv.read(TS)
    await drv.close()


@pytest.mark.parametrize("requests", [1, 3])
async def test_a_device_that_never_answers_is_a_driver_error_within_bounds(
    port: int, requests: int
) -> None:
    sources = {f"x.t{i}": hr(10 * i, "int16") for i in range(requests)}
    async with modbus_server(port, Unit(holding=at(0, [1]), silent=True)) as server:
        drv = driver(tcp(port, request_timeout=0.3), sources)
        await drv.connect()
        start = time.monotonic()
        with pytest.raises(DriverError, match=r"unit 1 on 127.0.0.1:\d+: no answer to holding"):
            await drv.read(TS)
        elapsed = time.monotonic() - start
        await drv.close()
    # the first silent request settles it: one timeout, however many requests
    assert 0.25 <= elapsed < 0.3 + 1.0
    assert len(server.requests) == 1


async def test_a_gateway_reporting_the_device_unreachable_is_a_driver_error(port: int) -> None:
    unit = Unit(holding=at(0, [1, 2]), refuse={("holding", 0): 11, ("holding", 1): 11})
    async with modbus_server(port, unit):
        drv = driver(tcp(port), {"x.a": hr(0, "uint16"), "x.b": hr(1, "uint16")})
        with pytest.raises(DriverError, match=r"modbus exception 11 \(gateway target"):
            await read_once(drv)


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_unanswered_requests_after_an_answer_fail_only_their_fields(
    port: int, framing: str
) -> None:
    sources = {
        "x.first": hr(0, "uint16"),
        "x.second": hr(10, "uint16"),
        "x.third": hr(20, "uint16"),
    }
    image = {0: 1, 10: 2, 20: 3}
    url = f"socket://127.0.0.1:{port}"
    settings = (
        tcp(port, request_timeout=0.3) if framing == "tcp" else serial(url, request_timeout=0.3)
    )
    for muted in (10, 20):
        unit = Unit(holding=image, mute=[("holding", muted)])
        async with modbus_server(port, unit, framing=framing):  # type: ignore[arg-type]
            readings = await read_once(driver(settings, sources))
        for ch, reading in readings.items():
            if sources[ch]["address"] == muted:
                assert reading.quality is Quality.COMM_ERROR
                assert reading.detail == f"no answer to holding {muted:#06x}+1 within 0.3 s"
            else:
                assert reading.value == image[int(sources[ch]["address"])]
    # a silent first request is a silent device
    async with modbus_server(port, Unit(holding=image, mute=[("holding", 0)]), framing=framing):  # type: ignore[arg-type]
        with pytest.raises(DriverError, match="no answer to holding 0x0000"):
            await read_once(driver(settings, sources))


async def test_a_late_answer_is_never_taken_for_the_same_units_next_field(port: int) -> None:
    """RTU frames carry no transaction id: the 'second' answer comes 0.15 s after its 0.3 s
    timeout, and 'third' (same function, same length) is slow too. Without a quiet line after
    the timeout, the late frame would arrive while 'third' waits and be read as its value."""
    image = {0: 1, 10: 2, 20: 3}
    unit = Unit(holding=image, late={("holding", 10): 0.45, ("holding", 20): 0.2})
    async with modbus_server(port, {7: unit}, framing="rtu") as server:
        sources = {
            "x.first": hr(0, "uint16"),
            "x.second": hr(10, "uint16"),
            "x.third": hr(20, "uint16"),
        }
        readings = await read_once(driver(serial(server.url, unit=7, request_timeout=0.3), sources))
    assert readings["x.first"].value == 1
    assert readings["x.second"].quality is Quality.COMM_ERROR
    assert (readings["x.third"].quality, readings["x.third"].value) == (Quality.GOOD, 3)


async def test_a_lost_connection_is_a_driver_error_and_the_driver_recovers(port: int) -> None:
    unit = Unit(holding=at(0, [42]))
    drv = driver(tcp(port), {"x.t": hr(0, "uint16")})
    try:
        async with modbus_server(port, unit):
            await drv.connect()
            assert good({r.channel: r for r in await drv.read(TS)}) == {"x.t": 42}
        await asyncio.sleep(0.05)  # the client sees the server close the connection
        with pytest.raises(DriverError):
            await drv.read(TS)
        async with modbus_server(port, unit):
            assert good({r.channel: r for r in await drv.read(TS)}) == {"x.t": 42}
    finally:
        await drv.close()


# --- connection handling -----------------------------------------------------------------


async def test_connect_and_close_are_idempotent(port: int) -> None:
    async with modbus_server(port, Unit(holding=at(0, [5]))) as server:
        drv = driver(tcp(port), {"x.t": hr(0, "uint16")})
        await drv.close()  # before any connect
        await drv.connect()
        await drv.connect()
        assert server.connections == 1
        for _ in range(3):
            assert good({r.channel: r for r in await drv.read(TS)}) == {"x.t": 5}
        assert server.connections == 1
        await drv.close()
        await drv.close()
        assert good({r.channel: r for r in await drv.read(TS)}) == {"x.t": 5}  # reconnects
        assert server.connections == 2
        await drv.close()


async def test_close_after_poll(port: int) -> None:
    async with modbus_server(port, Unit(holding=at(0, [5]))) as server:
        drv = driver(tcp(port, close_after_poll=True), {"x.t": hr(0, "uint16")})
        try:
            for _ in range(3):
                assert good({r.channel: r for r in await drv.read(TS)}) == {"x.t": 5}
        finally:
            await drv.close()
        assert server.connections == 3


# --- a shared RS-485 bus -------------------------------------------------------------------


async def test_units_on_one_bus_share_one_client_and_a_dead_unit_does_not_stall_the_others(
    port: int,
) -> None:
    units = {
        1: Unit(holding=at(0, encode(-80.5, "float32"))),
        2: Unit(holding=at(0, encode(-79.5, "float32")), silent=True),  # dead
        3: Unit(holding=at(0, encode(-78.5, "float32"))),
    }
    shared: dict[str, Any] = {}
    async with modbus_server(port, units, framing="rtu") as server:
        drivers = [
            driver(
                serial(server.url, unit=u, request_timeout=0.4),
                {f"f{u}.t": hr(0, "float32")},
                shared=shared,
                device_id=f"f{u}",
            )
            for u in units
        ]
        for drv in drivers:
            await drv.connect()
        start = time.monotonic()
        results = await asyncio.gather(*(d.read(TS) for d in drivers), return_exceptions=True)
        elapsed = time.monotonic() - start
        for drv in drivers:
            await drv.close()
    assert len({r.connection for r in server.requests}) == 1  # one client for the port
    assert len(shared) == 1
    ok1, dead, ok3 = results
    assert isinstance(dead, DriverError) and "unit 2" in str(dead)
    assert isinstance(ok1, list) and ok1[0].value == -80.5
    assert isinstance(ok3, list) and ok3[0].value == -78.5
    # one request per unit, one unit at a time: the dead one costs only its own timeout
    assert sorted(r.unit for r in server.requests) == [1, 2, 3]
    assert elapsed < 0.4 + 1.0


async def test_a_late_answer_is_never_taken_for_the_next_units(port: int) -> None:
    """Unit 1 answers after its timeout, while unit 2's request is outstanding: the late frame
    (same function, address and length, other data) must be skipped, not read as unit 2's."""
    units = {
        1: Unit(holding=at(0, [1111]), delay=0.5),  # answers 0.2 s after its 0.3 s timeout
        2: Unit(holding=at(0, [2222]), delay=0.4),  # answers at 0.7 s, in its 1.0 s window
    }
    shared: dict[str, Any] = {}
    async with modbus_server(port, units, framing="rtu") as server:
        slow = driver(
            serial(server.url, unit=1, request_timeout=0.3),
            {"s.t": hr(0, "uint16")},
            shared=shared,
            device_id="slow",
        )
        fast = driver(
            serial(server.url, unit=2, request_timeout=1.0),
            {"f.t": hr(0, "uint16")},
            shared=shared,
            device_id="fast",
        )
        try:
            await slow.connect()
            await fast.connect()
            with pytest.raises(DriverError, match="unit 1"):
                await slow.read(TS)
            readings = await fast.read(TS)
            assert [(r.quality, r.value) for r in readings] == [(Quality.GOOD, 2222)]
            await asyncio.sleep(0.3)  # a poll of unit 1 after its late answer: clean again
            units[1].delay = 0.0
            assert [r.value for r in await slow.read(TS)] == [1111]
            assert [r.value for r in await fast.read(TS)] == [2222]
        finally:
            await slow.close()
            await fast.close()


async def test_units_on_one_port_must_agree_on_the_line_settings(port: int) -> None:
    shared: dict[str, Any] = {}
    url = f"socket://127.0.0.1:{port}"
    async with modbus_server(
        port, {1: Unit(holding=at(0, [1])), 2: Unit(holding=at(0, [2]))}, framing="rtu"
    ):
        a = driver(serial(url, unit=1), {"a.t": hr(0, "uint16")}, shared=shared, device_id="a")
        b = driver(
            serial(url, unit=2, baudrate=9600),
            {"b.t": hr(0, "uint16")},
            shared=shared,
            device_id="b",
        )
        try:
            await a.connect()
            with pytest.raises(DriverError, match="same framing, baudrate"):
                await b.connect()
            assert [r.value for r in await a.read(TS)] == [1]
        finally:
            await a.close()
            await b.close()


async def test_the_last_unit_to_close_closes_the_port_and_close_after_poll_reopens(
    port: int,
) -> None:
    shared: dict[str, Any] = {}
    units = {1: Unit(holding=at(0, [1])), 2: Unit(holding=at(0, [2]))}
    async with modbus_server(port, units, framing="rtu") as server:
        a = driver(
            serial(server.url, unit=1, close_after_poll=True),
            {"a.t": hr(0, "uint16")},
            shared=shared,
            device_id="a",
        )
        b = driver(
            serial(server.url, unit=2), {"b.t": hr(0, "uint16")}, shared=shared, device_id="b"
        )
        try:
            await a.connect()
            await b.connect()
            assert [r.value for r in await a.read(TS)] == [1]  # closes the port after its poll
            assert [r.value for r in await b.read(TS)] == [2]  # reopens it
            await a.close()
            assert [r.value for r in await b.read(TS)] == [2]  # b still uses it
            carried_by = [(r.unit, r.connection) for r in server.requests]
            assert carried_by[1][1] == carried_by[2][1] != carried_by[0][1]
        finally:
            await a.close()
            await b.close()
        (link,) = shared.values()
        assert link.client is None and not link.users


async def test_reading_never_raises_on_odd_values(port: int) -> None:
    """Any register content gives readings, never an exception out of read()."""
    sources = {
        "o.nan64": hr(0, "float64"),
        "o.inf": hr(4, "float32"),
        "o.text": hr(6, "string", length=2),
        "o.max": hr(8, "uint64", scale=1e300, offset=0),
    }
    image = at(0, encode(math.nan, "float64")) | at(4, encode(math.inf, "float32"))
    image |= at(6, [0xFFFE, 0x0041]) | at(8, [0xFFFF] * 4)
    async with modbus_server(port, Unit(holding=image)):
        readings = await read_once(driver(tcp(port), sources))
    assert readings["o.nan64"].quality is Quality.SENSOR_FAULT
    assert readings["o.inf"].quality is Quality.SENSOR_FAULT
    assert readings["o.text"].quality is Quality.GOOD and readings["o.text"].value == "\ufffd\ufffd"
    assert readings["o.max"].quality is Quality.COMM_ERROR
    assert "cannot decode uint64" in (readings["o.max"].detail or "")


# --- answers are checked against their request (no server) -------------------------------


def response(**kw: Any) -> Any:
    base: dict[str, Any] = {"dev_id": 5, "function_code": 3, "registers": [1, 2], "bits": []}
    base.update(kw)
    return SimpleNamespace(isError=lambda: base["function_code"] > 0x80, **base)


def test_answers_that_do_not_fit_the_request_are_not_used() -> None:
    span = Span("holding", 0, 2)
    assert _check(response(), span, 5, 3) == Answer([1, 2])
    wrong_unit = _check(response(dev_id=6), span, 5, 3)
    assert isinstance(wrong_unit, Failed) and "unit 6" in wrong_unit.detail
    assert isinstance(_check(response(registers=[1]), span, 5, 3), Failed)
    assert isinstance(_check(response(function_code=4), span, 5, 3), Failed)
    refused = _check(response(function_code=0x83, exception_code=2), span, 5, 3)
    assert refused == Refused(2) and refused.detail == "modbus exception 2 (illegal data address)"
    bits = _check(response(function_code=1, bits=[True] + [False] * 7), Span("coil", 0, 3), 5, 1)
    assert bits == Answer([True, False, False])
    assert isinstance(
        _check(response(function_code=1, bits=[True]), Span("coil", 0, 3), 5, 1), Failed
    )
    # unit 0 (broadcast on serial, "any" on many TCP devices): pymodbus skips the check too
    assert _check(response(dev_id=17), span, 0, 3) == Answer([1, 2])
