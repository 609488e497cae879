"""Notifier settings by ``type``, and building the configured notifiers by name.

A plain map from type to (settings model, constructor), Telegraf style. Configuration names
each notifier (``sms``, ``phone``, ``ops-slack``, ...); people's channel lists use those names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from alarms.notify.base import Notifier
from alarms.notify.email import EmailNotifier, EmailSettings
from alarms.notify.horn import HornNotifier, HornSettings
from alarms.notify.outbox import OutboxNotifier, OutboxSettings
from alarms.notify.twilio_sms import TwilioSmsNotifier, TwilioSmsSettings
from alarms.notify.twilio_voice import TwilioVoiceNotifier, TwilioVoiceSettings
from alarms.notify.webhook import WebhookNotifier, WebhookSettings
from monitor.core.clock import Clock
from monitor.core.file_access import FileAccess

AnyNotifierSettings = Annotated[
    TwilioSmsSettings
    | TwilioVoiceSettings
    | EmailSettings
    | WebhookSettings
    | HornSettings
    | OutboxSettings,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[AnyNotifierSettings] = TypeAdapter(AnyNotifierSettings)


#: Notifier types whose messages leave the site (a provider, a mail server, a chat service):
#: when all of them fail, nobody off site can be reached and the local horns sound.
REMOTE_TYPES: frozenset[str] = frozenset({"twilio_sms", "twilio_voice", "email", "webhook"})


def remote_notifiers(raw: Mapping[str, Mapping[str, Any]]) -> frozenset[str]:
    """The names of the configured notifiers that page off site."""
    return frozenset(name for name, settings in raw.items() if settings.get("type") in REMOTE_TYPES)


def parse_settings(raw: Mapping[str, Any]) -> AnyNotifierSettings:
    """Validate one notifier's settings (``type`` picks the model; unknown keys are errors)."""
    return _ADAPTER.validate_python(raw)


def build(
    name: str, settings: AnyNotifierSettings, clock: Clock, files: FileAccess | None = None
) -> Notifier:
    """The notifier for ``settings``, named ``name``; ``files``: how a notifier that writes a
    file (the outbox) creates it."""
    if isinstance(settings, TwilioSmsSettings):
        return TwilioSmsNotifier(name, settings)
    if isinstance(settings, TwilioVoiceSettings):
        return TwilioVoiceNotifier(name, settings)
    if isinstance(settings, EmailSettings):
        return EmailNotifier(name, settings, clock=clock)
    if isinstance(settings, WebhookSettings):
        return WebhookNotifier(name, settings)
    if isinstance(settings, HornSettings):
        return HornNotifier(name, settings, clock=clock)
    return OutboxNotifier(name, settings, files=files)


def describe(exc: ValidationError) -> str:
    """The problems, each with its key, and never the offending values."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def build_all(
    raw: Mapping[str, Mapping[str, Any]], clock: Clock, files: FileAccess | None = None
) -> dict[str, Notifier]:
    """Every configured notifier, from ``{name: settings}``; errors name the notifier."""
    notifiers: dict[str, Notifier] = {}
    for name, settings in raw.items():
        try:
            parsed = parse_settings(settings)
        except ValidationError as exc:  # without the input values: they may hold tokens
            raise ValueError(
                f"configuration invalid for notifier '{name}': {describe(exc)}"
            ) from None
        notifiers[name] = build(name, parsed, clock, files)
    return notifiers
