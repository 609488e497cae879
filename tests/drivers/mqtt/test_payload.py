"""MQTT payload parsing (drivers/mqtt/payload.py), without a broker: field paths, numbers,
JSON and plain payloads, with property-based tests: garbage never raises anything but
PayloadError."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.mqtt.payload import (
    DeviceFault,
    Extractor,
    Payload,
    PayloadError,
    extract,
    parse_number,
    parse_path,
    to_number,
)


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("DS18B20.Temperature", ("DS18B20", "Temperature")),
        ("sensors[0].value", ("sensors", 0, "value")),
        ("[2]", (2,)),
        ("a[1][2]", ("a", 1, 2)),
        ("with space.x-y", ("with space", "x-y")),
    ],
)
def test_field_paths(path: str, steps: tuple[Any, ...]) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "a[x]", "a[", "a]", "a.[0]", "[0]b"])
def test_bad_field_paths(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_path(bad)


def test_extract_follows_the_path_and_names_what_is_missing() -> None:
    doc = {"sensors": [{"value": -80.5}], "DS18B20": {"Temperature": 4.2}}
    assert extract(doc, ("sensors", 0, "value"), "sensors[0].value") == -80.5
    for path, text in ((("sensors", 3, "value"), "sensors[3].value"), (("x",), "x")):
        with pytest.raises(PayloadError, match=re.escape(f"field '{text}' missing")) as info:
            extract(doc, path, text)
        assert info.value.kind == "missing_field"
    with pytest.raises(PayloadError, match="no object holds"):
        extract(doc, ("DS18B20", "Temperature", "deeper"), "DS18B20.Temperature.deeper")


@pytest.mark.parametrize(
    ("text", "value"), [("-80.5", -80.5), (" 12 ", 12.0), ("1e3", 1000.0), ("+.5", 0.5)]
)
def test_numbers(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["1_000", "١٢", "0x10", "1,5", "", "12 C", "--1", "1e999"])
def test_not_numbers(text: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_number(text)
    assert not isinstance(info.value, DeviceFault)


@pytest.mark.parametrize("text", ["nan", "NaN", "-inf", "Infinity", "+INF"])
def test_device_non_finite_words_are_sensor_faults(text: str) -> None:
    with pytest.raises(DeviceFault):
        parse_number(text)


def test_to_number_kinds() -> None:
    assert to_number(True) == 1.0
    assert to_number(3) == 3.0
    assert to_number("OPEN", {"OPEN": 1, "CLOSED": 0}) == 1
    assert to_number(" CLOSED ", {"OPEN": 1, "CLOSED": 0}) == 0
    assert to_number("7", {"OPEN": 1}) == 7.0  # numbers pass a map through
    with pytest.raises(PayloadError, match="not one of CLOSED, OPEN") as info:
        to_number("AJAR", {"OPEN": 1, "CLOSED": 0})
    assert info.value.kind == "unmapped"
    with pytest.raises(DeviceFault, match="null"):
        to_number(None)
    with pytest.raises(DeviceFault):
        to_number(float("nan"))
    with pytest.raises(PayloadError, match="an object where a number belongs"):
        to_number({"v": 1})
    with pytest.raises(PayloadError, match="out of range"):
        to_number(10**400)


def test_extractor_json_plain_scale_and_text() -> None:
    payload = Payload(json.dumps({"sensors": [{"value": 250}], "state": "OPEN"}).encode())
    assert Extractor.build(field="sensors[0].value", scale=0.1, offset=-100).value(
        payload
    ) == pytest.approx(-75.0)
    # scaled without float noise: -639 * 0.1 is -63.900000000000006 in binary arithmetic
    assert repr(Extractor.build(scale=0.1).value(Payload(b"-639"))) == "-63.9"
    assert repr(Extractor.build(scale=0.0001).value(Payload(b"465.66"))) == "0.046566"
    assert Extractor.build(field="state", mapping={"OPEN": 1}).value(payload) == 1
    assert Extractor.build(field="state", type="text").value(payload) == "OPEN"
    assert Extractor.build().value(Payload(b" -80.4\n")) == -80.4
    for raw, kind in ((b"", "empty"), (b"\xff\xfe\x00", "not_utf8"), (b"warm", "not_a_number")):
        with pytest.raises(PayloadError) as info:
            Extractor.build().value(Payload(raw))
        assert info.value.kind == kind


@pytest.mark.parametrize(
    ("raw", "kind", "fault"),
    [
        (b"{bad json", "invalid_json", False),
        (b'{"t": "warm"}', "not_a_number", False),
        (b'{"other": 1}', "missing_field", False),
        (b'{"t": NaN}', "non_finite", True),
        (b'{"t": -Infinity}', "non_finite", True),
        (b'{"t": null}', "null", True),
        (b"[" * 100_000, "invalid_json", False),
        (b'{"t": 1' + b"0" * 5000 + b"}", "invalid_json", False),
        (b"\xff\xff", "not_utf8", False),
    ],
)
def test_malformed_json_payloads(raw: bytes, kind: str, fault: bool) -> None:
    with pytest.raises(PayloadError) as info:
        Extractor.build(field="t").value(Payload(raw))
    assert info.value.kind == kind
    assert isinstance(info.value, DeviceFault) is fault


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
paths = st.sampled_from(["t", "a.b", "sensors[0].value", "[0]", "x[2][1]", "DS18B20.Temperature"])


@settings(max_examples=400)
@given(raw=st.binary(max_size=300), path=paths)
def test_any_bytes_give_a_value_or_a_payload_error(raw: bytes, path: str) -> None:
    for extractor in (
        Extractor.build(field=path),
        Extractor.build(),
        Extractor.build(field=path, type="text", timestamp_field="ts"),
        Extractor.build(
            field=path, mapping={"ON": 1}, timestamp_field="ts", timestamp_format="epoch_ms"
        ),
    ):
        try:
            value = extractor.value(Payload(raw))
            extractor.timestamp(Payload(raw))
        except PayloadError:
            continue
        assert isinstance(value, str) or math.isfinite(value)


@settings(max_examples=400)
@given(doc=json_values, path=paths, fmt=st.sampled_from(["iso8601", "epoch_s", "epoch_ms"]))
def test_any_json_gives_a_value_or_a_payload_error(doc: Any, path: str, fmt: Any) -> None:
    raw = json.dumps(doc).encode()  # NaN/Infinity included, as devices send them
    extractor = Extractor.build(field=path, timestamp_field=path, timestamp_format=fmt)
    try:
        value = extractor.value(Payload(raw))
    except PayloadError:
        pass
    else:
        assert isinstance(value, float) and math.isfinite(value)
    try:
        ts = extractor.timestamp(Payload(raw))
    except PayloadError:
        pass
    else:
        assert ts is not None and ts.tzinfo is not None


@given(st.text(max_size=40))
def test_any_text_parses_as_a_finite_number_or_a_payload_error(text: str) -> None:
    try:
        value = parse_number(text)
    except PayloadError:
        return
    assert math.isfinite(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(value: float) -> None:
    assert parse_number(repr(value)) == value
    assert Extractor.build(field="v").value(Payload(json.dumps({"v": value}).encode())) == value
