"""Notifier settings by type (alarms/notify/registry.py): each type built, strict, and errors that
name the notifier and never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from alarms.notify.email import EmailNotifier
from alarms.notify.horn import HornNotifier
from alarms.notify.outbox import OutboxNotifier
from alarms.notify.registry import build_all
from alarms.notify.twilio_sms import TwilioSmsNotifier
from alarms.notify.twilio_voice import TwilioVoiceNotifier
from alarms.notify.webhook import WebhookNotifier
from monitor.core.clock import FakeClock
from tests.support.notify import ACCOUNT, T0


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
