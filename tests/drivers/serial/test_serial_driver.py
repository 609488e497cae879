"""The serial driver against fake devices on real lines: pseudo-terminal pairs and TCP
servers on 127.0.0.1 reached as ``socket://`` (as through a serial-to-Ethernet server).
No mock of the serial layer: the bytes go through pyserial-asyncio-fast and the kernel."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.base import DriverContext, DriverError, Point
from drivers.serial.config import SerialPoint, SerialSettings
from drivers.serial.driver import SerialDriver, SerialPushDriver, SerialQueryDriver
from drivers.serial.port import Port
from monitor.app.config import load
from monitor.core.clock import SystemClock
from monitor.core.model import Quality, Reading
from tests.support.paths import REPO
from tests.support.ports import ClosedPorts
from tests.support.serial_peer import LineDevice, PtyPeer, TcpPeer, forma_frame, taylor_wharton_line

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FORMA_VALUE = r"-\s*(?P<value>-?\d+)\s*C"
EXAMPLE = REPO / "config" / "serial-example.yaml"
TEC = {"CALVL?": "+123.4", "FILL?": "0", "FILTIM?": "+0345", "*IDN?": "CHART,TEC3000,1.07"}


def make(
    settings: dict[str, Any],
    sources: dict[str, Any],
    *,
    device_id: str = "dev",
    shared: dict[str, Any] | None = None,
) -> Any:
    points = [Point(ch, SerialPoint.model_validate(src)) for ch, src in sources.items()]
    context = DriverContext(SystemClock(), logging.getLogger("test.serial"))
    if shared is not None:
        context.shared = shared
    return SerialDriver(device_id, SerialSettings.model_validate(settings), points, context)


def query(port: str, **kw: Any) -> dict[str, Any]:
    return {"mode": "query", "port": port, "response_timeout": 0.2, **kw}


def forma(port: str, **kw: Any) -> dict[str, Any]:
    return {
        "mode": "push",
        "port": port,
        "baudrate": 1200,
        "stopbits": 2,
        "receive_terminator": r"\x04",
        "strip": r"\0",
        "events": [
            {"pattern": "UNDERTEMP", "kind": "undertemp", "suppress_repeats": True},
            {"pattern": "PWRFAIL", "kind": "power_failure"},
        ],
        **kw,
    }


async def read_once(driver: SerialQueryDriver) -> dict[str, Reading]:
    try:
        await driver.connect()
        return {r.channel: r for r in await driver.read(TS)}
    finally:
        await driver.close()


class Sink:
    """A ReadingSink that remembers, with a way to wait for what a test expects."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    def reading(self, reading: Reading) -> None:
        self.readings.append(reading)
        self._changed.set()

    def event(self, kind: str, message: str, data: Any = None) -> None:
        self.events.append((kind, message, dict(data or {})))
        self._changed.set()

    def availability(self, online: bool, reason: str) -> None:
        pass

    async def wait(self, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_readings(self, count: int) -> None:
        await self.wait(lambda: len(self.readings) >= count)


async def receiving(driver: SerialPushDriver, sink: Sink) -> asyncio.Task[None]:
    await driver.connect()
    return asyncio.create_task(driver.receive(sink), name="receive")


async def stop(task: asyncio.Task[None], driver: SerialDriver) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await driver.close()


@pytest.fixture
async def pty(tmp_path: Path) -> AsyncIterator[PtyPeer]:
    """A TEC-3000-like controller on a pseudo-terminal, under a stable symlink."""
    async with PtyPeer(LineDevice(TEC), link=tmp_path / "ttyTEC") as peer:
        yield peer


# --- query mode --------------------------------------------------------------------------


async def test_tec3000_values_with_scale_offset_map_and_text(pty: PtyPeer) -> None:
    sources = {
        "d.level_mm": {"command": "CALVL?"},
        "d.level_in": {"command": "CALVL?", "scale": 1 / 25.4},  # one command, two channels
        "d.fill": {"command": "FILL?", "pattern": "^(?P<value>[01])$", "map": {"0": 0, "1": 1}},
        "d.fill_time": {"command": "FILTIM?", "scale": 1 / 60, "offset": -1},
        "d.ident": {"command": "*IDN?", "pattern": r"CHART,(?P<value>[^,]+)", "type": "text"},
    }
    readings = await read_once(make(query(pty.path, baudrate=19200), sources))
    assert all(r.quality is Quality.GOOD and r.ts == TS for r in readings.values()), readings
    values = {ch: r.value for ch, r in readings.items()}
    assert values == {
        "d.level_mm": 123.4,
        "d.level_in": pytest.approx(123.4 / 25.4),
        "d.fill": 0.0,
        "d.fill_time": pytest.approx(345 / 60 - 1),
        "d.ident": "TEC3000",
    }
    assert pty.device.received == ["CALVL?", "FILL?", "FILTIM?", "*IDN?"]


async def test_an_ignored_command_fails_only_its_channel(pty: PtyPeer) -> None:
    sources = {
        "d.level": {"command": "CALVL?"},
        "d.bypass": {"command": "BPFIL?"},  # this controller ignores it
        "d.fill": {"command": "FILL?"},
    }
    driver = make(query(pty.path), sources)
    try:
        await driver.connect()
        for _ in range(2):  # and the next poll is just as good
            readings = {r.channel: r for r in await driver.read(TS)}
            assert readings["d.level"].value == 123.4 and readings["d.fill"].value == 0.0
            bypass = readings["d.bypass"]
            assert bypass.quality is Quality.COMM_ERROR and bypass.value is None
            assert bypass.detail == "no answer to 'BPFIL?' within 0.2 s"
    finally:
        await driver.close()


async def test_a_late_answer_is_never_taken_for_the_next_commands(pty: PtyPeer) -> None:
    """FILL? is answered after the timeout; the line is left quiet for one more timeout so
    that '1' does not become the answer to FILTIM?."""
    pty.device.answers["FILL?"] = "1"
    pty.device.late.update({"FILL?": 0.3, "FILTIM?": 0.15})  # '1' would come first
    sources = {
        "d.level": {"command": "CALVL?"},
        "d.fill": {"command": "FILL?"},
        "d.fill_time": {"command": "FILTIM?"},
    }
    readings = await read_once(make(query(pty.path), sources))
    assert readings["d.fill"].quality is Quality.COMM_ERROR
    assert readings["d.fill_time"].value == 345.0
    gaps = [b - a for a, b in itertools.pairwise(pty.device.received_at)]
    assert gaps[1] >= 0.35  # the quiet period after FILL? timed out (0.2 + 0.2 s, less jitter)


async def test_garbled_error_and_fault_answers(pty: PtyPeer) -> None:
    pty.device.answers.update(
        {"CALVL?": "+12#.4", "FILL?": "ERR 3", "T1?": "T_ERR", "T2?": "\x00\xff" * 100}
    )
    temp = {"fault_patterns": ["T_ERR"], "error_patterns": ["^ERR"]}
    sources = {
        "d.level": {"command": "CALVL?", "pattern": r"^(?P<value>[-+]\d+\.\d)$"},
        "d.fill": {"command": "FILL?", "error_patterns": ["^ERR"]},
        "d.t1": {"command": "T1?", **temp},
        "d.t2": {"command": "T2?", **temp},
    }
    readings = await read_once(make(query(pty.path), sources))
    got = {ch: (r.quality, r.detail) for ch, r in readings.items()}
    assert got["d.level"] == (
        Quality.COMM_ERROR,
        "answer to 'CALVL?' does not match the pattern: '+12#.4'",
    )
    assert got["d.fill"] == (
        Quality.COMM_ERROR,
        "answer to 'FILL?': device reports an error: 'ERR 3'",
    )
    assert got["d.t1"] == (
        Quality.SENSOR_FAULT,
        "answer to 'T1?': sensor fault reported: 'T_ERR'",
    )
    quality, detail = got["d.t2"]
    assert quality is Quality.COMM_ERROR and detail is not None
    assert detail.startswith(r"answer to 'T2?' does not match the pattern: '\x00\xff")
    assert detail.endswith("'... (200 characters)") and len(detail) < 130  # binary, truncated


async def test_a_device_that_answers_nothing_is_down(pty: PtyPeer) -> None:
    """Silence to the first command: DriverError at once, not one timeout per command."""
    pty.device.answers.clear()
    driver = make(
        query(pty.path), {"d.level": {"command": "CALVL?"}, "d.fill": {"command": "FILL?"}}
    )
    started = time.monotonic()
    with pytest.raises(DriverError, match=r"no answer to 'CALVL\?' within 0.2 s"):
        await read_once(driver)
    assert time.monotonic() - started < 0.4 and pty.device.received == ["CALVL?"]


async def test_echo_is_skipped_and_commands_are_paced(pty: PtyPeer) -> None:
    pty.device.echo = True
    sources = {"d.level": {"command": "CALVL?"}, "d.fill": {"command": "FILL?"}}
    driver = make(query(pty.path, echo=True, pause_between_commands="100ms"), sources)
    readings = await read_once(driver)
    assert [r.value for r in readings.values()] == [123.4, 0.0]
    (gap,) = [b - a for a, b in itertools.pairwise(pty.device.received_at)]
    assert gap >= 0.1


async def test_query_over_socket_url() -> None:
    async with TcpPeer(LineDevice(TEC)) as peer:
        readings = await read_once(make(query(peer.url), {"d.level": {"command": "CALVL?"}}))
    assert readings["d.level"].value == 123.4


async def test_a_port_that_cannot_be_opened(tmp_path: Path, closed_port: ClosedPorts) -> None:
    port = closed_port()
    for where in (str(tmp_path / "ttyUSB9"), f"socket://127.0.0.1:{port}"):
        driver = make(query(where), {"d.level": {"command": "CALVL?"}})
        with pytest.raises(DriverError, match="cannot open"):
            await driver.connect()
        await driver.close()  # safe after a failed connect
        await driver.close()


async def test_a_vanished_port_raises_and_reopens_when_it_is_back(pty: PtyPeer) -> None:
    driver = make(query(pty.path), {"d.level": {"command": "CALVL?"}})
    try:
        await driver.connect()
        await driver.connect()  # safe to call again
        assert (await driver.read(TS))[0].value == 123.4
        await pty.vanish()  # the USB adapter is pulled out
        await asyncio.sleep(0.05)
        with pytest.raises(DriverError, match="connection lost"):
            await driver.read(TS)
        await driver.close()
        with pytest.raises(DriverError, match="cannot open"):
            await driver.connect()
        await pty.start()  # plugged in again: same name, new device node
        await driver.connect()
        assert (await driver.read(TS))[0].value == 123.4
        await pty.vanish()
        await pty.start()
        await driver.connect()  # without close(): the device follows the name to the new node
        assert (await driver.read(TS))[0].value == 123.4
        in_use = [p for p in driver.context.shared.values() if p.users]
        assert in_use == [driver.port] and in_use[0].users == {"dev": "query"}
    finally:
        await driver.close()


# --- shared ports ------------------------------------------------------------------------


async def test_devices_on_one_bus_take_turns(pty: PtyPeer) -> None:
    """Two controllers addressed by prefix on one RS-485 line: polled together, the port
    carries one exchange at a time, and the line is closed when the last one leaves."""
    pty.device.answers = {"01CALVL?": "+100.0", "02CALVL?": "+200.0"}
    pty.device.delay = 0.05
    shared: dict[str, Any] = {}
    a = make(query(pty.path), {"a.level": {"command": "01CALVL?"}}, device_id="a", shared=shared)
    b = make(query(pty.path), {"b.level": {"command": "02CALVL?"}}, device_id="b", shared=shared)
    try:
        await asyncio.gather(a.connect(), b.connect())
        (port,) = shared.values()
        assert isinstance(port, Port) and set(port.users) == {"a", "b"}
        for _ in range(3):
            ra, rb = await asyncio.gather(a.read(TS), b.read(TS))
            assert (ra[0].value, rb[0].value) == (100.0, 200.0)
        assert pty.device.collisions == 0 and len(pty.device.received) == 6
        await a.close()
        assert port.connected  # b still uses it
        assert (await b.read(TS))[0].value == 200.0
    finally:
        await a.close()
        await b.close()
    assert not port.connected


async def test_devices_that_cannot_share_a_port(pty: PtyPeer) -> None:
    shared: dict[str, Any] = {}
    a = make(query(pty.path), {"a.l": {"command": "CALVL?"}}, device_id="a", shared=shared)
    b = make(query(pty.path, baudrate=1200), {"b.l": {"command": "CALVL?"}}, device_id="b")
    b.context.shared = shared
    c = make(forma(pty.path), {"c.t": {"pattern": FORMA_VALUE}}, device_id="c", shared=shared)
    try:
        await a.connect()
        with pytest.raises(DriverError, match="other line settings"):
            await b.connect()
        with pytest.raises(DriverError, match="needs its port to itself"):
            await c.connect()
        assert (await a.read(TS))[0].value == 123.4  # the refused ones did not disturb it
    finally:
        for driver in (a, b, c):
            await driver.close()


# --- push mode ---------------------------------------------------------------------------


async def test_forma_frames_become_readings_and_events(pty: PtyPeer) -> None:
    sources = {
        "f.cabinet": {"pattern": FORMA_VALUE, "fault_patterns": ["T_ERR"]},
        "f.power_failure": {
            "pattern": r"^-(?:.*(?P<value>PWRFAIL))?",
            "map": {"PWRFAIL": 1, "": 0},
        },
    }
    driver = make(forma(pty.path), sources)
    sink = Sink()
    task = await receiving(driver, sink)
    try:
        stream = (
            forma_frame(-80)
            + forma_frame(-71, "UNDERTEMP")
            + forma_frame(-70, "UNDERTEMP")
            + forma_frame(None, "PWRFAIL")
            + b"HOT COND?? \x04"  # matches nothing
        )
        before = datetime.now(UTC)
        for i in range(0, len(stream), 7):  # in odd-sized pieces, frames split anywhere
            pty.write(stream[i : i + 7])
            await asyncio.sleep(0.002)
        await sink.wait_readings(8)
        after = datetime.now(UTC)
        cabinet = [(r.quality, r.value) for r in sink.readings if r.channel == "f.cabinet"]
        assert cabinet == [
            (Quality.GOOD, -80.0),
            (Quality.GOOD, -71.0),
            (Quality.GOOD, -70.0),
            (Quality.SENSOR_FAULT, None),
        ]
        power = [r.value for r in sink.readings if r.channel == "f.power_failure"]
        assert power == [0.0, 0.0, 0.0, 1.0]
        assert all(before <= r.ts <= after for r in sink.readings)  # stamped on arrival
        assert sink.readings[0].ts < sink.readings[-1].ts
        assert [(k, m) for k, m, _ in sink.events] == [
            ("undertemp", "- -71 C UNDERTEMP"),  # once while it repeats
            ("power_failure", "- T_ERR C PWRFAIL"),
        ]
        await asyncio.sleep(0.05)
        assert driver.unmatched == 1
    finally:
        await stop(task, driver)


async def test_taylor_wharton_event_lines() -> None:
    async with TcpPeer() as peer:  # a port the OS picked
        settings = {
            "mode": "push",
            "port": peer.url,
            "events": [
                {
                    "pattern": r"^Fill (?P<what>Started|Complete) on (?P<date>[\d/]+)"
                    r" @ (?P<time>\d+:\d\d)",
                    "kind": "fill",
                }
            ],
        }
        driver = make(settings, {})
        sink = Sink()
        task = await receiving(driver, sink)
        try:
            peer.write(taylor_wharton_line("Fill Started", "9/28/98 @ 8:07"))
            peer.write(taylor_wharton_line("Fill Complete", "9/28/98 @ 8:19"))
            await sink.wait(lambda: len(sink.events) >= 2)
        finally:
            await stop(task, driver)
    assert sink.events == [
        (
            "fill",
            "Fill Started on 9/28/98 @ 8:07",
            {"what": "Started", "date": "9/28/98", "time": "8:07"},
        ),
        (
            "fill",
            "Fill Complete on 9/28/98 @ 8:19",
            {"what": "Complete", "date": "9/28/98", "time": "8:19"},
        ),
    ]


async def test_a_flood_of_garbage_is_bounded_and_framing_recovers(pty: PtyPeer) -> None:
    driver = make(forma(pty.path, max_frame=1024), {"f.t": {"pattern": FORMA_VALUE}})
    sink = Sink()
    task = await receiving(driver, sink)
    try:
        port = driver.port
        assert isinstance(port, Port)
        for _ in range(50):  # 200 KiB without a single EOT
            pty.write(b"\xfe-80 C" * 4096)
            await asyncio.sleep(0.002)
            assert port.framer.buffered <= 1024
        pty.write(b"\x04" + forma_frame(-79))
        await sink.wait_readings(1)
        assert [r.value for r in sink.readings] == [-79.0]  # the garbage's tail was no frame
        assert port.framer.overflows == 1 and port.framer.discarded == 50 * 4096 * 6
    finally:
        await stop(task, driver)


async def test_push_port_lost_raises_then_resumes(tmp_path: Path) -> None:
    """socket://: the server goes away (receive raises), a new one on the same port is
    read again after a reconnect; for a pty, the device node disappears."""
    peer = TcpPeer()  # a port the OS picked; start() again listens on the same one
    await peer.start()
    driver = make(forma(peer.url), {"f.t": {"pattern": FORMA_VALUE}})
    sink = Sink()
    try:
        task = await receiving(driver, sink)
        peer.write(forma_frame(-80))
        await sink.wait_readings(1)
        await peer.stop()
        with pytest.raises(DriverError, match="closed by the other end"):
            await asyncio.wait_for(task, 2)
        await driver.close()
        with pytest.raises(DriverError, match="cannot open"):
            await driver.connect()
        await peer.start()
        task = await receiving(driver, sink)
        await asyncio.sleep(0.05)
        peer.write(forma_frame(-81))
        await sink.wait_readings(2)
        assert [r.value for r in sink.readings] == [-80.0, -81.0]
        await stop(task, driver)
    finally:
        await driver.close()
        await peer.stop()

    async with PtyPeer(link=tmp_path / "ttyForma") as pty:
        driver = make(forma(pty.path), {"f.t": {"pattern": FORMA_VALUE}})
        task = await receiving(driver, sink)
        await pty.vanish()
        with pytest.raises(DriverError, match="connection lost"):
            await asyncio.wait_for(task, 2)
        await driver.close()


async def test_the_example_configuration_reads_the_fake_devices(pty: PtyPeer) -> None:
    """config/serial-example.yaml, pointed at the fakes: its patterns really read them."""
    loaded = load(EXAMPLE)

    def build(device_id: str, where: str) -> Any:
        settings = loaded.driver_settings[device_id]
        assert isinstance(settings, SerialSettings)
        points = [
            Point(ch, p)
            for ch, p in loaded.point_settings.items()
            if isinstance(p, SerialPoint)
            and loaded.config.channels()[ch][1].source.device == device_id
        ]
        context = DriverContext(SystemClock(), logging.getLogger("test.serial"))
        return SerialDriver(device_id, settings.model_copy(update={"port": where}), points, context)

    pty.device.answers["FILL?"] = "1"
    tec = build("tec3000-02", pty.path)
    values = {ch: r.value for ch, r in (await read_once(tec)).items()}
    assert values == {
        "dewar-02.ln2_level": 123.4,
        "dewar-02.fill_valve_open": 1.0,
        "dewar-02.last_fill_time": pytest.approx(5.75),
    }
    async with TcpPeer() as peer:
        freezer = build("forma900-05", peer.url)
        sink = Sink()
        task = await receiving(freezer, sink)
        try:
            peer.write(
                forma_frame(-80) + forma_frame(None, "PWRFAIL") + forma_frame(-61, "OVERTEMP")
            )
            await sink.wait_readings(6)
        finally:
            await stop(task, freezer)
    got = [(r.channel.split(".")[1], r.quality.value, r.value) for r in sink.readings]
    assert got == [
        ("cabinet_temp", "good", -80.0),
        ("power_failure", "good", 0.0),
        ("cabinet_temp", "sensor_fault", None),
        ("power_failure", "good", 1.0),
        ("cabinet_temp", "good", -61.0),
        ("power_failure", "good", 0.0),
    ]
    assert [kind for kind, _, _ in sink.events] == ["power_failure", "overtemp"]
