"""Voice calls through Twilio: the TwiML of :mod:`alarms.notify.twiml`, sent inline.

The call carries its TwiML in the ``Twiml`` parameter, so the message needs no web server;
the gather (key press, then PIN) and status callbacks go to ``public_base_url``, where the
inbound webhook (a later piece) acknowledges the alarm. "Sent" means Twilio queued the call;
an unanswered call is the escalation's acknowledgement timeout's business.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from alarms.notify.base import DeliveryResult, NotifyError
from alarms.notify.message import Notification
from alarms.notify.twilio_common import (
    E164,
    TWILIO_FAILURES,
    HttpClientFactory,
    TwilioClient,
    TwilioSettings,
    classify,
)
from alarms.notify.twiml import Voice, call_twiml
from alarms.people import Person

STATUS_PATH = "/twilio/voice/status"
GATHER_PATH = "/twilio/voice/gather"
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


class TwilioVoiceSettings(TwilioSettings):
    type: Literal["twilio_voice"] = "twilio_voice"
    from_number: str = Field(pattern=E164)
    voice: str = "Polly.Joanna"
    language: str = "en-US"
    ring_timeout: int = Field(default=30, ge=5, le=600)
    """Seconds the phone rings before Twilio gives up (Twilio's ``Timeout``)."""

    @model_validator(mode="after")
    def _base_needed(self) -> TwilioVoiceSettings:
        if self.public_base_url is None:
            raise ValueError(
                "a voice call needs public_base_url: the key press and PIN that acknowledge "
                "are posted there"
            )
        return self


class TwilioVoiceNotifier:
    def __init__(
        self,
        name: str,
        settings: TwilioVoiceSettings,
        *,
        http_client: HttpClientFactory | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._twilio = TwilioClient(settings, http_client)

    def urls(self, notification: Notification, target: Person) -> tuple[str, str]:
        """The (status callback, gather action) URLs of a call about ``notification``."""
        ids = {"alarm": notification.alarm_id, "person": target.id, "key": notification.key}
        status = self.settings.callback(STATUS_PATH, **ids)
        gather = self.settings.callback(GATHER_PATH, **ids, step="key")
        assert status is not None and gather is not None  # public_base_url is required
        return status, gather

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        if not target.phone:
            raise NotifyError(f"{target.id} has no phone number", retryable=False, recipient=True)
        s = self.settings
        status, gather = self.urls(notification, target)
        twiml = call_twiml(notification, gather, Voice(s.voice, s.language))
        try:
            async with asyncio.timeout(s.timeout):  # the async client sets none itself
                call = await self._twilio.get().calls.create_async(
                    to=target.phone,
                    from_=s.from_number,
                    twiml=twiml,
                    status_callback=status,
                    status_callback_event=list(STATUS_EVENTS),
                    status_callback_method="POST",
                    timeout=s.ring_timeout,
                )
        except TWILIO_FAILURES as exc:
            raise classify(exc) from None
        return DeliveryResult(str(call.sid))

    async def aclose(self) -> None:
        await self._twilio.aclose()
