"""The MQTT driver's pure parts, without a broker: topic filters and routing, channel
templates, payload parsing (with property-based tests: garbage never raises anything but
PayloadError), device timestamps, and the settings and cross-checks a config load runs."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.base import Point
from drivers.mqtt.config import MqttPoint, MqttSettings, Subscription
from drivers.mqtt.driver import MqttDriver
from drivers.mqtt.payload import (
    DeviceFault,
    Extractor,
    Payload,
    PayloadError,
    extract,
    parse_number,
    parse_path,
    parse_timestamp,
    to_number,
)
from drivers.mqtt.timestamps import Window
from drivers.mqtt.topics import (
    Router,
    Template,
    check_filter,
    covers,
    matches,
    minimal_filters,
)
from monitor.config.loader import ConfigError, load
from tests.support.paths import REPO

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# --- topics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flt", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),  # '#' also matches the parent level
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("+/+", "a/b", True),
        ("+", "/a", False),
        ("+/a", "/a", True),  # an empty first level is a level
        ("#", "$SYS/broker/x", False),  # wildcards never match $ topics at the first level
        ("+/broker/x", "$SYS/broker/x", False),
        ("$SYS/#", "$SYS/broker/x", True),
        ("a/+/c", "a//c", True),
    ],
)
def test_filter_matching_follows_mqtt(flt: str, topic: str, expected: bool) -> None:
    assert matches(flt, topic) is expected
    router: Router[str] = Router()
    router.add(flt, "x")
    assert (router.match(topic) == ["x"]) is expected


@pytest.mark.parametrize(
    "bad", ["", "a/#/b", "a#", "a/b+", "+a/b", "a\x00b", "x" * 70000, "$share/g/a/b"]
)
def test_invalid_filters_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match=r"topic filter|must not|shared"):
        check_filter(bad)


def test_covers_and_minimal_filters() -> None:
    assert covers("a/#", "a/b/+")
    assert covers("a/+", "a/b")
    assert covers("#", "a/#")
    assert not covers("a/+", "a/#")
    assert not covers("a/+", "a/b/c")
    assert not covers("#", "$SYS/broker/x")
    assert minimal_filters(["a/b", "a/+", "c", "a/+", "$SYS/x", "#"]) == ["$SYS/x", "#"]
    assert minimal_filters(["a/b", "a/c"]) == ["a/b", "a/c"]


level = st.sampled_from(["a", "b", "", "$x"])


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "+", ""]), min_size=1, max_size=4), max_size=6),
    st.lists(level, min_size=1, max_size=5),
    st.booleans(),
)
def test_router_agrees_with_matches(
    filters: list[list[str]], topic_levels: list[str], hash_end: bool
) -> None:
    router: Router[int] = Router()
    texts = ["/".join(f) + ("/#" if hash_end else "") for f in filters]
    for i, text in enumerate(texts):
        router.add(text, i)
    topic = "/".join(topic_levels)
    assert sorted(router.match(topic)) == [i for i, t in enumerate(texts) if matches(t, topic)]


@given(
    st.lists(st.sampled_from(["a", "b", "+"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["a", "b", "+"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
)
def test_covers_is_sound(general: list[str], specific: list[str], topic: list[str]) -> None:
    """If ``general`` covers ``specific``, no topic matches ``specific`` but not ``general``."""
    g, s, t = "/".join(general), "/".join(specific), "/".join(topic)
    if covers(g, s) and matches(s, t):
        assert matches(g, t)


def test_channel_template_takes_levels_from_zero() -> None:
    tpl = Template.parse("{1}.{2}", "site/+/+/temperature")
    assert tpl.render(["site", "freezer-07", "cabinet", "temperature"]) == "freezer-07.cabinet"
    assert tpl.could_give("freezer-07.cabinet", "site/+/+/temperature")
    assert Template.parse("{1}.probe_{2}", "s/+/+").render(["s", "lab", "3"]) == "lab.probe_3"
    assert Template.parse("fr.{0}", "+/x").could_give("fr.x", "+/x")
    assert not Template.parse("fr.{0}", "a/x").could_give("fr.b", "a/x")


@pytest.mark.parametrize(
    ("template", "flt", "message"),
    [
        ("{4}.{1}", "site/+/+", "names level 4"),
        ("{1}.{2}", "site/+/#", "'#' level"),
        ("fixed.id", "site/+", "uses no topic level"),
        ("{1}.{x}", "site/+", "braces"),
    ],
)
def test_bad_templates_say_why(template: str, flt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Template.parse(template, flt)


# --- payloads -------------------------------------------------------------------------------


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


# --- timestamps -----------------------------------------------------------------------------


def test_timestamp_formats() -> None:
    assert parse_timestamp("2026-03-01T12:00:00Z", "iso8601") == T0
    assert parse_timestamp("2026-03-01T13:00:00+01:00", "iso8601") == T0
    assert parse_timestamp(T0.timestamp(), "epoch_s") == T0
    assert parse_timestamp(str(int(T0.timestamp() * 1000)), "epoch_ms") == T0
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert parse_timestamp("2026-03-01T13:00:00", "iso8601", berlin) == T0
    for raw, fmt in (
        ("2026-03-01T12:00:00", "iso8601"),  # no offset, no zone configured
        ("yesterday", "iso8601"),
        (1e300, "epoch_s"),
        (True, "epoch_s"),
        ("12:00", "epoch_ms"),
        (1700000000, "iso8601"),
    ):
        with pytest.raises(PayloadError) as info:
            parse_timestamp(raw, fmt)  # type: ignore[arg-type]
        assert info.value.kind == "bad_timestamp"


def test_timestamp_window() -> None:
    window = Window(max_backfill=3600, max_future_skew=30, late_after=60)
    assert window.judge(T0, T0).accepted
    late = window.judge(T0 - timedelta(minutes=10), T0)
    assert late.accepted and late.late
    assert not window.judge(T0 - timedelta(hours=2), T0).accepted
    ahead = window.judge(T0 + timedelta(minutes=5), T0)
    assert not ahead.accepted and "300 s in the future" in ahead.describe(window)
    assert window.judge(T0 + timedelta(seconds=20), T0).accepted


# --- settings -------------------------------------------------------------------------------


def base(**kw: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "client_id": "coldwatch-test", **kw}


def invalid(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings.model_validate(data)


def test_settings_defaults() -> None:
    s = MqttSettings.model_validate(base())
    assert (s.effective_port, s.qos, s.clean_session, s.keepalive) == (1883, 1, False, 30)
    assert s.max_payload_bytes == 65536
    assert (s.max_backfill, s.max_future_skew) == (3600, 30)


def test_persistent_session_needs_a_client_id() -> None:
    invalid({"host": "h"}, "found again by its client id")
    assert MqttSettings.model_validate({"host": "h", "clean_session": True}).client_id is None


def test_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    s = MqttSettings.model_validate(base(username="cw", password_file=str(secret)))
    assert s.resolved_password() == "s3cret"
    monkeypatch.setenv("CW_MQTT_PW", "from-env")
    assert (
        MqttSettings.model_validate(
            base(username="cw", password_env="CW_MQTT_PW")
        ).resolved_password()
        == "from-env"
    )
    inline = MqttSettings.model_validate(base(username="cw", password="inline"))
    assert "inline" not in repr(inline) and "inline" not in str(inline.model_dump())
    invalid(base(username="cw", password="a", password_env="CW_MQTT_PW"), "set only one of")
    invalid(base(username="cw", password_env="CW_NOT_SET_ANYWHERE"), "not set")
    invalid(base(password="x"), "needs a 'username'")


def test_tls_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = MqttSettings.model_validate(base(tls={"ca_file": str(ca)}))
    assert s.effective_port == 8883 and s.tls is not None and not s.tls.insecure
    assert MqttSettings.model_validate(base(tls={})).tls is not None  # system CAs, verified
    invalid(base(tls={"ca_file": str(tmp_path / "missing.pem")}), "not a readable file")
    invalid(base(tls={"cert_file": str(ca)}), "both tls.cert_file and tls.key_file")
    invalid(base(tls={"ca_file": str(ca), "insecure": True}), "verifies nothing")
    invalid(base(tls={"verify": False}), "write 'insecure: true'")
    insecure = MqttSettings.model_validate(base(tls={"insecure": True}))
    assert insecure.tls is not None and insecure.tls.insecure


def test_other_setting_rules() -> None:
    invalid(base(status_topic="gw/+/status"), "must not contain the wildcards")
    invalid(base(status_online="up", status_offline="up"), "must differ")
    invalid(base(qos=3), "qos")
    invalid(base(max_payload_bytes=2**20, max_queued_incoming_bytes=2**17), "at least max_payload")
    invalid(base(subscriptions=[{"topic": "a/+", "channel": "{3}.x"}]), "names level 3")
    invalid(base(subscriptions=[{"topic": "a/#/b", "channel": "{0}.x"}]), "'#' must be")


def test_point_rules() -> None:
    assert MqttPoint.model_validate({"topic": "a/b", "field": "x[0].y"}).topic == "a/b"
    for data, message in (
        ({"topic": "a/b", "field": "x..y"}, "empty name"),
        ({"topic": "a/b", "type": "text", "map": {"a": 1}}, "does not apply to type text"),
        ({"topic": "a/b", "timestamp_format": "epoch_ms"}, "need 'timestamp_field'"),
        ({"topic": "a/b", "timestamp_field": "t", "timestamp_timezone": "Mars/Base"}, "time zone"),
        ({"topic": "a/b", "scale": "inf"}, "finite"),
        ({"topic": "a/b", "registers": 3}, "Extra inputs"),
    ):
        with pytest.raises(ValidationError, match=message):
            MqttPoint.model_validate(data)


def test_check_names_channels_without_a_source_and_double_feeds() -> None:
    settings_ = MqttSettings.model_validate(
        base(subscriptions=[{"topic": "site/+/+/temperature", "channel": "{1}.{2}"}])
    )
    points = [
        Point("fr.cabinet", MqttPoint.model_validate({})),  # given by the subscription
        Point("fr.alone", MqttPoint.model_validate({})),  # could be given too ({2} is any)
        Point("fr.x", MqttPoint.model_validate({"topic": "site/fr/x/temperature"})),
        Point("fr.y", MqttPoint.model_validate({"field": "v"})),
    ]
    messages = MqttDriver.check(settings_, points)
    assert any("'fr.x' would get every message twice" in m for m in messages)
    assert any("'fr.y' takes its value as subscription" in m for m in messages)
    assert len(messages) == 2
    lonely = MqttSettings.model_validate(base())
    (message,) = MqttDriver.check(lonely, [Point("fr.z", MqttPoint.model_validate({}))])
    assert "has no 'topic'" in message
    narrow = MqttSettings.model_validate(
        base(subscriptions=[{"topic": "site/freezers/+", "channel": "freezer.{2}"}])
    )
    assert MqttDriver.check(narrow, [Point("fr.z", MqttPoint.model_validate({}))])
    assert Subscription.model_validate({"topic": "a/+", "channel": "x.{1}"}).template


def test_example_config_loads() -> None:
    loaded = load(REPO / "config" / "mqtt-example.yaml")
    devices = [d for d in loaded.config.devices if d.driver == "mqtt"]
    assert devices
    assert "secret" not in loaded.effective_json


def test_config_errors_name_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "site: {id: s, name: S}\n"
        "devices:\n"
        "  - id: broker\n"
        "    driver: mqtt\n"
        "    settings:\n"
        "      host: 127.0.0.1\n"
        "      client_id: cw\n"
        "      subscriptions:\n"
        "        - {topic: 'site/+/+/temperature', channel: '{7}.{2}'}\n"
        "locations:\n"
        "  - id: r\n"
        "    equipment:\n"
        "      - id: fr\n"
        "        kind: ult_freezer\n"
        "        channels:\n"
        "          - {id: t, quantity: temperature, unit: C,\n"
        "             source: {device: broker, topic: 'a/#/b'}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert "c.yaml:9: devices[0].settings.subscriptions[0]" in text and "names level 7" in text
    assert "c.yaml:17: locations[0].equipment[0].channels[0].source" in text
    assert "'#' must be a whole level" in text
