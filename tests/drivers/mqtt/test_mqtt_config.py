"""The MQTT settings and the cross-checks a configuration load runs (drivers/mqtt/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from drivers.base import Point
from drivers.mqtt.config import MqttPoint, MqttSettings, Subscription
from drivers.mqtt.driver import MqttDriver
from monitor.app.config import ConfigError, load
from tests.support.paths import REPO


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
