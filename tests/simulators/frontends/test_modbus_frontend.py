"""The Modbus front ends: framing and register maps, then read by the real ModbusDriver over
TCP, RTU over socket:// and ASCII over a pseudo-terminal, faults included."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from monitor.core.model import Quality
from simulators.bindings import BROKEN
from simulators.frontends.modbus_frames import AsciiSession, RtuSession, TcpSession, with_crc
from simulators.frontends.modbus_maps import tsx, vaisala
from simulators.frontends.modbus_pdu import answer
from simulators.simulation import Simulation
from tests.support.sim_harness import good, quality, read_by_coldwatch, sim_config

IMAGE = {0x530: 0xFFFF, 0x531: 0xFCE0}


def app(pdu: bytes) -> bytes:
    return answer(pdu, lambda: IMAGE)


def test_pdu_reads_refuses_gaps_and_unknown_functions() -> None:
    assert app(bytes.fromhex("0305300002")) == bytes.fromhex("0304FFFFFCE0")
    assert app(bytes.fromhex("0405300002")) == bytes.fromhex("0404FFFFFCE0")  # input too
    assert app(bytes.fromhex("0305300003")) == bytes([0x83, 2])  # 0x532 does not exist
    assert app(bytes.fromhex("0305300000")) == bytes([0x83, 3])  # count 0
    assert app(bytes.fromhex("0100000001")) == bytes([0x81, 2])  # no coils
    assert app(bytes.fromhex("0605300001")) == bytes([0x86, 1])  # no writes


def test_ascii_frame_from_the_manual_and_other_units() -> None:
    session = AsciiSession(0x19, app, lambda: True)
    # the request vector of devices.md: 2 registers at 0x530 from device 0x19
    reply = session.feed(b":190305300002AD\r\n")
    body = bytes.fromhex(reply[1:-4].decode())
    assert reply.startswith(b":190304FFFFFCE0") and reply.endswith(b"\r\n")
    assert (sum(body) + int(reply[-4:-2], 16)) & 0xFF == 0  # LRC
    assert session.feed(b":1A0305300002AC\r\n") == b""  # another unit on the bus
    assert session.feed(b":190305300002AE\r\n") == b""  # bad LRC: ignored
    # split across reads
    assert session.feed(b":19030530") == b""
    assert session.feed(b"0002AD\r\n").startswith(b":190304")


def test_rtu_frames_split_garbled_and_silent() -> None:
    answering = True
    session = RtuSession(1, app, lambda: answering)
    request = with_crc(bytes.fromhex("0103053000 02".replace(" ", "")))
    assert session.feed(request) == with_crc(bytes.fromhex("010304FFFFFCE0"))
    assert session.feed(request[:3]) == b""
    assert session.feed(request[3:]) == with_crc(bytes.fromhex("010304FFFFFCE0"))
    assert session.feed(request[:-1] + b"\x00") == b""  # bad CRC: ignored
    assert session.feed(with_crc(bytes.fromhex("0203053000 02".replace(" ", "")))) == b""
    answering = False  # comm_drop
    assert session.feed(request) == b""


def test_tcp_frames_answer_own_unit_and_gateway_error_for_others() -> None:
    session = TcpSession(1, app, lambda: True)
    request = bytes.fromhex("000700000006" + "01" + "0305300002")
    assert session.feed(request) == bytes.fromhex("000700000007" + "01" + "0304FFFFFCE0")
    other = bytes.fromhex("000800000006" + "05" + "0305300002")
    assert session.feed(other) == bytes.fromhex("000800000003" + "05" + "830B")


def test_register_maps_encode_as_the_devices_do() -> None:
    m = tsx()
    words = m.image({"cabinet_temp": -80.0, "tc2": -80.0, "door_open": 1, "power_fail": 1}, False)
    assert (words[0x540], words[0x541]) == (0xFFFF, 0xFCE0)  # -800 = -80.0 C
    assert struct.unpack(">f", struct.pack(">HH", words[0x4CC], words[0x4CD]))[0] == -80.0
    assert words[0x671] == 1 << 1 and words[0x674] == 1 << 9
    assert (words[0x530], words[0x531]) == (0xFFFF, 0xD8F1)  # unbound: the sentinel, -9999
    broken = m.image({"cabinet_temp": BROKEN, "tc2": BROKEN}, True)
    assert (broken[0x540], broken[0x541]) == (0xFFFF, 0xD8F1)
    v = vaisala()
    words = v.image({"co2": 0.046566, "temperature": 37.0}, False)
    # devices.md: reply bytes D4 7A 43 E8 decode to 465.66 ppm (CDAB: low word first)
    low, high = words[0], words[1]
    assert struct.unpack(">f", struct.pack(">HH", high, low))[0] == pytest.approx(465.66)
    assert words[0x0800] == words[0x0801] == 0
    broken = v.image({"co2": BROKEN, "temperature": BROKEN}, True)
    assert math.isnan(struct.unpack(">f", struct.pack(">HH", broken[1], broken[0]))[0])
    assert broken[0x0100] == 0x8000 and broken[0x0800] == 2 and broken[0x0801] == 2


DEVICES = [
    {
        "id": "tsx",
        "model": "ult_freezer",
        "frontend": {"type": "modbus", "map": "tsx", "transport": "tcp"},
    },
    {
        "id": "gmp",
        "model": "co2_incubator",
        "frontend": {"type": "modbus", "map": "vaisala", "transport": "rtu", "unit": 240},
    },
    {
        "id": "crf",
        "model": "controlled_rate_freezer",
        "frontend": {
            "type": "modbus",
            "map": "tsx",
            "transport": "ascii",
            "line": "pty",
            "link": "tty/crf",
            "unit": 25,
            "bind": {"tc2": "sample_temp"},
        },
    },
]


@pytest.mark.timeout(30)
async def test_modbus_driver_reads_model_values_and_each_fault(tmp_path: Path) -> None:
    sim = Simulation(sim_config(DEVICES), run_dir=tmp_path, run_models=False)
    async with sim, read_by_coldwatch(sim, tmp_path) as watch:
        sim.advance(600)  # the freezer program is 10 minutes in
        sim.set_fault("tsx", "door_open")
        sim.set_fault("tsx", "power_failure")
        ult, crf = sim.devices["tsx"].model.values(), sim.devices["crf"].model.values()
        gmp = sim.devices["gmp"].model.values()

        r = await watch.next("tsx.cabinet_temp", good, "a good reading")
        assert r.value == pytest.approx(ult["cabinet_temp"], abs=0.051)
        r = await watch.next("tsx.tc2_temp", good, "a good reading")
        assert r.value == pytest.approx(ult["cabinet_temp"], abs=1e-4)
        assert (await watch.next("tsx.door_open", good, "door")).value == 1.0
        assert (await watch.next("tsx.power_failure", good, "power")).value == 1.0
        assert (await watch.next("tsx.setpoint", good, "setpoint")).value == -80.0
        r = await watch.next("gmp.co2", good, "co2")
        assert r.value == pytest.approx(gmp["co2"], rel=1e-6)
        r = await watch.next("gmp.temperature", good, "probe temperature")
        assert r.value == pytest.approx(gmp["chamber_temp"], abs=1e-4)
        r = await watch.next("crf.cabinet_temp", good, "chamber")
        assert r.value == pytest.approx(crf["chamber_temp"], abs=0.051)
        r = await watch.next("crf.tc2_temp", good, "sample")
        assert r.value == pytest.approx(crf["sample_temp"], abs=1e-4)

        # a broken probe: the sentinel (TSX) and NaN (Vaisala) become sensor_fault
        for device in sim.devices:
            sim.set_fault(device, "sensor_open_circuit")
        for channel in ("tsx.cabinet_temp", "tsx.tc2_temp", "crf.cabinet_temp", "gmp.co2"):
            await watch.next(channel, quality(Quality.SENSOR_FAULT), "sensor_fault")
        assert (await watch.next("gmp.probe_status", good, "status")).value == 2.0
        r = await watch.next("crf.tc2_temp", good, "the sample probe is another probe")
        assert r.value == pytest.approx(crf["sample_temp"], abs=1e-4)

        # a silent device: comm_error rows, then good again
        for device in sim.devices:
            sim.set_fault(device, "comm_drop")
        for channel in ("tsx.cabinet_temp", "gmp.co2", "crf.cabinet_temp"):
            r = await watch.next(channel, quality(Quality.COMM_ERROR), "comm_error")
            assert r.value is None
        for device in sim.devices:
            sim.clear_fault(device, "comm_drop")
            sim.clear_fault(device, "sensor_open_circuit")
        for channel in ("tsx.cabinet_temp", "gmp.co2", "crf.cabinet_temp"):
            await watch.next(channel, good, "recovered", timeout=8)
