"""Twilio's callbacks on their own listener: SMS replies, key presses, delivery status.

Only these routes are served here (the HTTP API is another listener), and every request must
carry a valid ``X-Twilio-Signature``: an HMAC of the *public* URL Twilio called (the
configured ``public_base_url`` plus the path and query as received) and the form fields,
keyed with the account's auth token (read at each request, so a rotated token file is picked
up). A request that fails is refused with 403, recorded and changes nothing. The listener binds
to loopback by default: a reverse proxy terminates TLS in front of it.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator

from alarms.ack.acknowledger import Acknowledger, Outcome
from alarms.ack.refusals import Reason
from alarms.ack.voice import VoiceFlow
from alarms.notify.base import NotifyError
from alarms.notify.sms import to_gsm7, truncate
from alarms.notify.twilio_sms import STATUS_PATH as SMS_STATUS_PATH
from alarms.notify.twilio_voice import GATHER_PATH
from alarms.notify.twilio_voice import STATUS_PATH as VOICE_STATUS_PATH

log = logging.getLogger("alarms.ack")

SMS_PATH = "/twilio/sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY = 64 * 1024
REPLY_SEPTETS = 306  # two segments
TWIML = "text/xml"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A delivery status callback: what happened to a page (``kind`` sms or voice)."""

    kind: str
    sid: str
    status: str
    alarm: str | None
    person: str | None
    key: str | None
    error_code: str | None


OnStatus = Callable[[StatusReport], None]


def sms_reply(outcome: Outcome) -> str:
    """``<Response><Message>...</Message></Response>``, GSM-7, at most two segments (what was
    not acknowledged comes first, so a cut never hides it)."""
    text = outcome.reply
    root = ET.Element("Response")
    ET.SubElement(root, "Message").text = truncate(to_gsm7(text), REPLY_SEPTETS)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


class TwilioWebhook:
    """``await start()`` binds ``host:port``; ``await stop()`` closes it."""

    def __init__(
        self,
        service: Acknowledger,
        public_base_url: str,
        auth_token: Callable[[], str],
        *,
        voice: VoiceFlow | None = None,
        on_status: OnStatus | None = None,
        host: str = "127.0.0.1",
        port: int = 8025,
    ) -> None:
        self.service = service
        self.base = public_base_url.rstrip("/")
        self.auth_token = auth_token
        self.voice = voice or VoiceFlow(service, self.base)
        self.on_status = on_status
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(SMS_PATH, self._sms)
        app.router.add_post(GATHER_PATH, self._gather)
        app.router.add_post(SMS_STATUS_PATH, self._status)
        app.router.add_post(VOICE_STATUS_PATH, self._status)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = _bound_port(runner, self.port)
        log.info("Twilio webhook listening on %s:%d for %s", self.host, self.port, self.base)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # --- handlers ------------------------------------------------------------------------------

    async def _sms(self, request: web.Request) -> web.Response:
        form = await self._verified(request, "sms")
        outcome = self.service.sms(form.get("From", ""), form.get("Body", ""))
        return web.Response(text=sms_reply(outcome), content_type=TWIML)

    async def _gather(self, request: web.Request) -> web.Response:
        form = await self._verified(request, "voice")
        twiml = self.voice.gather(dict(request.query), form)
        return web.Response(text=twiml, content_type=TWIML)

    async def _status(self, request: web.Request) -> web.Response:
        form = await self._verified(request, "twilio-status")
        kind = "voice" if request.path == VOICE_STATUS_PATH else "sms"
        report = StatusReport(
            kind,
            form.get("MessageSid") or form.get("CallSid") or "",
            form.get("MessageStatus") or form.get("CallStatus") or "",
            request.query.get("alarm"),
            request.query.get("person"),
            request.query.get("key"),
            form.get("ErrorCode"),
        )
        if self.on_status is not None:
            try:
                self.on_status(report)
            except Exception:
                log.exception("handling a Twilio status callback failed")
        return web.Response(status=204)

    async def _verified(self, request: web.Request, via: str) -> dict[str, str]:
        """The form fields of a request Twilio signed; otherwise 403 (503 without a token)."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:  # refused before its body is even read
            self.service.refuse(
                via,
                request.remote or "unknown",
                Reason.BAD_SIGNATURE,
                f"no Twilio signature on {request.path}",
            )
            raise web.HTTPForbidden(text="invalid signature")
        form = await request.post()
        fields = _fields(form)
        url = self.base + request.raw_path
        who = f"{request.remote or 'unknown'} (claims {fields.get('From') or 'nothing'})"
        try:
            token = self.auth_token()
        except (NotifyError, ValueError) as exc:
            log.error("Twilio auth token unavailable: %s", exc)
            self.service.refuse(via, who, Reason.UNAVAILABLE, "auth token unavailable")
            raise web.HTTPServiceUnavailable(text="not configured") from None
        if not RequestValidator(token).validate(url, form, signature):
            self.service.refuse(
                via, who, Reason.BAD_SIGNATURE, f"invalid Twilio signature for {request.path}"
            )
            raise web.HTTPForbidden(text="invalid signature")
        return fields


def _fields(form: MultiDictProxy[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in form.items():
        if isinstance(value, str):
            out.setdefault(name, value)
    return out


def _bound_port(runner: web.AppRunner, default: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return default
