"""Twilio's callbacks on their own listener: SMS replies, key presses, delivery status.

Only these routes are served here (the HTTP API is another listener), and every request must
carry a valid ``X-Twilio-Signature``: an HMAC of the *public* URL Twilio called (the
configured ``public_base_url`` plus the path and query as received) and the form fields,
keyed with the account's auth token (read at each request, so a rotated token file is picked
up). The signature is the first thing decided: a request without one is refused before its
body is read; a signed request is never throttled (behind a reverse proxy every request has
the same source, and a flood must not block a real acknowledgement), while a source whose
unsigned or malformed requests keep coming gets 429. A signed request is taken once
(:mod:`alarms.ack.replay`): a replay is refused with 409. Everything refused is counted,
recorded in aggregate and changes nothing. The listener binds to loopback unless
``allow_remote``: a reverse proxy terminates TLS in front of it.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from twilio.request_validator import RequestValidator

from alarms.ack.acknowledger import Acknowledger, Outcome
from alarms.ack.config import check_bind
from alarms.ack.forms import BadForm, once_each, parse_form
from alarms.ack.listener import HttpListener
from alarms.ack.refusals import Reason
from alarms.ack.replay import ReplayGuard
from alarms.ack.throttle import FailureThrottle
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
FORM = "application/x-www-form-urlencoded"
MAX_SIGNATURE = 512


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


@dataclass(frozen=True, slots=True)
class Signed:
    """A request Twilio signed: its form fields and query parameters, each once."""

    form: dict[str, str]
    query: dict[str, str]


class TwilioWebhook(HttpListener):
    name = "Twilio webhook"
    via = "twilio"
    max_body = MAX_BODY

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
        allow_remote: bool = False,
        throttle: FailureThrottle | None = None,
        replays: ReplayGuard | None = None,
    ) -> None:
        check_bind(host, allow_remote, "Twilio listener")
        super().__init__(service, host, port, throttle)
        self.base = public_base_url.rstrip("/")
        self.auth_token = auth_token
        self.voice = voice or VoiceFlow(service, self.base)
        self.on_status = on_status
        self.replays = replays if replays is not None else ReplayGuard(None)

    def routes(self, app: web.Application) -> None:
        app.router.add_post(SMS_PATH, self._sms)
        app.router.add_post(GATHER_PATH, self._gather)
        app.router.add_post(SMS_STATUS_PATH, self._status)
        app.router.add_post(VOICE_STATUS_PATH, self._status)

    # --- handlers ------------------------------------------------------------------------------

    async def _sms(self, request: web.Request) -> web.Response:
        signed = await self._verified(request, "sms")
        if isinstance(signed, web.Response):
            return signed
        refused = self._once(request, "sms", "MessageSid", signed.form.get("MessageSid"))
        if refused is not None:
            return refused
        outcome = self.service.sms(signed.form.get("From", ""), signed.form.get("Body", ""))
        return web.Response(text=sms_reply(outcome), content_type=TWIML)

    async def _gather(self, request: web.Request) -> web.Response:
        signed = await self._verified(request, "voice")
        if isinstance(signed, web.Response):
            return signed
        query, call = signed.query, signed.form.get("CallSid")
        step = f"{query.get('step', 'key')}:{query.get('try', '1')}"
        refused = self._once(request, "voice", "CallSid", call and f"{call}:{step}")
        if refused is not None:
            return refused
        twiml = self.voice.gather(query, signed.form)
        return web.Response(text=twiml, content_type=TWIML)

    async def _status(self, request: web.Request) -> web.Response:
        signed = await self._verified(request, "twilio-status")
        if isinstance(signed, web.Response):
            return signed
        form, query = signed.form, signed.query
        kind = "voice" if request.path == VOICE_STATUS_PATH else "sms"
        report = StatusReport(
            kind,
            form.get("MessageSid") or form.get("CallSid") or "",
            form.get("MessageStatus") or form.get("CallStatus") or "",
            query.get("alarm"),
            query.get("person"),
            query.get("key"),
            form.get("ErrorCode"),
        )
        refused = self._once(
            request, "twilio-status", "SID", report.sid and f"{kind}:{report.sid}:{report.status}"
        )
        if refused is not None:
            return refused
        if self.on_status is not None:
            try:
                self.on_status(report)
            except Exception:
                log.exception("handling a Twilio status callback failed")
        return web.Response(status=204)

    def _once(
        self, request: web.Request, via: str, what: str, key: str | None
    ) -> web.Response | None:
        """None the first time a signed request's ``key`` is seen; else its refusal."""
        if not key:
            return self.refuse(request, Reason.BAD_REQUEST, f"no {what}", 400, via=via, spend=False)
        if self.replays.first_time(f"{via}:{key}"):
            return None
        return self.refuse(
            request,
            Reason.REPLAYED,
            f"{what} {key[:80]} was already processed: a replay",
            409,
            via=via,
            spend=False,
        )

    async def _verified(self, request: web.Request, via: str) -> Signed | web.Response:
        """The fields of a request Twilio signed; else its refusal (403, 400, 415, 429 for a
        source that keeps failing; 503 without a token)."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or len(signature) > MAX_SIGNATURE:  # refused before the body is read
            return self._unsigned(request, via, f"no Twilio signature on {request.path}", 403)
        if (
            request.content_type != FORM
            or request.charset not in (None, "utf-8")
            or "Content-Encoding" in request.headers
        ):
            return self._unsigned(request, via, f"send {FORM} (UTF-8, not compressed)", 415)
        try:
            form = parse_form(await request.read())
            query = once_each(request.query.items(), "query parameter")
        except BadForm as exc:
            return self._unsigned(request, via, str(exc), 400)
        try:
            token = self.auth_token()
        except (NotifyError, ValueError) as exc:
            log.error("Twilio auth token unavailable: %s", exc)
            return self.refuse(
                request, Reason.UNAVAILABLE, "auth token unavailable", 503, via=via, spend=False
            )
        if not _valid(token, self.base + request.raw_path, form, signature):
            claims = (form.get("From") or "nothing")[:40]
            detail = f"invalid Twilio signature for {request.path} (claims From {claims})"
            return self._unsigned(request, via, detail, 403, Reason.BAD_SIGNATURE)
        return Signed(form, query)

    def _unsigned(
        self,
        request: web.Request,
        via: str,
        detail: str,
        status: int,
        reason: Reason | None = None,
    ) -> web.Response:
        """A request not (validly) signed: 429 once its source is over budget."""
        if reason is None:
            reason = Reason.BAD_SIGNATURE if status == 403 else Reason.BAD_REQUEST
        return self.throttled(request, via) or self.refuse(request, reason, detail, status, via=via)


def _valid(token: str, url: str, form: dict[str, str], signature: str) -> bool:
    try:
        return bool(RequestValidator(token).validate(url, form, signature))
    except (ValueError, TypeError, UnicodeError):  # a URL or signature no signer made
        return False
