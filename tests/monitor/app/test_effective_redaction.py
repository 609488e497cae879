"""The stored effective configuration is made from the models: every field typed as a secret
is the marker wherever it sits (a notifier's raw settings, a device's settings, a person, the
acknowledgement section), whatever its key is called; where a secret comes from is kept."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

import alarms
import drivers
import monitor
from alarms.ack.config import TwilioInboundSettings
from alarms.notify.base import NotifierSettings
from alarms.notify.email import EmailSettings
from alarms.notify.horn import HornSettings
from alarms.notify.outbox import OutboxSettings
from alarms.notify.twilio_sms import TwilioSmsSettings
from alarms.notify.twilio_voice import TwilioVoiceSettings
from alarms.notify.webhook import SecretHeader, WebhookSettings
from alarms.people import Person
from drivers.mqtt.config import MqttSettings
from monitor.app.config import ConfigError, load
from monitor.core.secrets import REDACTED, Secret, secret_field_names, secrets_deferred
from tests.support.fakes import write_config

SLACK = "https://hooks.slack.com/services/T0001/B0002/Xq9zSLACKSECRET"
TEAMS = "https://example.webhook.office.com/webhookb2/TEAMSSECRET"


def _config(tmp_path: Path, **notifiers: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "teams-url").write_text(TEAMS + "\n")
    return {
        "site": {"id": "s", "name": "S"},
        "store": {"path": str(tmp_path / "cw.db")},
        "devices": [
            {
                "id": "broker",
                "driver": "mqtt",
                "settings": {
                    "host": "127.0.0.1",
                    "client_id": "cw",
                    "username": "cw",
                    "password": "MQTTSECRET",
                },
            }
        ],
        "notifiers": {
            "slack": {"type": "webhook", "url": SLACK, "format": "slack_text"},
            "teams": {"type": "webhook", "url_file": str(tmp_path / "teams-url")},
            "ticket": {
                "type": "webhook",
                "url_env": "TICKET_URL",
                "headers": {"X-Source": "coldwatch"},
                "secret_headers": {
                    "X-Ticket-Key": "HEADERSECRET",
                    "X-Signature-Seed": {"value_env": "TICKET_SEED"},
                },
            },
            **notifiers,
        },
        "people": [{"id": "alice", "name": "A", "pin": "90817263", "channels": ["slack"]}],
    }


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_URL", "https://tickets.example.org/hook/ENVURLSECRET")
    monkeypatch.setenv("TICKET_SEED", "ENVHEADERSECRET")


def test_every_secret_field_is_the_marker_and_its_source_is_kept(tmp_path: Path) -> None:
    loaded = load(write_config(tmp_path, _config(tmp_path)))
    stored = json.loads(loaded.effective_json)
    for secret in (SLACK, "SLACKSECRET", "TEAMSSECRET", "ENVURLSECRET", "HEADERSECRET"):
        assert secret not in loaded.effective_json
    for secret in ("ENVHEADERSECRET", "MQTTSECRET", "90817263"):
        assert secret not in loaded.effective_json
    notifiers = stored["notifiers"]
    assert notifiers["slack"]["url"] == REDACTED
    assert notifiers["teams"]["url"] is None  # not given inline: nothing to hide
    assert notifiers["teams"]["url_file"] == str(tmp_path / "teams-url")
    ticket = notifiers["ticket"]
    assert ticket["url_env"] == "TICKET_URL"
    assert ticket["headers"] == {"X-Source": "coldwatch"}
    assert ticket["secret_headers"]["X-Ticket-Key"]["value"] == REDACTED
    assert ticket["secret_headers"]["X-Signature-Seed"]["value_env"] == "TICKET_SEED"
    assert stored["devices"][0]["settings"]["password"] == REDACTED
    assert stored["people"][0]["pin"] == REDACTED


def test_a_plain_header_named_like_a_credential_is_refused(tmp_path: Path) -> None:
    hook = {"type": "webhook", "url": SLACK, "headers": {"X-Api-Key": "abc"}}
    with pytest.raises(ConfigError) as caught:
        load(write_config(tmp_path, _config(tmp_path, hook=hook)))
    (issue,) = [str(i) for i in caught.value.issues]
    assert "header 'X-Api-Key' looks like a credential: put it under secret_headers" in issue
    assert "abc" not in issue
    twice = {"type": "webhook", "url": SLACK, "bearer_token": "t"}
    twice["secret_headers"] = {"authorization": "Basic eA=="}
    with pytest.raises(ConfigError, match="a header is given twice"):
        load(write_config(tmp_path, _config(tmp_path, hook=twice)))


SETTINGS: list[type[BaseModel]] = [
    TwilioSmsSettings,
    TwilioVoiceSettings,
    TwilioInboundSettings,
    EmailSettings,
    WebhookSettings,
    SecretHeader,
    HornSettings,
    OutboxSettings,
    Person,
    MqttSettings,
]


@pytest.mark.parametrize("model", SETTINGS, ids=lambda m: m.__name__)
def test_secret_fields_are_typed_secret(model: type[BaseModel]) -> None:
    """Typed :data:`Secret` exactly (so dumped as the marker), and found by the type."""
    names = secret_field_names(model)
    for name in names:
        assert get_args(model.model_fields[name].annotation) == (Secret, type(None))
    if issubclass(model, NotifierSettings):
        assert model.secret_fields == names
    expected = {
        TwilioSmsSettings: {"auth_token"},
        TwilioVoiceSettings: {"auth_token"},
        TwilioInboundSettings: {"auth_token"},
        EmailSettings: {"password"},
        WebhookSettings: {"url", "bearer_token"},
        SecretHeader: {"value"},
        Person: {"pin"},
        MqttSettings: {"password"},
    }
    assert set(names) == expected.get(model, set())


def test_a_notifier_secret_without_its_twins_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match=r"Careless\.token is a secret without token_env"):

        class Careless(NotifierSettings):
            token: Secret | None = None
            token_file: str | None = None


def test_the_stored_configuration_does_not_need_the_secrets_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check-config --without-secrets -v`` prints the hash the daemon records."""
    config = write_config(tmp_path, _config(tmp_path))
    installed = load(config)
    expected = installed.effective_json, installed.sha256
    monkeypatch.delenv("TICKET_URL")
    monkeypatch.delenv("TICKET_SEED")
    (tmp_path / "teams-url").unlink()
    with secrets_deferred():
        without = load(config)
    assert (without.effective_json, without.sha256) == expected  # computed outside, as the CLI


def _project_models() -> list[type[BaseModel]]:
    for package in (alarms, drivers, monitor):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.split(".")[0] in ("alarms", "drivers", "monitor"):
                found.append(sub)
    return found


def test_every_setting_read_from_a_variable_or_a_file_is_typed_secret() -> None:
    """The schema says what is secret: a key with ``_env`` and ``_file`` twins is one, and
    must be typed Secret, or it would be stored in clear."""
    models = _project_models()
    assert WebhookSettings in models and MqttSettings in models
    untyped = [
        f"{model.__module__}.{model.__name__}.{name[: -len('_env')]}"
        for model in models
        for name in model.model_fields
        if name.endswith("_env")
        and f"{name[: -len('_env')]}_file" in model.model_fields
        and name[: -len("_env")] not in secret_field_names(model)
    ]
    assert untyped == []
