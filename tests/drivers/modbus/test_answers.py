"""From a poll's answers to readings (drivers/modbus/answers.py): a register answer packed once
and read field by field gives what each field's own decoder gives, errors included."""

from __future__ import annotations

from datetime import UTC, datetime

from drivers.base import Point
from drivers.modbus.answers import Answer, Layout
from drivers.modbus.plan import plan_requests
from monitor.core.model import Quality
from tests.support.modbus_points import point

TS = datetime(2026, 1, 1, tzinfo=UTC)


def layout(**fields: dict[str, object]) -> Layout:
    points = [Point(name, point(**source)) for name, source in fields.items()]
    requests = plan_requests((p.settings for p in points), max_registers=125, max_bits=2000, gap=4)
    return Layout(requests, points)


def test_fields_of_one_answer_in_every_byte_order_and_a_gap() -> None:
    lay = layout(
        cabinet={"address": 0, "type": "int32", "scale": 0.1},
        tc2={"address": 2, "type": "float32"},
        tc3={"address": 4, "type": "float32", "byte_order": "CDAB"},
        alarm={"address": 8, "type": "uint16", "bit": 1},
    )
    answer = Answer([0xFFFF, 0xFCE0, 0xC2A0, 0x0000, 0x0000, 0xC2A1, 0, 0, 0x0002])
    got = [(r.channel, r.value, r.quality) for r in lay.readings([answer], TS)]
    assert got == [
        ("cabinet", -80.0, Quality.GOOD),
        ("tc2", -80.0, Quality.GOOD),
        ("tc3", -80.5, Quality.GOOD),
        ("alarm", 1.0, Quality.GOOD),
    ]


def test_a_value_that_is_not_a_16_bit_word_fails_only_its_field() -> None:
    lay = layout(a={"address": 0, "type": "uint16"}, b={"address": 1, "type": "uint16"})
    a, b = lay.readings([Answer([70000, 5])], TS)
    assert a.quality is Quality.COMM_ERROR and a.value is None
    assert a.detail is not None and "not a 16-bit word" in a.detail
    assert (b.value, b.quality) == (5.0, Quality.GOOD)


def test_nan_is_a_sensor_fault_on_the_packed_path() -> None:
    lay = layout(t={"address": 0, "type": "float32"})
    (reading,) = lay.readings([Answer([0x7FC0, 0x0000])], TS)
    assert reading.quality is Quality.SENSOR_FAULT and reading.value is None
