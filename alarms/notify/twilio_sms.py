"""SMS through Twilio: the GSM-7 text of :mod:`alarms.notify.sms` to the person's phone.

"Sent" means Twilio accepted the message (its SID is the provider id); whether the handset got
it arrives later on the status callback, which the inbound webhook (a later piece) records.
The escalation's acknowledgement timeout, not this notifier, covers a message that is lost.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from alarms.notify.base import DeliveryResult, NotifyError
from alarms.notify.message import Notification
from alarms.notify.sms import MAX_SEGMENTS, compose_sms
from alarms.notify.twilio_common import (
    E164,
    TWILIO_FAILURES,
    HttpClientFactory,
    TwilioClient,
    TwilioSettings,
    classify,
)
from alarms.people import Person

STATUS_PATH = "/twilio/sms/status"


class TwilioSmsSettings(TwilioSettings):
    type: Literal["twilio_sms"] = "twilio_sms"
    from_number: str | None = Field(default=None, pattern=E164)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    max_segments: int = Field(default=MAX_SEGMENTS, ge=1, le=MAX_SEGMENTS)

    @model_validator(mode="after")
    def _sender(self) -> TwilioSmsSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        return self


class TwilioSmsNotifier:
    def __init__(
        self,
        name: str,
        settings: TwilioSmsSettings,
        *,
        http_client: HttpClientFactory | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self._twilio = TwilioClient(settings, http_client)

    async def send(self, notification: Notification, target: Person) -> DeliveryResult:
        if not target.phone:
            raise NotifyError(f"{target.id} has no phone number", retryable=False, recipient=True)
        s = self.settings
        sender = {"from_": s.from_number} if s.from_number else {}
        if s.messaging_service_sid:
            sender["messaging_service_sid"] = s.messaging_service_sid
        callback = s.callback(
            STATUS_PATH, alarm=notification.alarm_id, person=target.id, key=notification.key
        )
        try:
            async with asyncio.timeout(s.timeout):  # the async client sets none itself
                message = await self._twilio.get().messages.create_async(
                    to=target.phone,
                    body=compose_sms(notification, s.max_segments),
                    **sender,
                    **({"status_callback": callback} if callback else {}),
                )
        except TWILIO_FAILURES as exc:
            raise classify(exc) from None
        return DeliveryResult(str(message.sid))

    async def aclose(self) -> None:
        await self._twilio.aclose()
