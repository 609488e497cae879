"""People, groups and targets; notifier settings by type, strict and without leaking secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alarms.notify.email import EmailNotifier
from alarms.notify.horn import HornNotifier
from alarms.notify.outbox import OutboxNotifier
from alarms.notify.people import Directory, Group, Person, directory_from
from alarms.notify.registry import build_all
from alarms.notify.twilio_sms import TwilioSmsNotifier
from alarms.notify.twilio_voice import TwilioVoiceNotifier
from alarms.notify.webhook import WebhookNotifier
from monitor.clock import FakeClock
from tests.support.notify import ACCOUNT, T0, person


def test_person_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match=r"E\.164"):
        person(phone="0151 1234567")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        person(email="alice")
    with pytest.raises(ValidationError, match="4 to 12 digits"):
        person(pin="12a4")
    with pytest.raises(ValidationError, match="listed twice"):
        person(channels=("sms", "sms"))
    with pytest.raises(ValidationError, match="at least 1"):
        person(channels=())
    with pytest.raises(ValidationError, match="set only one of pin, pin_env"):
        person(pin_env="X")
    pin = tmp_path / "pin"
    pin.write_text("90210\n")
    assert person(pin=None, pin_file=str(pin)).resolved_pin() == "90210"
    monkeypatch.setenv("ALICE_PIN", "1234")
    alice = person(pin=None, pin_env="ALICE_PIN")
    assert alice.resolved_pin() == "1234"
    assert "4711" not in repr(person()) and "4711" not in str(person().model_dump())


def test_directory_expands_targets() -> None:
    people = [person("alice"), person("bob"), person("carol", ("horn",), phone=None)]
    directory = Directory(people, [Group(id="night", members=("bob", "alice", "bob"))])
    assert [p.id for p in directory.expand("group:night", T0)] == ["bob", "alice"]
    assert [p.id for p in directory.expand("person:carol", T0)] == ["carol"]
    both = directory.expand_all(["person:alice", "group:night"], T0)
    assert [p.id for p in both] == ["alice", "bob"]
    with pytest.raises(KeyError, match="unknown target 'person:zoe'"):
        directory.expand("person:zoe", T0)
    with pytest.raises(KeyError):
        directory.expand("alice", T0)
    assert directory.check_channels(["sms"]) == ["person 'carol': undefined channel 'horn'"]


def test_directory_cross_checks() -> None:
    with pytest.raises(ValueError, match="unknown person zoe"):
        Directory([person("alice")], [Group(id="g", members=("alice", "zoe"))])
    with pytest.raises(ValueError, match="used twice"):
        Directory([person("alice"), person("alice")])
    built = directory_from(
        [{"id": "alice", "name": "Alice", "phone": "+4915112345678", "channels": ["sms"]}],
        [{"id": "all", "members": ["alice"]}],
    )
    assert isinstance(built.person("alice"), Person) and built.person("zoe") is None


def test_registry_builds_each_type(tmp_path: Path) -> None:
    twilio = {"account_sid": ACCOUNT, "auth_token": "t", "from_number": "+15005550006"}
    notifiers = build_all(
        {
            "sms": {"type": "twilio_sms", **twilio},
            "phone": {"type": "twilio_voice", **twilio, "public_base_url": "https://cw.example"},
            "mail": {"type": "email", "host": "smtp.example.org", "from_address": "cw@x.org"},
            "slack": {"type": "webhook", "url": "https://hooks.example", "format": "slack_text"},
            "horn": {"type": "horn", "host": "10.0.0.9", "coil": 3, "pulse": {"on": 1, "off": 0.5}},
            "outbox": {"type": "outbox", "path": str(tmp_path / "o.jsonl")},
        },
        FakeClock(T0),
    )  # fmt: skip
    kinds = {name: type(n) for name, n in notifiers.items()}
    assert kinds == {
        "sms": TwilioSmsNotifier,
        "phone": TwilioVoiceNotifier,
        "mail": EmailNotifier,
        "slack": WebhookNotifier,
        "horn": HornNotifier,
        "outbox": OutboxNotifier,
    }


def test_registry_errors_name_the_notifier_and_never_the_secret() -> None:
    with pytest.raises(ValueError) as info:
        build_all(
            {"sms": {"type": "twilio_sms", "account_sid": ACCOUNT, "auth_token": "SuperSecret1"}},
            FakeClock(T0),
        )
    text = str(info.value)
    assert text.startswith("configuration invalid for notifier 'sms': ")
    assert "exactly one of from_number and messaging_service_sid" in text
    assert "SuperSecret1" not in text and info.value.__cause__ is None
    with pytest.raises(ValueError, match=r"'pager'.*type"):
        build_all({"pager": {"type": "pager"}}, FakeClock(T0))
    with pytest.raises(ValueError, match="colour: Extra inputs are not permitted"):
        build_all({"o": {"type": "outbox", "colour": "red"}}, FakeClock(T0))
