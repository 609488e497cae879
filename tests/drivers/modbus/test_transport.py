"""A Modbus device that answers garbage (drivers/modbus/transport.py and driver.py): a plain
asyncio TCP server answers every request with bytes pymodbus cannot decode, beside a healthy
pymodbus server. No traceback reaches the log, one warning per device a minute, the answers
are counted, the device's readings are comm_error and the other device keeps being polled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.base import DriverContext, DriverError, Point
from drivers.modbus.config import ModbusPoint, ModbusSettings
from drivers.modbus.driver import ModbusDriver
from monitor.app.config import load
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event, Quality, Reading
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.pipeline import Pipeline
from tests.support.modbus_server import Unit, at, encode, modbus_server

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: Answers with a valid MBAP header: an unknown function code (0x63), a register answer whose
#: byte count promises more than it has, and a header that claims a frame of two bytes.
GARBAGE = (
    b"\x00\x00\x00\x03\x01\x63\x00",
    b"\x00\x00\x00\x05\x01\x03\x04\x00\x01",
    b"\x00\x00\x00\x02\x01\x03",
)


class Collector:
    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def on_reading(self, reading: Reading) -> None:
        self.readings.append(reading)

    def on_event(self, event: Event) -> None:
        pass

    def of(self, channel: str) -> list[Reading]:
        return [r for r in self.readings if r.channel == channel]


@pytest.fixture
async def garbage_server() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP server that answers each request (after its transaction id) with garbage;
    yields its port and the count of answers it sent."""
    answers = [0]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await reader.read(260):
                writer.write(request[:2] + GARBAGE[answers[0] % len(GARBAGE)])
                answers[0] += 1
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), answers
    finally:
        server.close()
        await server.wait_closed()


def device(id: str, port: int) -> dict[str, Any]:
    return {
        "id": id,
        "driver": "modbus",
        "interval": "200ms",
        "timeout": "150ms",
        "backoff": {"initial": "200ms", "max": "200ms"},
        "settings": {
            "transport": "tcp",
            "host": "127.0.0.1",
            "port": port,
            "request_timeout": "100ms",
        },
    }


def temperature(id: str, dev: str) -> dict[str, Any]:
    return {
        "id": id,
        "quantity": "temperature",
        "unit": "C",
        "source": {"device": dev, "register": "holding", "address": 0x4CC, "type": "float32"},
    }


async def test_a_device_answering_garbage_is_one_warning_a_counter_and_comm_error(
    tmp_path: Path,
    garbage_server: tuple[int, list[int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad_port, answers = garbage_server
    async with modbus_server(0, Unit(holding=at(0x4CC, encode(-80.5, "float32")))) as good:
        data = {
            "site": {"id": "t", "name": "T"},
            "store": {"path": str(tmp_path / "unused.db")},
            "devices": [device("bad", bad_port), device("good", good.port)],
            "locations": [
                {
                    "id": "room",
                    "equipment": [
                        {
                            "id": "fr",
                            "kind": "ult_freezer",
                            "channels": [temperature("bad", "bad"), temperature("good", "good")],
                        }
                    ],
                }
            ],
        }
        path = tmp_path / "coldwatch.yaml"
        path.write_text(yaml.safe_dump(data))
        metrics = Metrics()
        pipeline = Pipeline(metrics)
        sink = Collector()
        pipeline.inline.append(sink)
        coordinator = Coordinator(load(path), pipeline, SystemClock(), metrics)
        caplog.set_level(logging.DEBUG)
        await coordinator.start()
        try:
            await wait_until(lambda: answers[0] >= 6 and len(sink.of("fr.good")) >= 10)
        finally:
            await coordinator.stop()

    # the log: no traceback and no asyncio "Fatal error", one garbage warning for the device
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()], records
    assert not [r for r in caplog.records if r.name == "asyncio"], records
    garbled = [r for r in records if r.getMessage().startswith("device bad: garbled answer")]
    assert len(garbled) == 1, garbled
    assert garbled[0].levelno == logging.WARNING
    assert "to holding 0x04cc+2 from 127.0.0.1:" in garbled[0].getMessage()
    down = [r for r in records if "not communicating" in r.getMessage()]
    assert len(down) == 1 and "device bad" in down[0].getMessage()  # once per outage, as ever
    # counted, every answer
    assert metrics.get("garbled_answers.bad") >= 6
    assert metrics.get("garbled_answers.bad") <= answers[0]
    assert metrics.get("garbled_answers.good") == 0
    # the bad device's readings are comm_error, the good one's are good throughout
    bad = sink.of("fr.bad")
    assert bad and {r.quality for r in bad} == {Quality.COMM_ERROR}
    assert any("garbled answer" in (r.detail or "") for r in bad)
    good_readings = sink.of("fr.good")
    assert {r.quality for r in good_readings} == {Quality.GOOD}
    assert {r.value for r in good_readings} == {-80.5}


async def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC, low byte first."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


async def test_garbage_on_a_serial_line_fails_the_request_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RTU over ``socket://`` (as through a serial-to-Ethernet gateway): a well-framed answer
    that pymodbus cannot decode (an exception answer to function 0). The line is not dropped;
    the poll fails like silence."""
    answer = b"\x01\x80\x01"
    answers = [0]

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(256):
                writer.write(answer + crc16(answer))
                answers[0] += 1
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    metrics = Metrics()
    context = DriverContext(SystemClock(), logging.getLogger("test.modbus"), metrics=metrics)
    settings = ModbusSettings.model_validate(
        {"transport": "rtu", "serial_port": f"socket://127.0.0.1:{port}", "request_timeout": 1}
    )
    point = ModbusPoint.model_validate({"register": "holding", "address": 0, "type": "int16"})
    drv = ModbusDriver("gmp", settings, [Point("inc.co2", point)], context)
    caplog.set_level(logging.WARNING)
    try:
        await drv.connect()
        for _ in range(3):
            started = asyncio.get_running_loop().time()
            with pytest.raises(DriverError, match="garbled answer to holding 0x0000\\+1"):
                await drv.read(TS)
            # failed at once, not after the request timeout
            assert asyncio.get_running_loop().time() - started < 0.9 * 2
    finally:
        await drv.close()
        server.close()
        await server.wait_closed()
    assert answers[0] == 3 and metrics.get("garbled_answers.gmp") == 3
    ours = [r for r in caplog.records if not r.name.startswith("pymodbus")]
    assert [r.getMessage().split(":")[0] for r in ours] == ["device gmp"], ours
    assert not [r for r in caplog.records if r.exc_info or r.name == "asyncio"]
